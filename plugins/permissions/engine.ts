/**
 * The check and expand engine, with Keto's semantics:
 *
 * - a relation declared in `related` holds for a subject when a tuple names the subject directly, or names
 *   a subject set that (recursively) holds for it;
 * - a permission (`permits`) is its rewrite: `||` union, `&&` intersection, `!` exclusion, `includes` and
 *   `permits.X(ctx)` a computed subject set on the same object, `traverse` a tuple-to-subject-set;
 * - every hop costs one unit of depth; at the depth cap, and on a cycle, the answer is "undetermined",
 *   which never allows — not even under `!` (a negated undetermined stays undetermined).
 */
import type { Model, Rewrite } from './opl.ts'
import type { Subject, SubjectSet, Tuple, TupleStore } from './store.ts'

/** 1 allowed, 0 denied, -1 undetermined (depth cap or cycle). */
type Tri = 1 | 0 | -1

export interface CheckQuery {
  namespace: string
  object: string
  relation: string
  subject: Subject
}

const subjectKey = (s: Subject) => ('id' in s ? `id:${s.id}` : `set:${s.set.namespace}:${s.set.object}#${s.set.relation}`)

export class Engine {
  constructor(
    readonly store: TupleStore,
    /** null: no namespaces configured, every relation is a plain stored relation. */
    readonly model: Model | null,
  ) {}

  async check(q: CheckQuery, maxDepth: number): Promise<boolean> {
    return (await this.#relation(q.namespace, q.object, q.relation, q.subject, maxDepth, new Set())) === 1
  }

  async #relation(ns: string, obj: string, rel: string, subject: Subject, depth: number, path: Set<string>): Promise<Tri> {
    if (depth <= 0) return -1
    const key = `${ns}:${obj}#${rel}@${subjectKey(subject)}`
    if (path.has(key)) return -1
    const rewrite = this.model?.get(ns)?.permits.get(rel)
    path.add(key)
    try {
      if (rewrite) return await this.#rewrite(rewrite, ns, obj, subject, depth, path)
      if (this.model && !this.model.get(ns)?.relations.has(rel)) return 0
      // the subject set itself is the subject: `Group:eng#members` is a member of `Group:eng#members`
      if ('set' in subject && subject.set.namespace === ns && subject.set.object === obj && subject.set.relation === rel) return 1
      if (await this.store.has(ns, obj, rel, subject)) return 1
      let result: Tri = 0
      for (const set of await this.store.subjectSets(ns, obj, rel)) {
        const r = await this.#relation(set.namespace, set.object, set.relation, subject, depth - 1, path)
        if (r === 1) return 1
        if (r === -1) result = -1
      }
      return result
    } finally {
      path.delete(key)
    }
  }

  async #rewrite(r: Rewrite, ns: string, obj: string, subject: Subject, depth: number, path: Set<string>): Promise<Tri> {
    switch (r.op) {
      case 'or': {
        let result: Tri = 0
        for (const c of r.children) {
          const x = await this.#rewrite(c, ns, obj, subject, depth, path)
          if (x === 1) return 1
          if (x === -1) result = -1
        }
        return result
      }
      case 'and': {
        let result: Tri = 1
        for (const c of r.children) {
          const x = await this.#rewrite(c, ns, obj, subject, depth, path)
          if (x === 0) return 0
          if (x === -1) result = -1
        }
        return result
      }
      case 'not': {
        const x = await this.#rewrite(r.child, ns, obj, subject, depth, path)
        return x === -1 ? -1 : x === 1 ? 0 : 1
      }
      case 'computed':
        return this.#relation(ns, obj, r.relation, subject, depth - 1, path)
      case 'ttu': {
        let result: Tri = 0
        for (const set of await this.store.subjectSets(ns, obj, r.relation)) {
          const x = await this.#relation(set.namespace, set.object, r.computed, subject, depth - 1, path)
          if (x === 1) return 1
          if (x === -1) result = -1
        }
        return result
      }
    }
  }

  /**
   * Objects of `namespace` on which `subject` has `relation`, after `after`, at most `limit`; `next` is where
   * the following page starts. Candidates are the objects that appear in some tuple, each decided by `check`,
   * so the answer is consistent with check by construction.
   */
  async listObjects(namespace: string, relation: string, subject: Subject, maxDepth: number, limit: number, after?: string) {
    return this.#scan((a, n) => this.store.objects(namespace, a, n), (object) => this.check({ namespace, object, relation, subject }, maxDepth), limit, after)
  }

  /** Subject ids that have `relation` on `namespace:object` (subject ids that appear in some tuple). */
  async listSubjects(namespace: string, object: string, relation: string, maxDepth: number, limit: number, after?: string) {
    return this.#scan((a, n) => this.store.subjectIds(a, n), (id) => this.check({ namespace, object, relation, subject: { id } }, maxDepth), limit, after)
  }

  async #scan(candidates: (after: string | undefined, n: number) => Promise<string[]>, keep: (x: string) => Promise<boolean>, limit: number, after?: string) {
    const found: string[] = []
    let cursor = after
    for (;;) {
      const batch = await candidates(cursor, 200)
      for (const c of batch) {
        if (await keep(c)) {
          // a match beyond the page: the page is full and another follows (so an empty token means "last page")
          if (found.length === limit) return { items: found, next: found[found.length - 1] }
          found.push(c)
        }
        cursor = c
      }
      if (batch.length < 200) return { items: found, next: undefined as string | undefined }
    }
  }

  /** Keto's expand tree for `namespace:object#relation`. */
  async expand(set: SubjectSet, maxDepth: number): Promise<ExpandTree | null> {
    return this.#expand(set, maxDepth, new Set())
  }

  async #expand(set: SubjectSet, depth: number, path: Set<string>): Promise<ExpandTree | null> {
    const self = { namespace: set.namespace, object: set.object, relation: set.relation, subject_set: { ...set } }
    const key = `${set.namespace}:${set.object}#${set.relation}`
    if (depth <= 0 || path.has(key)) return { type: 'leaf', tuple: self }
    path.add(key)
    try {
      const rewrite = this.model?.get(set.namespace)?.permits.get(set.relation)
      if (rewrite) return await this.#expandRewrite(rewrite, set, depth, path)
      const tuples = await this.store.all(set.namespace, set.object, set.relation, 1000)
      if (tuples.length === 0) return null
      const children: ExpandTree[] = []
      for (const t of tuples) {
        if ('id' in t.subject) children.push({ type: 'leaf', tuple: wire(t) })
        else {
          const sub = await this.#expand(t.subject.set, depth - 1, path)
          children.push(sub ?? { type: 'leaf', tuple: wire(t) })
        }
      }
      return { type: 'union', tuple: self, children }
    } finally {
      path.delete(key)
    }
  }

  async #expandRewrite(r: Rewrite, set: SubjectSet, depth: number, path: Set<string>): Promise<ExpandTree | null> {
    const self = { namespace: set.namespace, object: set.object, relation: set.relation, subject_set: { ...set } }
    const kids = async (rs: Rewrite[]) =>
      (await Promise.all(rs.map((c) => this.#expandRewrite(c, set, depth, path)))).filter((x): x is ExpandTree => x !== null)
    switch (r.op) {
      case 'or':
        return { type: 'union', tuple: self, children: await kids(r.children) }
      case 'and':
        return { type: 'intersection', tuple: self, children: await kids(r.children) }
      case 'not':
        return { type: 'not', tuple: self, children: await kids([r.child]) }
      case 'computed': {
        const sub = await this.#expand({ ...set, relation: r.relation }, depth - 1, path)
        return { type: 'computed_subject_set', tuple: self, children: sub ? [sub] : [] }
      }
      case 'ttu': {
        const children: ExpandTree[] = []
        for (const s of await this.store.subjectSets(set.namespace, set.object, r.relation)) {
          const sub = await this.#expand({ ...s, relation: r.computed }, depth - 1, path)
          if (sub) children.push(sub)
        }
        return { type: 'tuple_to_subject_set', tuple: self, children }
      }
    }
  }
}

export interface WireTuple {
  namespace: string
  object: string
  relation: string
  subject_id?: string
  subject_set?: SubjectSet
}

export interface ExpandTree {
  type: 'union' | 'exclusion' | 'intersection' | 'leaf' | 'tuple_to_subject_set' | 'computed_subject_set' | 'not' | 'unspecified'
  tuple?: WireTuple
  children?: ExpandTree[]
}

/** A tuple in Keto's JSON shape. */
export function wire(t: Tuple): WireTuple {
  const base = { namespace: t.namespace, object: t.object, relation: t.relation }
  return 'id' in t.subject ? { ...base, subject_id: t.subject.id } : { ...base, subject_set: { ...t.subject.set } }
}

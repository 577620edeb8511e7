/**
 * The check and expand engine, with Keto's semantics:
 *
 * - a relation declared in `related` holds for a subject when a tuple names the subject directly, or names
 *   a subject set that (recursively) holds for it;
 * - a relation or permission with a condition (`relationConditions`) holds only while the condition does;
 * - a permission (`permits`) is its rewrite: `||` union, `&&` intersection, `!` exclusion, `includes` and
 *   `permits.X(ctx)` a computed subject set on the same object, `traverse` a tuple-to-subject-set;
 * - depth is counted as Keto counts it (ory/keto internal/check/step): a relation at depth d finds its direct
 *   tuple and the direct members of its subject sets, and goes on into those subject sets at d-1; a
 *   permission's rewrite is evaluated at the permission's depth: in a union, `includes`/`permits.X` find a
 *   direct tuple there and go on at d-1; in an intersection or under `!` they are checked at d; a traverse
 *   checks its targets at d-1, a nested group of the other operator is evaluated at d-1;
 * - at the depth cap, and on a cycle, the answer is "undetermined", which never allows — not even under `!`
 *   (a negated undetermined stays undetermined).
 */
import { type Condition, type Context, evaluate } from './conditions.ts'
import type { Model, Rewrite } from './opl.ts'
import type { Awaitable } from 'tessera'
import { type SetsAnswer, type StepAnswer, type Subject, type SubjectSet, type Tuple, type TupleStore, stepKey } from './store.ts'

/** A lookup a search needs: one check step, or the subject sets of a relation (tuple-to-subject-set). */
type Lookup =
  | { kind: 'step'; ns: string; obj: string; rel: string; subject: Subject; depth: number }
  | { kind: 'sets'; ns: string; obj: string; rel: string }

/** 1 allowed, 0 denied, -1 undetermined (depth cap or cycle). */
type Tri = 1 | 0 | -1

export interface CheckQuery {
  namespace: string
  object: string
  relation: string
  subject: Subject
}

/** One step of a derivation: what held, and what it held because of. */
export interface Why {
  step: string
  because?: Why[]
}

export type Explanation = { allowed: true; path: Why } | { allowed: false; reason: string; path?: Why }

interface Res {
  t: Tri
  why?: Why
}
const ALLOW: Res = Object.freeze({ t: 1 })
const DENY: Res = Object.freeze({ t: 0 })
const UNDET: Res = Object.freeze({ t: -1 })

const subjectText = (s: Subject) => ('id' in s ? s.id : `${s.set.namespace}:${s.set.object}#${s.set.relation}`)

function describe(r: Rewrite): string {
  switch (r.op) {
    case 'or':
      return `(${r.children.map(describe).join(' || ')})`
    case 'and':
      return `(${r.children.map(describe).join(' && ')})`
    case 'not':
      return `!${describe(r.child)}`
    case 'computed':
      return r.relation
    case 'ttu':
      return `${r.relation}->${r.computed}`
  }
}

const subjectKey = (s: Subject) => ('id' in s ? `id:${s.id}` : `set:${s.set.namespace}:${s.set.object}#${s.set.relation}`)

export class Engine {
  constructor(
    readonly store: TupleStore,
    /** null: no namespaces configured, every relation is a plain stored relation. */
    readonly model: Model | null,
    /** The request context conditions are evaluated against. */
    readonly context: Context = {},
    /** At most this many lookups per check: wide graphs are cut like deep ones (undetermined, never allowed). */
    readonly maxSteps = 10_000,
  ) {}

  #steps = 0
  /** Step answers fetched by closures during this check (one subject per check, so they stay valid). */
  #fetched: Map<string, StepAnswer> | null = null
  /** A closure of this check hit its row limit: the rest goes step by step. */
  #closureTooWide = false

  /** An unconditional tuple holds; a conditional one holds when its condition does (server clock). */
  #holds(condition: Condition | null | undefined): boolean {
    return !condition || evaluate(condition, this.context)
  }

  /** Synchronous when every lookup could be answered at once (bun:sqlite outside a transaction); await it either way. */
  check(q: CheckQuery, maxDepth: number): Awaitable<boolean> {
    this.#steps = 0
    this.#fetched = null
    this.#closureTooWide = false
    // the synchronous lookups of one check share one read transaction (one snapshot, one lock on SQLite)
    const r = this.store.db.readSync(() => this.#run(this.#relation(q.namespace, q.object, q.relation, q.subject, maxDepth, new Set(), false, false)))
    return r instanceof Promise ? r.then((x) => x.t === 1) : r.t === 1
  }

  /**
   * A check that says why: when allowed, the tuples and rewrites of one derivation; when denied, whether
   * nothing connects the subject (or an exclusion/intersection failed) or the depth limit or a cycle cut the
   * search.
   */
  async explain(q: CheckQuery, maxDepth: number): Promise<Explanation> {
    this.#steps = 0
    this.#fetched = null
    this.#closureTooWide = false
    const r = await this.store.db.readSync(() => this.#run(this.#relation(q.namespace, q.object, q.relation, q.subject, maxDepth, new Set(), true, false)))
    if (r.t === 1) return { allowed: true, path: r.why! }
    return {
      allowed: false,
      reason:
        r.t === -1
          ? `undetermined: the search reached max-depth ${maxDepth}, a cycle or the limit of ${this.maxSteps} lookups before finding a path`
          : 'no relation tuple or rewrite connects the subject to the object',
      ...(r.why ? { path: r.why } : {}),
    }
  }

  /**
   * Drive a search: each lookup it yields is answered synchronously when the store can (no promise, no
   * microtask: the hot path on SQLite), otherwise the rest of the search continues asynchronously.
   */
  #run<T>(g: Generator<Lookup, T, unknown>): Awaitable<T> {
    let r = g.next()
    while (!r.done) {
      const l = r.value
      const now = l.kind === 'step' ? this.store.stepNow(l.ns, l.obj, l.rel, l.subject) : this.store.subjectSetsNow(l.ns, l.obj, l.rel)
      if (now === null) return this.#runAsync(g, l)
      r = g.next(now)
    }
    return r.value
  }

  async #runAsync<T>(g: Generator<Lookup, T, unknown>, first: Lookup): Promise<T> {
    let l = first
    for (;;) {
      // a relation's subject sets (traverse) may already be known from a closure of this check
      const answer = l.kind === 'step' ? await this.#stepAsync(l) : (this.#fetched?.get(stepKey(l.ns, l.obj, l.rel))?.sets ?? (await this.store.subjectSets(l.ns, l.obj, l.rel)))
      const r = g.next(answer)
      if (r.done) return r.value
      l = r.value
    }
  }

  /**
   * A step looked up with a round trip (PostgreSQL): answered from what an earlier closure of this check
   * fetched, else by a closure from here (the steps below in one statement), else by itself.
   */
  async #stepAsync(l: Extract<Lookup, { kind: 'step' }>): Promise<StepAnswer> {
    const key = stepKey(l.ns, l.obj, l.rel)
    const known = this.#fetched?.get(key)
    if (known) return known
    if (this.store.prefersClosure && !this.#closureTooWide) {
      // one level more than the depth: the direct tuples of the last subject sets are still looked at
      const c = await this.store.closure(l.ns, l.obj, l.rel, l.subject, l.depth + 1)
      // a graph too wide for one closure is looked up step by step for the rest of the check
      if (!c) this.#closureTooWide = true
      else {
        if (this.#fetched) for (const [k, v] of c) this.#fetched.set(k, v)
        else this.#fetched = c
        const a = c.get(key)
        if (a) return a
      }
    }
    return this.store.step(l.ns, l.obj, l.rel, l.subject)
  }

  /**
   * Whether `subject` has `rel` on `ns:obj`. `direct`: this relation's direct tuple is looked at one level up
   * (a subject set's members, or an operand of a union), as Keto's lookahead does: at depth 0 only that
   * tuple is looked at, and without it the answer is undetermined.
   */
  *#relation(ns: string, obj: string, rel: string, subject: Subject, depth: number, path: Set<string>, x: boolean, direct: boolean): Generator<Lookup, Res, unknown> {
    if (depth < 0 || (depth === 0 && !direct)) return x ? { t: -1, why: { step: `${ns}:${obj}#${rel}: max-depth reached` } } : UNDET
    if (++this.#steps > this.maxSteps) return x ? { t: -1, why: { step: `${ns}:${obj}#${rel}: lookup limit reached` } } : UNDET
    const key = `${ns}:${obj}#${rel}@${subjectKey(subject)}`
    if (path.has(key)) return x ? { t: -1, why: { step: `${ns}:${obj}#${rel}: cycle` } } : UNDET
    const nsModel = this.model?.get(ns)
    const rewrite = nsModel?.permits.get(rel)
    // the step's name, built only when explaining
    const here = x ? `${ns}:${obj}#${rel}` : ''
    // a condition on the relation itself (relationConditions): while false, the relation holds for nobody
    const condition = nsModel?.conditions?.get(rel)
    if (condition && !evaluate(condition, this.context)) return x ? { t: 0, why: { step: `${here}: the condition on ${ns}#${rel} does not hold` } } : DENY
    path.add(key)
    try {
      if (rewrite) {
        // a permission has no tuples of its own: at the lookahead level there is nothing to see
        if (depth === 0) return x ? { t: -1, why: { step: `${here}: max-depth reached` } } : UNDET
        const r = yield* this.#top(rewrite, ns, obj, subject, depth, path, x)
        return x && r.why ? { t: r.t, why: { step: `${here} is a permission`, because: [r.why] } } : r
      }
      // a class that declares nothing takes any relation as a plain one (Keto)
      if (this.model && (!nsModel || (!nsModel.relations.has(rel) && (nsModel.relations.size > 0 || nsModel.permits.size > 0)))) return x ? { t: 0, why: { step: `${here}: relation not declared` } } : DENY
      // the subject set itself is the subject: `Group:eng#members` is a member of `Group:eng#members`
      if ('set' in subject && subject.set.namespace === ns && subject.set.object === obj && subject.set.relation === rel) {
        return x ? { t: 1, why: { step: `${here} is the subject set itself` } } : ALLOW
      }
      const { direct: tuple, sets } = (yield { kind: 'step', ns, obj, rel, subject, depth }) as StepAnswer
      if (tuple && this.#holds(tuple.condition)) return x ? { t: 1, why: { step: `tuple ${here}@${subjectText(subject)}` } } : ALLOW
      if (depth === 0) return x ? { t: -1, why: { step: `${here}: max-depth reached` } } : UNDET
      let result: Res = DENY
      for (const set of sets) {
        if (!this.#holds(set.condition)) continue
        const r = yield* this.#relation(set.namespace, set.object, set.relation, subject, depth - 1, path, x, true)
        if (r.t === 1) return x ? { t: 1, why: { step: `tuple ${here}@${set.namespace}:${set.object}#${set.relation}`, because: [r.why!] } } : ALLOW
        if (r.t === -1) result = r
      }
      return result
    } finally {
      path.delete(key)
    }
  }

  /** A permission's rewrite at the permission's depth: a lone operand counts as a union of one (Keto). */
  *#top(r: Rewrite, ns: string, obj: string, subject: Subject, depth: number, path: Set<string>, x: boolean): Generator<Lookup, Res, unknown> {
    return yield* this.#rewrite(r, ns, obj, subject, depth, path, x, r.op === 'and' ? 'and' : 'or')
  }

  /**
   * `r` evaluated at `depth` as an operand of `within` (a union, an intersection, or `!`), Keto's accounting:
   * a group of operators costs a level, except directly under `!`; `includes`/`permits.X` in a union looks
   * at the direct tuple here and goes on one level down, elsewhere it is checked here.
   */
  *#rewrite(r: Rewrite, ns: string, obj: string, subject: Subject, depth: number, path: Set<string>, x: boolean, within: 'or' | 'and' | 'not'): Generator<Lookup, Res, unknown> {
    if (depth <= 0) return x ? { t: -1, why: { step: `${describe(r)}: max-depth reached` } } : UNDET
    // a group of operators nested in another group is one level down
    if ((r.op === 'or' || r.op === 'and') && within !== 'not' && r.op !== within) {
      return yield* this.#rewrite(r, ns, obj, subject, depth - 1, path, x, r.op)
    }
    switch (r.op) {
      case 'or': {
        let result: Res = DENY
        for (const c of r.children) {
          const y = yield* this.#rewrite(c, ns, obj, subject, depth, path, x, 'or')
          if (y.t === 1) return y
          if (y.t === -1) result = y
        }
        return result
      }
      case 'and': {
        let result: Res = ALLOW
        const because: Why[] = []
        for (const c of r.children) {
          const y = yield* this.#rewrite(c, ns, obj, subject, depth, path, x, 'and')
          if (y.t === 0) return x ? { t: 0, why: { step: 'intersection: a required part does not hold', because: y.why ? [y.why] : [] } } : DENY
          if (y.t === -1) result = y
          if (y.why) because.push(y.why)
        }
        return x && result.t === 1 ? { t: 1, why: { step: 'intersection: every part holds', because } } : result
      }
      case 'not': {
        const y = yield* this.#rewrite(r.child, ns, obj, subject, depth, path, x, 'not')
        if (y.t === -1) return y
        if (!x) return y.t === 1 ? DENY : ALLOW
        return y.t === 1
          ? { t: 0, why: { step: 'exclusion: the excluded part holds', because: [y.why!] } }
          : { t: 1, why: { step: `exclusion: ${describe(r.child)} does not hold` } }
      }
      case 'computed':
        return within === 'or' ? yield* this.#relation(ns, obj, r.relation, subject, depth - 1, path, x, true) : yield* this.#relation(ns, obj, r.relation, subject, depth, path, x, false)
      case 'ttu': {
        if (++this.#steps > this.maxSteps) return UNDET
        let result: Res = DENY
        for (const set of (yield { kind: 'sets', ns, obj, rel: r.relation }) as SetsAnswer) {
          if (!this.#holds(set.condition)) continue
          const y = yield* this.#relation(set.namespace, set.object, r.computed, subject, depth - 1, path, x, false)
          if (y.t === 1) {
            return x ? { t: 1, why: { step: `traverse tuple ${ns}:${obj}#${r.relation}@${set.namespace}:${set.object}`, because: [y.why!] } } : ALLOW
          }
          if (y.t === -1) result = y
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
  async listObjects(namespace: string, relation: string, subject: Subject, maxDepth: number, limit: number, after?: string, budget = Infinity) {
    return this.#scan((a, n) => this.store.objects(namespace, a, n), (object) => this.check({ namespace, object, relation, subject }, maxDepth), limit, after, budget)
  }

  /** Subject ids that have `relation` on `namespace:object` (subject ids that appear in some tuple). */
  async listSubjects(namespace: string, object: string, relation: string, maxDepth: number, limit: number, after?: string, budget = Infinity) {
    return this.#scan((a, n) => this.store.subjectIds(a, n), (id) => this.check({ namespace, object, relation, subject: { id } }, maxDepth), limit, after, budget)
  }

  /**
   * Decide candidates in order until `limit` are found or `budget` were examined. A page cut by the budget
   * may be short (even empty) and still have a `next`: an empty `next` alone means there is nothing more.
   */
  async #scan(candidates: (after: string | undefined, n: number) => Promise<string[]>, keep: (x: string) => Awaitable<boolean>, limit: number, after: string | undefined, budget: number) {
    const found: string[] = []
    let cursor = after
    let examined = 0
    for (;;) {
      const batch = await candidates(cursor, 200)
      for (const c of batch) {
        if (await keep(c)) {
          // a match beyond the page: the page is full and another follows (so an empty token means "last page")
          if (found.length === limit) return { items: found, next: found[found.length - 1] }
          found.push(c)
        }
        cursor = c
        if (++examined >= budget) return { items: found, next: cursor as string | undefined }
      }
      if (batch.length < 200) return { items: found, next: undefined as string | undefined }
    }
  }

  /** Keto's expand tree for `namespace:object#relation`. */
  async expand(set: SubjectSet, maxDepth: number): Promise<ExpandTree | null> {
    return this.#expand(set, maxDepth, new Set())
  }

  async #expand(set: SubjectSet, depth: number, path: Set<string>): Promise<ExpandTree | null> {
    const self = node({ set })
    const key = `${set.namespace}:${set.object}#${set.relation}`
    if (depth <= 0 || path.has(key)) return { type: 'leaf', tuple: self }
    path.add(key)
    try {
      const rewrite = this.model?.get(set.namespace)?.permits.get(set.relation)
      if (rewrite) return await this.#expandRewrite(rewrite, set, depth, path)
      const { tuples } = await this.store.list({ namespace: set.namespace, object: set.object, relation: set.relation }, 1000)
      if (tuples.length === 0) return null
      // as Keto: a subject set with tuples at the last level is a leaf, not expanded
      if (depth <= 1) return { type: 'leaf', tuple: self }
      const children: ExpandTree[] = []
      for (const t of tuples) {
        if ('id' in t.subject) children.push({ type: 'leaf', tuple: node(t.subject) })
        else {
          const sub = await this.#expand(t.subject.set, depth - 1, path)
          children.push(sub ?? { type: 'leaf', tuple: node(t.subject) })
        }
      }
      return { type: 'union', tuple: self, children }
    } finally {
      path.delete(key)
    }
  }

  async #expandRewrite(r: Rewrite, set: SubjectSet, depth: number, path: Set<string>): Promise<ExpandTree | null> {
    const self = node({ set })
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
          const sub = await this.#expand({ namespace: s.namespace, object: s.object, relation: r.computed }, depth - 1, path)
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
  condition?: Condition
}

export interface ExpandTree {
  type: 'union' | 'exclusion' | 'intersection' | 'leaf' | 'tuple_to_subject_set' | 'computed_subject_set' | 'not' | 'unspecified'
  tuple?: WireTuple
  children?: ExpandTree[]
}

/** A node of Keto's expand tree: the subject only, namespace, object and relation left empty (as Keto does). */
function node(s: Subject): WireTuple {
  return 'id' in s ? { namespace: '', object: '', relation: '', subject_id: s.id } : { namespace: '', object: '', relation: '', subject_set: { ...s.set } }
}

/** A tuple in Keto's JSON shape. */
export function wire(t: Tuple): WireTuple {
  const base = { namespace: t.namespace, object: t.object, relation: t.relation }
  const w: WireTuple = 'id' in t.subject ? { ...base, subject_id: t.subject.id } : { ...base, subject_set: { ...t.subject.set } }
  if (t.condition) w.condition = t.condition
  return w
}

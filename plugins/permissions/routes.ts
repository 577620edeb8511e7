/**
 * Keto's HTTP API: relation tuples (write, list, delete), check, batch check, expand, namespaces and the
 * OPL syntax check. Shapes and status codes follow ../shared/reference/ory/keto.openapi.json.
 */
import { readFileSync } from 'node:fs'
import * as v from 'valibot'
import { type Awaitable, BadRequestError, MalformedBodyError, NotFoundError, type PluginContext, type RawRoute, type RequestContext, type RouteApp, type ScopedDb, formatIssues, parse, parseJsonBody } from 'tessera'
import { BoundedConditionSchema, type Context } from './conditions.ts'
import { Engine, wire } from './engine.ts'
import { type Model, parseOpl } from './opl.ts'
import type { ResolvedPermissionsOptions } from './options.ts'
import { type Cursor, type Subject, type Tuple, type TupleQuery, TupleStore } from './store.ts'

type Ctx = PluginContext<ResolvedPermissionsOptions>

/** Tuple parts are bounded: they are keys, not documents. */
const MAX = 1024
const part = v.pipe(v.string(), v.maxLength(MAX, `must be at most ${MAX} characters`))
const str = v.pipe(v.string(), v.minLength(1, 'must not be empty'), v.maxLength(MAX, `must be at most ${MAX} characters`))
/** Keto reads a missing subject-set relation as empty (its cat-videos example omits it). */
const SubjectSetSchema = v.object({ namespace: str, object: part, relation: v.optional(part, '') })

/** A relationship in Keto's JSON shape: exactly one of `subject_id` and `subject_set`. */
export const RelationshipSchema = v.pipe(
  v.object({
    namespace: str,
    object: part,
    relation: part,
    subject_id: v.optional(part),
    subject_set: v.optional(SubjectSetSchema),
    /** Tessera: a condition on the tuple (writes). */
    condition: v.optional(v.nullable(BoundedConditionSchema)),
    /** Tessera: the request context conditions see (checks). */
    context: v.optional(v.record(v.pipe(v.string(), v.maxLength(64)), v.union([v.string(), v.number(), v.boolean()]))),
  }),
  v.check((t) => (t.subject_id === undefined) !== (t.subject_set === undefined), 'exactly one of subject_id and subject_set must be given'),
)
type RelationshipBody = v.InferOutput<typeof RelationshipSchema>

export const PatchSchema = v.array(v.object({ action: v.picklist(['insert', 'delete']), relation_tuple: RelationshipSchema }))
export const BatchSchema = v.object({ tuples: v.array(v.unknown()) })

const Depth = v.optional(v.pipe(v.string(), v.regex(/^-?\d{1,9}$/, 'expected an integer'), v.transform(Number)))

export const QuerySchema = v.object({
  namespace: v.optional(part),
  object: v.optional(part),
  relation: v.optional(part),
  subject_id: v.optional(part),
  'subject_set.namespace': v.optional(part),
  'subject_set.object': v.optional(part),
  'subject_set.relation': v.optional(part),
  page_size: v.optional(v.pipe(v.string(), v.regex(/^\d{1,6}$/, 'expected a positive integer'), v.transform(Number), v.minValue(1))),
  page_token: v.optional(v.pipe(v.string(), v.maxLength(4096))),
  'max-depth': Depth,
})
type Query = v.InferOutput<typeof QuerySchema>

function toTuple(b: RelationshipBody): Tuple {
  return {
    namespace: b.namespace,
    object: b.object,
    relation: b.relation,
    subject: b.subject_set ? { set: b.subject_set } : { id: b.subject_id! },
    ...(b.condition ? { condition: b.condition } : {}),
  }
}

/** `context.<key>=value` query parameters: the request context of a GET check. */
function queryContext(request: Request): Context {
  const ctx: Context = {}
  for (const [k, v] of searchParams(request)) if (k.startsWith('context.') && k.length > 8) ctx[k.slice(8)] = v
  return ctx
}

/** A request context in a stable order (page tokens are bound to it). */
const sortedEntries = (c: Context) => Object.entries(c).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

/** The subject named by query parameters, if any; a partial subject set is a 400. */
function querySubject(q: Query): Subject | undefined {
  const set = [q['subject_set.namespace'], q['subject_set.object'], q['subject_set.relation']]
  const given = set.filter((x) => x !== undefined).length
  if (q.subject_id !== undefined && given > 0) throw new BadRequestError(undefined, { reason: 'subject_id and subject_set.* cannot both be given' })
  if (given > 0 && given < 3) throw new BadRequestError(undefined, { reason: 'subject_set.namespace, subject_set.object and subject_set.relation must be given together' })
  if (given === 3) return { set: { namespace: set[0]!, object: set[1]!, relation: set[2]! } }
  return q.subject_id !== undefined ? { id: q.subject_id } : undefined
}

/** A class with no relations and no permissions: as in Keto, any relation is a plain stored one. */
export const declaresNothing = (ns: { relations: Map<string, unknown>; permits: Map<string, unknown> }) => ns.relations.size === 0 && ns.permits.size === 0

export class Permissions {
  readonly model: Model | null
  readonly names: string[] | null

  constructor(readonly ctx: Ctx) {
    const o = ctx.options
    let source = typeof o.namespaces === 'string' ? o.namespaces : undefined
    if (o.namespacesFile) {
      try {
        source = readFileSync(o.namespacesFile, 'utf8')
      } catch (e) {
        throw new Error(`permissions: namespacesFile: cannot read ${o.namespacesFile}: ${(e as Error).message}`)
      }
    }
    if (source !== undefined) {
      const r = parseOpl(source)
      if (!r.model) {
        const e = r.errors[0]!
        throw new Error(`permissions: namespaces: line ${e.start.Line}, column ${e.start.column}: ${e.message}`)
      }
      this.model = r.model
      this.names = [...r.model.keys()]
    } else if (Array.isArray(o.namespaces)) {
      // legacy namespaces declare no relations: any relation is a stored relation
      this.model = null
      this.names = o.namespaces.map((n) => n.name)
    } else {
      this.model = null
      this.names = null
    }
    for (const [key, condition] of Object.entries(o.relationConditions)) {
      const [namespace, relation] = key.split('#') as [string, string]
      const where = `permissions: relationConditions["${key}"]`
      if (!this.model) throw new Error(`${where}: conditions on relations need namespaces in the Ory Permission Language (give \`namespaces\` as OPL source or \`namespacesFile\`)`)
      const ns = this.model.get(namespace)
      if (!ns) throw new Error(`${where}: no namespace "${namespace}" (declared: ${[...this.model.keys()].join(', ')})`)
      if (!ns.relations.has(relation) && !ns.permits.has(relation)) {
        throw new Error(`${where}: namespace "${namespace}" has no relation or permission "${relation}" (declared: ${[...ns.relations.keys(), ...ns.permits.keys()].join(', ')})`)
      }
      ;(ns.conditions ??= new Map()).set(relation, condition)
    }
  }

  engine(db: ScopedDb, context: Context = {}): Engine {
    return new Engine(new TupleStore(db), this.model, context, this.ctx.options.maxCheckLookups)
  }

  knows(namespace: string): boolean {
    return this.names === null || this.names.includes(namespace)
  }

  requireNamespace(namespace: string | undefined): void {
    if (namespace !== undefined && !this.knows(namespace)) throw new NotFoundError(`Unknown namespace with name "${namespace}".`)
  }

  /**
   * A tuple to store must name a declared relation (`related`) of its namespace, as Keto's
   * `namespace.ASTRelationFor` requires ("relation %q does not exist", 400). A permission (`permits`) is
   * computed, never stored: a tuple on it would be dead data (check never reads it), so it is a 400 too.
   * Without an OPL model (no namespaces, or Keto's legacy list) any relation is a stored relation.
   */
  requireRelation(t: { namespace: string; relation: string }): void {
    const ns = this.model?.get(t.namespace)
    if (!ns || ns.relations.has(t.relation) || declaresNothing(ns)) return
    if (ns.permits.has(t.relation)) {
      throw new BadRequestError(undefined, {
        reason: `relation "${t.relation}" of namespace "${t.namespace}" is a permission: it is computed from its rewrite, tuples cannot be written to it`,
      })
    }
    throw new BadRequestError(undefined, { reason: `relation "${t.relation}" does not exist in namespace "${t.namespace}"` })
  }

  /**
   * A check must ask about a relation or permission its namespace declares, as Keto's check does (400,
   * "relation … does not exist"); without an OPL model any relation may be asked about.
   */
  requireCheckable(t: { namespace: string; relation: string }): void {
    const reason = this.uncheckable(t)
    if (reason) throw new BadRequestError(undefined, { reason })
  }

  /** Why `t` cannot be checked (its namespace does not declare the relation), or null. */
  uncheckable(t: { namespace: string; relation: string }): string | null {
    const ns = this.model?.get(t.namespace)
    if (!ns || ns.relations.has(t.relation) || ns.permits.has(t.relation) || declaresNothing(ns)) return null
    return `relation "${t.relation}" does not exist in namespace "${t.namespace}"`
  }

  /** A request's max-depth: absent, zero or negative means the global limit; larger values are capped. */
  depth(requested: number | undefined): number {
    const max = this.ctx.options.maxReadDepth
    return requested === undefined || requested <= 0 || requested > max ? max : requested
  }

  /** Synchronous on SQLite outside a transaction (the hot path); await it either way. */
  check(db: ScopedDb, t: Tuple, maxDepth: number, context: Context = {}): Awaitable<boolean> {
    if (!this.knows(t.namespace)) return false
    return this.engine(db, context).check(t, maxDepth)
  }

  async explain(db: ScopedDb, t: Tuple, maxDepth: number, context: Context = {}) {
    if (!this.knows(t.namespace)) return { allowed: false, reason: `Unknown namespace with name "${t.namespace}".` }
    return this.engine(db, context).explain(t, maxDepth)
  }

  async sealPage(tenant: string, filter: TupleQuery, cursor: Cursor): Promise<string> {
    return this.ctx.secrets.system.seal('permissions.page_token', JSON.stringify({ f: filter, c: cursor }), tenant)
  }

  async openPage(tenant: string, filter: TupleQuery, token: string): Promise<Cursor> {
    const bad = () => new BadRequestError(undefined, { reason: 'The page token is invalid.' })
    const opened = await this.ctx.secrets.system.open('permissions.page_token', token, tenant)
    if (opened === null) throw bad()
    let data: { f: unknown; c: unknown }
    try {
      data = JSON.parse(opened)
    } catch {
      throw bad()
    }
    // a token is only valid for the filter it was issued for
    if (JSON.stringify(data.f) !== JSON.stringify(filter)) throw bad()
    if (!Array.isArray(data.c) || data.c.length !== 7 || !data.c.every((x) => typeof x === 'string')) throw bad()
    return data.c as Cursor
  }
}

const parsedUrls = new WeakMap<Request, URLSearchParams>()
/** The request's query parameters, parsed once per request. */
function searchParams(request: Request): URLSearchParams {
  let p = parsedUrls.get(request)
  if (!p) {
    const url = request.url
    const i = url.indexOf('?')
    p = new URLSearchParams(i < 0 ? '' : url.slice(i + 1))
    parsedUrls.set(request, p)
  }
  return p
}
const queryOf = (request: Request): Record<string, string> => Object.fromEntries(searchParams(request))

const PLAIN_KEYS = new Set(['namespace', 'object', 'relation', 'subject_id', 'subject_set.namespace', 'subject_set.object', 'subject_set.relation'])
const DEPTH = /^-?\d{1,9}$/

/**
 * The query of a check and its request context in one pass over the parameters, without valibot when every
 * parameter is plainly valid (the hot path): the same output `parse(QuerySchema, …)` gives. Anything else
 * (an invalid value, page parameters) goes through `parse`, so errors are exactly the schema's.
 */
/**
 * The query's pairs without URLSearchParams when nothing in it is encoded (no `%`, no `+`): then splitting on
 * `&` and `=` gives exactly what URLSearchParams would. null otherwise (decode with URLSearchParams).
 */
export function plainPairs(request: Request): [string, string][] | null {
  const url = request.url
  const start = url.indexOf('?')
  if (start < 0) return []
  const hash = url.indexOf('#', start)
  const query = hash < 0 ? url.slice(start + 1) : url.slice(start + 1, hash)
  if (query.includes('%') || query.includes('+')) return null
  const out: [string, string][] = []
  for (const part of query.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    out.push(eq < 0 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)])
  }
  return out
}

function checkQuery(request: Request): { q: Query; context: Context } {
  const q: Record<string, string | number> = {}
  const context: Context = {}
  for (const [k, value] of plainPairs(request) ?? searchParams(request)) {
    if (PLAIN_KEYS.has(k)) {
      if (value.length > MAX) return { q: parse(QuerySchema, queryOf(request)), context: queryContext(request) }
      q[k] = value
    } else if (k === 'max-depth') {
      if (!DEPTH.test(value)) return { q: parse(QuerySchema, queryOf(request)), context: queryContext(request) }
      q[k] = value
    } else if (k === 'page_size' || k === 'page_token') {
      return { q: parse(QuerySchema, queryOf(request)), context: queryContext(request) }
    } else if (k.startsWith('context.') && k.length > 8) context[k.slice(8)] = value
  }
  // the last of repeated parameters wins, as with Object.fromEntries
  if (typeof q['max-depth'] === 'string') q['max-depth'] = Number(q['max-depth'])
  return { q: q as Query, context }
}

/** The tuple filter a list or delete query gives: the parts it names. */
function filterOf(q: Query): TupleQuery {
  const filter: TupleQuery = {}
  if (q.namespace !== undefined) filter.namespace = q.namespace
  if (q.object !== undefined) filter.object = q.object
  if (q.relation !== undefined) filter.relation = q.relation
  const subject = querySubject(q)
  if (subject) filter.subject = subject
  return filter
}

function checkTupleFromQuery(q: Query): Tuple {
  const subject = querySubject(q)
  const missing = (['namespace', 'object', 'relation'] as const).filter((k) => q[k] === undefined)
  if (missing.length || !subject) {
    throw new BadRequestError(undefined, {
      reason: `missing ${[...missing, ...(subject ? [] : ['subject_id or subject_set'])].join(', ')}`,
    })
  }
  return { namespace: q.namespace!, object: q.object!, relation: q.relation!, subject }
}

const json = (body: unknown, status = 200) => Response.json(body, { status })

/** A check's answer: the same bytes and headers as `json({ allowed }, status)`, without serialising per request. */
const answer = (allowed: boolean, status: number) =>
  new Response(allowed ? '{"allowed":true}' : '{"allowed":false}', { status, headers: { 'content-type': 'application/json;charset=utf-8' } })

/**
 * Keto's check endpoints, the hot path: raw routes (Bun's router, no Elysia) that answer synchronously on
 * SQLite. `GET` reads the tuple from the query, `POST` from a JSON body; `/check` answers 403 when denied,
 * `/check/openapi` always 200. Other methods are 404, as for any route that does not exist.
 */
export function checkRoutes(p: Permissions): RawRoute<any>[] {
  const handle = (deniedStatus: number) => (request: Request, rc: RequestContext) => {
    const done = (allowed: boolean) => answer(allowed, allowed ? 200 : deniedStatus)
    if (request.method === 'GET' || request.method === 'HEAD') {
      const { q, context } = checkQuery(request)
      const t = checkTupleFromQuery(q)
      p.requireCheckable(t)
      const allowed = p.check(rc.db, t, p.depth(q['max-depth']), context)
      return allowed instanceof Promise ? allowed.then(done) : done(allowed)
    }
    if (request.method !== 'POST') throw new NotFoundError()
    return jsonBody(request).then(async (body) => {
      const q = parse(QuerySchema, queryOf(request))
      const b = parse(RelationshipSchema, body)
      p.requireCheckable(b)
      return done(await p.check(rc.db, toTuple(b), p.depth(q['max-depth']), b.context ?? {}))
    })
  }
  return [
    { path: '/relation-tuples/check', handle: handle(403) },
    { path: '/relation-tuples/check/openapi', handle: handle(200) },
  ]
}

/** Routes that read the body themselves: JSON whatever the Content-Type, as Keto decodes it. */
const ANY_TYPE = { parse: 'none' } as const

/** A request's JSON body whatever its Content-Type (as Keto); a malformed one is a 400 (the core's edge rules). */
async function jsonBody(request: Request): Promise<unknown> {
  return parseJsonBody(await request.text())
}

export function readRoutes(app: RouteApp, p: Permissions) {
  return app
    .get('/relation-tuples', async ({ request, tessera }) => {
      const q = parse(QuerySchema, queryOf(request))
      p.requireNamespace(q.namespace)
      const filter = filterOf(q)
      const size = Math.min(q.page_size ?? p.ctx.options.defaultPageSize, p.ctx.options.maxPageSize)
      const cursor = q.page_token ? await p.openPage(tessera.tenant, filter, q.page_token) : undefined
      const page = await new TupleStore(tessera.db).list(filter, size, cursor)
      return json({
        relation_tuples: page.tuples.map(wire),
        next_page_token: page.next ? await p.sealPage(tessera.tenant, filter, page.next) : '',
      })
    })
    .get('/relation-tuples/check/explain', async ({ request, tessera }) => {
      const q = parse(QuerySchema, queryOf(request))
      const t = checkTupleFromQuery(q)
      p.requireCheckable(t)
      return json(await p.explain(tessera.db, t, p.depth(q['max-depth']), queryContext(request)))
    })
    .post('/relation-tuples/check/explain', async ({ request, tessera }) => {
      const q = parse(QuerySchema, queryOf(request))
      const b = parse(RelationshipSchema, await jsonBody(request))
      p.requireCheckable(b)
      return json(await p.explain(tessera.db, toTuple(b), p.depth(q['max-depth']), b.context ?? {}))
    }, ANY_TYPE)
    .post('/relation-tuples/batch/check', async ({ request, tessera }) => {
      const q = parse(QuerySchema, queryOf(request))
      const { tuples } = parse(BatchSchema, await jsonBody(request))
      if (tuples.length > p.ctx.options.maxBatchCheckSize) {
        throw new BadRequestError(undefined, { reason: `batch exceeds max size of ${p.ctx.options.maxBatchCheckSize}` })
      }
      const depth = p.depth(q['max-depth'])
      const results = await Promise.all(
        tuples.map(async (raw) => {
          const r = v.safeParse(RelationshipSchema, raw)
          if (!r.success) return { allowed: false, error: formatIssues(r.issues).join('; ') }
          const t = toTuple(r.output)
          // Keto's text for a 404 here (its e2e test pins it), then which namespace
          if (!p.knows(t.namespace)) return { allowed: false, error: `The requested resource could not be found: Unknown namespace with name "${t.namespace}".` }
          const uncheckable = p.uncheckable(t)
          if (uncheckable) return { allowed: false, error: uncheckable }
          return { allowed: await p.check(tessera.db, t, depth, r.output.context ?? {}) }
        }),
      )
      return json({ results })
    }, ANY_TYPE)
    .get('/relation-tuples/expand', async ({ request, tessera }) => {
      const q = parse(QuerySchema, queryOf(request))
      const missing = (['namespace', 'object', 'relation'] as const).filter((k) => q[k] === undefined)
      if (missing.length) throw new BadRequestError(undefined, { reason: `missing ${missing.join(', ')}` })
      p.requireNamespace(q.namespace)
      const tree = await p.engine(tessera.db).expand({ namespace: q.namespace!, object: q.object!, relation: q.relation! }, p.depth(q['max-depth']))
      if (!tree) throw new NotFoundError('no relation tuple found')
      return json(tree)
    })
    .get('/relation-tuples/list-objects', async ({ request, tessera }) => {
      const q = parse(QuerySchema, queryOf(request))
      const subject = querySubject(q)
      if (q.namespace === undefined || q.relation === undefined || !subject) {
        throw new BadRequestError(undefined, { reason: 'namespace, relation and subject_id or subject_set are required' })
      }
      p.requireNamespace(q.namespace)
      // the request context (context.<key>=…) that conditions see is part of what a page token is bound to
      const context = queryContext(request)
      const filter = { op: 'list-objects', namespace: q.namespace, relation: q.relation, subject, context: sortedEntries(context) }
      const size = Math.min(q.page_size ?? p.ctx.options.defaultPageSize, p.ctx.options.maxPageSize)
      const after = q.page_token ? (await p.openPage(tessera.tenant, filter as never, q.page_token))[0] : undefined
      const r = await p.engine(tessera.db, context).listObjects(q.namespace, q.relation, subject, p.depth(q['max-depth']), size, after, p.ctx.options.maxListCandidates)
      return json({ objects: r.items, next_page_token: r.next ? await p.sealPage(tessera.tenant, filter as never, [r.next, '', '', '', '', '', '']) : '' })
    })
    .get('/relation-tuples/list-subjects', async ({ request, tessera }) => {
      const q = parse(QuerySchema, queryOf(request))
      if (q.namespace === undefined || q.object === undefined || q.relation === undefined) {
        throw new BadRequestError(undefined, { reason: 'namespace, object and relation are required' })
      }
      p.requireNamespace(q.namespace)
      const context = queryContext(request)
      const filter = { op: 'list-subjects', namespace: q.namespace, object: q.object, relation: q.relation, context: sortedEntries(context) }
      const size = Math.min(q.page_size ?? p.ctx.options.defaultPageSize, p.ctx.options.maxPageSize)
      const after = q.page_token ? (await p.openPage(tessera.tenant, filter as never, q.page_token))[0] : undefined
      const r = await p.engine(tessera.db, context).listSubjects(q.namespace, q.object, q.relation, p.depth(q['max-depth']), size, after, p.ctx.options.maxListCandidates)
      return json({ subject_ids: r.items, next_page_token: r.next ? await p.sealPage(tessera.tenant, filter as never, [r.next, '', '', '', '', '', '']) : '' })
    })
    .get('/namespaces', () => json({ namespaces: (p.names ?? []).map((name) => ({ name })) }))
    .post(
      '/opl/syntax/check',
      async ({ body }) => {
        if (typeof body !== 'string') throw new BadRequestError(undefined, { reason: 'send the OPL source as text/plain' })
        return json({ errors: parseOpl(body).errors })
      },
      { parse: 'text' },
    )
}

export function writeRoutes(app: RouteApp, p: Permissions) {
  return app
    .put('/admin/relation-tuples', async ({ request, tessera }) => {
      const b = parse(RelationshipSchema, await jsonBody(request))
      p.requireNamespace(b.namespace)
      p.requireNamespace(b.subject_set?.namespace)
      p.requireRelation(b)
      await new TupleStore(tessera.db).insert(toTuple(b))
      await p.ctx.emit('relation_tuples.written', { inserted: [wire(toTuple(b))], deleted: [] }, { tenant: tessera.tenant })
      return json(wire(toTuple(b)), 201)
    }, ANY_TYPE)
    .patch('/admin/relation-tuples', async ({ request, tessera }) => {
      const patches = parse(PatchSchema, await jsonBody(request))
      for (const x of patches) {
        p.requireNamespace(x.relation_tuple.namespace)
        p.requireNamespace(x.relation_tuple.subject_set?.namespace)
        // deletes stay allowed, so tuples stored before a model change can be cleaned up
        if (x.action === 'insert') p.requireRelation(x.relation_tuple)
      }
      await tessera.db.transaction(async (tx) => {
        const store = new TupleStore(tx)
        for (const x of patches) {
          if (x.action === 'insert') await store.insert(toTuple(x.relation_tuple))
          else await store.delete(toTuple(x.relation_tuple))
        }
      })
      const of = (action: string) => patches.filter((x) => x.action === action).map((x) => wire(toTuple(x.relation_tuple)))
      await p.ctx.emit('relation_tuples.written', { inserted: of('insert'), deleted: of('delete') }, { tenant: tessera.tenant })
      return new Response(null, { status: 204 })
    }, ANY_TYPE)
    .delete('/admin/relation-tuples', async ({ request, tessera }) => {
      // as Keto's delete handler: only the tuple keys, and `namespace` among them; a typo never widens a delete
      const params = searchParams(request)
      for (const k of params.keys()) if (!PLAIN_KEYS.has(k)) throw new BadRequestError(undefined, { reason: `query parameter key ${JSON.stringify(k)} unknown` })
      if (!params.has('namespace')) throw new BadRequestError(undefined, { reason: 'query parameters must specify at least one of the following: namespace' })
      const q = parse(QuerySchema, queryOf(request))
      p.requireNamespace(q.namespace)
      const filter = filterOf(q)
      const count = await new TupleStore(tessera.db).deleteWhere(filter)
      await p.ctx.emit('relation_tuples.deleted', { filter: { ...filter }, count }, { tenant: tessera.tenant })
      return new Response(null, { status: 204 })
    })
}

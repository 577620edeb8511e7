/**
 * Admin routes, Kratos' paths and shapes: identities (create, batch, get, list
 * with tamper-proof page tokens and Link headers, update, JSON Patch, delete,
 * external_id, credentials) and sessions.
 */
import * as v from 'valibot'
import { BadRequestError, NotFoundError, type RouteApp, type ScopedDb, TesseraError, ValidationError, parse } from 'tessera'
import type { IdentityCore } from './core.ts'
import { CredentialTypes, ImportedCredentials } from './credentials.ts'
import { removalRefused } from './aal.ts'
import { IdentityRepo, type IdentityRow, type NewCredential, SessionRepo } from './repo.ts'
import { normaliseIdentifier, validateTraits } from './schemas.ts'

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers } })

const State = v.picklist(['active', 'inactive'])
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
/** POST /admin/identities (Kratos' createIdentityBody). `credentials.<type>.config` is checked by that type's importer. */
export const CreateIdentity = v.object({
  schema_id: v.optional(v.string()),
  traits: v.record(v.string(), v.unknown()),
  state: v.optional(State),
  metadata_public: v.optional(v.unknown()),
  metadata_admin: v.optional(v.unknown()),
  external_id: v.optional(v.nullable(v.pipe(v.string(), v.minLength(1), v.maxLength(255)))),
  credentials: v.optional(ImportedCredentials),
  verifiable_addresses: v.optional(v.array(v.unknown())),
  recovery_addresses: v.optional(v.array(v.unknown())),
  organization_id: v.optional(v.nullable(v.string())),
})
/** PUT /admin/identities/{id} (Kratos' updateIdentityBody). */
export const UpdateIdentity = v.object({
  schema_id: v.string(),
  traits: v.record(v.string(), v.unknown()),
  state: State,
  metadata_public: v.optional(v.unknown()),
  metadata_admin: v.optional(v.unknown()),
  external_id: v.optional(v.nullable(v.string())),
  credentials: CreateIdentity.entries.credentials,
})
/** PATCH /admin/identities/{id}: a JSON Patch (RFC 6902) on the patchable fields. */
export const Patch = v.array(v.object({ op: v.picklist(['add', 'remove', 'replace', 'test']), path: v.string(), value: v.optional(v.unknown()) }))
const PATCHABLE = /^\/(traits|metadata_public|metadata_admin|state|external_id|schema_id)(\/|$)/

/** PATCH /admin/identities: up to 1000 creates, each validated as POST /admin/identities is. */
export const BatchCreate = v.object({ identities: v.pipe(v.array(v.object({ create: v.unknown() })), v.maxLength(1000)) })

export function adminRoutes(app: RouteApp, core: IdentityCore) {
  const ctx = core.ctx
  const PAGE = 'identity.page'
  const types = new CredentialTypes(ctx.registries.credentialMethods)

  async function pageAfter(token: string | undefined, tenant: string, kind: string): Promise<string | undefined> {
    if (!token) return undefined
    const opened = await ctx.secrets.system.open(PAGE, token, `${tenant}\u0000${kind}`)
    if (!opened) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: 'The page token is invalid, do not alter it.' })
    return opened
  }

  function pageSize(raw: unknown): number {
    if (raw === undefined) return 250
    const n = Number(raw)
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new ValidationError([{ path: 'page_size', message: 'expected an integer between 1 and 1000' }])
    return n
  }

  async function linkHeader(path: string, size: number, lastId: string | undefined, tenant: string, kind: string, extra = ''): Promise<Record<string, string>> {
    const links = [`<${path}?page_size=${size}${extra}>; rel="first"`]
    if (lastId) links.push(`<${path}?page_size=${size}&page_token=${await ctx.secrets.system.seal(PAGE, lastId, `${tenant}\u0000${kind}`)}${extra}>; rel="next"`)
    return { link: links.join(',') }
  }

  function checkTraits(schemaId: string, traits: Record<string, unknown>) {
    const schema = core.schemas.get(schemaId)
    if (!schema) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: `Identity schema "${schemaId}" does not exist.` })
    const r = validateTraits(schema, traits)
    if (!r.ok) {
      const issues = [...Object.entries(r.nodes).flatMap(([path, ms]) => ms.map((m) => ({ path, message: m.text }))), ...r.general.map((m) => ({ path: 'traits', message: m.text }))]
      throw new ValidationError(issues)
    }
    return schema
  }

  async function create(db: ScopedDb, body: unknown): Promise<IdentityRow> {
    const input = parse(CreateIdentity, body)
    const schema = checkTraits(input.schema_id ?? core.defaultSchemaId, input.traits)
    const now = new Date()
    const row: IdentityRow = {
      id: Bun.randomUUIDv7(),
      schema_id: schema.id,
      traits: input.traits,
      state: input.state ?? 'active',
      state_changed_at: now,
      metadata_public: input.metadata_public ?? null,
      metadata_admin: input.metadata_admin ?? null,
      external_id: input.external_id ?? null,
      created_at: now,
      updated_at: now,
    }
    await new IdentityRepo(db).insert(row, await types.importAll(db, schema, input.traits, input.credentials), schema)
    await ctx.emit('identity.created', { identityId: row.id, schemaId: row.schema_id, via: 'admin' }, { tenant: db.nid })
    return row
  }

  /** Credentials without their config; with `include_credential=<type>`, the config fields that type's method reveals (by default none). */
  async function withCredentials(db: ScopedDb, rows: IdentityRow[], include: string[] = []) {
    const creds = await new IdentityRepo(db).credentials(rows.map((r) => r.id))
    const addresses = await core.addressesOf(db, rows.map((r) => r.id))
    return rows.map((r) =>
      core.identityJson(r, {
        admin: true,
        addresses: addresses.get(r.id),
        credentials: creds.filter((c) => c.identity_id === r.id).map((c) => ({ ...c, config: include.includes(c.type) ? types.revealed(c.type, c.config) : undefined })),
      }),
    )
  }

  async function load(db: ScopedDb, id: string): Promise<IdentityRow> {
    const row = await new IdentityRepo(db).get(id)
    if (!row) throw new NotFoundError('Unable to locate the resource')
    return row
  }

  async function save(db: ScopedDb, before: IdentityRow, next: IdentityRow, credentials?: NewCredential[]) {
    const schema = checkTraits(next.schema_id, next.traits)
    if (next.state !== before.state) next.state_changed_at = new Date()
    next.updated_at = new Date()
    const repo = new IdentityRepo(db)
    await db.transaction(async (tx) => {
      const r = new IdentityRepo(tx)
      await r.update(next, schema)
      const existing = await r.credentials([next.id])
      await types.resyncIdentifiers(r, schema, next.id, existing.map((c) => c.type), next.traits)
      for (const c of credentials ?? []) await r.putCredential(next.id, c)
    })
    if (next.state === 'inactive') await new SessionRepo(db).deactivateAll(next.id)
    else await core.refreshSnapshots(db, next.id)
    await ctx.emit('identity.updated', { identityId: next.id }, { tenant: db.nid })
    return (await withCredentials(db, [(await repo.get(next.id))!]))[0]
  }

  return app
    .post('/admin/identities', async ({ tessera, body }) => json(await core.identityJsonStored(tessera.db, await create(tessera.db, body), { admin: true }), 201))
    .patch('/admin/identities', async ({ tessera, body }) => {
      const input = parse(BatchCreate, body)
      const out: unknown[] = []
      for (const item of input.identities) {
        try {
          out.push({ action: 'create', identity: (await create(tessera.db, item.create)).id })
        } catch (e) {
          if (!(e instanceof TesseraError) || e.status >= 500) throw e
          out.push({ action: 'error', error: { code: e.status, message: e.message, reason: e.reason } })
        }
      }
      return json({ identities: out })
    })
    .get('/admin/identities', async ({ tessera, query, request }) => {
      const q = query as Record<string, string | undefined>
      const idList = new URL(request.url).searchParams.getAll('ids').flatMap((x) => x.split(',')).filter(Boolean)
      const size = pageSize(q.page_size ?? q.per_page)
      const after = await pageAfter(q.page_token, tessera.tenant, 'identities')
      const identifier = q.credentials_identifier ? normaliseIdentifier(q.credentials_identifier) : undefined
      const ids = idList.length ? idList : undefined
      const rows = await new IdentityRepo(tessera.db).list({ after, limit: size + 1, identifier, ids })
      const page = rows.slice(0, size)
      const more = rows.length > size
      const extra = identifier ? `&credentials_identifier=${encodeURIComponent(identifier)}` : ''
      const headers = await linkHeader('/admin/identities', size, more ? page[page.length - 1]?.id : undefined, tessera.tenant, 'identities', extra)
      return json(await withCredentials(tessera.db, page), 200, headers)
    })
    .get('/admin/identities/by/external/:externalId', async ({ tessera, params }) => {
      const row = await new IdentityRepo(tessera.db).byExternalId(params.externalId)
      if (!row) throw new NotFoundError('Unable to locate the resource')
      return json((await withCredentials(tessera.db, [row]))[0])
    })
    .get('/admin/identities/:id', async ({ tessera, params, request }) => {
      const include = new URL(request.url).searchParams.getAll('include_credential')
      return json((await withCredentials(tessera.db, [await load(tessera.db, params.id)], include))[0])
    })
    .put('/admin/identities/:id', async ({ tessera, params, body }) => {
      const before = await load(tessera.db, params.id)
      const input = parse(UpdateIdentity, body)
      const schema = core.schemas.get(input.schema_id)
      const next: IdentityRow = {
        ...before,
        schema_id: input.schema_id,
        traits: input.traits,
        state: input.state,
        metadata_public: input.metadata_public ?? null,
        metadata_admin: input.metadata_admin ?? null,
        external_id: input.external_id === undefined ? before.external_id : input.external_id,
      }
      const creds = schema ? await types.importAll(tessera.db, schema, input.traits, input.credentials) : []
      return json(await save(tessera.db, before, next, creds))
    })
    .patch('/admin/identities/:id', async ({ tessera, params, body }) => {
      const before = await load(tessera.db, params.id)
      const ops = parse(Patch, body)
      const doc = structuredClone({ traits: before.traits, metadata_public: before.metadata_public, metadata_admin: before.metadata_admin, state: before.state, external_id: before.external_id, schema_id: before.schema_id }) as Record<string, unknown>
      ops.forEach((op, i) => {
        if (!PATCHABLE.test(op.path)) throw new ValidationError([{ path: `${i}.path`, message: `the path ${op.path} cannot be patched` }])
        applyOp(doc, op, i)
      })
      // The patched document is the identity (Kratos): a field the patch removed is gone, not kept from before.
      if (!doc.traits || typeof doc.traits !== 'object' || Array.isArray(doc.traits)) throw new ValidationError([{ path: 'traits', message: 'expected an object' }])
      if (typeof doc.schema_id !== 'string') throw new ValidationError([{ path: 'schema_id', message: 'expected a string' }])
      if (doc.state !== 'active' && doc.state !== 'inactive') throw new ValidationError([{ path: 'state', message: 'expected active or inactive' }])
      if (doc.external_id !== undefined && doc.external_id !== null && typeof doc.external_id !== 'string') throw new ValidationError([{ path: 'external_id', message: 'expected a string' }])
      const next: IdentityRow = {
        ...before,
        traits: doc.traits as Record<string, unknown>,
        schema_id: doc.schema_id,
        state: doc.state,
        metadata_public: doc.metadata_public ?? null,
        metadata_admin: doc.metadata_admin ?? null,
        external_id: (doc.external_id as string | null | undefined) ?? null,
      }
      return json(await save(tessera.db, before, next))
    })
    .delete('/admin/identities/:id', async ({ tessera, params }) => {
      if (!(await new IdentityRepo(tessera.db).delete(params.id))) throw new NotFoundError('Unable to locate the resource')
      await ctx.emit('identity.deleted', { identityId: params.id }, { tenant: tessera.tenant })
      return new Response(null, { status: 204 })
    })
    .delete('/admin/identities/:id/credentials/:type', async ({ tessera, params }) => {
      // Kratos' deleteIdentityCredentials: second factors go freely; the last first-factor credential stays.
      await load(tessera.db, params.id)
      const has = (await new IdentityRepo(tessera.db).credentials([params.id])).some((c) => c.type === params.type)
      if (!has) throw new NotFoundError('Unable to locate the resource', { reason: `You tried to remove a ${params.type.slice(0, 40)} but this user have no ${params.type.slice(0, 40)} set up.` })
      const why = await removalRefused(tessera.db, ctx.registries.credentialMethods, params.id, params.type, { secondFactor: false })
      if (why) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: 'You cannot remove the last first factor credential.' })
      await new IdentityRepo(tessera.db).deleteCredential(params.id, params.type)
      await core.refreshSnapshots(tessera.db, params.id)
      await ctx.emit('identity.updated', { identityId: params.id }, { tenant: tessera.tenant })
      return new Response(null, { status: 204 })
    })
    .get('/admin/identities/:id/sessions', async ({ tessera, params, query }) => {
      const row = await load(tessera.db, params.id)
      const active = (query as Record<string, string | undefined>).active
      const rows = await new SessionRepo(tessera.db).list({ identityId: row.id, active: active === undefined ? undefined : active === 'true', limit: 1000 })
      return json(rows.map((s) => core.sessionJson(s, row)))
    })
    .delete('/admin/identities/:id/sessions', async ({ tessera, params }) => {
      await load(tessera.db, params.id)
      await new SessionRepo(tessera.db).deactivateAll(params.id)
      return new Response(null, { status: 204 })
    })
    .get('/admin/sessions', async ({ tessera, query }) => {
      const q = query as Record<string, string | undefined>
      const size = pageSize(q.page_size)
      const after = await pageAfter(q.page_token, tessera.tenant, 'sessions')
      const rows = await new SessionRepo(tessera.db).list({ after, limit: size + 1, active: q.active === undefined ? undefined : q.active === 'true' })
      const page = rows.slice(0, size)
      const headers = await linkHeader('/admin/sessions', size, rows.length > size ? page[page.length - 1]?.id : undefined, tessera.tenant, 'sessions')
      const idRepo = new IdentityRepo(tessera.db)
      const identities = await idRepo.list({ ids: [...new Set(page.map((s) => s.identity_id))], limit: 1000 })
      return json(page.map((s) => core.sessionJson(s, identities.find((i) => i.id === s.identity_id))), 200, headers)
    })
    .get('/admin/sessions/:id', async ({ tessera, params }) => {
      const s = await new SessionRepo(tessera.db).get(params.id)
      if (!s) throw new NotFoundError('Unable to locate the resource')
      return json(core.sessionJson(s, await new IdentityRepo(tessera.db).get(s.identity_id)))
    })
    .delete('/admin/sessions/:id', async ({ tessera, params }) => {
      if (!(await new SessionRepo(tessera.db).deactivate(params.id))) throw new NotFoundError('Unable to locate the resource')
      return new Response(null, { status: 204 })
    })
    .patch('/admin/sessions/:id/extend', async ({ tessera, params }) => {
      // Kratos (session/handler.go adminSessionExtend): a malformed id is a 400. An expired session is extended, as
      // Kratos' ExtendSession does (it checks neither expiry nor activity); a revoked one is not found here.
      if (!UUID.test(params.id)) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: 'could not parse UUID' })
      const repo = new SessionRepo(tessera.db)
      const s = await repo.get(params.id)
      if (!s || !s.active) throw new NotFoundError('Unable to locate the resource')
      const { lifespan, earliestPossibleExtend } = ctx.options.session
      const remaining = new Date(s.expires_at).getTime() - Date.now()
      // Kratos: extending before `earliest_possible_extend` is a no-op that still answers with the session.
      if (earliestPossibleExtend === undefined || remaining <= earliestPossibleExtend * 1000) {
        await repo.extend(s.id, new Date(Date.now() + lifespan * 1000))
        await core.refreshSnapshots(tessera.db, s.identity_id, s.id)
      }
      const next = (await repo.get(s.id))!
      return json(core.sessionJson(next, await new IdentityRepo(tessera.db).get(s.identity_id)))
    })
}

/** RFC 6902 on a plain document (add, remove, replace, test). */
function applyOp(doc: Record<string, unknown>, op: { op: string; path: string; value?: unknown }, i: number) {
  const keys = op.path.split('/').slice(1).map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'))
  if (keys.some((k) => k === '__proto__' || k === 'constructor' || k === 'prototype')) throw new ValidationError([{ path: `${i}.path`, message: `the path ${op.path} cannot be patched` }])
  let parent: unknown = doc
  for (const k of keys.slice(0, -1)) {
    if (parent === null || typeof parent !== 'object') break
    if ((parent as Record<string, unknown>)[k] === undefined || (parent as Record<string, unknown>)[k] === null) {
      if (op.op !== 'add') throw new ValidationError([{ path: `${i}.path`, message: `${op.path} does not exist` }])
      ;(parent as Record<string, unknown>)[k] = {}
    }
    parent = (parent as Record<string, unknown>)[k]
  }
  const last = keys[keys.length - 1]!
  if (parent === null || typeof parent !== 'object') throw new ValidationError([{ path: `${i}.path`, message: `${op.path} does not exist` }])
  const p = parent as any
  const isArr = Array.isArray(p)
  const idx = last === '-' ? p.length : Number(last)
  switch (op.op) {
    case 'add':
      if (isArr) p.splice(idx, 0, op.value)
      else p[last] = op.value
      break
    case 'replace':
      if (!(last in p)) throw new ValidationError([{ path: `${i}.path`, message: `${op.path} does not exist` }])
      if (isArr) p[idx] = op.value
      else p[last] = op.value
      break
    case 'remove':
      if (!(last in p)) throw new ValidationError([{ path: `${i}.path`, message: `${op.path} does not exist` }])
      if (isArr) p.splice(idx, 1)
      else delete p[last]
      break
    case 'test':
      if (JSON.stringify(p[last]) !== JSON.stringify(op.value)) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: `test failed at ${op.path}` })
      break
  }
}

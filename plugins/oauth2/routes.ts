/**
 * Hydra's admin API for clients and JSON Web Keys, `DELETE /admin/oauth2/tokens`, and the public discovery
 * documents. Admin errors are Ory's generic shape; bodies are read as JSON whatever their Content-Type.
 */
import * as v from 'valibot'
import { BadRequestError, ConflictError, MalformedBodyError, NotFoundError, type PublicJwk, type RouteApp, type ScopedDb, UniqueViolationError, ValidationError, parse } from 'tessera'
import { type ClientInput, type ClientRecord, ClientBody, ClientRepo, LIFESPAN_FIELDS, LifespansBody, Secrets, clientJson, normalise } from './clients.ts'
import { hasPrivate, importSigningKey, importVerifyKey, isAlg, publicHalf } from './keys.ts'
import type { OAuth2 } from './oauth2.ts'
import { WELL_KNOWN_SETS } from './options.ts'

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers } })

const ANY_TYPE = { parse: 'none' } as const

async function jsonBody(request: Request): Promise<unknown> {
  const text = await request.text()
  if (text.length > 1024 * 1024) throw new MalformedBodyError('The request body is too large.')
  try {
    return text === '' ? undefined : JSON.parse(text)
  } catch {
    throw new MalformedBodyError('The request body could not be parsed: check that it is well-formed JSON')
  }
}

/** A JSON object body (valibot's object schema would take an array too). */
async function objectBody(request: Request): Promise<Record<string, unknown>> {
  const body = await jsonBody(request)
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ValidationError([{ path: '', message: 'expected a JSON object' }])
  return body as Record<string, unknown>
}

const NAME = /^[A-Za-z0-9._:@~-]{1,255}$/
function pathName(value: string, what: string): string {
  if (!NAME.test(value)) throw new ValidationError([{ path: what, message: 'may use letters, digits and ._:@~- (1 to 255 characters)' }])
  return value
}

export const ListQuery = v.object({
  page_size: v.optional(v.pipe(v.string(), v.regex(/^\d{1,4}$/, 'expected an integer between 1 and 1000'), v.transform(Number), v.minValue(1, 'expected an integer between 1 and 1000'), v.maxValue(1000, 'expected an integer between 1 and 1000'))),
  page_token: v.optional(v.pipe(v.string(), v.maxLength(4096))),
  client_name: v.optional(v.pipe(v.string(), v.maxLength(1024))),
  owner: v.optional(v.pipe(v.string(), v.maxLength(255))),
})
export const DeleteTokensQuery = v.object({ client_id: v.pipe(v.string('client_id is required'), v.minLength(1, 'client_id is required'), v.maxLength(255)) })

/** JSON Patch (RFC 6902) operations. */
export const JsonPatch = v.pipe(
  v.array(v.object({ op: v.picklist(['add', 'remove', 'replace', 'test', 'move', 'copy']), path: v.pipe(v.string(), v.maxLength(1024)), from: v.optional(v.pipe(v.string(), v.maxLength(1024))), value: v.optional(v.unknown()) })),
  v.maxLength(100),
)
type JsonPatch = v.InferOutput<typeof JsonPatch>

export const CreateKeyBody = v.object({
  alg: v.picklist(['RS256', 'ES256'], 'Tessera generates RS256 and ES256 keys'),
  kid: v.optional(v.pipe(v.string(), v.maxLength(255))),
  use: v.picklist(['sig', 'enc'], 'must be sig or enc'),
})
export const JwkBody = v.looseObject({
  kty: v.picklist(['RSA', 'EC'], 'only RSA and EC keys are supported'),
  kid: v.pipe(v.string(), v.regex(NAME, 'may use letters, digits and ._:@~- (1 to 255 characters)')),
  alg: v.picklist(['RS256', 'ES256'], 'must be RS256 or ES256'),
  use: v.optional(v.picklist(['sig', 'enc'], 'must be sig or enc'), 'sig'),
})
export const JwkSetBody = v.object({ keys: v.pipe(v.array(v.unknown()), v.maxLength(100)) })

const BLOCKED = new Set(['__proto__', 'constructor', 'prototype'])
function pointer(path: string, i: number): string[] {
  if (path !== '' && !path.startsWith('/')) throw new ValidationError([{ path: `${i}.path`, message: 'must be a JSON pointer (/field)' }])
  const parts = path === '' ? [] : path.slice(1).split('/').map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))
  if (parts.some((p) => BLOCKED.has(p))) throw new ValidationError([{ path: `${i}.path`, message: `the path ${path} cannot be patched` }])
  return parts
}

/** Apply a JSON Patch to a copy of `doc`; a failing operation is a 400 naming it. */
export function applyPatch(doc: Record<string, unknown>, ops: JsonPatch, readOnly: readonly string[]): Record<string, unknown> {
  const root: { v: unknown } = { v: structuredClone(doc) }
  const fail = (i: number, message: string): never => {
    throw new ValidationError([{ path: `${i}`, message }])
  }
  const parentOf = (parts: string[], i: number): [any, string] => {
    let cur: any = root.v
    for (const p of parts.slice(0, -1)) {
      if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, p)) fail(i, `the path /${parts.join('/')} does not exist`)
      cur = cur[p]
    }
    if (parts.length === 0) fail(i, 'the whole document cannot be replaced')
    if (cur === null || typeof cur !== 'object') fail(i, `the path /${parts.join('/')} does not exist`)
    return [cur, parts[parts.length - 1]!]
  }
  const get = (parts: string[], i: number): unknown => {
    const [parent, key] = parentOf(parts, i)
    if (Array.isArray(parent) ? !(Number(key) < parent.length) : !Object.hasOwn(parent, key)) fail(i, `the path /${parts.join('/')} does not exist`)
    return parent[key]
  }
  const remove = (parts: string[], i: number) => {
    const [parent, key] = parentOf(parts, i)
    get(parts, i)
    if (Array.isArray(parent)) parent.splice(Number(key), 1)
    else delete parent[key]
  }
  const add = (parts: string[], value: unknown, i: number) => {
    const [parent, key] = parentOf(parts, i)
    if (Array.isArray(parent)) {
      const idx = key === '-' ? parent.length : Number(key)
      if (!Number.isInteger(idx) || idx < 0 || idx > parent.length) fail(i, `the index ${key} is out of range`)
      parent.splice(idx, 0, value)
    } else parent[key] = value
  }
  ops.forEach((op, i) => {
    const parts = pointer(op.path, i)
    if (op.op !== 'test' && readOnly.includes(parts[0] ?? '')) fail(i, `${op.path} cannot be changed`)
    switch (op.op) {
      case 'add':
        add(parts, structuredClone(op.value), i)
        break
      case 'remove':
        remove(parts, i)
        break
      case 'replace':
        get(parts, i)
        remove(parts, i)
        add(parts, structuredClone(op.value), i)
        break
      case 'test':
        if (JSON.stringify(get(parts, i)) !== JSON.stringify(op.value)) fail(i, `the test of ${op.path} failed`)
        break
      case 'move':
      case 'copy': {
        if (op.from === undefined) fail(i, `${op.op} needs from`)
        const from = pointer(op.from!, i)
        if (op.op === 'move' && readOnly.includes(from[0] ?? '')) fail(i, `${op.from} cannot be changed`)
        const value = structuredClone(get(from, i))
        if (op.op === 'move') remove(from, i)
        add(parts, value, i)
        break
      }
    }
  })
  return root.v as Record<string, unknown>
}

export function adminRoutes(app: RouteApp, o: OAuth2) {
  const ctx = o.ctx
  const PAGE = 'oauth2.clients.page'

  async function load(db: ScopedDb, id: string): Promise<ClientRecord> {
    const got = await new ClientRepo(db).get(pathName(id, 'id'))
    if (!got) throw new NotFoundError('Unable to locate the resource', { reason: 'The requested OAuth 2.0 Client does not exist.' })
    return got
  }

  /** The secret part of a create or replace: what to store and what to show once. */
  async function secretFor(id: string, input: ClientInput, method: string, existing?: ClientRecord): Promise<{ hash: string | null; rotated: string[]; shown?: string }> {
    if (method === 'none') {
      if (input.client_secret) throw new ValidationError([{ path: 'client_secret', message: 'a public client (token_endpoint_auth_method none) has no secret' }])
      return { hash: null, rotated: [] }
    }
    if (input.client_secret) {
      o.secrets.check(input.client_secret)
      return { hash: await o.secrets.hash(id, input.client_secret, false), rotated: [], shown: input.client_secret }
    }
    if (existing?.secretHash) return { hash: existing.secretHash, rotated: existing.rotated }
    const generated = o.secrets.generate()
    return { hash: await o.secrets.hash(id, generated, true), rotated: [], shown: generated }
  }

  async function replace(db: ScopedDb, existing: ClientRecord, body: unknown): Promise<Response> {
    const input = parse(ClientBody, body)
    const id = existing.client.client_id
    if (input.client_id !== undefined && input.client_id !== id) throw new ValidationError([{ path: 'client_id', message: 'the client id cannot be changed' }])
    const client = normalise(input, id)
    const s = await secretFor(id, input, client.token_endpoint_auth_method, existing)
    const rec: ClientRecord = { client, secretHash: s.hash, rotated: s.rotated, createdAt: existing.createdAt, updatedAt: new Date() }
    if (!(await new ClientRepo(db).update(rec))) throw new NotFoundError('Unable to locate the resource')
    o.clients.forget(db.nid, id)
    return json(clientJson(rec, s.shown))
  }

  const keysOut = (keys: { publicJwk: PublicJwk; privateJwk?: Record<string, unknown> }[]) =>
    ({ keys: keys.map((k) => (o.options.keys.exposePrivateKeys && k.privateJwk ? k.privateJwk : k.publicJwk)) })

  async function listKeys(tenant: string, set: string) {
    if (o.dbKeys) return o.dbKeys.list(tenant, set, o.options.keys.exposePrivateKeys)
    return (await o.keys.verificationKeys(tenant, set)).map((publicJwk) => ({ kid: publicJwk.kid, publicJwk }))
  }

  /** A JWK from a PUT: valid for its algorithm (imported with WebCrypto), private halves kept only if complete. */
  async function checkJwk(raw: unknown, path = ''): Promise<Record<string, unknown>> {
    const r = v.safeParse(JwkBody, raw)
    if (!r.success) throw new ValidationError(r.issues.map((i) => ({ path: [path, ...(i.path?.map((p) => String(p.key)) ?? [])].filter(Boolean).join('.'), message: i.message })))
    const jwk = r.output as Record<string, unknown>
    if (!isAlg(jwk.alg)) throw new ValidationError([{ path: `${path}alg`, message: 'must be RS256 or ES256' }])
    // RSA keys of at least 2048 bits (a base64url modulus of at least 342 characters)
    if (jwk.kty === 'RSA' && (typeof jwk.n !== 'string' || jwk.n.length < 342)) throw new ValidationError([{ path: `${path}n`, message: 'RSA keys must be at least 2048 bits' }])
    try {
      if (hasPrivate(jwk)) await importSigningKey(jwk, jwk.alg)
      else await importVerifyKey(jwk, jwk.alg)
    } catch {
      throw new ValidationError([{ path: path || 'keys', message: `not a valid ${jwk.alg} key` }])
    }
    return jwk
  }

  function needDbStore() {
    if (!o.dbKeys) throw new BadRequestError(undefined, { reason: 'The configured KeyStore does not import keys: manage them in the key store itself.' })
    return o.dbKeys
  }

  return app
    // ------------------------------------------------------------------ clients
    .get('/admin/clients', async ({ request, tessera }) => {
      const q = parse(ListQuery, Object.fromEntries(new URL(request.url).searchParams))
      const size = q.page_size ?? 250
      const filter = { client_name: q.client_name, owner: q.owner }
      const bind = `${tessera.tenant}\u0000${JSON.stringify(filter)}`
      let after: string | undefined
      if (q.page_token) {
        const opened = await ctx.secrets.system.open(PAGE, q.page_token, bind)
        if (opened === null) throw new BadRequestError(undefined, { reason: 'The page token is invalid, do not alter it.' })
        after = opened
      }
      const rows = await new ClientRepo(tessera.db).list(filter, size + 1, after)
      const page = rows.slice(0, size)
      const extra = `${q.client_name !== undefined ? `&client_name=${encodeURIComponent(q.client_name)}` : ''}${q.owner !== undefined ? `&owner=${encodeURIComponent(q.owner)}` : ''}`
      const links = [`</admin/clients?page_size=${size}${extra}>; rel="first"`]
      if (rows.length > size) {
        const token = await ctx.secrets.system.seal(PAGE, page[page.length - 1]!.client.client_id, bind)
        links.push(`</admin/clients?page_size=${size}&page_token=${token}${extra}>; rel="next"`)
      }
      return json(page.map((r) => clientJson(r)), 200, { link: links.join(',') })
    })
    .post('/admin/clients', async ({ request, tessera }) => {
      const input = parse(ClientBody, await objectBody(request))
      const id = input.client_id ?? crypto.randomUUID()
      const client = normalise(input, id)
      const s = await secretFor(id, input, client.token_endpoint_auth_method)
      const now = new Date()
      const rec: ClientRecord = { client, secretHash: s.hash, rotated: [], createdAt: now, updatedAt: now }
      try {
        await new ClientRepo(tessera.db).insert(rec)
      } catch (e) {
        if (e instanceof UniqueViolationError) throw new ConflictError(undefined, { reason: 'An OAuth 2.0 client with this client_id exists already.' })
        throw e
      }
      o.clients.forget(tessera.tenant, id)
      await ctx.emit('oauth2.client.created', { clientId: id }, { tenant: tessera.tenant, requestId: tessera.requestId })
      return json(clientJson(rec, s.shown), 201, { location: `/admin/clients/${encodeURIComponent(id)}` })
    }, ANY_TYPE)
    .get('/admin/clients/:id', async ({ params, tessera }) => json(clientJson(await load(tessera.db, params.id))))
    .put('/admin/clients/:id', async ({ params, request, tessera }) => {
      const existing = await load(tessera.db, params.id)
      return replace(tessera.db, existing, await objectBody(request))
    }, ANY_TYPE)
    .patch('/admin/clients/:id', async ({ params, request, tessera }) => {
      const existing = await load(tessera.db, params.id)
      const ops = parse(JsonPatch, await jsonBody(request))
      const patched = applyPatch(clientJson(existing), ops, ['client_id', 'created_at', 'updated_at'])
      return replace(tessera.db, existing, patched)
    }, ANY_TYPE)
    .delete('/admin/clients/:id', async ({ params, tessera }) => {
      const id = pathName(params.id, 'id')
      if (!(await new ClientRepo(tessera.db).delete(id))) throw new NotFoundError('Unable to locate the resource', { reason: 'The requested OAuth 2.0 Client does not exist.' })
      await o.tokens.deleteForClient(tessera.db, id)
      o.clients.forget(tessera.tenant, id)
      return new Response(null, { status: 204 })
    })
    .put('/admin/clients/:id/lifespans', async ({ params, request, tessera }) => {
      const existing = await load(tessera.db, params.id)
      const body = parse(LifespansBody, (await jsonBody(request)) ?? {})
      const client = { ...existing.client }
      for (const f of LIFESPAN_FIELDS) client[f] = body[f] ?? null
      const rec: ClientRecord = { ...existing, client, updatedAt: new Date() }
      await new ClientRepo(tessera.db).update(rec)
      o.clients.forget(tessera.tenant, client.client_id)
      return json(clientJson(rec))
    }, ANY_TYPE)
    .post('/admin/clients/:id/secrets/rotate', async ({ params, tessera }) => {
      const existing = await load(tessera.db, params.id)
      if (existing.client.token_endpoint_auth_method === 'none') throw new BadRequestError(undefined, { reason: 'A public client (token_endpoint_auth_method none) has no secret to rotate.' })
      const secret = o.secrets.generate()
      const rec: ClientRecord = { ...existing, secretHash: await o.secrets.hash(existing.client.client_id, secret, true), rotated: Secrets.rotated(existing), updatedAt: new Date() }
      await new ClientRepo(tessera.db).update(rec)
      o.clients.forget(tessera.tenant, existing.client.client_id)
      return json(clientJson(rec, secret))
    })
    .delete('/admin/clients/:id/secrets/rotate', async ({ params, tessera }) => {
      const existing = await load(tessera.db, params.id)
      const rec: ClientRecord = { ...existing, rotated: [], updatedAt: new Date() }
      await new ClientRepo(tessera.db).update(rec)
      o.clients.forget(tessera.tenant, existing.client.client_id)
      return json(clientJson(rec))
    })
    // ------------------------------------------------------------------ tokens
    .delete('/admin/oauth2/tokens', async ({ request, tessera }) => {
      const q = parse(DeleteTokensQuery, Object.fromEntries(new URL(request.url).searchParams))
      await o.tokens.deleteForClient(tessera.db, q.client_id)
      await ctx.emit('oauth2.token.revoked', { clientId: q.client_id, reason: 'admin' }, { tenant: tessera.tenant, requestId: tessera.requestId })
      return new Response(null, { status: 204 })
    })
    // ------------------------------------------------------------------ JSON Web Keys
    .post('/admin/keys/:set', async ({ params, request, tessera }) => {
      const set = pathName(params.set, 'set')
      const body = parse(CreateKeyBody, await objectBody(request))
      const kid = body.kid ? pathName(body.kid, 'kid') : crypto.randomUUID()
      try {
        await o.keys.generate(tessera.tenant, set, { alg: body.alg, kid, use: body.use })
      } catch (e) {
        if (e instanceof UniqueViolationError) throw new ConflictError(undefined, { reason: `The set ${set} has a key ${kid} already.` })
        throw e
      }
      const keys = (await listKeys(tessera.tenant, set)).filter((k) => k.kid === kid)
      return json(keysOut(keys), 201)
    }, ANY_TYPE)
    .get('/admin/keys/:set', async ({ params, tessera }) => {
      const keys = await listKeys(tessera.tenant, pathName(params.set, 'set'))
      if (keys.length === 0) throw new NotFoundError('Unable to locate the resource', { reason: 'The requested JSON Web Key Set does not exist.' })
      return json(keysOut(keys))
    })
    .put('/admin/keys/:set', async ({ params, request, tessera }) => {
      const set = pathName(params.set, 'set')
      const store = needDbStore()
      const body = parse(JwkSetBody, await objectBody(request))
      const keys: Record<string, unknown>[] = []
      for (const [i, k] of body.keys.entries()) keys.push(await checkJwk(k, `keys.${i}.`))
      if (new Set(keys.map((k) => k.kid)).size !== keys.length) throw new ValidationError([{ path: 'keys', message: 'every key of a set needs its own kid' }])
      await store.delete(tessera.tenant, set)
      for (const k of keys) await store.put(tessera.tenant, set, k)
      return json(keysOut(await listKeys(tessera.tenant, set)))
    }, ANY_TYPE)
    .delete('/admin/keys/:set', async ({ params, tessera }) => {
      const n = await o.keys.delete(tessera.tenant, pathName(params.set, 'set'))
      if (n === 0) throw new NotFoundError('Unable to locate the resource', { reason: 'The requested JSON Web Key Set does not exist.' })
      return new Response(null, { status: 204 })
    })
    .get('/admin/keys/:set/:kid', async ({ params, tessera }) => {
      const kid = pathName(params.kid, 'kid')
      const keys = (await listKeys(tessera.tenant, pathName(params.set, 'set'))).filter((k) => k.kid === kid)
      if (keys.length === 0) throw new NotFoundError('Unable to locate the resource', { reason: 'The requested JSON Web Key does not exist.' })
      return json(keysOut(keys))
    })
    .put('/admin/keys/:set/:kid', async ({ params, request, tessera }) => {
      const set = pathName(params.set, 'set')
      const kid = pathName(params.kid, 'kid')
      const store = needDbStore()
      const jwk = await checkJwk(await objectBody(request))
      if (jwk.kid !== kid) throw new ValidationError([{ path: 'kid', message: 'must be the kid of the path' }])
      await store.put(tessera.tenant, set, jwk, new Date(), true)
      const shown = o.options.keys.exposePrivateKeys ? jwk : publicHalf(jwk)
      return json(shown)
    }, ANY_TYPE)
    .delete('/admin/keys/:set/:kid', async ({ params, tessera }) => {
      const n = await o.keys.delete(tessera.tenant, pathName(params.set, 'set'), pathName(params.kid, 'kid'))
      if (n === 0) throw new NotFoundError('Unable to locate the resource', { reason: 'The requested JSON Web Key does not exist.' })
      return new Response(null, { status: 204 })
    })
}

/** Discovery (OpenID Connect Discovery 1.0) and the JWKS. */
export function publicRoutes(app: RouteApp, o: OAuth2) {
  return app
    .get('/.well-known/openid-configuration', ({ tessera }) => json(discovery(o.issuer(tessera), { pkcePlain: o.options.pkce.allowPlain })))
    .get('/.well-known/jwks.json', async ({ tessera }) => {
      const keys: PublicJwk[] = []
      for (const set of WELL_KNOWN_SETS) {
        let got = await o.keys.verificationKeys(tessera.tenant, set)
        if (got.length === 0) {
          await o.keys.signingKey(tessera.tenant, set, o.options.keys.algorithm)
          got = await o.keys.verificationKeys(tessera.tenant, set)
        }
        // never a private member, whatever a store returns
        keys.push(...got.map((k) => publicHalf(k)))
      }
      return json({ keys })
    })
}

/**
 * What discovery advertises. `implemented` now: the token, revocation and JWKS endpoints, client_credentials and
 * refresh_token, the four client authentication methods. The rest is what the next part adds (the
 * authorization endpoint, userinfo, logout, device flow, PKCE, ID tokens) — see README.md.
 */
export function discovery(issuer: string, opts: { pkcePlain?: boolean } = {}) {
  return {
    issuer,
    authorization_endpoint: `${issuer}/oauth2/auth`,
    token_endpoint: `${issuer}/oauth2/token`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    userinfo_endpoint: `${issuer}/userinfo`,
    revocation_endpoint: `${issuer}/oauth2/revoke`,
    end_session_endpoint: `${issuer}/oauth2/sessions/logout`,
    device_authorization_endpoint: `${issuer}/oauth2/device/auth`,
    response_types_supported: ['code'],
    response_modes_supported: ['query', 'form_post'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'urn:ietf:params:oauth:grant-type:device_code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256', 'ES256'],
    userinfo_signing_alg_values_supported: ['none', 'RS256'],
    scopes_supported: ['openid', 'offline_access', 'offline', 'email', 'profile', 'phone', 'address'],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'acr', 'amr', 'sid', 'azp', 'at_hash', 'email', 'email_verified', 'name', 'given_name', 'family_name', 'phone_number', 'phone_number_verified', 'address'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    token_endpoint_auth_signing_alg_values_supported: ['RS256', 'ES256', 'PS256', 'ES384', 'RS384', 'RS512', 'ES512', 'EdDSA'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    code_challenge_methods_supported: opts.pkcePlain ? ['S256', 'plain'] : ['S256'],
    claims_parameter_supported: false,
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
    require_request_uri_registration: true,
    authorization_response_iss_parameter_supported: true,
    frontchannel_logout_supported: true,
    frontchannel_logout_session_supported: true,
    backchannel_logout_supported: true,
    backchannel_logout_session_supported: true,
  }
}



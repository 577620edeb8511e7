/**
 * OAuth 2.0 clients: Hydra's client document (validated with valibot), its storage, its secret and a small
 * per-process cache for the token endpoint's hot path.
 *
 * Secrets. A secret Tessera generates is 256 random bits, so a keyed fast hash protects it: HMAC-SHA-256 under
 * the system secret (`hmac:` prefix), verified in constant time by WebCrypto with every secret of the ring, so
 * SECRETS_SYSTEM can rotate. A client-supplied secret is refused below `clients.minSecretLength` (6, as Hydra);
 * one of at least `clients.fastHashMinLength` (32) characters is HMAC-ed the same way; a shorter one may be
 * guessable, so it is slow-hashed with argon2id (`argon2:` prefix) — such clients pay that cost once per
 * process and cache period (a verified secret is remembered as its SHA-256 in memory, compared in constant time).
 * Rotation (Hydra's `POST /admin/clients/{id}/secrets/rotate`) keeps up to five old hashes, all valid until
 * `DELETE …/secrets/rotate` or a new `client_secret` clears them.
 */
import * as v from 'valibot'
import { type Keyring, type ScopedDb, ValidationError, constantTimeEqual, randomToken, sha256HexSync, sql } from 'tessera'

export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', 'implicit', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:jwt-bearer'] as const
export const RESPONSE_TYPES = ['code', 'token', 'id_token', 'code id_token', 'code token', 'id_token token', 'code id_token token', 'none'] as const
export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const
export const LIFESPAN_FIELDS = [
  'authorization_code_grant_access_token_lifespan',
  'authorization_code_grant_id_token_lifespan',
  'authorization_code_grant_refresh_token_lifespan',
  'client_credentials_grant_access_token_lifespan',
  'device_authorization_grant_access_token_lifespan',
  'device_authorization_grant_id_token_lifespan',
  'device_authorization_grant_refresh_token_lifespan',
  'implicit_grant_access_token_lifespan',
  'implicit_grant_id_token_lifespan',
  'jwt_bearer_grant_access_token_lifespan',
  'refresh_token_grant_access_token_lifespan',
  'refresh_token_grant_id_token_lifespan',
  'refresh_token_grant_refresh_token_lifespan',
] as const
export type LifespanField = (typeof LIFESPAN_FIELDS)[number]

const MAX_ROTATED = 5
const d = v.description

/** A Go duration as Hydra writes lifespans (`1h`, `15m0s`, `3600s`). */
const GO_DURATION = /^(\d{1,9}(\.\d+)?(ns|us|µs|ms|s|m|h))+$/
const UNIT: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 }
/** Seconds of a Go duration (rounded down, at least 1). */
export function durationSeconds(s: string): number {
  let total = 0
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * UNIT[m[2]!]!
  return Math.max(1, Math.floor(total))
}
const Duration = v.nullable(v.pipe(v.string(), v.regex(GO_DURATION, 'expected a duration such as 1h, 30m or 3600s'), v.check((s) => durationSeconds(s) <= 10 * 366 * 86400, 'must be at most ten years')))

/** `scope-token = 1*NQCHAR` (RFC 6749 §3.3). */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/
const Scope = v.pipe(
  v.string(),
  v.maxLength(4096),
  v.check((s) => s.split(' ').filter(Boolean).every((t) => SCOPE_TOKEN.test(t)), 'scopes are space-separated and use only printable ASCII without " and \\'),
)

/** Why a redirect URI is not acceptable, or null: absolute, no fragment (RFC 6749 §3.1.2), http(s) with a host. */
export function badRedirectUri(s: string): string | null {
  if (s.length > 2048) return 'must be at most 2048 characters'
  if (s.includes('#')) return 'must not contain a fragment'
  let u: URL
  try {
    u = new URL(s)
  } catch {
    return 'must be an absolute URI'
  }
  if ((u.protocol === 'http:' || u.protocol === 'https:') && !u.hostname) return 'must name a host'
  if (u.protocol === 'javascript:' || u.protocol === 'data:' || u.protocol === 'file:') return `must not use the ${u.protocol} scheme`
  return null
}
const RedirectUri = v.pipe(
  v.string(),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return
    const why = badRedirectUri(dataset.value)
    if (why) addIssue({ message: why })
  }),
)
const Origin = v.pipe(v.string(), v.check((s) => {
  try {
    const u = new URL(s)
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === s
  } catch {
    return false
  }
}, 'must be an origin (scheme://host[:port], no path)'))
const HttpsUrl = v.pipe(v.string(), v.maxLength(2048), v.url())
const Str = (max = 1024) => v.pipe(v.string(), v.maxLength(max))
const List = <T extends v.GenericSchema>(item: T, max = 100) => v.optional(v.nullable(v.pipe(v.array(item), v.maxLength(max))))

const JwkSchema = v.looseObject({ kty: v.picklist(['RSA', 'EC', 'OKP']), kid: v.optional(Str(256)), alg: v.optional(Str(16)), use: v.optional(Str(8)) })
export const ClientJwks = v.object({ keys: v.pipe(v.array(JwkSchema), v.maxLength(20)) })

/** Hydra's OAuth2Client as a request body (create, PUT; PATCH results are checked with it too). */
export const ClientBody = v.object({
  client_id: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9._~:@-]{1,255}$/, 'may use letters, digits and ._~:@- (1 to 255 characters)'))),
  client_name: v.optional(Str(1024)),
  client_secret: v.optional(v.pipe(v.string(), v.maxLength(512))),
  client_secret_expires_at: v.optional(v.number()),
  client_uri: v.optional(v.union([v.literal(''), HttpsUrl])),
  contacts: List(Str(320)),
  grant_types: List(v.picklist(GRANT_TYPES, `must be one of ${GRANT_TYPES.join(', ')}`), 10),
  response_types: List(v.picklist(RESPONSE_TYPES, `must be one of ${RESPONSE_TYPES.join(', ')}`), 10),
  redirect_uris: List(RedirectUri),
  post_logout_redirect_uris: List(RedirectUri),
  request_uris: List(HttpsUrl),
  scope: v.optional(Scope),
  audience: List(v.pipe(v.string(), v.minLength(1), v.maxLength(2048))),
  owner: v.optional(Str(255)),
  policy_uri: v.optional(v.union([v.literal(''), HttpsUrl])),
  tos_uri: v.optional(v.union([v.literal(''), HttpsUrl])),
  logo_uri: v.optional(v.union([v.literal(''), HttpsUrl])),
  allowed_cors_origins: List(Origin),
  subject_type: v.optional(v.picklist(['public'], 'only public subject identifiers are supported')),
  sector_identifier_uri: v.optional(v.literal('', 'sector identifiers (pairwise subjects) are not supported')),
  token_endpoint_auth_method: v.optional(v.picklist(AUTH_METHODS, `must be one of ${AUTH_METHODS.join(', ')}`)),
  token_endpoint_auth_signing_alg: v.optional(v.union([v.literal(''), v.picklist(['RS256', 'ES256', 'PS256', 'ES384', 'RS384', 'RS512', 'ES512', 'EdDSA'], 'must be an asymmetric JWS algorithm')])),
  jwks: v.optional(v.nullable(v.union([ClientJwks, v.object({})]))),
  jwks_uri: v.optional(v.union([v.literal(''), HttpsUrl])),
  request_object_signing_alg: v.optional(v.union([v.literal(''), v.picklist(['RS256', 'ES256', 'none'])])),
  userinfo_signed_response_alg: v.optional(v.union([v.literal(''), v.picklist(['none', 'RS256'])])),
  frontchannel_logout_uri: v.optional(v.union([v.literal(''), HttpsUrl])),
  frontchannel_logout_session_required: v.optional(v.boolean()),
  backchannel_logout_uri: v.optional(v.union([v.literal(''), HttpsUrl])),
  backchannel_logout_session_required: v.optional(v.boolean()),
  metadata: v.optional(v.nullable(v.record(v.string(), v.unknown()))),
  skip_consent: v.optional(v.boolean()),
  skip_logout_consent: v.optional(v.nullable(v.boolean())),
  access_token_strategy: v.optional(v.union([v.literal(''), v.picklist(['opaque', 'jwt'])])),
  ...Object.fromEntries(LIFESPAN_FIELDS.map((f) => [f, v.optional(Duration)])),
  // read-only fields a client echoes back from a GET: accepted and ignored
  created_at: v.optional(v.string()),
  updated_at: v.optional(v.string()),
  registration_access_token: v.optional(v.string()),
  registration_client_uri: v.optional(v.string()),
}) as unknown as v.GenericSchema<Record<string, unknown>, ClientInput>
export type ClientInput = {
  client_id?: string
  client_secret?: string
  token_endpoint_auth_method?: (typeof AUTH_METHODS)[number]
  [k: string]: unknown
}

export const LifespansBody = v.object(Object.fromEntries(LIFESPAN_FIELDS.map((f) => [f, v.optional(Duration)]))) as unknown as v.GenericSchema<unknown, Partial<Record<LifespanField, string | null>>>

/** A stored client (Hydra's document without its secret). */
export interface Client {
  client_id: string
  client_name: string
  grant_types: string[]
  response_types: string[]
  redirect_uris: string[]
  post_logout_redirect_uris: string[]
  scope: string
  audience: string[]
  owner: string
  token_endpoint_auth_method: (typeof AUTH_METHODS)[number]
  token_endpoint_auth_signing_alg: string
  jwks: { keys?: Record<string, unknown>[] }
  jwks_uri: string
  access_token_strategy: string
  metadata: Record<string, unknown>
  skip_consent: boolean
  [k: string]: unknown
}

/** A client row: the document, its secret hashes and timestamps. */
export interface ClientRecord {
  client: Client
  secretHash: string | null
  rotated: string[]
  createdAt: Date
  updatedAt: Date
  /** SHA-256 digests of secrets this process verified for this record (the cache's memory). */
  verified?: Set<string>
}

/** A client document, normalised: Hydra's defaults, every list a list, the secret out. */
export function normalise(input: ClientInput, id: string): Client {
  const s = (k: string, dflt = '') => (typeof input[k] === 'string' ? (input[k] as string) : dflt)
  const l = (k: string, dflt: string[] = []) => (Array.isArray(input[k]) ? [...new Set(input[k] as string[])] : dflt)
  const method = input.token_endpoint_auth_method ?? 'client_secret_basic'
  const c: Client = {
    client_id: id,
    client_name: s('client_name'),
    client_secret_expires_at: 0,
    client_uri: s('client_uri'),
    contacts: l('contacts'),
    grant_types: l('grant_types', ['authorization_code']),
    response_types: l('response_types', ['code']),
    redirect_uris: l('redirect_uris'),
    post_logout_redirect_uris: l('post_logout_redirect_uris'),
    request_uris: l('request_uris'),
    scope: (typeof input.scope === 'string' ? input.scope : 'offline_access offline openid').split(' ').filter(Boolean).join(' '),
    audience: l('audience'),
    owner: s('owner'),
    policy_uri: s('policy_uri'),
    tos_uri: s('tos_uri'),
    logo_uri: s('logo_uri'),
    allowed_cors_origins: l('allowed_cors_origins'),
    subject_type: 'public',
    token_endpoint_auth_method: method,
    token_endpoint_auth_signing_alg: s('token_endpoint_auth_signing_alg', method === 'private_key_jwt' ? 'RS256' : ''),
    jwks: (input.jwks as Client['jwks'] | null | undefined) ?? {},
    jwks_uri: s('jwks_uri'),
    request_object_signing_alg: s('request_object_signing_alg'),
    userinfo_signed_response_alg: s('userinfo_signed_response_alg', 'none'),
    frontchannel_logout_uri: s('frontchannel_logout_uri'),
    frontchannel_logout_session_required: input.frontchannel_logout_session_required === true,
    backchannel_logout_uri: s('backchannel_logout_uri'),
    backchannel_logout_session_required: input.backchannel_logout_session_required === true,
    metadata: (input.metadata as Record<string, unknown> | null | undefined) ?? {},
    skip_consent: input.skip_consent === true,
    skip_logout_consent: input.skip_logout_consent === true,
    access_token_strategy: s('access_token_strategy'),
  }
  for (const f of LIFESPAN_FIELDS) c[f] = typeof input[f] === 'string' ? input[f] : null
  const issues: { path: string; message: string }[] = []
  if (method === 'private_key_jwt') {
    const hasJwks = Array.isArray(c.jwks.keys) && c.jwks.keys.length > 0
    if (hasJwks === (c.jwks_uri !== '')) issues.push({ path: 'jwks', message: 'private_key_jwt needs exactly one of jwks and jwks_uri' })
  }
  if (method === 'none' && c.grant_types.includes('client_credentials')) issues.push({ path: 'grant_types', message: 'a public client (token_endpoint_auth_method none) cannot use client_credentials' })
  if (c.grant_types.includes('authorization_code') && !c.response_types.some((r) => r.split(' ').includes('code'))) {
    issues.push({ path: 'response_types', message: 'the authorization_code grant needs the response type code' })
  }
  if (c.response_types.some((r) => r.split(' ').includes('code')) && !c.grant_types.includes('authorization_code')) {
    issues.push({ path: 'grant_types', message: 'the response type code needs the authorization_code grant' })
  }
  if (issues.length) throw new ValidationError(issues)
  return c
}

/** What the admin API answers: the document, timestamps, and the secret when it was just set. */
export function clientJson(r: ClientRecord, secret?: string): Record<string, unknown> {
  return {
    ...r.client,
    ...(secret !== undefined ? { client_secret: secret } : {}),
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  }
}

export class Secrets {
  constructor(
    private readonly keyring: Keyring,
    private readonly o: { minSecretLength: number; fastHashMinLength: number },
  ) {}

  /** 256 random bits, base64url; never starting with "-", which a command line would read as an option. */
  generate(): string {
    for (;;) {
      const secret = randomToken(32)
      if (!secret.startsWith('-')) return secret
    }
  }

  /** Check a client-supplied secret; throws a 400 when it is too short. */
  check(secret: string): void {
    if (secret.length < this.o.minSecretLength) {
      throw new ValidationError([{ path: 'client_secret', message: `must be at least ${this.o.minSecretLength} characters (or leave it out and one is generated)` }])
    }
  }

  async hash(clientId: string, secret: string, generated: boolean): Promise<string> {
    if (generated || secret.length >= this.o.fastHashMinLength) return `hmac:${await this.keyring.sign('oauth2.client_secret', `${clientId}\u0000${secret}`)}`
    return `argon2:${await Bun.password.hash(secret, { algorithm: 'argon2id', memoryCost: 19456, timeCost: 2 })}`
  }

  async #matches(hash: string, clientId: string, secret: string): Promise<boolean> {
    if (hash.startsWith('hmac:')) return this.keyring.verify('oauth2.client_secret', `${clientId}\u0000${secret}`, hash.slice(5))
    if (hash.startsWith('argon2:')) return Bun.password.verify(secret, hash.slice(7)).catch(() => false)
    return false
  }

  /** Whether `secret` is the client's secret or one of its rotated ones; remembered per cached record. */
  async verify(r: ClientRecord, secret: string): Promise<boolean> {
    if (secret.length === 0 || secret.length > 512) return false
    const digest = sha256HexSync(secret)
    if (r.verified) for (const known of r.verified) if (constantTimeEqual(known, digest)) return true
    const hashes = [r.secretHash, ...r.rotated].filter((h): h is string => !!h)
    let ok = false
    for (const h of hashes) if (await this.#matches(h, r.client.client_id, secret)) ok = true
    if (ok) (r.verified ??= new Set()).add(digest)
    return ok
  }

  /** The rotated hashes after the current one is rotated out: newest first, at most five. */
  static rotated(r: ClientRecord): string[] {
    return r.secretHash ? [r.secretHash, ...r.rotated].slice(0, MAX_ROTATED) : r.rotated
  }
}

interface Row {
  client: Client
  secret_hash: string | null
  rotated_secret_hashes: string[]
  created_at: Date
  updated_at: Date
}
const toRecord = (r: Row): ClientRecord => ({ client: r.client, secretHash: r.secret_hash, rotated: r.rotated_secret_hashes, createdAt: r.created_at, updatedAt: r.updated_at })

export class ClientRepo {
  constructor(private readonly db: ScopedDb) {}

  /** The client now, synchronously when the driver can (SQLite); a promise otherwise. */
  get(id: string): ClientRecord | null | Promise<ClientRecord | null> {
    const q = sql`SELECT client, secret_hash, rotated_secret_hashes, created_at, updated_at FROM oauth2_clients WHERE nid = ${this.db.nid} AND id = ${id}`
    const rows = this.db.querySync<Row>(q)
    if (rows) return rows[0] ? toRecord(rows[0]) : null
    return this.db.one<Row>(q).then((r) => (r ? toRecord(r) : null))
  }

  async insert(r: ClientRecord): Promise<void> {
    const c = r.client
    await this.db.exec(sql`INSERT INTO oauth2_clients (nid, id, client, secret_hash, rotated_secret_hashes, client_name, owner, created_at, updated_at)
      VALUES (${this.db.nid}, ${c.client_id}, ${sql.json(c)}, ${r.secretHash}, ${sql.json(r.rotated)}, ${c.client_name}, ${c.owner}, ${r.createdAt}, ${r.updatedAt})`)
  }

  async update(r: ClientRecord): Promise<boolean> {
    const c = r.client
    const res = await this.db.exec(sql`UPDATE oauth2_clients SET client = ${sql.json(c)}, secret_hash = ${r.secretHash}, rotated_secret_hashes = ${sql.json(r.rotated)},
      client_name = ${c.client_name}, owner = ${c.owner}, updated_at = ${r.updatedAt} WHERE nid = ${this.db.nid} AND id = ${c.client_id}`)
    return res.rowCount > 0
  }

  async delete(id: string): Promise<boolean> {
    return (await this.db.exec(sql`DELETE FROM oauth2_clients WHERE nid = ${this.db.nid} AND id = ${id}`)).rowCount > 0
  }

  async list(filter: { client_name?: string; owner?: string }, size: number, after?: string): Promise<ClientRecord[]> {
    const rows = await this.db.query<Row & { id: string }>(sql`SELECT id, client, secret_hash, rotated_secret_hashes, created_at, updated_at FROM oauth2_clients
      WHERE nid = ${this.db.nid}
      ${filter.client_name !== undefined ? sql`AND client_name = ${filter.client_name}` : sql.empty}
      ${filter.owner !== undefined ? sql`AND owner = ${filter.owner}` : sql.empty}
      ${after !== undefined ? sql`AND id > ${after}` : sql.empty}
      ORDER BY id LIMIT ${size}`)
    return rows.map(toRecord)
  }
}

/**
 * Clients read by the token endpoints, kept per process for `ttlMs` (bounded in size). Writes through this
 * process drop the entry at once; other processes see them within the TTL.
 */
export class ClientCache {
  readonly #entries = new Map<string, { r: ClientRecord | null; at: number }>()
  constructor(private readonly ttlMs: number, private readonly max = 10_000) {}

  get(db: ScopedDb, id: string): ClientRecord | null | Promise<ClientRecord | null> {
    if (this.ttlMs === 0) return new ClientRepo(db).get(id)
    const key = `${db.nid}\u0000${id}`
    const hit = this.#entries.get(key)
    const now = Date.now()
    if (hit && now - hit.at < this.ttlMs) return hit.r
    const got = new ClientRepo(db).get(id)
    const keep = (r: ClientRecord | null) => {
      if (this.#entries.size >= this.max) this.#entries.delete(this.#entries.keys().next().value!)
      this.#entries.set(key, { r, at: now })
      return r
    }
    return got instanceof Promise ? got.then(keep) : keep(got)
  }

  forget(tenant: string, id: string): void {
    this.#entries.delete(`${tenant}\u0000${id}`)
  }
}

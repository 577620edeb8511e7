/**
 * Authenticators with Oathkeeper's names and config keys: noop, anonymous, unauthorized,
 * cookie_session, bearer_token, jwt, oauth2_introspection, oauth2_client_credentials.
 */
import { readFile } from 'node:fs/promises'
import { type JSONWebKeySet, type JWSHeaderParameters, type JWTPayload, type JWTVerifyGetKey, createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, importJWK, jwtVerify } from 'jose'
import * as v from 'valibot'
import {
  AUTHENTICATED,
  type AuthenticationSession,
  type Authenticator,
  type AuthenticatorResult,
  NOT_RESPONSIBLE,
  type PipelineRequest,
  PipelineError,
  type PluginContext,
  sha256HexSync,
  unauthorized,
} from 'tessera'
import { BoundedCache, type TokenFrom, cookiesOf, extractToken, Duration, getPath } from '../util.ts'

/** Tokens above this size are refused before any parsing (security checklist: JWT > 8 KiB → fast 400). */
export const MAX_TOKEN_BYTES = 8 * 1024

/** Exactly two dots: the shape of a JWS compact token. */
function isCompactJws(t: string): boolean {
  const a = t.indexOf('.')
  const b = a < 0 ? -1 : t.indexOf('.', a + 1)
  return b > 0 && t.indexOf('.', b + 1) < 0
}

/** A stable key for a handler config, computed once per compiled config object. */
const configKeys = new WeakMap<object, string>()
function configKey(config: object): string {
  let k = configKeys.get(config)
  if (k === undefined) {
    k = sha256HexSync(JSON.stringify(config))
    configKeys.set(config, k)
  }
  return k
}

const denied = (error: PipelineError): AuthenticatorResult => ({ kind: 'denied', error })
const tooLarge = () => denied(new PipelineError('bad_request', 400, 'The access token is too large', 'token_too_large'))

const TokenFromSchema = v.optional(
  v.object({ header: v.optional(v.string()), query_parameter: v.optional(v.string()), cookie: v.optional(v.string()) }),
)
/** A Go-style duration, parsed once when the config is validated: milliseconds. */
const ScopeStrategy = v.optional(v.picklist(['none', 'exact', 'hierarchic', 'wildcard']), 'none')

/** Does `granted` satisfy `required` under Oathkeeper's scope strategies? */
export function scopeMatches(strategy: string, granted: string[], required: string): boolean {
  switch (strategy) {
    case 'hierarchic':
      return granted.some((g) => g === required || required.startsWith(`${g}.`))
    case 'wildcard':
      return granted.some((g) => {
        if (g === required) return true
        const re = new RegExp(`^${g.split('.').map((p) => (p === '*' ? '[^.]+(?:\\.[^.]+)*' : p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('\\.')}$`)
        return re.test(required)
      })
    default:
      return granted.includes(required)
  }
}

function scopesOf(claims: Record<string, unknown>): string[] {
  for (const k of ['scp', 'scope', 'scopes']) {
    const s = claims[k]
    if (typeof s === 'string') return s.split(' ').filter(Boolean)
    if (Array.isArray(s)) return s.map(String)
  }
  return []
}

// ---------------------------------------------------------------- noop, anonymous, unauthorized

const noop: Authenticator = { id: 'noop', authenticate: () => AUTHENTICATED }

const anonymous: Authenticator<{ subject: string }> = {
  id: 'anonymous',
  config: v.object({ subject: v.optional(v.string(), 'anonymous') }),
  authenticate(req, session, config) {
    if (req.headers.get('authorization')) return NOT_RESPONSIBLE
    session.subject = config.subject
    return AUTHENTICATED
  },
}

const unauthorizedAuth: Authenticator = {
  id: 'unauthorized',
  authenticate: () => denied(unauthorized('unauthorized_authenticator', 'Access credentials are invalid')),
}

// ---------------------------------------------------------------- sessions: cookie_session, bearer_token

const SessionCheckBase = {
  check_session_url: v.optional(v.pipe(v.string(), v.url())),
  preserve_path: v.optional(v.boolean(), false),
  preserve_query: v.optional(v.boolean(), true),
  preserve_host: v.optional(v.boolean(), false),
  subject_from: v.optional(v.string()),
  extra_from: v.optional(v.string()),
  forward_http_headers: v.optional(v.array(v.string()), ['Authorization', 'Cookie']),
  additional_headers: v.optional(v.record(v.string(), v.string()), {}),
}
const CookieSessionConfig = v.object({ ...SessionCheckBase, only: v.optional(v.array(v.string()), []) })
const BearerTokenConfig = v.object({ ...SessionCheckBase, token_from: TokenFromSchema })
type SessionCheckConfig = Omit<v.InferOutput<typeof CookieSessionConfig>, 'only'> & { only?: string[]; token_from?: TokenFrom }

async function checkSessionOverHttp(req: PipelineRequest, config: SessionCheckConfig, headers: Headers): Promise<unknown | null> {
  const target = new URL(config.check_session_url as string)
  if (!config.preserve_path) target.pathname = req.url.pathname
  if (!config.preserve_query) target.search = ''
  for (const [k, val] of Object.entries(config.additional_headers)) headers.set(k, val)
  if (config.preserve_host) headers.set('x-forwarded-host', req.url.host)
  let res: Response
  try {
    res = await fetch(target, { method: 'GET', headers, redirect: 'manual', signal: AbortSignal.timeout(5000) })
  } catch (e) {
    throw new PipelineError('internal_server_error', 500, 'The session check endpoint could not be reached', 'session_check_unreachable', { cause: e })
  }
  if (res.status !== 200) {
    await res.body?.cancel()
    return null
  }
  try {
    return await res.json()
  } catch (e) {
    throw new PipelineError('internal_server_error', 500, 'The session check endpoint answered with invalid JSON', 'session_check_invalid', { cause: e })
  }
}

function fillSession(session: AuthenticationSession, body: unknown, config: SessionCheckConfig, inProcess: boolean): AuthenticatorResult {
  const subject = getPath(body, config.subject_from ?? (inProcess ? 'identity.id' : 'subject'))
  if (typeof subject !== 'string' || subject === '') return denied(unauthorized('session_without_subject', 'The session has no subject'))
  const extra = getPath(body, config.extra_from ?? (inProcess ? '@this' : 'extra'))
  session.subject = subject
  session.extra = extra && typeof extra === 'object' && !Array.isArray(extra) ? (extra as Record<string, unknown>) : {}
  return AUTHENTICATED
}

function sessionAuthenticators(ctx: PluginContext<unknown>): Authenticator<any>[] {
  const cookieSession: Authenticator<SessionCheckConfig> = {
    id: 'cookie_session',
    config: CookieSessionConfig,
    async authenticate(req, session, config) {
      const cookies = cookiesOf(req.headers)
      if (cookies.size === 0) return NOT_RESPONSIBLE
      if (config.only && config.only.length > 0 && !config.only.some((n) => cookies.has(n))) return NOT_RESPONSIBLE
      const service = ctx.services.get('identity.sessions')
      if (service && !config.check_session_url) {
        const token = cookies.get(service.cookieName)
        if (!token) return NOT_RESPONSIBLE
        if (token.length > MAX_TOKEN_BYTES) return tooLarge()
        const active = await service.fromToken(token, req.tenant)
        if (!active) return denied(unauthorized('session_inactive', 'No active session was found'))
        return fillSession(session, active.session, config, true)
      }
      if (!config.check_session_url) {
        throw new PipelineError('internal_server_error', 500, 'cookie_session needs check_session_url or the identity plugin', 'session_check_unconfigured')
      }
      const headers = new Headers()
      for (const h of config.forward_http_headers) {
        const val = req.headers.get(h)
        if (val !== null) headers.set(h, val)
      }
      const body = await checkSessionOverHttp(req, config, headers)
      if (body === null) return denied(unauthorized('session_inactive', 'No active session was found'))
      return fillSession(session, body, config, false)
    },
  }

  const bearerToken: Authenticator<SessionCheckConfig> = {
    id: 'bearer_token',
    config: BearerTokenConfig,
    async authenticate(req, session, config) {
      const token = extractToken(req, config.token_from)
      if (!token) return NOT_RESPONSIBLE
      if (token.length > MAX_TOKEN_BYTES) return tooLarge()
      const service = ctx.services.get('identity.sessions')
      if (service && !config.check_session_url) {
        const active = await service.fromToken(token, req.tenant)
        if (!active) return denied(unauthorized('session_inactive', 'No active session was found'))
        return fillSession(session, active.session, config, true)
      }
      if (!config.check_session_url) {
        throw new PipelineError('internal_server_error', 500, 'bearer_token needs check_session_url or the identity plugin', 'session_check_unconfigured')
      }
      const headers = new Headers()
      for (const h of config.forward_http_headers) {
        if (h.toLowerCase() === 'authorization') continue
        const val = req.headers.get(h)
        if (val !== null) headers.set(h, val)
      }
      headers.set('authorization', `Bearer ${token}`)
      const body = await checkSessionOverHttp(req, config, headers)
      if (body === null) return denied(unauthorized('session_inactive', 'No active session was found'))
      return fillSession(session, body, config, false)
    },
  }
  return [cookieSession, bearerToken]
}

// ---------------------------------------------------------------- jwt

const JwtConfig = v.object({
  jwks_urls: v.pipe(v.array(v.pipe(v.string(), v.url())), v.minLength(1, 'configure at least one JWKS URL')),
  required_scope: v.optional(v.array(v.string()), []),
  target_audience: v.optional(v.array(v.string()), []),
  trusted_issuers: v.optional(v.array(v.string()), []),
  allowed_algorithms: v.optional(
    v.pipe(v.array(v.picklist(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'HS256', 'HS384', 'HS512'])), v.minLength(1)),
    ['RS256'],
  ),
  scope_strategy: ScopeStrategy,
  token_from: TokenFromSchema,
  jwks_max_wait: v.optional(Duration, '1s'),
  jwks_ttl: v.optional(Duration, '30s'),
  /** Allowed clock skew for exp / nbf / iat. */
  leeway: v.optional(Duration, '0s'),
})
type JwtConfig = v.InferOutput<typeof JwtConfig>

/** A key set: jose's resolver for public keys, plus the set itself (for `oct` keys, which jose's resolver refuses). */
type KeySet = JWTVerifyGetKey & { readonly fresh: boolean; reload(): Promise<void>; jwks(): JSONWebKeySet | undefined }

/**
 * The key for an HMAC-signed token (HS256/384/512): the one `oct` key of the set with the token's kid, as
 * Oathkeeper accepts a symmetric JWK. Only `oct` keys count, so an RSA public key is never an HMAC secret.
 */
async function octKey(set: KeySet, header: JWSHeaderParameters) {
  if (!set.fresh || !set.jwks()) await set.reload()
  const keys = (set.jwks()?.keys ?? []).filter((k) => k.kty === 'oct' && k.kid === header.kid && (k.alg === undefined || k.alg === header.alg) && (k.use === undefined || k.use === 'sig'))
  if (keys.length !== 1) throw new joseErrors.JWKSNoMatchingKey()
  return importJWK(keys[0]!, header.alg)
}

/** JWKS key sets, one per (URL, ttl, wait): bounded. `jku`/`x5u` in a token are never looked at. */
class JwksSets {
  readonly #sets = new Map<string, KeySet>()
  get(url: string, ttl: number, wait: number): KeySet {
    const key = `${url}|${ttl}|${wait}`
    let set = this.#sets.get(key)
    if (!set) {
      if (this.#sets.size >= 256) this.#sets.delete(this.#sets.keys().next().value as string)
      set = url.startsWith('file:') ? fileJwks(url, ttl) : (createRemoteJWKSet(new URL(url), { cacheMaxAge: ttl, timeoutDuration: wait, cooldownDuration: Math.min(ttl, 30_000) }) as unknown as KeySet)
      this.#sets.set(key, set)
    }
    return set
  }
}

function fileJwks(url: string, ttl: number): KeySet {
  let loaded: { at: number; json: JSONWebKeySet; get: JWTVerifyGetKey } | undefined
  const reload = async () => {
    const json = JSON.parse(await readFile(new URL(url), 'utf8'))
    loaded = { at: Date.now(), json, get: createLocalJWKSet(json) }
  }
  const fresh = () => loaded !== undefined && Date.now() - loaded.at <= ttl
  const get: JWTVerifyGetKey = async (header, token) => {
    if (!fresh()) await reload()
    return loaded!.get(header, token)
  }
  return Object.defineProperties(get, { fresh: { get: fresh }, reload: { value: reload }, jwks: { value: () => loaded?.json } }) as KeySet
}

function jwtAuthenticator(): Authenticator<JwtConfig> {
  const sets = new JwksSets()
  // CVE-2026-33496 / CVE-2021-32701 class: verified tokens are cached per handler config (by its content), then by token
  const byKey = new Map<string, BoundedCache<JWTPayload>>()
  const byConfig = new WeakMap<object, BoundedCache<JWTPayload>>()
  const verifiedFor = (config: object): BoundedCache<JWTPayload> => {
    let c = byConfig.get(config)
    if (!c) {
      const k = configKey(config)
      c = byKey.get(k)
      if (!c) {
        if (byKey.size >= 256) byKey.delete(byKey.keys().next().value as string)
        c = new BoundedCache<JWTPayload>(10_000)
        byKey.set(k, c)
      }
      byConfig.set(config, c)
    }
    return c
  }
  return {
    id: 'jwt',
    config: JwtConfig,
    // A cached token is answered synchronously (no promise, no await); only a token not yet verified goes async.
    authenticate(req, session, config) {
      const token = extractToken(req, config.token_from)
      if (!token) return NOT_RESPONSIBLE
      if (token.length > MAX_TOKEN_BYTES) return tooLarge()
      if (!isCompactJws(token)) return NOT_RESPONSIBLE // not a JWS compact token: not ours (Oathkeeper)
      // CVE-2026-33496 / CVE-2021-32701 class: the cache key is the token *and* the handler's whole config
      // one cache per compiled config, keyed by the token itself: exact, no hash collisions, no key string built per request
      const cache = verifiedFor(config)
      const claims = cache.get(token)
      if (!claims) return verify(token, cache, session, config)
      if (typeof claims.exp === 'number' && claims.exp * 1000 + config.leeway < Date.now()) {
        return denied(unauthorized('jwt_expired', 'The access token is invalid'))
      }
      return accept(claims, session, config)
    },
  }

  async function verify(token: string, cache: BoundedCache<JWTPayload>, session: AuthenticationSession, config: JwtConfig): Promise<AuthenticatorResult> {
    const keySets = config.jwks_urls.map((u) => sets.get(u, config.jwks_ttl, config.jwks_max_wait))
    const getKey: JWTVerifyGetKey = async (header, tok) => {
      // Oathkeeper (credentials/verifier_default.go): a token without kid is refused before any key is looked up
      if (typeof header.kid !== 'string' || header.kid === '') throw new JwtRefused('jwt_no_kid')
      let last: unknown
      for (const s of keySets) {
        try {
          return header.alg?.startsWith('HS') ? await octKey(s, header) : await s(header, tok)
        } catch (e) {
          last = e
        }
      }
      throw last
    }
    let claims: JWTPayload
    try {
      const r = await jwtVerify(token, getKey, {
        algorithms: config.allowed_algorithms,
        issuer: config.trusted_issuers.length ? config.trusted_issuers : undefined,
        audience: config.target_audience.length ? config.target_audience : undefined,
        clockTolerance: config.leeway / 1000,
      })
      claims = r.payload
      // golang-jwt's WithIssuedAt, as Oathkeeper verifies: a token issued in the future (beyond the leeway) is refused
      if (typeof claims.iat === 'number' && claims.iat * 1000 > Date.now() + config.leeway) throw new JwtRefused('jwt_issued_in_future')
    } catch (e) {
      if (e instanceof joseErrors.JWKSTimeout) {
        throw new PipelineError('internal_server_error', 500, 'The JSON Web Key Set could not be fetched in time', 'jwks_timeout', { cause: e })
      }
      return denied(unauthorized(jwtReason(e), 'The access token is invalid'))
    }
    // audience: Oathkeeper requires *every* target audience to be present
    if (config.target_audience.length) {
      const aud = Array.isArray(claims.aud) ? claims.aud : claims.aud ? [claims.aud] : []
      if (!config.target_audience.every((a) => aud.includes(a))) return denied(unauthorized('jwt_audience', 'The access token is invalid'))
    }
    const expiresAt = typeof claims.exp === 'number' ? claims.exp * 1000 : Date.now() + 60_000
    cache.set(token, claims, Math.min(expiresAt, Date.now() + 3_600_000))
    return accept(claims, session, config)
  }

  /** Scopes and subject of verified claims; on success the session carries them. */
  function accept(claims: JWTPayload, session: AuthenticationSession, config: JwtConfig): AuthenticatorResult {
    // scopes are read only when the config requires some (nothing allocated otherwise)
    const granted = config.required_scope.length ? scopesOf(claims as Record<string, unknown>) : []
    for (const s of config.required_scope) {
      // Oathkeeper's jwt authenticator answers a missing scope with 401 (its introspection authenticator with 403)
      if (!scopeMatches(config.scope_strategy, granted, s)) return denied(unauthorized('jwt_scope', 'The access token lacks a required scope'))
    }
    if (typeof claims.sub !== 'string' || !claims.sub) return denied(unauthorized('jwt_no_subject', 'The access token is invalid'))
    session.subject = claims.sub
    session.extra = { ...claims }
    return AUTHENTICATED
  }
}

/** A token refused by a check of Oathkeeper's that jose does not make (no kid, issued in the future). */
class JwtRefused extends Error {
  constructor(readonly reasonId: string) {
    super(reasonId)
  }
}

function jwtReason(e: unknown): string {
  if (e instanceof JwtRefused) return e.reasonId
  if (e instanceof joseErrors.JWTExpired) return 'jwt_expired'
  if (e instanceof joseErrors.JWTClaimValidationFailed) return `jwt_claim_${e.claim}`
  if (e instanceof joseErrors.JOSEAlgNotAllowed || e instanceof joseErrors.JOSENotSupported) return 'jwt_algorithm'
  if (e instanceof joseErrors.JWKSNoMatchingKey) return 'jwt_unknown_key'
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return 'jwt_signature'
  return 'jwt_invalid'
}

// ---------------------------------------------------------------- oauth2_introspection

const IntrospectionConfig = v.object({
  /** Optional when the oauth2 plugin is installed: without it the token is introspected in-process. */
  introspection_url: v.optional(v.pipe(v.string(), v.url())),
  scope_strategy: ScopeStrategy,
  required_scope: v.optional(v.array(v.string()), []),
  target_audience: v.optional(v.array(v.string()), []),
  trusted_issuers: v.optional(v.array(v.string()), []),
  token_from: TokenFromSchema,
  introspection_request_headers: v.optional(v.record(v.string(), v.string()), {}),
  cache: v.optional(v.object({ enabled: v.optional(v.boolean(), false), ttl: v.optional(Duration, '5m'), max_cost: v.optional(v.number(), 10_000) }), {}),
})
type IntrospectionConfig = v.InferOutput<typeof IntrospectionConfig>

interface Introspection {
  active?: boolean
  sub?: string
  scope?: string
  aud?: string | string[]
  iss?: string
  exp?: number
  client_id?: string
  username?: string
  token_type?: string
  token_use?: string
  ext?: Record<string, unknown>
}

function introspectionAuthenticator(ctx: PluginContext<unknown>): Authenticator<IntrospectionConfig> {
  const cache = new BoundedCache<Introspection>(10_000)
  return {
    id: 'oauth2_introspection',
    config: IntrospectionConfig,
    async authenticate(req, session, config) {
      const token = extractToken(req, config.token_from)
      if (!token) return NOT_RESPONSIBLE
      if (token.length > MAX_TOKEN_BYTES) return tooLarge()
      // CVE-2026-33496 and CVE-2021-32701: the key covers the token, the introspection URL and every check
      // (hashed only when the cache is on)
      const cacheKey = config.cache.enabled
        ? sha256HexSync(JSON.stringify([token, config.introspection_url, config.required_scope, config.scope_strategy, config.target_audience, config.trusted_issuers]))
        : ''
      let info = config.cache.enabled ? cache.get(cacheKey) : undefined
      // the oauth2 plugin in-process (its `oauth2.tokens` service) when no URL is configured
      const service = config.introspection_url ? undefined : ctx.services.get('oauth2.tokens')
      if (!info && !config.introspection_url && !service) {
        throw new PipelineError('internal_server_error', 500, 'oauth2_introspection needs introspection_url or the oauth2 plugin', 'introspection_unconfigured')
      }
      if (!info && service) {
        info = (await service.introspect(req.tenant, token, { scope: config.required_scope.length && config.scope_strategy === 'none' ? config.required_scope : [] })) as Introspection
        if (info.active === true && config.cache.enabled) {
          const until = typeof info.exp === 'number' ? info.exp * 1000 : Number.POSITIVE_INFINITY
          cache.set(cacheKey, info, Math.min(until, Date.now() + config.cache.ttl))
        }
      }
      if (!info) {
        const body = new URLSearchParams({ token })
        if (config.required_scope.length && config.scope_strategy === 'none') body.set('scope', config.required_scope.join(' '))
        let res: Response
        try {
          res = await fetch(config.introspection_url as string, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...config.introspection_request_headers },
            body,
            signal: AbortSignal.timeout(5000),
          })
        } catch (e) {
          throw new PipelineError('internal_server_error', 500, 'The introspection endpoint could not be reached', 'introspection_unreachable', { cause: e })
        }
        if (res.status !== 200) {
          await res.body?.cancel()
          throw new PipelineError('internal_server_error', 500, 'The introspection endpoint failed', 'introspection_failed')
        }
        info = (await res.json().catch(() => ({}))) as Introspection
        if (info.active === true && config.cache.enabled) {
          const until = typeof info.exp === 'number' ? info.exp * 1000 : Number.POSITIVE_INFINITY
          cache.set(cacheKey, info, Math.min(until, Date.now() + config.cache.ttl))
        }
      }
      if (info.active !== true) return denied(unauthorized('token_inactive', 'The access token is not active'))
      if (typeof info.exp === 'number' && info.exp * 1000 < Date.now()) return denied(unauthorized('token_expired', 'The access token is not active'))
      // RFC 7662 token_type is Bearer for an access token (Hydra's and Tessera's introspection); token_use says which it is
      if (info.token_use !== undefined ? info.token_use !== 'access_token' : info.token_type !== undefined && info.token_type !== 'access_token' && info.token_type.toLowerCase() !== 'bearer') return denied(unauthorized('token_type', 'The token is not an access token'))
      if (config.trusted_issuers.length && !config.trusted_issuers.includes(info.iss ?? '')) return denied(unauthorized('token_issuer', 'The access token is invalid'))
      if (config.target_audience.length) {
        const aud = Array.isArray(info.aud) ? info.aud : info.aud ? [info.aud] : []
        if (!config.target_audience.every((a) => aud.includes(a))) return denied(unauthorized('token_audience', 'The access token is invalid'))
      }
      const granted = (info.scope ?? '').split(' ').filter(Boolean)
      // with strategy none the introspection endpoint was asked for the scopes; when it lists the token's
      // scopes anyway, they are checked exactly as well (a server that ignores `scope` cannot widen access)
      if (config.scope_strategy !== 'none' || info.scope !== undefined) {
        const strategy = config.scope_strategy === 'none' ? 'exact' : config.scope_strategy
        for (const s of config.required_scope) {
          if (!scopeMatches(strategy, granted, s)) return denied(new PipelineError('forbidden', 403, 'The access token lacks a required scope', 'token_scope'))
        }
      }
      session.subject = info.sub ?? ''
      session.extra = { ...(info.ext ?? {}) }
      return AUTHENTICATED
    },
  }
}

// ---------------------------------------------------------------- oauth2_client_credentials

const ClientCredentialsConfig = v.object({
  /** Optional when the oauth2 plugin is installed: without it the credentials are exchanged in-process. */
  token_url: v.optional(v.pipe(v.string(), v.url())),
  required_scope: v.optional(v.array(v.string()), []),
  cache: v.optional(v.object({ enabled: v.optional(v.boolean(), false), ttl: v.optional(Duration, '5m') }), {}),
})
type ClientCredentialsConfig = v.InferOutput<typeof ClientCredentialsConfig>

function clientCredentialsAuthenticator(ctx: PluginContext<unknown>): Authenticator<ClientCredentialsConfig> {
  const cache = new BoundedCache<true>(10_000)
  return {
    id: 'oauth2_client_credentials',
    config: ClientCredentialsConfig,
    async authenticate(req, session, config) {
      const m = /^basic\s+(\S+)$/i.exec(req.headers.get('authorization') ?? '')
      if (!m) return NOT_RESPONSIBLE
      if ((m[1] as string).length > MAX_TOKEN_BYTES) return tooLarge()
      let decoded: string
      try {
        decoded = atob(m[1] as string)
      } catch {
        return denied(unauthorized('basic_malformed', 'Access credentials are invalid'))
      }
      const colon = decoded.indexOf(':')
      if (colon < 0) return denied(unauthorized('basic_malformed', 'Access credentials are invalid'))
      let clientId: string
      let clientSecret: string
      try {
        clientId = decodeURIComponent(decoded.slice(0, colon))
        clientSecret = decodeURIComponent(decoded.slice(colon + 1))
      } catch {
        return denied(unauthorized('basic_malformed', 'Access credentials are invalid'))
      }
      const key = config.cache.enabled ? sha256HexSync(JSON.stringify([m[1], config.token_url ?? 'in-process', config.required_scope])) : ''
      // the oauth2 plugin in-process (its `oauth2.tokens` service) when no URL is configured
      const service = config.token_url ? undefined : ctx.services.get('oauth2.tokens')
      if (!config.token_url && !service) {
        throw new PipelineError('internal_server_error', 500, 'oauth2_client_credentials needs token_url or the oauth2 plugin', 'token_endpoint_unconfigured')
      }
      if (service && !(config.cache.enabled && cache.get(key))) {
        const got = await service.clientCredentials(req.tenant, { clientId, clientSecret, scope: config.required_scope })
        if (!got) return denied(unauthorized('client_credentials_invalid', 'Access credentials are invalid'))
        if (config.cache.enabled) cache.set(key, true, Date.now() + config.cache.ttl)
      } else if (!(config.cache.enabled && cache.get(key))) {
        const body = new URLSearchParams({ grant_type: 'client_credentials' })
        if (config.required_scope.length) body.set('scope', config.required_scope.join(' '))
        const res = await fetch(config.token_url as string, {
          method: 'POST',
          headers: { authorization: `Basic ${m[1]}`, 'content-type': 'application/x-www-form-urlencoded' },
          body,
          signal: AbortSignal.timeout(5000),
        }).catch((e) => {
          throw new PipelineError('internal_server_error', 500, 'The token endpoint could not be reached', 'token_endpoint_unreachable', { cause: e })
        })
        await res.body?.cancel()
        if (res.status !== 200) return denied(unauthorized('client_credentials_invalid', 'Access credentials are invalid'))
        if (config.cache.enabled) cache.set(key, true, Date.now() + config.cache.ttl)
      }
      session.subject = clientId
      return AUTHENTICATED
    },
  }
}

export function authenticators(ctx: PluginContext<unknown>): Authenticator<any>[] {
  return [noop, anonymous, unauthorizedAuth, ...sessionAuthenticators(ctx), jwtAuthenticator(), introspectionAuthenticator(ctx), clientCredentialsAuthenticator(ctx)]
}

/**
 * The authorization endpoint (`GET|POST /oauth2/auth`, RFC 6749 §4.1, OpenID Connect Core §3.1.2) and the
 * `authorization_code` grant. One endpoint, three entries, as Hydra's:
 *
 *  - a new request: validated (client, exact redirect URI, response type, scope, audience, PKCE, prompt,
 *    max_age, id_token_hint), then a login challenge — skipped when a login is remembered (the identity
 *    session, or Hydra's remembered authentication) and neither `prompt=login` nor `max_age` demands a new one;
 *  - `login_verifier`: the login app answered; a consent challenge follows (skipped for `skip_consent` clients
 *    and remembered consent unless `prompt=consent`);
 *  - `consent_verifier`: the consent app answered; the code goes to the client's redirect URI with `state`
 *    (byte-exact) and `iss` (RFC 9207).
 *
 * An unknown client or redirect URI gets an error page, never a redirect (RFC 6749 §4.1.2.1).
 */
import { type ActiveSession, OAuth2Error, type RawRoute, type RequestContext, type ScopedDb, constantTimeEqual, randomToken, sha256HexSync, sql } from 'tessera'
import { createLocalJWKSet, jwtVerify } from 'jose'
import type { Client } from './clients.ts'
import { type AuthRequest, type ConsentResult, FlowRepo, type FlowRow, type LoginResult, type Rejection } from './flows.ts'
import { type IdTokenSession, idToken } from './id-token.ts'
import type { Ctx, OAuth2 } from './oauth2.ts'
import { ID_TOKEN_SET } from './options.ts'
import { type GrantHandler, formOf, scopesOf, whitelisted } from './token-endpoint.ts'
import { invalidGrant, signatureOf } from './tokens.ts'

export const CODE_PREFIX = 'ory_ac_'
const AUTH_SESSION_COOKIE = 'tessera_oauth2_authentication_session'
const csrfCookieName = (clientId: string) => `tessera_oauth2_csrf_${sha256HexSync(clientId).slice(0, 12)}`
/** RFC 7636 §4.1: 43 to 128 unreserved characters (the same for a challenge). */
const PKCE_VALUE = /^[A-Za-z0-9._~-]{43,128}$/
const PROMPTS = new Set(['none', 'login', 'consent', 'select_account'])
const MAX_PARAM = 4096

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** An error shown to the browser (no trustworthy redirect URI): a page, never a redirect. */
export class ErrorPage extends Error {
  constructor(readonly error: string, readonly description: string, readonly status = 400) {
    super(description)
  }
}

/** An error for the client, delivered at its (validated) redirect URI. */
class RedirectError extends Error {
  constructor(readonly error: string, readonly description: string) {
    super(description)
  }
}

/** This plugin's own error page (the ui's, through `oauth2.pages`, is preferred: see `Authorizer.errorResponse`). */
export function errorPage(error: string, description: string, status = 400): Response {
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error</title></head><body><h1>The request could not be completed</h1><p id="error">${esc(error)}</p><p id="error_description">${esc(description)}</p></body></html>`
  return new Response(body, { status, headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-frame-options': 'DENY', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'" } })
}

function cookieOf(request: Request, name: string): string | null {
  const header = request.headers.get('cookie')
  if (!header) return null
  for (const part of header.split(';')) {
    const i = part.indexOf('=')
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim()
  }
  return null
}

const redirect = (to: string, cookies: string[] = []) => {
  const headers = new Headers({ location: to, 'cache-control': 'no-store' })
  for (const c of cookies) headers.append('set-cookie', c)
  return new Response(null, { status: 303, headers })
}

/** Deliver `params` at the redirect URI: query (RFC 6749) or form_post (OAuth 2.0 Form Post Response Mode). */
function deliver(req: Pick<AuthRequest, 'redirect_uri' | 'response_mode'>, params: Record<string, string | undefined>, cookies: string[] = []): Response {
  const entries = Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined)
  if (req.response_mode === 'form_post') {
    const inputs = entries.map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join('')
    const body = `<!doctype html><html><head><meta charset="utf-8"><title>Submit</title></head><body onload="document.forms[0].submit()"><form method="post" action="${esc(req.redirect_uri)}">${inputs}<noscript><button type="submit">Continue</button></noscript></form></body></html>`
    const headers = new Headers({ 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
    for (const c of cookies) headers.append('set-cookie', c)
    return new Response(body, { status: 200, headers })
  }
  const url = new URL(req.redirect_uri)
  for (const [k, v] of entries) url.searchParams.append(k, v)
  return redirect(url.toString(), cookies)
}

/** RFC 8252 §7.3: a loopback IP literal redirect URI of a native (public) client matches on any port. */
function loopback(u: URL): boolean {
  return u.protocol === 'http:' && (u.hostname === '127.0.0.1' || u.hostname === '[::1]')
}

/** The client's redirect URI for this request: exact string match (RFC 9700 §4.1.3), loopback ports aside. */
export function matchRedirectUri(client: Client, given: string | null): string | null {
  if (given === null) return client.redirect_uris.length === 1 ? client.redirect_uris[0]! : null
  if (client.redirect_uris.includes(given)) return given
  if (client.token_endpoint_auth_method !== 'none') return null
  let g: URL
  try {
    g = new URL(given)
  } catch {
    return null
  }
  if (!loopback(g)) return null
  for (const r of client.redirect_uris) {
    let u: URL
    try {
      u = new URL(r)
    } catch {
      continue
    }
    if (loopback(u) && u.hostname === g.hostname && u.pathname === g.pathname && u.search === g.search && u.username === '' && g.username === '' && g.hash === '') return given
  }
  return null
}

/** The parameters of an authorization request: the query (GET) or the form (POST); no parameter twice. */
async function paramsOf(request: Request): Promise<URLSearchParams> {
  let params: URLSearchParams
  if (request.method === 'POST') params = await formOf(request)
  else if (request.method === 'GET' || request.method === 'HEAD') params = new URL(request.url).searchParams
  else throw new ErrorPage('invalid_request', 'The HTTP method must be GET or POST.')
  const seen = new Set<string>()
  for (const [k, v] of params) {
    if (seen.has(k)) throw new ErrorPage('invalid_request', `The parameter ${k.slice(0, 64)} is included more than once.`)
    seen.add(k)
    if (v.length > MAX_PARAM || v.includes('\u0000')) throw new ErrorPage('invalid_request', `The parameter ${k.slice(0, 64)} is malformed.`)
  }
  return params
}

export class Authorizer {
  /** The device flow (device.ts): where a device request's login and consent end instead of a redirect. */
  device?: { finish(request: Request, rc: RequestContext, flow: FlowRow, outcome: { error: Rejection } | { session: CodeSession; scope: string[]; audience: string[] }): Promise<Response> }

  constructor(readonly o: OAuth2) {}

  get ctx() {
    return this.o.ctx
  }

  /** The identity plugin's login, when it is installed and no external login app is configured. */
  identityLogin() {
    return this.o.options.urls.login ? undefined : this.ctx.services.get('identity.login')
  }

  async handle(request: Request, rc: RequestContext): Promise<Response> {
    let params: URLSearchParams
    try {
      params = await paramsOf(request)
    } catch (e) {
      if (e instanceof ErrorPage) return this.errorResponse(request, rc, e)
      if (e instanceof OAuth2Error) return this.errorResponse(request, rc, new ErrorPage(e.error, e.errorDescription ?? e.message))
      throw e
    }
    const loginVerifier = params.get('login_verifier')
    const consentVerifier = params.get('consent_verifier')
    try {
      if (consentVerifier !== null) return await this.afterConsent(request, rc, consentVerifier)
      if (loginVerifier !== null) return await this.afterLogin(request, rc, loginVerifier)
      return await this.start(request, rc, params)
    } catch (e) {
      if (e instanceof ErrorPage) return this.errorResponse(request, rc, e)
      throw e
    }
  }

  /** The error page for the browser, in the reader's language: the ui's (`oauth2.pages`) when installed, else this plugin's own. */
  async errorResponse(request: Request, rc: RequestContext, e: ErrorPage): Promise<Response> {
    const pages = this.ctx.services.get('oauth2.pages')
    if (pages?.error) return pages.error(request, rc, { error: e.error, description: e.description, status: e.status })
    return errorPage(e.error, e.description, e.status)
  }

  /** A new authorization request. */
  async start(request: Request, rc: RequestContext, p: URLSearchParams): Promise<Response> {
    const issuer = this.o.issuer(rc)
    const clientId = p.get('client_id')
    if (!clientId) throw new ErrorPage('invalid_request', 'The request is missing the client_id parameter.')
    const got = clientId.length > 255 ? null : await this.o.clients.get(rc.db, clientId)
    if (!got) throw new ErrorPage('invalid_client', 'The OAuth 2.0 client is unknown.')
    const client = got.client
    const redirectUri = matchRedirectUri(client, p.get('redirect_uri'))
    if (!redirectUri) throw new ErrorPage('invalid_request', "The redirect_uri does not match any of the OAuth 2.0 client's registered redirect URIs.")
    const mode = p.get('response_mode') ?? 'query'
    const target = { redirect_uri: redirectUri, response_mode: (mode === 'form_post' ? 'form_post' : 'query') as AuthRequest['response_mode'] }
    const state = p.get('state') ?? undefined
    try {
      const req = await this.validate(rc, p, client, redirectUri, state, issuer)
      return await this.login(request, rc, client, req)
    } catch (e) {
      if (e instanceof RedirectError) return deliver(target, { error: e.error, error_description: e.description, state, iss: issuer })
      if (e instanceof OAuth2Error) return deliver(target, { error: e.error, error_description: e.errorDescription ?? e.message, state, iss: issuer })
      throw e
    }
  }

  async validate(rc: RequestContext, p: URLSearchParams, client: Client, redirectUri: string, state: string | undefined, issuer: string): Promise<AuthRequest> {
    const o = this.o.options
    const mode = p.get('response_mode')
    if (mode !== null && mode !== 'query' && mode !== 'form_post') throw new RedirectError('invalid_request', `The response_mode ${mode.slice(0, 64)} is not supported: use query or form_post.`)
    const responseType = p.get('response_type')
    if (!responseType) throw new RedirectError('invalid_request', 'The request is missing the response_type parameter.')
    if (responseType !== 'code') throw new RedirectError('unsupported_response_type', 'The authorization server supports only the code response type (the implicit and hybrid flows are not offered, RFC 9700 §2.1.2).')
    if (!client.response_types.includes('code') || !client.grant_types.includes('authorization_code')) throw new RedirectError('unauthorized_client', 'The client is not allowed to use the authorization code flow.')
    if (p.has('request')) throw new RedirectError('request_not_supported', 'Request objects (the request parameter) are not supported.')
    if (p.has('request_uri')) throw new RedirectError('request_uri_not_supported', 'The request_uri parameter is not supported.')
    const { scope, audience } = whitelisted(client, p, (error, description) => new RedirectError(error, description))

    // PKCE (RFC 7636, RFC 9700 §2.1.1)
    const challenge = p.get('code_challenge') ?? undefined
    const method = p.get('code_challenge_method') ?? (challenge ? 'plain' : undefined)
    if (challenge === undefined) {
      if (method !== undefined) throw new RedirectError('invalid_request', 'code_challenge_method was given without code_challenge.')
      if (client.token_endpoint_auth_method === 'none') throw new RedirectError('invalid_request', 'Clients must include a code_challenge when performing the authorize code flow, but it is missing. The server is configured in a way that enforces PKCE for public clients.')
      if (o.pkce.enforce) throw new RedirectError('invalid_request', 'Clients must include a code_challenge when performing the authorize code flow, but it is missing. The server is configured in a way that enforces PKCE for clients.')
    } else {
      if (method !== 'S256' && !(method === 'plain' && o.pkce.allowPlain)) throw new RedirectError('invalid_request', `The code_challenge_method ${String(method).slice(0, 32)} is not supported: use S256.`)
      if (!PKCE_VALUE.test(challenge)) throw new RedirectError('invalid_request', 'The code_challenge must be 43 to 128 characters of A-Z, a-z, 0-9, -, ., _ and ~.')
    }

    const prompt = scopesOf(p.get('prompt'))
    if (prompt.some((x) => !PROMPTS.has(x))) throw new RedirectError('invalid_request', 'The prompt parameter has an unknown value.')
    if (prompt.includes('none') && prompt.length > 1) throw new RedirectError('invalid_request', 'prompt=none cannot be combined with other prompt values.')
    const maxAgeRaw = p.get('max_age')
    let maxAge: number | undefined
    if (maxAgeRaw !== null) {
      if (!/^\d{1,10}$/.test(maxAgeRaw)) throw new RedirectError('invalid_request', 'max_age must be a non-negative integer.')
      maxAge = Number(maxAgeRaw)
    }
    let hintClaims: Record<string, unknown> | undefined
    const hint = p.get('id_token_hint')
    if (hint) {
      try {
        const keys = createLocalJWKSet({ keys: (await this.o.keys.verificationKeys(rc.tenant, ID_TOKEN_SET)) as never[] })
        // an expired ID token is still a hint (OpenID Connect Core §3.1.2.1); its signature and audience must hold
        const { payload } = await jwtVerify(hint, keys, { issuer, audience: client.client_id, clockTolerance: 100 * 365 * 86400 })
        hintClaims = payload as Record<string, unknown>
      } catch {
        throw new RedirectError('invalid_request', 'The id_token_hint is not an ID token this server issued to this client.')
      }
    }
    const nonce = p.get('nonce') ?? undefined
    return {
      client_id: client.client_id,
      redirect_uri: redirectUri,
      response_mode: mode === 'form_post' ? 'form_post' : 'query',
      scope,
      audience,
      state,
      nonce,
      code_challenge: challenge,
      code_challenge_method: challenge ? (method as 'S256' | 'plain') : undefined,
      prompt,
      max_age: maxAge,
      login_hint: p.get('login_hint') ?? undefined,
      acr_values: scopesOf(p.get('acr_values')),
      ui_locales: scopesOf(p.get('ui_locales')),
      display: p.get('display') ?? undefined,
      id_token_hint_claims: hintClaims,
      request_url: `${issuer}/oauth2/auth?${p.toString()}`,
      requested_at: new Date().toISOString(),
    }
  }

  /** What this browser's remembered authentication is: the identity session, or Hydra's remembered login. */
  async remembered(request: Request, rc: RequestContext): Promise<{ subject: string; authTime: number; loginSessionId?: string; identitySession?: ActiveSession } | null> {
    if (this.identityLogin()) {
      const s = await this.ctx.services.get('identity.sessions')?.fromRequest(request, rc.tenant)
      if (!s) return null
      const at = Date.parse(String(s.session.authenticated_at ?? ''))
      return { subject: s.identityId, authTime: Math.floor((Number.isFinite(at) ? at : Date.now()) / 1000), identitySession: s }
    }
    const raw = cookieOf(request, AUTH_SESSION_COOKIE)
    const dot = raw ? raw.lastIndexOf('.') : -1
    if (!raw || dot < 0) return null
    const id = raw.slice(0, dot)
    if (!(await this.ctx.secrets.cookie.verify('oauth2.authentication_session', `${rc.tenant}\u0000${id}`, raw.slice(dot + 1)))) return null
    const ls = await new FlowRepo(rc.db).loginSession(id)
    if (!ls || !ls.remember || ls.expires_at.getTime() <= Date.now()) return null
    return { subject: ls.subject, authTime: Math.floor(ls.authenticated_at.getTime() / 1000), loginSessionId: ls.id }
  }

  async login(request: Request, rc: RequestContext, client: Client, req: AuthRequest): Promise<Response> {
    const known = await this.remembered(request, rc)
    const hintSub = req.id_token_hint_claims?.sub
    let skip = !!known && !req.prompt.includes('login')
    if (known && req.max_age !== undefined && Date.now() / 1000 - known.authTime > req.max_age) skip = false
    if (known && typeof hintSub === 'string' && hintSub !== known.subject) {
      if (req.prompt.includes('none')) throw new RedirectError('login_required', 'The subject of the id_token_hint is not the one logged in.')
      skip = false
    }
    if (req.prompt.includes('none') && !skip) throw new RedirectError('login_required', 'Prompt none was requested, but no user is logged in (or the login is too old for max_age).')
    const flows = new FlowRepo(rc.db)
    const created = await flows.create(req, this.o.options.flowLifespan, skip && known ? { skip: true, subject: known.subject, loginSessionId: known.loginSessionId, authTime: known.authTime } : { skip: false })
    const csrfCookie = this.cookie(request, rc, csrfCookieName(client.client_id), created.csrf, this.o.options.flowLifespan)
    const idl = this.identityLogin()
    if (idl) {
      if (skip && known?.identitySession) {
        // the identity session is the login: accept it at once (Kratos does the same for a known session)
        const verifier = await this.acceptFromIdentity(rc.db, created.challenge, known.identitySession)
        const out = await this.afterLogin(request, rc, verifier!, created.csrf)
        out.headers.append('set-cookie', csrfCookie)
        return out
      }
      return redirect(idl.loginUrl(rc.publicBaseUrl, { loginChallenge: created.challenge, refresh: !!known }), [csrfCookie])
    }
    const login = this.o.options.urls.login
    if (!login) throw new OAuth2Error('server_error', 'No login is configured: install the identity plugin or set urls.login (an external login app).', 500)
    const url = new URL(login)
    url.searchParams.set('login_challenge', created.challenge)
    return redirect(url.toString(), [csrfCookie])
  }

  /** Accept a login challenge with an identity session (its AAL becomes `acr`, its methods `amr`). */
  async acceptFromIdentity(db: ScopedDb, challenge: string, s: ActiveSession): Promise<string | null> {
    const flows = new FlowRepo(db)
    const row = await flows.byLoginChallenge(challenge)
    if (!row || (row.state !== 'login_unused' && row.state !== 'login_handled') || row.expires_at.getTime() <= Date.now()) return null
    const methods = Array.isArray(s.session.authentication_methods) ? (s.session.authentication_methods as { method?: string }[]) : []
    const at = Date.parse(String(s.session.authenticated_at ?? ''))
    const login: NonNullable<FlowRow['login']> = {
      skip: row.login?.skip ?? false,
      subject: s.identityId,
      remember: true,
      remember_for: 0,
      acr: s.aal,
      amr: [...new Set(methods.map((m) => String(m.method ?? '')).filter(Boolean))],
      context: {},
      identity_provider_session_id: s.id,
      auth_time: Math.floor((Number.isFinite(at) ? at : Date.now()) / 1000),
    }
    return flows.handleLogin(row.id, login, s.identityId)
  }

  /** The identity plugin finished a login that carried `challenge`: accept it, and send the browser on. */
  async identityLoginDone(tenant: string, challenge: string, s: ActiveSession): Promise<string | null> {
    const db = this.ctx.storage.scoped(tenant)
    const row = await new FlowRepo(db).byLoginChallenge(challenge)
    if (!row) return null
    const verifier = await this.acceptFromIdentity(db, challenge, s)
    if (!verifier) return null
    const url = new URL(row.request.request_url)
    url.searchParams.set('login_verifier', verifier)
    return url.toString()
  }

  cookie(request: Request, rc: RequestContext, name: string, value: string, maxAge: number): string {
    const secure = rc.publicBaseUrl.startsWith('https:') || new URL(request.url).protocol === 'https:'
    return `${name}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure ? '; Secure' : ''}`
  }

  /** The browser that presents a verifier must be the one that started the flow (Hydra's login CSRF cookie). */
  checkCsrf(request: Request, row: FlowRow, known?: string) {
    const value = known ?? cookieOf(request, csrfCookieName(row.client_id))
    if (!value || !constantTimeEqual(sha256HexSync(value), row.csrf_hash)) {
      throw new ErrorPage('invalid_request', 'The authorization flow was started in another browser, or its cookie is gone (CSRF). Start again at the application.')
    }
  }

  async clientOf(db: ScopedDb, id: string): Promise<Client> {
    const got = await this.o.clients.get(db, id)
    if (!got) throw new ErrorPage('invalid_client', 'The OAuth 2.0 client is unknown.')
    return got.client
  }

  /** The login app answered: remember the login if asked, then consent. */
  async afterLogin(request: Request, rc: RequestContext, verifier: string, csrf?: string): Promise<Response> {
    const flows = new FlowRepo(rc.db)
    const issuer = this.o.issuer(rc)
    const peek = await rc.db.one<FlowRow>(sql`SELECT id, client_id, csrf_hash, state, request, expires_at FROM oauth2_flows WHERE nid = ${rc.db.nid} AND login_verifier_hash = ${sha256HexSync(verifier)}`)
    if (!peek || peek.state !== 'login_handled' || peek.expires_at.getTime() <= Date.now()) throw new ErrorPage('invalid_request', 'The login verifier is unknown, expired or used already. Start again at the application.')
    this.checkCsrf(request, peek, csrf)
    const login = (await rc.db.one<{ login: FlowRow['login'] }>(sql`SELECT login FROM oauth2_flows WHERE nid = ${rc.db.nid} AND id = ${peek.id}`))!.login!
    if (login.error) {
      const used = await flows.useLoginVerifier(verifier, null)
      if (!used) throw new ErrorPage('invalid_request', 'The login verifier was used already.')
      if (peek.request.device_code_hash && this.device) return this.device.finish(request, rc, used.row, { error: login.error })
      return deliver(peek.request, { error: login.error.error, error_description: login.error.error_description, state: peek.request.state, iss: issuer })
    }
    // the login session: the identity session's, or Hydra's remembered authentication
    const cookies: string[] = []
    let loginSessionId: string
    const now = new Date()
    if (login.identity_provider_session_id && this.identityLogin()) {
      const existing = await flows.loginSessionOfIdentitySession(login.identity_provider_session_id)
      loginSessionId = existing?.id ?? crypto.randomUUID()
      await flows.putLoginSession({ id: loginSessionId, subject: login.subject, identity_session_id: login.identity_provider_session_id, remember: true, acr: login.acr ?? null, amr: login.amr, authenticated_at: new Date(login.auth_time * 1000), expires_at: new Date(now.getTime() + 30 * 86400 * 1000) })
    } else {
      const row = (await rc.db.one<{ login_session_id: string | null }>(sql`SELECT login_session_id FROM oauth2_flows WHERE nid = ${rc.db.nid} AND id = ${peek.id}`))!
      loginSessionId = row.login_session_id ?? crypto.randomUUID()
      const lifespan = login.remember_for > 0 ? login.remember_for : 30 * 86400
      if (login.remember || !row.login_session_id) {
        await flows.putLoginSession({ id: loginSessionId, subject: login.subject, identity_session_id: login.identity_provider_session_id ?? null, remember: login.remember, acr: login.acr ?? null, amr: login.amr, authenticated_at: new Date(login.auth_time * 1000), expires_at: new Date(now.getTime() + lifespan * 1000) })
      }
      if (login.remember) {
        const mac = await this.ctx.secrets.cookie.sign('oauth2.authentication_session', `${rc.tenant}\u0000${loginSessionId}`)
        cookies.push(this.cookie(request, rc, AUTH_SESSION_COOKIE, `${loginSessionId}.${mac}`, lifespan))
      }
    }
    const used = await flows.useLoginVerifier(verifier, loginSessionId)
    if (!used) throw new ErrorPage('invalid_request', 'The login verifier was used already.')
    const out = await this.consent(request, rc, used.row, used.consentChallenge, csrf)
    for (const c of cookies) out.headers.append('set-cookie', c)
    return out
  }

  /** Ask for consent, or skip it (a `skip_consent` client, or a remembered consent without `prompt=consent`). */
  async consent(request: Request, rc: RequestContext, row: FlowRow, challenge: string, csrf?: string): Promise<Response> {
    const client = await this.clientOf(rc.db, row.client_id)
    const flows = new FlowRepo(rc.db)
    const req = row.request
    const remembered = req.prompt.includes('consent') ? undefined : await flows.rememberedConsent(row.subject!, client.client_id, req.scope, req.audience)
    const external = this.o.options.urls.consent
    if (client.skip_consent || (remembered && !external)) {
      const session = (remembered?.session.session as ConsentResult['session'] | undefined) ?? {}
      const verifier = await this.acceptConsent(rc.db, row, { grant_scope: req.scope, grant_access_token_audience: req.audience, session, remember: false, remember_for: 0, context: {} }, true)
      return this.afterConsent(request, rc, verifier!, csrf)
    }
    if (req.prompt.includes('none') && !remembered) {
      await rc.db.exec(sql`UPDATE oauth2_flows SET state = ${'done'} WHERE nid = ${rc.db.nid} AND id = ${row.id}`)
      return deliver(req, { error: 'consent_required', error_description: 'Prompt none was requested, but the user has not consented to this client yet.', state: req.state, iss: this.o.issuer(rc) })
    }
    if (remembered) await rc.db.exec(sql`UPDATE oauth2_flows SET consent = ${sql.json({ skip: true })} WHERE nid = ${rc.db.nid} AND id = ${row.id}`)
    const url = new URL(external ?? `${rc.publicBaseUrl}/oauth2/consent`)
    url.searchParams.set('consent_challenge', challenge)
    return redirect(url.toString())
  }

  /** Record a granted consent (the admin API, the consent page, or a skip) and say so. */
  async acceptConsent(db: ScopedDb, row: FlowRow, c: Omit<ConsentResult, 'handled_at'>, skip = false): Promise<string | null> {
    const consent = { ...c, handled_at: new Date().toISOString(), skip }
    const verifier = await new FlowRepo(db).handleConsent(row.id, consent)
    if (verifier) await this.ctx.emit('oauth2.consent.granted', { clientId: row.client_id, subject: row.subject ?? '', scope: c.grant_scope, remember: c.remember }, { tenant: db.nid })
    return verifier
  }

  /** The consent app answered: the code (or the error) goes to the client. */
  async afterConsent(request: Request, rc: RequestContext, verifier: string, csrf?: string): Promise<Response> {
    const flows = new FlowRepo(rc.db)
    const issuer = this.o.issuer(rc)
    const peek = await rc.db.one<FlowRow>(sql`SELECT id, client_id, csrf_hash, state, expires_at FROM oauth2_flows WHERE nid = ${rc.db.nid} AND consent_verifier_hash = ${sha256HexSync(verifier)}`)
    if (!peek || peek.state !== 'consent_handled' || peek.expires_at.getTime() <= Date.now()) throw new ErrorPage('invalid_request', 'The consent verifier is unknown, expired or used already. Start again at the application.')
    this.checkCsrf(request, peek, csrf)
    const row = await flows.useConsentVerifier(verifier)
    if (!row) throw new ErrorPage('invalid_request', 'The consent verifier was used already.')
    const req = row.request
    const consent = row.consent!
    const login = row.login!
    if (consent.error && req.device_code_hash && this.device) return this.device.finish(request, rc, row, { error: consent.error })
    if (consent.error) return deliver(req, { error: consent.error.error, error_description: consent.error.error_description, state: req.state, iss: issuer })
    const client = await this.clientOf(rc.db, row.client_id)
    const now = new Date()
    // every granted consent is a consent session (revoking it revokes its tokens); remembered ones also skip later
    await flows.insertConsent({
      id: row.id,
      subject: row.subject!,
      client_id: row.client_id,
      login_session_id: row.login_session_id,
      granted_scope: consent.grant_scope,
      granted_audience: consent.grant_access_token_audience,
      session: { session: consent.session, context: consent.context, remember_for: consent.remember_for, consent_request: consentRequestJson(row, client, '', issuer) },
      remember: consent.remember,
      remember_until: consent.remember && consent.remember_for > 0 ? new Date(now.getTime() + consent.remember_for * 1000) : null,
      revoked: false,
      handled_at: new Date(consent.handled_at),
    })
    const session: CodeSession = {
      id_token: { subject: row.subject!, auth_time: login.auth_time, acr: login.acr, amr: login.amr, sid: row.login_session_id ?? undefined, nonce: req.nonce, extra: consent.session.id_token ?? {} },
      access_token: consent.session.access_token ?? {},
    }
    if (req.device_code_hash && this.device) return this.device.finish(request, rc, row, { session, scope: consent.grant_scope, audience: consent.grant_access_token_audience })
    const code = CODE_PREFIX + randomToken(32)
    await rc.db.exec(sql`INSERT INTO oauth2_authorization_codes (nid, signature, chain_id, client_id, subject, scope, audience, redirect_uri, nonce, code_challenge, code_challenge_method, session, consent_id, active, used_at, issued_at, expires_at)
      VALUES (${rc.db.nid}, ${signatureOf(code)}, ${crypto.randomUUID()}, ${client.client_id}, ${row.subject!}, ${consent.grant_scope.join(' ')}, ${sql.json(consent.grant_access_token_audience)}, ${req.redirect_uri}, ${req.nonce ?? null}, ${req.code_challenge ?? null}, ${req.code_challenge_method ?? null}, ${sql.json(session)}, ${row.id}, ${true}, ${null}, ${now}, ${new Date(now.getTime() + this.o.options.lifespans.authorizationCode * 1000)})`)
    return deliver(req, { code, scope: consent.grant_scope.join(' '), state: req.state, iss: issuer })
  }
}

/** What a code keeps for the token endpoint. */
export interface CodeSession {
  id_token: IdTokenSession
  access_token: Record<string, unknown>
}

/** Hydra's `oAuth2ConsentRequest`. */
export function consentRequestJson(row: FlowRow, client: Client, challenge: string, _issuer: string): Record<string, unknown> {
  const req = row.request
  return {
    challenge,
    consent_request_id: row.id,
    client: publicClient(client),
    request_url: req.request_url,
    requested_scope: req.scope,
    requested_access_token_audience: req.audience,
    skip: row.consent?.skip ?? false,
    subject: row.subject ?? '',
    oidc_context: oidcContext(req),
    login_challenge: '',
    login_session_id: row.login_session_id ?? '',
    acr: row.login?.acr ?? '',
    amr: row.login?.amr ?? [],
    context: row.login?.context ?? {},
  }
}

export function oidcContext(req: AuthRequest): Record<string, unknown> {
  return {
    acr_values: req.acr_values,
    ui_locales: req.ui_locales,
    ...(req.display ? { display: req.display } : {}),
    ...(req.login_hint ? { login_hint: req.login_hint } : {}),
    ...(req.id_token_hint_claims ? { id_token_hint_claims: req.id_token_hint_claims } : {}),
  }
}

/** A client as the login and consent apps see it: never a secret. */
export function publicClient(c: Client): Record<string, unknown> {
  const { client_secret: _s, ...rest } = c as Client & { client_secret?: string }
  return rest
}

/** RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge (or the verifier itself for plain). */
async function pkceMatches(verifier: string, challenge: string, method: string): Promise<boolean> {
  if (method === 'plain') return constantTimeEqual(verifier, challenge)
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)))
  return constantTimeEqual(Buffer.from(digest).toString('base64url'), challenge)
}

interface CodeRow {
  chain_id: string
  client_id: string
  subject: string
  scope: string
  audience: string[]
  redirect_uri: string
  code_challenge: string | null
  code_challenge_method: string | null
  session: CodeSession
  consent_id: string | null
  active: boolean
  used_at: Date | null
  expires_at: Date
}

/** The `authorization_code` grant (RFC 6749 §4.1.3, RFC 7636 §4.5): single-use, bound to client and redirect URI. */
export const authorizationCode: GrantHandler = async ({ client, form, db, issuer, oauth2 }) => {
  const code = form.get('code')
  if (!code) throw new OAuth2Error('invalid_request', 'The request is missing the code parameter.')
  if (!code.startsWith(CODE_PREFIX) || code.length > 512) throw invalidGrant('The authorization code is malformed or unknown.')
  const sig = signatureOf(code)
  const row = await db.one<CodeRow>(sql`SELECT chain_id, client_id, subject, scope, audience, redirect_uri, code_challenge, code_challenge_method, session, consent_id, active, used_at, expires_at
    FROM oauth2_authorization_codes WHERE nid = ${db.nid} AND signature = ${sig}`)
  if (!row) throw invalidGrant('The authorization code is malformed or unknown.')
  if (row.client_id !== client.client_id) throw invalidGrant('The authorization code was issued to another client.')
  const revokeReuse = async () => {
    // RFC 6749 §4.1.2, RFC 9700 §4.5: a second use revokes what the first issued
    await oauth2.tokens.revokeChain(db, row.chain_id)
    await oauth2.ctx.emit('oauth2.token.revoked', { clientId: row.client_id, subject: row.subject, reason: 'code_reuse' }, { tenant: db.nid })
    return invalidGrant('The authorization code has already been used: every token issued with it has been revoked.')
  }
  if (!row.active) throw row.used_at ? await revokeReuse() : invalidGrant('The authorization code has been revoked.')
  if (row.expires_at.getTime() <= Date.now()) throw invalidGrant('The authorization code has expired.')
  if (form.get('redirect_uri') !== row.redirect_uri) throw invalidGrant('The redirect_uri does not match the one of the authorization request.')
  const verifier = form.get('code_verifier')
  if (row.code_challenge) {
    if (verifier === null) throw invalidGrant('The PKCE code verifier is missing.')
    if (!PKCE_VALUE.test(verifier)) throw invalidGrant('The PKCE code verifier must be 43 to 128 characters of A-Z, a-z, 0-9, -, ., _ and ~.')
    if (!(await pkceMatches(verifier, row.code_challenge, row.code_challenge_method ?? 'plain'))) throw invalidGrant('The PKCE code challenge did not match the code verifier.')
  } else if (verifier !== null) {
    // RFC 9700 §4.8.2: a verifier for a code issued without a challenge is a downgrade attempt
    throw invalidGrant('A code_verifier was sent, but the authorization request had no code_challenge.')
  }
  const scope = row.scope === '' ? [] : row.scope.split(' ')
  const refresh = (scope.includes('offline_access') || scope.includes('offline')) && client.grant_types.includes('refresh_token')
  const tokens = await db.transaction(async (tx) => {
    const used = await tx.exec(sql`UPDATE oauth2_authorization_codes SET active = ${false}, used_at = ${new Date()} WHERE nid = ${tx.nid} AND signature = ${sig} AND active = ${true}`)
    if (used.rowCount === 0) return null
    return oauth2.tokens.issue(tx, { client, subject: row.subject, grantType: 'authorization_code', scope, audience: row.audience, ext: row.session.access_token, session: { id_token: row.session.id_token }, chainId: row.chain_id, refresh, consentId: row.consent_id ?? undefined, issuer })
  })
  if (!tokens) throw await revokeReuse()
  if (scope.includes('openid')) tokens.id_token = await idToken(oauth2, db.nid, client, issuer, row.session.id_token, 'authorization_code', { accessToken: tokens.access_token })
  return { tokens, subject: row.subject }
}

/** refresh_token, with a new ID token when the grant had `openid` (OpenID Connect Core §12.2). */
export const refreshWithIdToken: GrantHandler = async ({ client, form, db, issuer, oauth2 }) => {
  const token = form.get('refresh_token')
  if (!token) throw new OAuth2Error('invalid_request', 'The request is missing the refresh_token parameter.')
  const scope = form.get('scope')
  const out = await oauth2.tokens.refresh(db, client, token, scope === null ? undefined : scopesOf(scope), issuer)
  const granted = out.tokens.scope.split(' ')
  const row = await db.one<{ session: { id_token?: IdTokenSession } }>(sql`SELECT session FROM oauth2_refresh_tokens WHERE nid = ${db.nid} AND signature = ${signatureOf(out.tokens.refresh_token ?? '')}`)
  const s = row?.session.id_token
  // a refreshed ID token carries no nonce (OpenID Connect Core §12.2)
  if (s && granted.includes('openid')) out.tokens.id_token = await idToken(oauth2, db.nid, client, issuer, s, 'refresh_token', { accessToken: out.tokens.access_token, nonce: false })
  return out
}

export function authorizeRoutes(a: Authorizer): RawRoute<any, any>[] {
  return [{ path: '/oauth2/auth', handle: (request, rc, _ctx: Ctx) => a.handle(request, rc) }]
}

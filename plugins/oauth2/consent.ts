/**
 * Hydra's login and consent API on the admin listener (`/admin/oauth2/auth/requests/{login,consent}[/accept|
 * /reject]`, consent sessions, login sessions), and the consent page this plugin serves at `/oauth2/consent`
 * when no external consent app is configured (CSRF-protected, a "remember" choice): the ui's page through the
 * `oauth2.pages` service when installed, else minimal HTML of its own.
 */
import * as v from 'valibot'
import { BadRequestError, NotFoundError, type RawRoute, type RequestContext, type ScopedDb, ValidationError, constantTimeEqual, parse, sha256HexSync } from 'tessera'
import { type Authorizer, ErrorPage, consentRequestJson, oidcContext, publicClient } from './authorize.ts'
import type { Client } from './clients.ts'
import { FlowRepo, type FlowRow, type Rejection } from './flows.ts'

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8' } })
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

const Str = (max = 1024) => v.pipe(v.string(), v.maxLength(max))
const RememberFor = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(10 * 365 * 86400))
const Claims = v.pipe(v.record(v.string(), v.unknown()), v.check((r) => JSON.stringify(r).length <= 16384, 'at most 16 KiB'))

export const AcceptLoginBody = v.object({
  subject: v.pipe(v.string('subject is required'), v.minLength(1, 'subject is required'), v.maxLength(255)),
  remember: v.optional(v.boolean(), false),
  remember_for: v.optional(RememberFor, 0),
  acr: v.optional(Str(255)),
  amr: v.optional(v.pipe(v.array(Str(64)), v.maxLength(20)), []),
  context: v.optional(v.unknown()),
  extend_session_lifespan: v.optional(v.boolean()),
  force_subject_identifier: v.optional(Str(255)),
  identity_provider_session_id: v.optional(Str(255)),
})
export const AcceptConsentBody = v.object({
  grant_scope: v.optional(v.pipe(v.array(Str(255)), v.maxLength(100)), []),
  grant_access_token_audience: v.optional(v.pipe(v.array(Str(2048)), v.maxLength(100)), []),
  remember: v.optional(v.boolean(), false),
  remember_for: v.optional(RememberFor, 0),
  context: v.optional(v.unknown()),
  session: v.optional(v.object({ access_token: v.optional(Claims), id_token: v.optional(Claims) }), {}),
})
export const RejectBody = v.object({
  error: v.optional(Str(255)),
  error_description: v.optional(Str(2048)),
  error_hint: v.optional(Str(2048)),
  error_debug: v.optional(Str(2048)),
  status_code: v.optional(v.pipe(v.number(), v.integer(), v.minValue(400), v.maxValue(599))),
})
const ChallengeQuery = (name: string) => v.object({ [name]: v.pipe(v.string(`${name} is required`), v.minLength(1, `${name} is required`), v.maxLength(256)) })

function query(request: Request): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, val] of new URL(request.url).searchParams) out[k] = val
  return out
}

async function body(request: Request): Promise<unknown> {
  const text = await request.text()
  if (text.length > 64 * 1024) throw new BadRequestError('The request body is too large.')
  try {
    return text === '' ? {} : JSON.parse(text)
  } catch {
    throw new BadRequestError('The request body could not be parsed: check that it is well-formed JSON')
  }
}

const methodNotAllowed = (allow: string) => new Response(null, { status: 405, headers: { allow } })
const notFound = (what: string) => new NotFoundError('Unable to locate the resource', { reason: `The ${what} request could not be found (or it expired).` })

function rejection(r: v.InferOutput<typeof RejectBody>, fallback: string): Rejection {
  return { error: r.error || fallback, error_description: r.error_description || (fallback === 'access_denied' ? 'The resource owner or authorization server denied the request.' : 'The request was rejected.'), error_hint: r.error_hint, error_debug: r.error_debug, status_code: r.status_code }
}

/** Hydra's OAuth2LoginRequest for a login flow row (`GET /admin/oauth2/auth/requests/login`, the login flows' `oauth2_login_request`). */
function loginRequestJson(row: FlowRow, client: Client, challenge: string): Record<string, unknown> {
  return {
    challenge,
    client: publicClient(client),
    oidc_context: oidcContext(row.request),
    request_url: row.request.request_url,
    requested_scope: row.request.scope,
    requested_access_token_audience: row.request.audience,
    session_id: row.login_session_id ?? undefined,
    skip: row.login?.skip ?? false,
    subject: row.login?.skip ? (row.login.challenge_subject ?? row.subject ?? '') : '',
  }
}

const liveRow = (row: FlowRow | undefined): row is FlowRow => !!row && row.expires_at.getTime() > Date.now()
const loginHandled = (row: FlowRow) => row.state !== 'login_unused' && row.state !== 'login_handled'

/** The login request of a challenge still waiting for its login (for the identity plugin's flows); null otherwise. */
export async function pendingLoginRequest(a: Authorizer, db: ScopedDb, challenge: string): Promise<Record<string, unknown> | null> {
  const row = await new FlowRepo(db).byLoginChallenge(challenge)
  if (!liveRow(row) || loginHandled(row)) return null
  // a client deleted meanwhile: no request to name (a failing read still fails)
  const got = await a.o.clients.get(db, row.client_id)
  return got ? loginRequestJson(row, got.client, challenge) : null
}

export function consentRoutes(a: Authorizer): { public: RawRoute<any, any>[]; admin: RawRoute<any, any>[] } {
  const o = a.o
  const verifierUrl = (row: FlowRow, name: 'login_verifier' | 'consent_verifier', verifier: string) => {
    const url = new URL(row.request.request_url)
    url.searchParams.set(name, verifier)
    return url.toString()
  }
  const loginRequest = async (request: Request, rc: RequestContext, verb: '' | 'accept' | 'reject') => {
    const q = parse(ChallengeQuery('login_challenge'), query(request))
    const flows = new FlowRepo(rc.db)
    const row = await flows.byLoginChallenge(q.login_challenge as string)
    if (!liveRow(row)) throw notFound('login')
    const handled = loginHandled(row)
    if (verb === '') {
      if (request.method !== 'GET') return methodNotAllowed('GET')
      if (handled) return json({ redirect_to: row.request.redirect_uri }, 410)
      return json(loginRequestJson(row, await a.clientOf(rc.db, row.client_id), q.login_challenge as string))
    }
    if (request.method !== 'PUT') return methodNotAllowed('PUT')
    if (handled) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: 'The login request has been used already.' })
    let verifier: string | null
    if (verb === 'accept') {
      const b = parse(AcceptLoginBody, await body(request))
      if (row.login?.skip && b.subject !== row.login.challenge_subject) {
        throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: `Field 'subject' does not match subject from previous authentication: the login was skipped for ${row.login.challenge_subject}.` })
      }
      const now = Math.floor(Date.now() / 1000)
      verifier = await flows.handleLogin(row.id, {
        skip: row.login?.skip ?? false,
        challenge_subject: row.login?.challenge_subject,
        subject: b.subject,
        remember: b.remember,
        remember_for: b.remember_for,
        acr: b.acr,
        amr: b.amr,
        context: b.context ?? {},
        identity_provider_session_id: b.identity_provider_session_id,
        extend_session_lifespan: b.extend_session_lifespan,
        auth_time: row.login?.skip && row.login.auth_time ? row.login.auth_time : now,
      }, b.subject)
    } else {
      const b = parse(RejectBody, await body(request))
      verifier = await flows.handleLogin(row.id, { ...(row.login ?? { skip: false }), subject: '', remember: false, remember_for: 0, amr: [], context: {}, auth_time: 0, error: rejection(b, 'access_denied') }, null)
    }
    if (!verifier) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: 'The login request has been used already.' })
    return json({ redirect_to: verifierUrl(row, 'login_verifier', verifier) })
  }

  const consentRequest = async (request: Request, rc: RequestContext, verb: '' | 'accept' | 'reject') => {
    const q = parse(ChallengeQuery('consent_challenge'), query(request))
    const challenge = q.consent_challenge as string
    const flows = new FlowRepo(rc.db)
    const row = await flows.byConsentChallenge(challenge)
    if (!liveRow(row)) throw notFound('consent')
    const handled = row.state !== 'consent_unused' && row.state !== 'consent_handled'
    if (verb === '') {
      if (request.method !== 'GET') return methodNotAllowed('GET')
      if (handled) return json({ redirect_to: row.request.redirect_uri }, 410)
      return json(consentRequestJson(row, await a.clientOf(rc.db, row.client_id), challenge, o.issuer(rc)))
    }
    if (request.method !== 'PUT') return methodNotAllowed('PUT')
    if (handled) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: 'The consent request has been used already.' })
    let verifier: string | null
    if (verb === 'accept') {
      const b = parse(AcceptConsentBody, await body(request))
      const extra = b.grant_scope.filter((s) => !row.request.scope.includes(s))
      if (extra.length) throw new ValidationError([{ path: 'grant_scope', message: `scopes not requested cannot be granted: ${extra.join(' ').slice(0, 200)}` }])
      const aud = b.grant_access_token_audience.filter((x) => !row.request.audience.includes(x))
      if (aud.length) throw new ValidationError([{ path: 'grant_access_token_audience', message: 'audiences not requested cannot be granted' }])
      verifier = await a.acceptConsent(rc.db, row, { grant_scope: b.grant_scope, grant_access_token_audience: b.grant_access_token_audience, session: b.session, remember: b.remember, remember_for: b.remember_for, context: b.context ?? {} })
    } else {
      const b = parse(RejectBody, await body(request))
      verifier = await flows.handleConsent(row.id, { skip: false, grant_scope: [], grant_access_token_audience: [], session: {}, remember: false, remember_for: 0, context: {}, handled_at: new Date().toISOString(), error: rejection(b, 'access_denied') })
    }
    if (!verifier) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: 'The consent request has been used already.' })
    return json({ redirect_to: verifierUrl(row, 'consent_verifier', verifier) })
  }

  const SessionsQuery = v.object({
    subject: v.pipe(v.string('subject is required'), v.minLength(1, 'subject is required'), v.maxLength(255)),
    login_session_id: v.optional(Str(255)),
    page_size: v.optional(v.pipe(v.string(), v.regex(/^\d{1,4}$/, 'expected an integer between 1 and 500'), v.transform(Number), v.minValue(1, 'expected an integer between 1 and 500'), v.maxValue(500, 'expected an integer between 1 and 500'))),
    page_token: v.optional(Str(4096)),
  })
  const PAGE = 'oauth2.consent_sessions.page'
  const SESSIONS = '/admin/oauth2/auth/sessions/consent'
  const RevokeConsentQuery = v.object({
    subject: v.pipe(v.string('subject is required'), v.minLength(1, 'subject is required'), v.maxLength(255)),
    client: v.optional(Str(255)),
    consent_request_id: v.optional(Str(255)),
    all: v.optional(v.picklist(['true', 'false'])),
  })
  const RevokeLoginQuery = v.object({ subject: v.optional(Str(255)), sid: v.optional(Str(255)) })

  const consentSessions = async (request: Request, rc: RequestContext) => {
    const flows = new FlowRepo(rc.db)
    if (request.method === 'GET') {
      const q = parse(SessionsQuery, query(request))
      // Hydra's pagination: page_size (default 250), an opaque page_token, a Link header with first and next
      const size = q.page_size ?? 250
      const bind = `${rc.tenant}\u0000${q.subject}\u0000${q.login_session_id ?? ''}`
      let after: { handledAt: Date; id: string } | undefined
      if (q.page_token) {
        const opened = await o.ctx.secrets.system.open(PAGE, q.page_token, bind)
        const i = opened ? opened.indexOf(' ') : -1
        if (!opened || i < 0) throw new BadRequestError(undefined, { reason: 'The page token is invalid, do not alter it.' })
        after = { handledAt: new Date(Number(opened.slice(0, i))), id: opened.slice(i + 1) }
      }
      const found = await flows.consents(q.subject, q.login_session_id, { limit: size + 1, after })
      const rows = found.slice(0, size)
      const extra = `&subject=${encodeURIComponent(q.subject)}${q.login_session_id ? `&login_session_id=${encodeURIComponent(q.login_session_id)}` : ''}`
      const links = [`<${SESSIONS}?page_size=${size}${extra}>; rel="first"`]
      if (found.length > size) {
        const last = rows[rows.length - 1]!
        const token = await o.ctx.secrets.system.seal(PAGE, `${last.handled_at.getTime()} ${last.id}`, bind)
        links.push(`<${SESSIONS}?page_size=${size}&page_token=${encodeURIComponent(token)}${extra}>; rel="next"`)
      }
      const out = json(rows.map((c) => ({
        consent_request_id: c.id,
        consent_request: c.session.consent_request,
        grant_scope: c.granted_scope,
        grant_access_token_audience: c.granted_audience,
        handled_at: c.handled_at.toISOString(),
        remember: c.remember,
        remember_for: c.session.remember_for ?? 0,
        context: c.session.context ?? {},
        session: c.session.session ?? {},
      })))
      out.headers.set('link', links.join(','))
      return out
    }
    if (request.method !== 'DELETE') return methodNotAllowed('GET, DELETE')
    const q = parse(RevokeConsentQuery, query(request))
    if (!q.client && !q.consent_request_id && q.all !== 'true') throw new ValidationError([{ path: 'client', message: 'name a client, a consent_request_id, or all=true' }])
    const count = await flows.revokeConsents(q.subject, { clientId: q.all === 'true' ? undefined : q.client, consentId: q.consent_request_id })
    if (count > 0) await o.ctx.emit('oauth2.consent.revoked', { subject: q.subject, clientId: q.client, count }, { tenant: rc.tenant })
    return new Response(null, { status: 204 })
  }

  const loginSessions = async (request: Request, rc: RequestContext) => {
    if (request.method !== 'DELETE') return methodNotAllowed('DELETE')
    const q = parse(RevokeLoginQuery, query(request))
    if (!q.subject && !q.sid) throw new ValidationError([{ path: 'subject', message: 'name a subject or a sid' }])
    await new FlowRepo(rc.db).deleteLoginSessions({ subject: q.subject, sid: q.sid })
    return new Response(null, { status: 204 })
  }

  // The consent page (public): who asks for what, Allow / Deny, remember.
  const page = async (request: Request, rc: RequestContext) => {
    const flows = new FlowRepo(rc.db)
    if (request.method === 'GET') {
      const challenge = new URL(request.url).searchParams.get('consent_challenge') ?? ''
      const row = challenge.length > 0 && challenge.length <= 256 ? await flows.byConsentChallenge(challenge) : undefined
      if (!liveRow(row) || (row.state !== 'consent_unused' && row.state !== 'consent_handled')) throw new ErrorPage('invalid_request', 'The consent request is unknown, expired or answered already. Start again at the application.', 404)
      const client = await a.clientOf(rc.db, row.client_id)
      const csrf = csrfOf(request, row.client_id)
      if (!csrf || !constantTimeEqual(sha256HexSync(csrf), row.csrf_hash)) throw new ErrorPage('invalid_request', 'The consent request was started in another browser (CSRF). Start again at the application.', 403)
      const pages = o.ctx.services.get('oauth2.pages')
      if (pages) {
        const c = client as Record<string, unknown>
        const str = (x: unknown) => (typeof x === 'string' && x ? x : undefined)
        return pages.consent(request, rc, {
          client: { id: client.client_id, name: str(c.client_name), logoUri: str(c.logo_uri), clientUri: str(c.client_uri) },
          scopes: row.request.scope,
          ...(row.subject ? { subject: row.subject } : {}),
          action: `${rc.publicBaseUrl}/oauth2/consent`,
          hidden: { consent_challenge: challenge, csrf_token: csrf },
          uiLocales: row.request.ui_locales ?? [],
        })
      }
      const scopes = row.request.scope.map((s) => `<li><code>${esc(s)}</code></li>`).join('')
      const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Authorize ${esc(client.client_name || client.client_id)}</title></head><body>
<h1>Authorize <span id="client">${esc(client.client_name || client.client_id)}</span></h1>
<p>The application asks for access to:</p><ul id="scopes">${scopes || '<li>your identity</li>'}</ul>
<form method="post" action="${esc(rc.publicBaseUrl)}/oauth2/consent">
<input type="hidden" name="consent_challenge" value="${esc(challenge)}">
<input type="hidden" name="csrf_token" value="${esc(csrf)}">
<label><input type="checkbox" name="remember" value="true"> Remember this decision</label>
<button type="submit" name="decision" value="accept" id="accept">Allow</button>
<button type="submit" name="decision" value="reject" id="reject">Deny</button>
</form></body></html>`
      return new Response(html, { headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-frame-options': 'DENY', 'content-security-policy': "default-src 'none'; form-action 'self' *" } })
    }
    if (request.method !== 'POST') return methodNotAllowed('GET, POST')
    const type = request.headers.get('content-type') ?? ''
    if (!type.startsWith('application/x-www-form-urlencoded')) throw new ErrorPage('invalid_request', 'The form must be application/x-www-form-urlencoded.')
    const text = await request.text()
    if (text.length > 8192) throw new ErrorPage('invalid_request', 'The form is too large.')
    const form = new URLSearchParams(text)
    const challenge = form.get('consent_challenge') ?? ''
    const row = challenge.length > 0 && challenge.length <= 256 ? await flows.byConsentChallenge(challenge) : undefined
    if (!liveRow(row) || (row.state !== 'consent_unused' && row.state !== 'consent_handled')) throw new ErrorPage('invalid_request', 'The consent request is unknown, expired or answered already.', 404)
    // double submit: the form's token, the browser's cookie and the flow must agree
    const token = form.get('csrf_token') ?? ''
    const cookie = csrfOf(request, row.client_id) ?? ''
    if (!token || !constantTimeEqual(token, cookie) || !constantTimeEqual(sha256HexSync(token), row.csrf_hash)) throw new ErrorPage('invalid_request', 'The consent form failed its CSRF check. Start again at the application.', 403)
    let verifier: string | null
    if (form.get('decision') === 'accept') {
      const remember = form.get('remember') === 'true'
      verifier = await a.acceptConsent(rc.db, row, { grant_scope: row.request.scope, grant_access_token_audience: row.request.audience, session: {}, remember, remember_for: 0, context: {} })
    } else {
      verifier = await flows.handleConsent(row.id, { skip: false, grant_scope: [], grant_access_token_audience: [], session: {}, remember: false, remember_for: 0, context: {}, handled_at: new Date().toISOString(), error: { error: 'access_denied', error_description: 'The resource owner denied the request.' } })
    }
    if (!verifier) throw new ErrorPage('invalid_request', 'The consent request was answered already.')
    return a.afterConsent(request, rc, verifier, token)
  }

  const admin = (path: string, fn: (request: Request, rc: RequestContext) => Promise<Response>): RawRoute<any, any> => ({ path, handle: (request, rc) => fn(request, rc) })
  return {
    public: [
      {
        path: '/oauth2/consent',
        // a failed check (CSRF, an unknown or answered challenge) is a page in the reader's language, never a redirect
        handle: (request, rc) => page(request, rc).catch((e) => (e instanceof ErrorPage ? a.errorResponse(request, rc, e) : Promise.reject(e))),
      },
    ],
    admin: [
      admin('/admin/oauth2/auth/requests/login', (r, rc) => loginRequest(r, rc, '')),
      admin('/admin/oauth2/auth/requests/login/accept', (r, rc) => loginRequest(r, rc, 'accept')),
      admin('/admin/oauth2/auth/requests/login/reject', (r, rc) => loginRequest(r, rc, 'reject')),
      admin('/admin/oauth2/auth/requests/consent', (r, rc) => consentRequest(r, rc, '')),
      admin('/admin/oauth2/auth/requests/consent/accept', (r, rc) => consentRequest(r, rc, 'accept')),
      admin('/admin/oauth2/auth/requests/consent/reject', (r, rc) => consentRequest(r, rc, 'reject')),
      admin('/admin/oauth2/auth/sessions/consent', consentSessions),
      admin('/admin/oauth2/auth/sessions/login', loginSessions),
    ],
  }
}

function csrfOf(request: Request, clientId: string): string | null {
  const name = `tessera_oauth2_csrf_${sha256HexSync(clientId).slice(0, 12)}`
  for (const part of (request.headers.get('cookie') ?? '').split(';')) {
    const i = part.indexOf('=')
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim()
  }
  return null
}

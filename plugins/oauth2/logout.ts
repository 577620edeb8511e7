/**
 * Logout: RP-initiated logout at `GET|POST /oauth2/sessions/logout` (OpenID Connect RP-Initiated Logout 1.0),
 * Hydra's logout challenge API on the admin listener, front-channel logout (Front-Channel Logout 1.0: a page of
 * iframes) and back-channel logout (backchannel.ts).
 *
 * As Hydra: a logout request gets a challenge; the logout app (`logout.url`, Hydra's `urls.logout`) gets it with
 * `logout_challenge`, reads it (`GET /admin/oauth2/auth/requests/logout`), accepts it (the browser goes back to
 * `/oauth2/sessions/logout?logout_verifier=…`) or rejects it. Without a logout app the plugin accepts at once,
 * or, when the ui plugin offers `oauth2.pages`, after the user confirms on its page (`confirm`).
 * Finishing a logout revokes the login session (`oauth2_login_sessions`), ends the identity session it came from
 * (the `identity.session-end` service, when the identity plugin is installed), revokes the session's tokens that
 * are not offline (Back-Channel Logout 1.0 §2.7), queues back-channel logout tokens, renders the front-channel
 * iframes, and redirects to `post_logout_redirect_uri` only when the client registered it.
 */
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose'
import * as v from 'valibot'
import { NotFoundError, OAuth2Error, type RequestContext, type RouteApp, type ScopedDb, ValidationError, constantTimeEqual, parse, randomToken, sha256HexSync, sql } from 'tessera'
import { type Client, ClientRepo, clientJson } from './clients.ts'
import { deliverDue, queueBackchannel } from './backchannel.ts'
import type { OAuth2 } from './oauth2.ts'
import { ID_TOKEN_SET } from './options.ts'
import { scopesOf } from './token-endpoint.ts'

const MAX_PARAM = 8192
const CSRF_COOKIE = 'tessera_oauth2_logout_csrf'
const LOGOUT_PATH = '/oauth2/sessions/logout'

export const LogoutParams = v.object({
  id_token_hint: v.optional(v.pipe(v.string(), v.maxLength(MAX_PARAM))),
  post_logout_redirect_uri: v.optional(v.pipe(v.string(), v.maxLength(2048))),
  state: v.optional(v.pipe(v.string(), v.maxLength(2048))),
  client_id: v.optional(v.pipe(v.string(), v.maxLength(255))),
  logout_verifier: v.optional(v.pipe(v.string(), v.maxLength(255))),
  ui_locales: v.optional(v.pipe(v.string(), v.maxLength(2048))),
  logout_hint: v.optional(v.string()),
  // the built-in confirmation's form (the ui's logout page)
  logout_challenge: v.optional(v.pipe(v.string(), v.maxLength(255))),
  csrf_token: v.optional(v.pipe(v.string(), v.maxLength(255))),
  decision: v.optional(v.picklist(['accept', 'reject'])),
})
export const LogoutChallengeQuery = v.object({ logout_challenge: v.pipe(v.string('logout_challenge is required'), v.minLength(1, 'logout_challenge is required'), v.maxLength(255)) })

interface LogoutRow {
  id: string
  subject: string
  login_session_id: string | null
  client_id: string | null
  post_logout_redirect_uri: string | null
  state: string | null
  rp_initiated: boolean | number
  status: string
  requested_at: Date
  expires_at: Date
}
const COLS = sql`id, subject, login_session_id, client_id, post_logout_redirect_uri, state, rp_initiated, status, requested_at, expires_at`

const invalid = (why: string) => new OAuth2Error('invalid_request', `The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. ${why}`)
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
const hashOf = (s: string) => sha256HexSync(s)

async function paramsOf(request: Request): Promise<v.InferOutput<typeof LogoutParams>> {
  const url = new URL(request.url)
  let form = url.searchParams
  if (request.method === 'POST') {
    const type = request.headers.get('content-type') ?? ''
    if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) throw invalid('The body must be application/x-www-form-urlencoded.')
    const text = await request.text()
    if (text.length > 64 * 1024) throw invalid('The body is too large.')
    form = new URLSearchParams(text)
  }
  const seen = new Set<string>()
  for (const [k, value] of form) {
    if (seen.has(k)) throw invalid(`The parameter ${k} is included more than once.`)
    seen.add(k)
    if (value.includes('\u0000')) throw invalid(`The parameter ${k} is malformed.`)
  }
  const r = v.safeParse(LogoutParams, Object.fromEntries(form))
  if (!r.success) throw invalid(`The parameter ${r.issues[0]?.path?.[0]?.key ?? ''} is malformed.`)
  return r.output
}

export class Logout {
  constructor(private readonly o: OAuth2) {}

  async client(db: ScopedDb, id: string): Promise<Client | null> {
    const got = new ClientRepo(db).get(id)
    return (got instanceof Promise ? await got : got)?.client ?? null
  }

  /** The claims of an ID token this provider issued (signature and issuer checked; an expired one is fine, §2). */
  async verifyHint(tenant: string, issuer: string, hint: string): Promise<Record<string, unknown>> {
    let iat: unknown
    try {
      iat = decodeJwt(hint).iat
    } catch {
      throw invalid('The id_token_hint is not a JWT.')
    }
    const keys = createLocalJWKSet({ keys: (await this.o.keys.verificationKeys(tenant, ID_TOKEN_SET)) as never[] })
    try {
      const { payload } = await jwtVerify(hint, keys, { issuer, algorithms: ['RS256', 'ES256'], currentDate: typeof iat === 'number' ? new Date(iat * 1000) : undefined })
      return payload as Record<string, unknown>
    } catch {
      throw invalid('The id_token_hint could not be verified.')
    }
  }

  /** The final redirect: the client's registered post_logout_redirect_uri with `state`, else the default. */
  finalUrl(row: Pick<LogoutRow, 'post_logout_redirect_uri' | 'state'>, publicBaseUrl: string): string {
    if (row.post_logout_redirect_uri) {
      const u = new URL(row.post_logout_redirect_uri)
      if (row.state) u.searchParams.set('state', row.state)
      return u.toString()
    }
    return this.o.options.logout.postLogoutRedirect ?? `${publicBaseUrl}/`
  }

  /** `/oauth2/sessions/logout` without a verifier: validate, record the request, send the browser on. */
  async start(request: Request, db: ScopedDb, issuer: string, publicBaseUrl: string, p: v.InferOutput<typeof LogoutParams>, rc?: RequestContext): Promise<Response> {
    let claims: Record<string, unknown> | undefined
    if (p.id_token_hint) claims = await this.verifyHint(db.nid, issuer, p.id_token_hint)
    // RP-Initiated Logout 1.0 §2 and Hydra: a post_logout_redirect_uri needs the id_token_hint that names the client
    if (p.post_logout_redirect_uri !== undefined && !claims) throw invalid('Logout failed because query parameter post_logout_redirect_uri is set but id_token_hint is missing.')
    let clientId: string | undefined
    if (claims) {
      const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud]
      clientId = typeof claims.azp === 'string' ? claims.azp : typeof aud[0] === 'string' ? aud[0] : undefined
      if (p.client_id !== undefined && !aud.includes(p.client_id)) throw invalid('The client_id does not match the id_token_hint.')
    } else clientId = p.client_id
    const client = clientId ? await this.client(db, clientId) : null
    if (clientId && !client) throw invalid('The client of the logout request is unknown.')
    let redirect: string | null = null
    if (p.post_logout_redirect_uri !== undefined) {
      // exact match against the client's registered list (§3.1: no redirect to an unregistered URI)
      if (!client || !client.post_logout_redirect_uris.includes(p.post_logout_redirect_uri)) throw invalid('Logout failed because query parameter post_logout_redirect_uri is not a whitelisted as a post_logout_redirect_uri for the client.')
      redirect = p.post_logout_redirect_uri
    }

    // the login session to end: the hint's sid, else the one of this browser's identity session
    let session: { id: string; subject: string } | undefined
    if (claims && typeof claims.sid === 'string') {
      session = await db.one(sql`SELECT id, subject FROM oauth2_login_sessions WHERE nid = ${db.nid} AND id = ${claims.sid}`)
    } else if (!claims) {
      const active = await this.o.ctx.services.get('identity.sessions')?.fromRequest(request, db.nid)
      if (active) session = await db.one(sql`SELECT id, subject FROM oauth2_login_sessions WHERE nid = ${db.nid} AND identity_session_id = ${active.id} ORDER BY authenticated_at DESC LIMIT 1`)
    }
    const subject = session?.subject ?? (typeof claims?.sub === 'string' ? claims.sub : undefined)
    if (!subject) {
      // nothing to log out: straight to where the client asked (Hydra does the same)
      return Response.redirect(this.finalUrl({ post_logout_redirect_uri: redirect, state: p.state ?? null }, publicBaseUrl), 302)
    }
    if (session && claims && typeof claims.sub === 'string' && claims.sub !== session.subject) throw invalid('The id_token_hint does not belong to the session to log out.')

    const challenge = randomToken(32)
    const now = new Date()
    const id = crypto.randomUUID()
    await db.exec(sql`INSERT INTO oauth2_logout_requests (nid, id, challenge_hash, verifier_hash, subject, login_session_id, client_id, post_logout_redirect_uri, state, rp_initiated, status, requested_at, expires_at)
      VALUES (${db.nid}, ${id}, ${hashOf(challenge)}, ${null}, ${subject}, ${session?.id ?? null}, ${client?.client_id ?? null}, ${redirect}, ${p.state ?? null}, ${claims !== undefined || p.client_id !== undefined}, ${'pending'},
        ${now}, ${new Date(now.getTime() + this.o.options.logout.requestLifespanSeconds * 1000)})`)
    const app = this.o.options.logout.url
    if (app) {
      const u = new URL(app)
      u.searchParams.set('logout_challenge', challenge)
      return Response.redirect(u.toString(), 302)
    }
    const pages = rc ? this.o.ctx.services.get('oauth2.pages') : undefined
    if (pages && rc) {
      // the ui is installed: it asks "<client> asks to sign you out" first; the answer posts back here (confirm)
      const csrf = randomToken(32)
      const res = await pages.logout(request, rc, {
        ...(client ? { client: { id: client.client_id, ...(client.client_name ? { name: String(client.client_name) } : {}) } } : {}),
        action: `${publicBaseUrl}${LOGOUT_PATH}`,
        hidden: { logout_challenge: challenge, csrf_token: csrf },
        uiLocales: scopesOf(p.ui_locales ?? null),
      })
      const secure = publicBaseUrl.startsWith('https:') ? '; Secure' : ''
      res.headers.append('set-cookie', `${CSRF_COOKIE}=${csrf}; Path=${LOGOUT_PATH}; Max-Age=${this.o.options.logout.requestLifespanSeconds}; HttpOnly; SameSite=Lax${secure}`)
      return res
    }
    // no logout app: the plugin accepts its own request
    const row = (await db.one<LogoutRow>(sql`SELECT ${COLS} FROM oauth2_logout_requests WHERE nid = ${db.nid} AND id = ${id}`))!
    await db.exec(sql`UPDATE oauth2_logout_requests SET status = ${'done'} WHERE nid = ${db.nid} AND id = ${id}`)
    return this.finish(db, issuer, publicBaseUrl, row)
  }

  /**
   * The answer of the built-in confirmation (a form post with `logout_challenge`, `csrf_token`, `decision`), with
   * Hydra's accept/reject semantics: accept ends the sessions as a verifier would; reject drops the request and
   * leaves the user signed in.
   */
  async confirm(request: Request, db: ScopedDb, issuer: string, publicBaseUrl: string, p: v.InferOutput<typeof LogoutParams>): Promise<Response> {
    if (request.method !== 'POST') throw invalid('The logout confirmation must be posted.')
    const cookie = cookieOf(request, CSRF_COOKIE) ?? ''
    const token = p.csrf_token ?? ''
    if (!token || !cookie || !constantTimeEqual(token, cookie)) throw invalid('The logout confirmation failed its CSRF check. Start the logout again.')
    const row = await db.one<LogoutRow>(sql`SELECT ${COLS} FROM oauth2_logout_requests WHERE nid = ${db.nid} AND challenge_hash = ${hashOf(p.logout_challenge!)}`)
    if (!row || row.expires_at.getTime() <= Date.now() || row.status !== 'pending') throw invalid('The logout request is unknown, expired or answered already.')
    const clear = `${CSRF_COOKIE}=; Path=${LOGOUT_PATH}; Max-Age=0; HttpOnly; SameSite=Lax`
    if (p.decision !== 'accept') {
      await db.exec(sql`DELETE FROM oauth2_logout_requests WHERE nid = ${db.nid} AND id = ${row.id}`)
      return new Response(null, { status: 303, headers: { location: `${publicBaseUrl}/`, 'cache-control': 'no-store', 'set-cookie': clear } })
    }
    const used = await db.exec(sql`UPDATE oauth2_logout_requests SET status = ${'done'} WHERE nid = ${db.nid} AND id = ${row.id} AND status = ${'pending'}`)
    if (used.rowCount === 0) throw invalid('The logout request was answered already.')
    const res = await this.finish(db, issuer, publicBaseUrl, row)
    const out = new Response(res.body, { status: res.status === 302 ? 303 : res.status, headers: new Headers(res.headers) })
    out.headers.append('set-cookie', clear)
    return out
  }

  /** `/oauth2/sessions/logout?logout_verifier=…`: the accepted request, once. */
  async verify(db: ScopedDb, issuer: string, publicBaseUrl: string, verifier: string): Promise<Response> {
    const row = await db.one<LogoutRow>(sql`SELECT ${COLS} FROM oauth2_logout_requests WHERE nid = ${db.nid} AND verifier_hash = ${hashOf(verifier)}`)
    if (!row || row.expires_at.getTime() <= Date.now()) throw invalid('The logout verifier is invalid or has expired.')
    const used = await db.exec(sql`UPDATE oauth2_logout_requests SET status = ${'done'} WHERE nid = ${db.nid} AND id = ${row.id} AND status = ${'accepted'}`)
    if (used.rowCount === 0) throw invalid('The logout verifier has been used already.')
    return this.finish(db, issuer, publicBaseUrl, row)
  }

  /** End the sessions, revoke the tokens, queue back-channel deliveries, render front-channel iframes, redirect. */
  async finish(db: ScopedDb, issuer: string, publicBaseUrl: string, row: LogoutRow): Promise<Response> {
    const sid = row.login_session_id
    const clients: Client[] = []
    if (sid) {
      const ids = await db.query<{ client_id: string }>(sql`SELECT DISTINCT client_id FROM oauth2_consents WHERE nid = ${db.nid} AND login_session_id = ${sid}`)
      const all = new Set(ids.map((r) => r.client_id))
      if (row.client_id) all.add(row.client_id)
      for (const id of all) {
        const c = await this.client(db, id)
        if (c) clients.push(c)
      }
      await this.revokeTokens(db, sid)
      const ls = await db.one<{ identity_session_id: string | null }>(sql`SELECT identity_session_id FROM oauth2_login_sessions WHERE nid = ${db.nid} AND id = ${sid}`)
      await db.exec(sql`DELETE FROM oauth2_login_sessions WHERE nid = ${db.nid} AND id = ${sid}`)
      if (ls?.identity_session_id) await this.o.ctx.services.get('identity.session-end')?.end(db.nid, ls.identity_session_id)
    } else if (row.client_id) {
      const c = await this.client(db, row.client_id)
      if (c) clients.push(c)
    }
    if ((await queueBackchannel(this.o, db, issuer, clients, row.subject, sid)) > 0) {
      void deliverDue(this.o, db).catch((err) => this.o.ctx.log.error('oauth2 back-channel logout failed', { err }))
    }
    const target = this.finalUrl(row, publicBaseUrl)
    const frames = clients
      .filter((c) => c.frontchannel_logout_uri)
      .map((c) => {
        const u = new URL(String(c.frontchannel_logout_uri))
        // Front-Channel Logout 1.0 §2: iss and sid when the client asks for them
        if (c.frontchannel_logout_session_required && sid) {
          u.searchParams.set('iss', issuer)
          u.searchParams.set('sid', sid)
        }
        return u.toString()
      })
    if (frames.length === 0) return Response.redirect(target, 302)
    const html = `<!doctype html><html><head><meta charset="utf-8"><title>Logging out</title><meta http-equiv="refresh" content="3;url=${esc(target)}"></head><body>
<p>Logging out… <a href="${esc(target)}">Continue</a></p>
${frames.map((f) => `<iframe src="${esc(f)}" style="display:none" sandbox="allow-same-origin allow-scripts"></iframe>`).join('\n')}
</body></html>`
    return new Response(html, { status: 200, headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' } })
  }

  /** Back-Channel Logout 1.0 §2.7: tokens of the session's consents end with it, unless granted offline access. */
  async revokeTokens(db: ScopedDb, sid: string): Promise<void> {
    const chains = await db.query<{ chain_id: string; client_id: string; subject: string; scope: string }>(sql`SELECT chain_id, client_id, subject, scope FROM oauth2_access_tokens
      WHERE nid = ${db.nid} AND active = ${true} AND consent_id IN (SELECT id FROM oauth2_consents WHERE nid = ${db.nid} AND login_session_id = ${sid})
      UNION SELECT chain_id, client_id, subject, scope FROM oauth2_refresh_tokens
      WHERE nid = ${db.nid} AND active = ${true} AND consent_id IN (SELECT id FROM oauth2_consents WHERE nid = ${db.nid} AND login_session_id = ${sid})`)
    const offline = new Set(chains.filter((c) => c.scope.split(' ').some((s) => s === 'offline_access' || s === 'offline')).map((c) => c.chain_id))
    const revoked = new Map<string, { clientId: string; subject: string }>()
    for (const c of chains) {
      if (offline.has(c.chain_id) || revoked.has(c.chain_id)) continue
      await this.o.tokens.revokeChain(db, c.chain_id)
      revoked.set(c.chain_id, { clientId: c.client_id, subject: c.subject })
    }
    for (const r of revoked.values()) await this.o.ctx.emit('oauth2.token.revoked', { ...r, reason: 'logout' }, { tenant: db.nid })
  }
}

const challengeOf = (request: Request) => parse(LogoutChallengeQuery, Object.fromEntries(new URL(request.url).searchParams)).logout_challenge
const notFound = () => new NotFoundError('Unable to locate the resource', { reason: 'The logout request does not exist or has expired.' })

export function logoutPublicRoutes(app: RouteApp, o: OAuth2) {
  const logout = new Logout(o)
  const answer = async (request: Request, rc: RequestContext) => {
    const { db, publicBaseUrl } = rc
    const p = await paramsOf(request)
    const issuer = o.issuer({ publicBaseUrl })
    if (p.logout_verifier !== undefined) return logout.verify(db, issuer, publicBaseUrl, p.logout_verifier)
    if (p.logout_challenge !== undefined) return logout.confirm(request, db, issuer, publicBaseUrl, p)
    return logout.start(request, db, issuer, publicBaseUrl, p, rc)
  }
  // a browser's request: with the ui installed, a refused one is its error page in the reader's language (else RFC 6749 JSON)
  const handle = async (request: Request, rc: RequestContext) => {
    try {
      return await answer(request, rc)
    } catch (e) {
      const pages = o.ctx.services.get('oauth2.pages')
      if (!(e instanceof OAuth2Error) || !pages?.error) throw e
      return pages.error(request, rc, { error: e.error, description: e.errorDescription ?? e.message, status: e.status })
    }
  }
  return app
    .get(LOGOUT_PATH, ({ request, tessera }) => handle(request, tessera))
    .post(LOGOUT_PATH, ({ request, tessera }) => handle(request, tessera), { parse: 'none' })
}

/** Hydra's logout request API: get, accept, reject. */
export function logoutAdminRoutes(app: RouteApp, o: OAuth2) {
  const logout = new Logout(o)
  const pending = async (db: ScopedDb, challenge: string): Promise<LogoutRow> => {
    const row = await db.one<LogoutRow>(sql`SELECT ${COLS} FROM oauth2_logout_requests WHERE nid = ${db.nid} AND challenge_hash = ${hashOf(challenge)}`)
    if (!row || row.expires_at.getTime() <= Date.now()) throw notFound()
    return row
  }
  return app
    .get('/admin/oauth2/auth/requests/logout', async ({ request, tessera }) => {
      const challenge = challengeOf(request)
      const row = await pending(tessera.db, challenge)
      const client = row.client_id ? await new ClientRepo(tessera.db).get(row.client_id) : null
      const issuer = o.issuer(tessera)
      const url = new URL(`${issuer}/oauth2/sessions/logout`)
      if (row.post_logout_redirect_uri) url.searchParams.set('post_logout_redirect_uri', row.post_logout_redirect_uri)
      if (row.state) url.searchParams.set('state', row.state)
      const body = {
        challenge,
        subject: row.subject,
        sid: row.login_session_id ?? '',
        request_url: url.toString(),
        rp_initiated: Boolean(row.rp_initiated),
        client: client ? clientJson(client) : null,
        requested_at: row.requested_at.toISOString(),
        expires_at: row.expires_at.toISOString(),
      }
      const gone = row.status !== 'pending'
      return new Response(JSON.stringify(gone ? { redirect_to: logout.finalUrl(row, tessera.publicBaseUrl) } : body), { status: gone ? 410 : 200, headers: { 'content-type': 'application/json; charset=utf-8' } })
    })
    .put('/admin/oauth2/auth/requests/logout/accept', async ({ request, tessera }) => {
      const row = await pending(tessera.db, challengeOf(request))
      const verifier = randomToken(32)
      const done = await tessera.db.exec(sql`UPDATE oauth2_logout_requests SET status = ${'accepted'}, verifier_hash = ${hashOf(verifier)} WHERE nid = ${tessera.db.nid} AND id = ${row.id} AND status = ${'pending'}`)
      if (done.rowCount === 0) throw new ValidationError([{ path: 'logout_challenge', message: 'the logout request has been handled already' }])
      return new Response(JSON.stringify({ redirect_to: `${o.issuer(tessera)}/oauth2/sessions/logout?logout_verifier=${verifier}` }), { headers: { 'content-type': 'application/json; charset=utf-8' } })
    }, { parse: 'none' })
    .put('/admin/oauth2/auth/requests/logout/reject', async ({ request, tessera }) => {
      const row = await pending(tessera.db, challengeOf(request))
      await tessera.db.exec(sql`DELETE FROM oauth2_logout_requests WHERE nid = ${tessera.db.nid} AND id = ${row.id}`)
      return new Response(null, { status: 204 })
    }, { parse: 'none' })
}

function cookieOf(request: Request, name: string): string | null {
  for (const part of (request.headers.get('cookie') ?? '').split(';')) {
    const i = part.indexOf('=')
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim()
  }
  return null
}

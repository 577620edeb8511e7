/**
 * The device authorization grant (RFC 8628), with Hydra's paths and JSON:
 *
 *   device ─POST /oauth2/device/auth─▶ device_code, user_code, verification_uri(_complete), expires_in, interval
 *   device ─POST /oauth2/token (grant_type=urn:ietf:params:oauth:grant-type:device_code)─▶ authorization_pending,
 *          slow_down (+5 s), expired_token, access_denied — or the tokens, once
 *   user   ─/oauth2/device/verify─▶ the user code (this plugin's page, or an external one through Hydra's
 *          device challenge and `PUT /admin/oauth2/auth/requests/device/accept`) ─▶ the same login and consent as
 *          the code flow ─▶ "you may return to your device"
 *
 * Device codes are 256-bit and stored as SHA-256; user codes are short (a 20-consonant alphabet without
 * look-alikes) and stored as HMAC-SHA-256 under the system secret, so that a leaked table cannot be searched for
 * them offline. Entering user codes on the built-in page is rate-limited per client address.
 */
import * as v from 'valibot'
import { BadRequestError, OAuth2Error, type RawRoute, type RequestContext, ValidationError, constantTimeEqual, parse, randomToken, sha256HexSync, sql } from 'tessera'
import { type Authorizer, type CodeSession, ErrorPage } from './authorize.ts'
import type { AuthRequest, FlowRow, Rejection } from './flows.ts'
import { idToken } from './id-token.ts'
import { type OAuth2, RateLimiter } from './oauth2.ts'
import { type GrantHandler, authenticateClient, formOf, tokenJson, whitelisted } from './token-endpoint.ts'
import { invalidGrant, signatureOf } from './tokens.ts'

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'
export const DEVICE_CODE_PREFIX = 'ory_dc_'
/** RFC 8628 §6.1: consonants only (no words), none that looks like a digit or another letter (no 0/O, 1/I/L… vowels). */
export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ'
const CSRF_COOKIE = 'tessera_oauth2_device_csrf'
/** RFC 8628 §3.5: each slow_down adds 5 seconds to the interval. */
const SLOW_DOWN_STEP = 5

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
const HTML_HEADERS = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-frame-options': 'DENY', 'content-security-policy': "default-src 'none'; form-action 'self' *" }

/** A random user code of `length` characters of the alphabet (rejection sampling: no modulo bias). */
export function generateUserCode(length: number): string {
  let out = ''
  const limit = 256 - (256 % USER_CODE_ALPHABET.length)
  while (out.length < length) {
    for (const b of crypto.getRandomValues(new Uint8Array(length * 2))) {
      if (b < limit && out.length < length) out += USER_CODE_ALPHABET[b % USER_CODE_ALPHABET.length]
    }
  }
  return out
}

/** The code as shown: groups of four joined by dashes (`BCDF-GHJK`). */
export const displayUserCode = (code: string) => code.match(/.{1,4}/g)!.join('-')

/** What a user typed, as stored: upper case, without dashes and spaces; null when it cannot be a user code. */
export function normalizeUserCode(input: string, length: number): string | null {
  if (input.length > 64) return null
  const s = input.toUpperCase().replace(/[\s-]/g, '')
  if (s.length !== length) return null
  for (const c of s) if (!USER_CODE_ALPHABET.includes(c)) return null
  return s
}

export type DeviceStatus = 'pending' | 'approved' | 'denied' | 'used'

interface DeviceRow {
  device_code_hash: string
  chain_id: string
  client_id: string
  scope: string
  audience: string[]
  status: DeviceStatus
  subject: string | null
  session: (CodeSession & { error?: Rejection }) | null
  flow_id: string | null
  interval_seconds: number
  last_polled_at: Date | null
  issued_at: Date
  expires_at: Date
}
const COLUMNS = sql`device_code_hash, chain_id, client_id, scope, audience, status, subject, session, flow_id, interval_seconds, last_polled_at, issued_at, expires_at`

/** The device flow: the device authorization endpoint, the grant, the verification page and Hydra's device API. */
export class DeviceFlow {
  readonly attempts: RateLimiter

  constructor(readonly a: Authorizer) {
    const d = a.o.options.device
    this.attempts = new RateLimiter(d.attemptsPerMinute / 60, d.attemptsBurst)
  }

  get o(): OAuth2 {
    return this.a.o
  }

  userCodeHash(tenant: string, code: string): Promise<string> {
    return this.o.ctx.secrets.system.sign('oauth2.device.user_code', `${tenant}\u0000${code}`)
  }

  verificationUri(rc: RequestContext): string {
    return `${this.o.issuer(rc)}/oauth2/device/verify`
  }

  /** `POST /oauth2/device/auth` (RFC 8628 §3.1, §3.2). */
  async authorize(request: Request, rc: RequestContext): Promise<Response> {
    const form = await formOf(request)
    const issuer = this.o.issuer(rc)
    const record = await authenticateClient(this.o, request, form, rc, `${issuer}/oauth2/token`, issuer)
    const client = record.client
    if (!client.grant_types.includes(DEVICE_CODE_GRANT)) throw new OAuth2Error('unauthorized_client', `The client is not allowed to use the grant type ${DEVICE_CODE_GRANT}.`)
    const { scope, audience } = whitelisted(client, form)
    const d = this.o.options.device
    const deviceCode = DEVICE_CODE_PREFIX + randomToken(32)
    const now = new Date()
    const expires = new Date(now.getTime() + d.lifespanSeconds * 1000)
    let userCode = ''
    // a user code is unique among live ones (the index): on the rare collision, draw again
    for (let attempt = 0; ; attempt++) {
      userCode = generateUserCode(d.userCodeLength)
      const hash = await this.userCodeHash(rc.tenant, userCode)
      await rc.db.exec(sql`DELETE FROM oauth2_device_codes WHERE nid = ${rc.db.nid} AND user_code_hash = ${hash} AND expires_at < ${now}`)
      try {
        await rc.db.exec(sql`INSERT INTO oauth2_device_codes (nid, device_code_hash, user_code_hash, chain_id, client_id, scope, audience, status, subject, session, flow_id, interval_seconds, last_polled_at, issued_at, expires_at)
          VALUES (${rc.db.nid}, ${signatureOf(deviceCode)}, ${hash}, ${crypto.randomUUID()}, ${client.client_id}, ${scope.join(' ')}, ${sql.json(audience)}, ${'pending'}, ${null}, ${null}, ${null}, ${d.intervalSeconds}, ${null}, ${now}, ${expires})`)
        break
      } catch (e) {
        if (attempt >= 4) throw e
      }
    }
    const uri = this.verificationUri(rc)
    const shown = displayUserCode(userCode)
    return tokenJson({
      device_code: deviceCode,
      user_code: shown,
      verification_uri: uri,
      verification_uri_complete: `${uri}?user_code=${encodeURIComponent(shown)}`,
      expires_in: d.lifespanSeconds,
      interval: d.intervalSeconds,
    })
  }

  /** The live, pending device request a user code names (or undefined). */
  async byUserCode(rc: RequestContext, input: string): Promise<DeviceRow | undefined> {
    const code = normalizeUserCode(input, this.o.options.device.userCodeLength)
    if (!code) return undefined
    const row = await rc.db.one<DeviceRow>(sql`SELECT ${COLUMNS} FROM oauth2_device_codes WHERE nid = ${rc.db.nid} AND user_code_hash = ${await this.userCodeHash(rc.tenant, code)}`)
    if (!row || row.status !== 'pending' || row.expires_at.getTime() <= Date.now()) return undefined
    return row
  }

  /** The user code was right: into the code flow's login (and then consent), with the device request in the flow. */
  async start(request: Request, rc: RequestContext, row: DeviceRow): Promise<Response> {
    const client = await this.a.clientOf(rc.db, row.client_id)
    const issuer = this.o.issuer(rc)
    const req: AuthRequest = {
      client_id: client.client_id,
      redirect_uri: '',
      response_mode: 'query',
      scope: row.scope === '' ? [] : row.scope.split(' '),
      audience: row.audience,
      prompt: [],
      acr_values: [],
      ui_locales: [],
      // where the login and consent apps send the browser back (Hydra appends client_id the same way)
      request_url: `${issuer}/oauth2/device/verify?client_id=${encodeURIComponent(client.client_id)}`,
      requested_at: new Date().toISOString(),
      device_code_hash: row.device_code_hash,
    }
    return this.a.login(request, rc, client, req)
  }

  /**
   * The end of a device flow's login and consent (called by the Authorizer): an approval or a denial recorded on
   * the device code, then the page that sends the user back to the device.
   */
  async finish(request: Request, rc: RequestContext, flow: FlowRow, outcome: { error: Rejection } | { session: CodeSession; scope: string[]; audience: string[] }): Promise<Response> {
    const hash = flow.request.device_code_hash!
    const now = new Date()
    const live = sql`nid = ${rc.db.nid} AND device_code_hash = ${hash} AND status = ${'pending'} AND expires_at > ${now}`
    const r = 'error' in outcome
      ? await rc.db.exec(sql`UPDATE oauth2_device_codes SET status = ${'denied'}, flow_id = ${flow.id} WHERE ${live}`)
      : await rc.db.exec(sql`UPDATE oauth2_device_codes SET status = ${'approved'}, subject = ${outcome.session.id_token.subject}, session = ${sql.json(outcome.session)}, scope = ${outcome.scope.join(' ')}, audience = ${sql.json(outcome.audience)}, flow_id = ${flow.id} WHERE ${live}`)
    if (r.rowCount !== 1) throw new ErrorPage('expired_token', 'This device request has expired or was answered already. Start again on the device.')
    const pages = this.o.ctx.services.get('oauth2.pages')
    // the browser's language (its cookie, Accept-Language) and session are the page's; its links (the language
    // links) are those of the code page, not of the form post this answers
    if ('error' in outcome && pages) return pages.device(new Request(this.verificationUri(rc), { headers: request.headers }), rc, { state: 'denied', action: this.verificationUri(rc), hidden: {}, field: 'user_code' })
    if ('error' in outcome) return page('Device not authorized', `<p id="denied">The device was not authorized: ${esc(outcome.error.error_description)}</p><p>You may close this window.</p>`)
    const success = this.o.options.device.successUrl
    const url = new URL(success ?? `${rc.publicBaseUrl}/oauth2/fallbacks/device/done`)
    url.searchParams.set('client_id', flow.client_id)
    return new Response(null, { status: 303, headers: { location: url.toString(), 'cache-control': 'no-store' } })
  }

  // Hydra's device challenge: a signed, short-lived value naming the tenant and the browser (its CSRF cookie).

  async seal(purpose: string, claims: Record<string, unknown>): Promise<string> {
    const body = Buffer.from(JSON.stringify({ ...claims, exp: Date.now() + this.o.options.flowLifespan * 1000 })).toString('base64url')
    return `${body}.${await this.o.ctx.secrets.cookie.sign(`oauth2.device.${purpose}`, body)}`
  }

  async open(purpose: string, value: string, tenant: string): Promise<Record<string, string> | null> {
    const dot = value.indexOf('.')
    if (dot < 0 || value.length > 2048) return null
    const body = value.slice(0, dot)
    if (!(await this.o.ctx.secrets.cookie.verify(`oauth2.device.${purpose}`, body, value.slice(dot + 1)))) return null
    let claims: Record<string, unknown>
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'))
    } catch {
      return null
    }
    if (claims.t !== tenant || typeof claims.exp !== 'number' || claims.exp <= Date.now()) return null
    return claims as Record<string, string>
  }

  /** `GET|POST /oauth2/device/verify`: the user-code page, and where login and consent come back to. */
  async verify(request: Request, rc: RequestContext): Promise<Response> {
    try {
      return await this.#verify(request, rc)
    } catch (e) {
      if (e instanceof ErrorPage) return this.a.errorResponse(request, rc, e)
      throw e
    }
  }

  async #verify(request: Request, rc: RequestContext): Promise<Response> {
    const q = new URL(request.url).searchParams
    if (request.method === 'POST') return this.submit(request, rc)
    if (request.method !== 'GET' && request.method !== 'HEAD') return new Response(null, { status: 405, headers: { allow: 'GET, POST' } })
    const consentVerifier = q.get('consent_verifier')
    if (consentVerifier !== null) return this.a.afterConsent(request, rc, consentVerifier.slice(0, 256))
    const loginVerifier = q.get('login_verifier')
    if (loginVerifier !== null) return this.a.afterLogin(request, rc, loginVerifier.slice(0, 256))
    const deviceVerifier = q.get('device_verifier')
    if (deviceVerifier !== null) {
      // an external page accepted the user code: the same browser must come back with it (its CSRF cookie)
      const claims = await this.open('verifier', deviceVerifier, rc.tenant)
      const csrf = cookieOf(request, CSRF_COOKIE)
      if (!claims || !csrf || !constantTimeEqual(sha256HexSync(csrf), claims.c!)) throw new ErrorPage('invalid_request', 'The device verifier is unknown or expired, or was issued to another browser (CSRF). Enter the code again.', 403)
      const row = await rc.db.one<DeviceRow>(sql`SELECT ${COLUMNS} FROM oauth2_device_codes WHERE nid = ${rc.db.nid} AND device_code_hash = ${claims.d!}`)
      if (!row || row.status !== 'pending' || row.expires_at.getTime() <= Date.now()) throw new ErrorPage('expired_token', 'The code has expired or was used already. Start again on the device.')
      return this.start(request, rc, row)
    }
    const userCode = (q.get('user_code') ?? '').slice(0, 64)
    const csrf = randomToken(32)
    const cookie = this.a.cookie(request, rc, CSRF_COOKIE, csrf, this.o.options.flowLifespan)
    const external = this.o.options.device.verificationUrl
    if (external) {
      const challenge = await this.seal('challenge', { t: rc.tenant, c: sha256HexSync(csrf), n: randomToken(8) })
      const url = new URL(external)
      url.searchParams.set('device_challenge', challenge)
      if (userCode) url.searchParams.set('user_code', userCode)
      return new Response(null, { status: 303, headers: { location: url.toString(), 'cache-control': 'no-store', 'set-cookie': cookie } })
    }
    const res = await this.form(request, rc, csrf, userCode)
    res.headers.append('set-cookie', cookie)
    return res
  }

  /** The built-in page's form: CSRF (double submit), the per-address limit, the code. */
  async submit(request: Request, rc: RequestContext): Promise<Response> {
    const type = request.headers.get('content-type') ?? ''
    if (!type.startsWith('application/x-www-form-urlencoded')) throw new ErrorPage('invalid_request', 'The form must be application/x-www-form-urlencoded.')
    const text = await request.text()
    if (text.length > 4096) throw new ErrorPage('invalid_request', 'The form is too large.')
    const f = new URLSearchParams(text)
    const token = f.get('csrf_token') ?? ''
    const cookie = cookieOf(request, CSRF_COOKIE) ?? ''
    if (!token || !constantTimeEqual(token, cookie)) throw new ErrorPage('invalid_request', 'The form failed its CSRF check. Open the page again.', 403)
    const wait = this.attempts.take(`${rc.tenant}\u0000${rc.remoteAddress ?? 'unknown'}`)
    if (wait > 0) {
      const res = await this.a.errorResponse(request, rc, new ErrorPage('too_many_requests', 'Too many codes were entered from this address. Wait a minute and try again.', 429))
      res.headers.set('retry-after', String(Math.max(1, Math.ceil(wait))))
      return res
    }
    const typed = (f.get('user_code') ?? '').slice(0, 64)
    const row = await this.byUserCode(rc, typed)
    // the page again, with what was typed (to be corrected)
    if (!row) return this.form(request, rc, token, typed, 'The code is wrong or has expired. Check it on your device and try again.', 400)
    return this.start(request, rc, row)
  }

  /** The code entry page: the ui's (`oauth2.pages`) when installed, else this plugin's own. */
  async form(request: Request, rc: RequestContext, csrf: string, userCode: string, error?: string, status = 200): Promise<Response> {
    const pages = this.o.ctx.services.get('oauth2.pages')
    if (!pages) return form(rc, csrf, userCode, error, status)
    return pages.device(request, rc, { state: 'enter', action: `${rc.publicBaseUrl}/oauth2/device/verify`, hidden: { csrf_token: csrf }, field: 'user_code', ...(userCode ? { userCode } : {}), ...(error ? { error } : {}) })
  }

  /** Hydra's `PUT /admin/oauth2/auth/requests/device/accept?device_challenge=` (`acceptUserCodeRequest`). */
  async accept(request: Request, rc: RequestContext): Promise<Response> {
    if (request.method !== 'PUT') return new Response(null, { status: 405, headers: { allow: 'PUT' } })
    const q = parse(v.object({ device_challenge: v.pipe(v.string('device_challenge is required'), v.minLength(1, 'device_challenge is required'), v.maxLength(2048)) }), Object.fromEntries(new URL(request.url).searchParams))
    const text = await request.text()
    if (text.length > 4096) throw new BadRequestError('The request body is too large.')
    let raw: unknown
    try {
      raw = text === '' ? {} : JSON.parse(text)
    } catch {
      throw new BadRequestError('The request body could not be parsed: check that it is well-formed JSON')
    }
    const b = parse(v.object({ user_code: v.pipe(v.string('user_code is required'), v.minLength(1, "Field 'user_code' must not be empty."), v.maxLength(64)) }), raw)
    const claims = await this.open('challenge', q.device_challenge, rc.tenant)
    if (!claims) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: 'The device challenge is unknown or has expired.' })
    const row = await this.byUserCode(rc, b.user_code)
    if (!row) throw new ValidationError([{ path: 'user_code', message: "The 'user_code' session could not be found or has expired or is otherwise malformed." }])
    const verifier = await this.seal('verifier', { t: rc.tenant, c: claims.c, d: row.device_code_hash })
    const url = new URL(this.verificationUri(rc))
    url.searchParams.set('device_verifier', verifier)
    url.searchParams.set('client_id', row.client_id)
    return new Response(JSON.stringify({ redirect_to: url.toString() }), { headers: { 'content-type': 'application/json; charset=utf-8' } })
  }
}

function page(title: string, body: string, status = 200): Response {
  return new Response(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head><body><h1>${esc(title)}</h1>${body}</body></html>`, { status, headers: HTML_HEADERS })
}

function form(rc: RequestContext, csrf: string, userCode: string, error?: string, status = 200): Response {
  return page('Connect a device', `${error ? `<p id="error" role="alert">${esc(error)}</p>` : ''}
<p>Enter the code shown on your device.</p>
<form method="post" action="${esc(rc.publicBaseUrl)}/oauth2/device/verify">
<input type="hidden" name="csrf_token" value="${esc(csrf)}">
<label>Code <input name="user_code" id="user_code" value="${esc(userCode)}" autocomplete="off" autocapitalize="characters" spellcheck="false" required></label>
<button type="submit" id="submit">Continue</button>
</form>`, status)
}

function cookieOf(request: Request, name: string): string | null {
  for (const part of (request.headers.get('cookie') ?? '').split(';')) {
    const i = part.indexOf('=')
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim()
  }
  return null
}

/** The token endpoint's `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4, §3.5). */
export const deviceCode: GrantHandler = async ({ client, form, db, issuer, oauth2 }) => {
  const code = form.get('device_code')
  if (!code) throw new OAuth2Error('invalid_request', 'The request is missing the device_code parameter.')
  if (!code.startsWith(DEVICE_CODE_PREFIX) || code.length > 512) throw invalidGrant('The device code is malformed or unknown.')
  const hash = signatureOf(code)
  const row = await db.one<DeviceRow>(sql`SELECT ${COLUMNS} FROM oauth2_device_codes WHERE nid = ${db.nid} AND device_code_hash = ${hash}`)
  if (!row) throw invalidGrant('The device code is malformed or unknown.')
  if (row.client_id !== client.client_id) throw invalidGrant('The device code was issued to another client.')
  if (row.status === 'used') {
    // a second redemption revokes what the first issued (as a reused authorization code does)
    await oauth2.tokens.revokeChain(db, row.chain_id)
    await oauth2.ctx.emit('oauth2.token.revoked', { clientId: row.client_id, subject: row.subject ?? '', reason: 'code_reuse' }, { tenant: db.nid })
    throw invalidGrant('The device code has already been used: every token issued with it has been revoked.')
  }
  const now = new Date()
  if (row.expires_at.getTime() <= now.getTime()) throw new OAuth2Error('expired_token', 'The device_code has expired, and the device authorization session has concluded.')
  if (row.status === 'denied') throw new OAuth2Error('access_denied', 'The resource owner or authorization server denied the request.', 400)
  if (row.status === 'pending') {
    // RFC 8628 §3.5: polling faster than the interval is slow_down, and the interval grows by 5 seconds
    const tooSoon = row.last_polled_at !== null && now.getTime() - row.last_polled_at.getTime() < row.interval_seconds * 1000
    const interval = tooSoon ? row.interval_seconds + SLOW_DOWN_STEP : row.interval_seconds
    await db.exec(sql`UPDATE oauth2_device_codes SET last_polled_at = ${now}, interval_seconds = ${interval} WHERE nid = ${db.nid} AND device_code_hash = ${hash}`)
    if (tooSoon) throw new OAuth2Error('slow_down', `The authorization request is still pending and polling should be slowed down: wait at least ${interval} seconds between requests.`)
    throw new OAuth2Error('authorization_pending', 'The authorization request is still pending as the end user has not yet completed the user-interaction steps.')
  }
  const session = row.session!
  const scope = row.scope === '' ? [] : row.scope.split(' ')
  const refresh = (scope.includes('offline_access') || scope.includes('offline')) && client.grant_types.includes('refresh_token')
  const tokens = await db.transaction(async (tx) => {
    const used = await tx.exec(sql`UPDATE oauth2_device_codes SET status = ${'used'} WHERE nid = ${tx.nid} AND device_code_hash = ${hash} AND status = ${'approved'}`)
    if (used.rowCount === 0) return null
    return oauth2.tokens.issue(tx, { client, subject: row.subject!, grantType: DEVICE_CODE_GRANT, scope, audience: row.audience, ext: session.access_token, session: { id_token: session.id_token }, chainId: row.chain_id, refresh, consentId: row.flow_id ?? undefined, issuer })
  })
  if (!tokens) throw invalidGrant('The device code has already been used.')
  if (scope.includes('openid')) tokens.id_token = await idToken(oauth2, db.nid, client, issuer, session.id_token, DEVICE_CODE_GRANT, { accessToken: tokens.access_token, nonce: false })
  return { tokens, subject: row.subject! }
}

export function deviceRoutes(d: DeviceFlow): { public: RawRoute<any, any>[]; admin: RawRoute<any, any>[] } {
  const done: RawRoute<any, any> = {
    path: '/oauth2/fallbacks/device/done',
    handle: async (request, rc) => {
      const pages = d.o.ctx.services.get('oauth2.pages')
      if (pages) return pages.device(request, rc, { state: 'done', action: d.verificationUri(rc), hidden: {}, field: 'user_code' })
      return page('Your device is connected', '<p id="done">You may now return to your device.</p>')
    },
  }
  return {
    public: [
      { path: '/oauth2/device/auth', handle: (request, rc) => d.authorize(request, rc) },
      { path: '/oauth2/device/verify', handle: (request, rc) => d.verify(request, rc) },
      done,
    ],
    admin: [{ path: '/admin/oauth2/auth/requests/device/accept', handle: (request, rc) => d.accept(request, rc) }],
  }
}

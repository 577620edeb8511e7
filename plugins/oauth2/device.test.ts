/**
 * The device authorization grant (RFC 8628), on SQLite and PostgreSQL: the seeds' scenario 3 end to end with
 * `openid-client` v6 as the device on a real listener (initiateDeviceAuthorization, pollDeviceAuthorizationGrant)
 * and the user's side over HTTP through the built-in user-code page and a login and consent app written for
 * Hydra; every error of RFC 8628 §3.5, wrong and expired user codes, the per-address limit against guessing,
 * single redemption, and Hydra's external device page protocol (`acceptUserCodeRequest`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import * as oidc from 'openid-client'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { bootApps, setPeer, type TestApps } from '../../test/helpers/app.ts'
import { USER_CODE_ALPHABET, normalizeUserCode } from './device.ts'
import { oauth2 } from './index.ts'

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'
const LOGIN = 'https://login.example.com/login'
const CONSENT = 'https://login.example.com/consent'
const DEVICE_UI = 'https://login.example.com/device'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

for (const driver of drivers('oauth2-device')) {
  describe.skipIf(!driver.enabled)(`oauth2 device flow (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: TestApps
    /** A second process-like app on the same database: short-lived codes and an external device page. */
    let short: TestApps
    let api: string
    let server: { stop(force?: boolean): void; port: number }
    let deviceClient: string
    const events: { name: string; payload: any }[] = []

    /** A browser from one client address: a cookie jar over the public listener, no automatic redirects. */
    function browser(on: TestApps, address: string) {
      const jar = new Map<string, string>()
      const send = async (url: string, init: RequestInit = {}) => {
        const request = new Request(url, { ...init, headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } })
        setPeer(request, address)
        const res = await on.public.handle(request)
        for (const c of res.headers.getSetCookie()) {
          const [pair] = c.split(';')
          const i = pair!.indexOf('=')
          jar.set(pair!.slice(0, i), pair!.slice(i + 1))
        }
        return res
      }
      return {
        get: (url: string) => send(url),
        post: (url: string, form: Record<string, string>) => send(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) }),
      }
    }
    const adminOf = (on: TestApps) => async (method: string, path: string, body?: unknown) => {
      const res = await on.admin.handle(new Request(`http://admin${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }))
      return { status: res.status, json: (await res.json().catch(() => undefined)) as any }
    }
    const tokenOf = (on: TestApps) => async (params: Record<string, string>) => {
      const res = await on.public.handle(new Request(`${api}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params) }))
      return { status: res.status, json: (await res.json()) as any }
    }
    const deviceAuth = async (on: TestApps, params: Record<string, string>) => {
      const res = await on.public.handle(new Request(`${api}/oauth2/device/auth`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params) }))
      return { status: res.status, json: (await res.json()) as any }
    }
    const csrfOf = async (res: Response) => /name="csrf_token" value="([^"]+)"/.exec(await res.text())![1]!
    const param = (res: Response, name: string) => new URL(res.headers.get('location')!).searchParams.get(name)!

    /** The user enters the code on the built-in page: the browser ends at the login app. */
    async function enterCode(b: ReturnType<typeof browser>, userCode: string) {
      const page = await b.get(`${api}/oauth2/device/verify`)
      expect(page.status).toBe(200)
      return b.post(`${api}/oauth2/device/verify`, { csrf_token: await csrfOf(page), user_code: userCode })
    }
    /** Login and consent with Hydra's API, as an external app does; the answer the browser gets at the end. */
    async function loginAndConsent(on: TestApps, b: ReturnType<typeof browser>, atLogin: Response, consent: 'accept' | 'reject' = 'accept') {
      const admin = adminOf(on)
      expect(atLogin.status).toBe(303)
      expect(atLogin.headers.get('location')!.startsWith(`${LOGIN}?`)).toBe(true)
      const login = param(atLogin, 'login_challenge')
      const lr = await admin('GET', `/admin/oauth2/auth/requests/login?login_challenge=${login}`)
      expect(lr.status).toBe(200)
      const la = await admin('PUT', `/admin/oauth2/auth/requests/login/accept?login_challenge=${login}`, { subject: 'tv-user', acr: 'aal1', amr: ['pwd'] })
      expect(la.json.redirect_to.startsWith(`${api}/oauth2/device/verify?`)).toBe(true)
      const atConsent = await b.get(la.json.redirect_to)
      expect(atConsent.status).toBe(303)
      const challenge = param(atConsent, 'consent_challenge')
      const cr = await admin('GET', `/admin/oauth2/auth/requests/consent?consent_challenge=${challenge}`)
      const ca = consent === 'accept'
        ? await admin('PUT', `/admin/oauth2/auth/requests/consent/accept?consent_challenge=${challenge}`, { grant_scope: cr.json.requested_scope, session: { id_token: { device: 'tv' } } })
        : await admin('PUT', `/admin/oauth2/auth/requests/consent/reject?consent_challenge=${challenge}`, { error: 'access_denied', error_description: 'The user said no.' })
      return { lr: lr.json, cr: cr.json, end: await b.get(ca.json.redirect_to) }
    }

    beforeAll(async () => {
      scratch = await driver.create()
      let handle: (r: Request) => Response | Promise<Response> = () => new Response('starting', { status: 503 })
      const s = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (r, srv) => {
        setPeer(r, srv.requestIP(r)?.address)
        return handle(r)
      } })
      server = s as never
      api = `http://127.0.0.1:${s.port}`
      const config = { serve: { public: { baseUrl: api } } } as never
      apps = await bootApps([oauth2({ urls: { login: LOGIN, consent: CONSENT }, device: { intervalSeconds: 1, attemptsBurst: 5, attemptsPerMinute: 5 } })], { database: scratch.db, config })
      short = await bootApps([oauth2({ urls: { login: LOGIN, consent: CONSENT }, device: { lifespanSeconds: 2, intervalSeconds: 1, verificationUrl: DEVICE_UI } })], { database: scratch.db, config })
      handle = (r) => apps.public.handle(r)
      for (const name of ['oauth2.token.issued', 'oauth2.token.revoked'] as const) apps.kernel.events.on(name, (payload) => void events.push({ name, payload }))
      const c = await adminOf(apps)('POST', '/admin/clients', { client_name: 'Living-room TV', grant_types: [DEVICE_GRANT, 'refresh_token'], scope: 'openid offline_access email', token_endpoint_auth_method: 'none', response_types: [] })
      expect(c.json).toMatchObject({ client_name: 'Living-room TV' })
      deviceClient = c.json.client_id
    })
    afterAll(async () => {
      server?.stop(true)
      await apps?.kernel.stop()
      await short?.kernel.stop()
      await scratch?.drop()
    })

    it('scenario 3: a device gets tokens through the device flow (openid-client as the device)', async () => {
      const config = await oidc.discovery(new URL(api), deviceClient, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] })
      expect(config.serverMetadata().device_authorization_endpoint).toBe(`${api}/oauth2/device/auth`)
      expect(config.serverMetadata().grant_types_supported).toContain(DEVICE_GRANT)
      const started = await oidc.initiateDeviceAuthorization(config, { scope: 'openid offline_access email' })
      expect(started.device_code.startsWith('ory_dc_')).toBe(true)
      expect(started.user_code).toMatch(new RegExp(`^[${USER_CODE_ALPHABET}]{4}-[${USER_CODE_ALPHABET}]{4}$`))
      expect(started.verification_uri).toBe(`${api}/oauth2/device/verify`)
      expect(started.verification_uri_complete).toBe(`${api}/oauth2/device/verify?user_code=${started.user_code}`)
      expect(started.expires_in).toBe(600)
      expect(started.interval).toBe(1)
      const polling = oidc.pollDeviceAuthorizationGrant(config, started)

      // the user opens verification_uri_complete on a phone: the code is filled in, typed in lower case it still works
      const b = browser(apps, '198.51.100.1')
      const page = await b.get(started.verification_uri_complete!)
      const html = await page.text()
      expect(html).toContain(`value="${started.user_code}"`)
      expect(page.headers.get('x-frame-options')).toBe('DENY')
      const csrf = /name="csrf_token" value="([^"]+)"/.exec(html)![1]!
      const atLogin = await b.post(`${api}/oauth2/device/verify`, { csrf_token: csrf, user_code: started.user_code.toLowerCase() })
      const { lr, cr, end } = await loginAndConsent(apps, b, atLogin)
      expect(lr.client.client_id).toBe(deviceClient)
      expect(lr.requested_scope).toEqual(['openid', 'offline_access', 'email'])
      expect(cr.subject).toBe('tv-user')
      expect(end.status).toBe(303)
      const done = new URL(end.headers.get('location')!)
      expect(done.pathname).toBe('/oauth2/fallbacks/device/done')
      expect(done.searchParams.get('client_id')).toBe(deviceClient)
      expect(await (await b.get(done.toString())).text()).toContain('You may now return to your device.')

      const tokens = await polling
      expect(tokens.access_token.startsWith('ory_at_')).toBe(true)
      expect(tokens.refresh_token).toBeTruthy()
      const claims = tokens.claims()!
      expect(claims.sub).toBe('tv-user')
      expect(claims.aud).toEqual([deviceClient])
      expect(claims.device).toBe('tv')
      expect(claims.acr).toBe('aal1')
      const info = await oidc.fetchUserInfo(config, tokens.access_token, 'tv-user')
      expect(info.sub).toBe('tv-user')
      // the refresh token rotates like any other
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!)
      expect(refreshed.access_token).not.toBe(tokens.access_token)
      expect(events.some((e) => e.name === 'oauth2.token.issued' && e.payload.grantType === DEVICE_GRANT && e.payload.subject === 'tv-user')).toBe(true)
      // the consent is a consent session: listed, and revoking it revokes the device's tokens
      const sessions = await adminOf(apps)('GET', '/admin/oauth2/auth/sessions/consent?subject=tv-user')
      expect(sessions.json.some((s: any) => s.consent_request.client.client_id === deviceClient)).toBe(true)
    })

    it('answers authorization_pending, then slow_down when polled faster than the interval, which grows by 5 seconds (RFC 8628 §3.5)', async () => {
      const token = tokenOf(apps)
      const d = await deviceAuth(apps, { client_id: deviceClient, scope: 'openid' })
      expect(d.status).toBe(200)
      const poll = () => token({ grant_type: DEVICE_GRANT, device_code: d.json.device_code, client_id: deviceClient })
      const first = await poll()
      expect(first.status).toBe(400)
      expect(first.json.error).toBe('authorization_pending')
      const fast = await poll()
      expect(fast.json.error).toBe('slow_down')
      // 1.2 s later: enough for the announced 1 s interval, not for the 6 s it has become
      await sleep(1200)
      expect((await poll()).json.error).toBe('slow_down')
    })

    it('answers access_denied when the user denies, and the code cannot be entered again', async () => {
      const d = await deviceAuth(apps, { client_id: deviceClient, scope: 'openid' })
      const b = browser(apps, '198.51.100.2')
      const { end } = await loginAndConsent(apps, b, await enterCode(b, d.json.user_code), 'reject')
      expect(end.status).toBe(200)
      expect(await end.text()).toContain('The user said no.')
      const r = await tokenOf(apps)({ grant_type: DEVICE_GRANT, device_code: d.json.device_code, client_id: deviceClient })
      expect(r.status).toBe(400)
      expect(r.json.error).toBe('access_denied')
      const again = await enterCode(browser(apps, '198.51.100.2'), d.json.user_code)
      expect(again.status).toBe(400)
    })

    it('redeems a device code once: a second redemption is invalid_grant and revokes what the first issued', async () => {
      const d = await deviceAuth(apps, { client_id: deviceClient, scope: 'openid offline_access' })
      const b = browser(apps, '198.51.100.3')
      const { end } = await loginAndConsent(apps, b, await enterCode(b, d.json.user_code))
      expect(end.status).toBe(303)
      const token = tokenOf(apps)
      const params = { grant_type: DEVICE_GRANT, device_code: d.json.device_code, client_id: deviceClient }
      const first = await token(params)
      expect(first.status).toBe(200)
      expect(first.json.id_token).toBeTruthy()
      const second = await token(params)
      expect(second.status).toBe(400)
      expect(second.json.error).toBe('invalid_grant')
      const intro = await apps.admin.handle(new Request('http://admin/admin/oauth2/introspect', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: first.json.access_token }) }))
      expect(((await intro.json()) as any).active).toBe(false)
      expect(events.some((e) => e.name === 'oauth2.token.revoked' && e.payload.reason === 'code_reuse')).toBe(true)
      // and another client cannot redeem it
      const other = await adminOf(apps)('POST', '/admin/clients', { grant_types: [DEVICE_GRANT], scope: 'openid', token_endpoint_auth_method: 'none', response_types: [] })
      const foreign = await token({ ...params, client_id: other.json.client_id })
      expect(foreign.json.error).toBe('invalid_grant')
    })

    it('refuses a wrong user code with the page again, and a device_code that is unknown', async () => {
      const b = browser(apps, '198.51.100.4')
      const res = await enterCode(b, 'BBBB-BBBB')
      expect(res.status).toBe(400)
      expect(await res.text()).toContain('The code is wrong or has expired')
      // look-alike characters are never part of a code
      expect(normalizeUserCode('B0BB-BBBB', 8)).toBeNull()
      const r = await tokenOf(apps)({ grant_type: DEVICE_GRANT, device_code: 'ory_dc_unknown', client_id: deviceClient })
      expect(r.json.error).toBe('invalid_grant')
      const missing = await tokenOf(apps)({ grant_type: DEVICE_GRANT, client_id: deviceClient })
      expect(missing.json.error).toBe('invalid_request')
    })

    it('refuses a form without its CSRF token', async () => {
      const d = await deviceAuth(apps, { client_id: deviceClient, scope: 'openid' })
      const res = await browser(apps, '198.51.100.5').post(`${api}/oauth2/device/verify`, { csrf_token: 'forged', user_code: d.json.user_code })
      expect(res.status).toBe(403)
    })

    it('refuses device authorization to a client without the grant, and scopes it may not ask for', async () => {
      const cc = await adminOf(apps)('POST', '/admin/clients', { grant_types: ['authorization_code'], response_types: ['code'], redirect_uris: ['http://127.0.0.1/cb'], scope: 'openid', token_endpoint_auth_method: 'none' })
      expect(cc.status).toBe(201)
      expect((await deviceAuth(apps, { client_id: cc.json.client_id })).json.error).toBe('unauthorized_client')
      const scope = await deviceAuth(apps, { client_id: deviceClient, scope: 'admin' })
      expect(scope.status).toBe(400)
      expect(scope.json.error).toBe('invalid_scope')
      expect((await deviceAuth(apps, { client_id: 'nobody' })).status).toBe(401)
    })

    it('limits user-code guessing per client address', async () => {
      const d = await deviceAuth(apps, { client_id: deviceClient, scope: 'openid' })
      const guesser = browser(apps, '203.0.113.66')
      const page = await guesser.get(`${api}/oauth2/device/verify`)
      const csrf = await csrfOf(page)
      const statuses: number[] = []
      for (let i = 0; i < 7; i++) statuses.push((await guesser.post(`${api}/oauth2/device/verify`, { csrf_token: csrf, user_code: 'CCCC-CCCC' })).status)
      expect(statuses.slice(0, 5)).toEqual([400, 400, 400, 400, 400])
      expect(statuses.slice(5)).toEqual([429, 429])
      // even the right code waits now; another address is not affected
      const blocked = await guesser.post(`${api}/oauth2/device/verify`, { csrf_token: csrf, user_code: d.json.user_code })
      expect(blocked.status).toBe(429)
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0)
      expect((await enterCode(browser(apps, '203.0.113.67'), d.json.user_code)).status).toBe(303)
    })

    it("works with an external device page through Hydra's device challenge and acceptUserCodeRequest", async () => {
      const d = await deviceAuth(short, { client_id: deviceClient, scope: 'openid' })
      const b = browser(short, '198.51.100.7')
      const first = await b.get(`${api}/oauth2/device/verify?user_code=${d.json.user_code}`)
      expect(first.status).toBe(303)
      expect(first.headers.get('location')!.startsWith(`${DEVICE_UI}?`)).toBe(true)
      const challenge = param(first, 'device_challenge')
      expect(param(first, 'user_code')).toBe(d.json.user_code)
      const admin = adminOf(short)
      const wrong = await admin('PUT', `/admin/oauth2/auth/requests/device/accept?device_challenge=${encodeURIComponent(challenge)}`, { user_code: 'BBBB-BBBB' })
      expect(wrong.status).toBe(400)
      expect(wrong.json.error.code).toBe(400)
      expect((await admin('PUT', '/admin/oauth2/auth/requests/device/accept?device_challenge=forged.value', { user_code: d.json.user_code })).status).toBe(400)
      const ok = await admin('PUT', `/admin/oauth2/auth/requests/device/accept?device_challenge=${encodeURIComponent(challenge)}`, { user_code: d.json.user_code })
      expect(ok.status).toBe(200)
      const to = new URL(ok.json.redirect_to)
      expect(to.pathname).toBe('/oauth2/device/verify')
      expect(to.searchParams.get('client_id')).toBe(deviceClient)
      // another browser cannot use the verifier (the device CSRF cookie)
      expect((await browser(short, '198.51.100.8').get(ok.json.redirect_to)).status).toBe(403)
      const { end } = await loginAndConsent(short, b, await b.get(ok.json.redirect_to))
      expect(end.status).toBe(303)
      const r = await tokenOf(short)({ grant_type: DEVICE_GRANT, device_code: d.json.device_code, client_id: deviceClient })
      expect(r.status).toBe(200)
    })

    it('answers expired_token for an expired device code, and refuses its user code', async () => {
      const d = await deviceAuth(short, { client_id: deviceClient, scope: 'openid' })
      expect(d.json.expires_in).toBe(2)
      await sleep(2100)
      const r = await tokenOf(short)({ grant_type: DEVICE_GRANT, device_code: d.json.device_code, client_id: deviceClient })
      expect(r.status).toBe(400)
      expect(r.json.error).toBe('expired_token')
      const ch = await browser(short, '198.51.100.9').get(`${api}/oauth2/device/verify`)
      const accept = await adminOf(short)('PUT', `/admin/oauth2/auth/requests/device/accept?device_challenge=${encodeURIComponent(param(ch, 'device_challenge'))}`, { user_code: d.json.user_code })
      expect(accept.status).toBe(400)
      expect((await enterCode(browser(apps, '198.51.100.10'), d.json.user_code)).status).toBe(400)
    })

    it('lists consent sessions page by page with Ory\'s Link header (page_size, page_token)', async () => {
      const admin = adminOf(apps)
      const all = await admin('GET', '/admin/oauth2/auth/sessions/consent?subject=tv-user')
      expect(all.json.length).toBeGreaterThanOrEqual(3)
      const seen: string[] = []
      let next: string | undefined = '/admin/oauth2/auth/sessions/consent?subject=tv-user&page_size=2'
      while (next) {
        const res = await apps.admin.handle(new Request(`http://admin${next}`))
        const body = (await res.json()) as any[]
        expect(body.length).toBeLessThanOrEqual(2)
        seen.push(...body.map((s) => s.consent_request_id))
        const link = res.headers.get('link')!
        expect(link).toContain('rel="first"')
        next = /<([^>]+)>; rel="next"/.exec(link)?.[1]
      }
      expect(seen).toEqual(all.json.map((s: any) => s.consent_request_id))
      const forged = await admin('GET', '/admin/oauth2/auth/sessions/consent?subject=tv-user&page_size=2&page_token=forged')
      expect(forged.status).toBe(400)
      expect((await admin('GET', '/admin/oauth2/auth/sessions/consent?subject=tv-user&page_size=0')).status).toBe(400)
    })
  })
}

/**
 * The OpenID Foundation's Basic OP certification plan (oidcc-basic-certification-test-plan, response_type=code,
 * client_secret_basic), module by module: the plan's suite cannot run here, so each module's behaviour is ported
 * from its description and named exactly as the module. One place for the whole named set (the oauth2 plugin's
 * own suites keep their Hydra-SDK and security tests; this file is where the module names live).
 *
 * The login is the real one: the identity plugin's browser login flow (password), driven in-process with a cookie
 * jar (no browser), the consent on the plugin's own page. On SQLite and PostgreSQL.
 *
 * Time: `oidcc-codereuse-30seconds` does not sleep 30 s. The plugin judges a code by the rows it stored, so the
 * test moves the redeemed code's `issued_at` and `used_at` 30 s into the past in storage (what 30 s of waiting
 * would have made them) before the second redemption. `oidcc-max-age-1` waits 1.1 s, as the module does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose'
import { ScopedDb, sql } from 'tessera'
import { identity } from '../../plugins/identity/index.ts'
import { oauth2 } from '../../plugins/oauth2/index.ts'
import { password } from '../../plugins/password/index.ts'
import { bootApps, type TestApps } from '../helpers/app.ts'
import { type ScratchDatabase, drivers } from '../helpers/databases.ts'
import { quickstartSchema } from '../helpers/identity.ts'

const ISSUER = 'https://op.example.com'
const UI = 'http://ui.test'
const RP = 'https://rp.example.com/callback'
const EMAIL = 'conformance@example.com'
const PASSWORD = 'correct horse battery staple'
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

for (const driver of drivers('oidcc-basic')) {
  describe.skipIf(!driver.enabled)(`OpenID Connect Basic OP certification modules (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: TestApps
    let client: { id: string; secret: string }
    let userId: string

    /** A browser: a cookie jar over the public listener; follows the OP's own redirects, stops at the RP or the UI. */
    function browser() {
      const jar = new Map<string, string>()
      const send = async (url: string, init: RequestInit = {}) => {
        const headers = new Headers(init.headers)
        if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '))
        const res = await apps.public.handle(new Request(url, { ...init, headers }))
        for (const c of res.headers.getSetCookie()) {
          const [pair, ...attrs] = c.split(';')
          const i = pair!.indexOf('=')
          if (attrs.some((a) => /^\s*max-age=0\s*$/i.test(a))) jar.delete(pair!.slice(0, i))
          else jar.set(pair!.slice(0, i), pair!.slice(i + 1))
        }
        return res
      }
      /** Follow redirects that stay on the OP; the last response (a page, or a redirect to the RP or the UI). */
      const go = async (url: string, init: RequestInit = {}) => {
        let res = await send(url, init)
        for (let hops = 0; hops < 10 && (res.status === 302 || res.status === 303); hops++) {
          const next = new URL(res.headers.get('location')!, url).toString()
          if (!next.startsWith(ISSUER)) return res
          url = next
          res = await send(url)
        }
        return res
      }
      return { jar, send, go }
    }
    type Browser = ReturnType<typeof browser>

    /** The identity login (password) the OP sent the browser to: the UI would render the flow; we submit it. */
    async function signIn(b: Browser, atUi: Response): Promise<Response> {
      const loc = new URL(atUi.headers.get('location')!)
      expect(loc.origin).toBe(UI)
      const flowId = loc.searchParams.get('flow')!
      const flow = (await (await b.send(`${ISSUER}/self-service/login/flows?id=${flowId}`)).json()) as { ui: { action: string; nodes: { attributes: { name: string; value?: string } }[] } }
      const csrf = flow.ui.nodes.find((n) => n.attributes.name === 'csrf_token')!.attributes.value!
      const form = new URLSearchParams({ csrf_token: csrf, method: 'password', identifier: EMAIL, password: PASSWORD })
      return b.go(flow.ui.action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form })
    }

    /** Allow on the plugin's consent page, remembering the decision (so that prompt=none can follow). */
    async function consent(b: Browser, page: Response): Promise<Response> {
      expect(page.status).toBe(200)
      const html = await page.text()
      const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)![1]!
      const form = new URLSearchParams({ consent_challenge: field('consent_challenge'), csrf_token: field('csrf_token'), decision: 'accept', remember: 'true' })
      return b.go(`${ISSUER}/oauth2/consent`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form })
    }

    const authUrl = (params: Record<string, string>) => `${ISSUER}/oauth2/auth?${new URLSearchParams(params)}`
    const params = (extra: Record<string, string> = {}) => ({ client_id: client.id, response_type: 'code', redirect_uri: RP, scope: 'openid', state: crypto.randomUUID(), nonce: crypto.randomUUID(), ...extra })

    /**
     * One authorization as the conformance suite's browser makes it: through the login when the OP asks for one
     * (`loggedIn` says whether it did), through the consent page when it shows one; the redirect to the RP.
     */
    async function authorize(b: Browser, p: Record<string, string>): Promise<{ back: URL; loggedIn: boolean }> {
      let res = await b.go(authUrl(p))
      let loggedIn = false
      if (res.status === 303 && res.headers.get('location')!.startsWith(UI)) {
        res = await signIn(b, res)
        loggedIn = true
      }
      if (res.status === 200) res = await consent(b, res)
      expect(res.status).toBe(303)
      const back = new URL(res.headers.get('location')!)
      expect(back.origin + back.pathname).toBe(RP)
      expect(back.searchParams.get('state')).toBe(p.state ?? null)
      return { back, loggedIn }
    }

    async function token(form: Record<string, string>) {
      const res = await apps.public.handle(new Request(`${ISSUER}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.id, client.secret) }, body: new URLSearchParams(form) }))
      return { status: res.status, json: (await res.json()) as Record<string, any> }
    }
    async function jwks() {
      return createLocalJWKSet((await (await apps.public.handle(new Request(`${ISSUER}/.well-known/jwks.json`))).json()) as never)
    }
    /** OpenID Connect Core §3.1.3.7: what the suite checks of every ID token. */
    async function validIdToken(idToken: string, nonce?: string) {
      const { payload, protectedHeader } = await jwtVerify(idToken, await jwks(), { issuer: ISSUER, audience: client.id })
      expect(typeof payload.iat).toBe('number')
      expect(payload.exp! > payload.iat!).toBe(true)
      expect(payload.sub).toBe(userId)
      if (nonce !== undefined) expect(payload.nonce).toBe(nonce)
      return { payload, protectedHeader }
    }
    /** A code for a browser that has (or gets) a session, exchanged: tokens and the request's nonce. */
    async function codeFlow(b: Browser, extra: Record<string, string> = {}) {
      const p = params(extra)
      const { back, loggedIn } = await authorize(b, p)
      const code = back.searchParams.get('code')!
      if (!code) throw new Error(`no code: ${back}`)
      const t = await token({ grant_type: 'authorization_code', code, redirect_uri: RP })
      expect(t.status).toBe(200)
      return { code, tokens: t.json, nonce: p.nonce, loggedIn }
    }
    async function userinfo(init: RequestInit) {
      const res = await apps.public.handle(new Request(`${ISSUER}/userinfo`, init))
      return { status: res.status, json: (await res.json()) as Record<string, any> }
    }

    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps(
        [
          identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: { uiUrl: UI, defaultReturnUrl: `${UI}/` } }),
          password({ hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } }),
          oauth2({ rateLimit: { perSecond: 1000, burst: 1000 } }),
        ],
        { database: scratch.db, config: { serve: { public: { baseUrl: ISSUER } } } as never },
      )
      const admin = async (path: string, body: unknown) => (await apps.admin.handle(new Request(`http://admin${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }))).json() as Promise<any>
      const person = await admin('/admin/identities', { schema_id: 'default', traits: { email: EMAIL, name: { first: 'Ada', last: 'Lovelace' } }, credentials: { password: { config: { password: PASSWORD } } } })
      userId = person.id
      const c = await admin('/admin/clients', { client_name: 'conformance RP', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], scope: 'openid offline_access profile email', redirect_uris: [RP], token_endpoint_auth_method: 'client_secret_basic' })
      client = { id: c.client_id, secret: c.client_secret }
    })
    afterAll(async () => {
      await apps?.kernel.stop()
      await scratch?.drop()
    })

    it('oidcc-server', async () => {
      // the happy path: discovery, login, consent, code, token, ID token, userinfo
      const d = (await (await apps.public.handle(new Request(`${ISSUER}/.well-known/openid-configuration`))).json()) as Record<string, any>
      expect(d.issuer).toBe(ISSUER)
      expect(d.response_types_supported).toContain('code')
      expect(d.id_token_signing_alg_values_supported).toContain('RS256')
      expect(d.token_endpoint_auth_methods_supported).toContain('client_secret_basic')
      const b = browser()
      const { tokens, nonce, loggedIn } = await codeFlow(b)
      expect(loggedIn).toBe(true)
      expect(tokens.token_type.toLowerCase()).toBe('bearer')
      expect(typeof tokens.expires_in).toBe('number')
      const { payload } = await validIdToken(tokens.id_token, nonce)
      expect(payload.at_hash).toBeTruthy()
      const info = await userinfo({ headers: { authorization: `Bearer ${tokens.access_token}` } })
      expect(info.status).toBe(200)
      expect(info.json.sub).toBe(payload.sub)
    })

    it('oidcc-response-type-missing', async () => {
      // no response_type: an error to the redirect URI (or an error page), never a code
      const p = params()
      const { response_type: _, ...rest } = p
      const res = await browser().go(authUrl(rest))
      expect(res.status).toBe(303)
      const back = new URL(res.headers.get('location')!)
      expect(back.origin + back.pathname).toBe(RP)
      expect(back.searchParams.get('error')).toBe('invalid_request')
      expect(back.searchParams.get('state')).toBe(p.state)
      expect(back.searchParams.get('code')).toBeNull()
    })

    it('oidcc-ensure-registered-redirect-uri', async () => {
      // an unregistered redirect_uri: the OP shows an error page and must not redirect to it
      const res = await browser().go(authUrl(params({ redirect_uri: 'https://attacker.example.com/callback' })))
      expect(res.status).toBe(400)
      expect(res.headers.get('location')).toBeNull()
      expect(res.headers.get('content-type')).toContain('text/html')
      expect(await res.text()).toContain('redirect')
    })

    it('oidcc-codereuse', async () => {
      const { code, tokens } = await codeFlow(browser())
      const again = await token({ grant_type: 'authorization_code', code, redirect_uri: RP })
      expect(again.status).toBe(400)
      expect(again.json.error).toBe('invalid_grant')
      // RFC 6749 §4.1.2 (SHOULD): what the first redemption issued is revoked
      expect((await userinfo({ headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(401)
    })

    it('oidcc-codereuse-30seconds', async () => {
      const { code, tokens } = await codeFlow(browser())
      expect((await userinfo({ headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(200)
      // 30 s pass: the redeemed code's stored times move back by 30 s (see the file's header)
      const db = new ScopedDb('default', scratch.db)
      const sig = new Bun.CryptoHasher('sha256').update(code).digest('hex')
      const row = await db.one<{ issued_at: Date; used_at: Date }>(sql`SELECT issued_at, used_at FROM oauth2_authorization_codes WHERE nid = ${db.nid} AND signature = ${sig}`)
      expect(row?.used_at).toBeTruthy()
      const moved = await db.exec(sql`UPDATE oauth2_authorization_codes SET issued_at = ${new Date(row!.issued_at.getTime() - 30_000)}, used_at = ${new Date(row!.used_at.getTime() - 30_000)} WHERE nid = ${db.nid} AND signature = ${sig}`)
      expect(moved.rowCount).toBe(1)
      const again = await token({ grant_type: 'authorization_code', code, redirect_uri: RP })
      expect(again.status).toBe(400)
      expect(again.json.error).toBe('invalid_grant')
      expect((await userinfo({ headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(401)
    })

    it('oidcc-prompt-none-not-logged-in', async () => {
      const p = params({ prompt: 'none' })
      const res = await browser().go(authUrl(p))
      expect(res.status).toBe(303)
      const back = new URL(res.headers.get('location')!)
      expect(back.origin + back.pathname).toBe(RP)
      expect(['login_required', 'interaction_required', 'consent_required', 'account_selection_required']).toContain(back.searchParams.get('error')!)
      expect(back.searchParams.get('state')).toBe(p.state)
      expect(back.searchParams.get('code')).toBeNull()
    })

    it('oidcc-prompt-login', async () => {
      const b = browser()
      const first = await codeFlow(b)
      const t1 = (await validIdToken(first.tokens.id_token)).payload
      await Bun.sleep(1100)
      // with a session, prompt=login must make the user log in again: a later auth_time
      const second = await codeFlow(b, { prompt: 'login' })
      expect(second.loggedIn).toBe(true)
      const t2 = (await validIdToken(second.tokens.id_token, second.nonce)).payload
      expect(t2.auth_time!).toBeGreaterThan(t1.auth_time as number)
      // and without prompt=login the session is used: no login
      expect((await codeFlow(b)).loggedIn).toBe(false)
    })

    it('oidcc-max-age-1', async () => {
      const b = browser()
      const first = await codeFlow(b)
      const t1 = (await validIdToken(first.tokens.id_token)).payload
      await Bun.sleep(1100)
      const second = await codeFlow(b, { max_age: '1' })
      expect(second.loggedIn).toBe(true)
      const t2 = (await validIdToken(second.tokens.id_token, second.nonce)).payload
      // OpenID Connect Core §3.1.2.1: max_age makes auth_time REQUIRED
      expect(typeof t2.auth_time).toBe('number')
      expect(t2.auth_time!).toBeGreaterThan(t1.auth_time as number)
    })

    it('oidcc-id-token-hint', async () => {
      const b = browser()
      const first = await codeFlow(b)
      const t1 = (await validIdToken(first.tokens.id_token)).payload
      // prompt=none with the ID token as the hint: no interaction, a code for the same user
      const second = await codeFlow(b, { prompt: 'none', id_token_hint: first.tokens.id_token })
      expect(second.loggedIn).toBe(false)
      const t2 = (await validIdToken(second.tokens.id_token, second.nonce)).payload
      expect(t2.sub).toBe(t1.sub!)
    })

    it('oidcc-nonce-invalid', async () => {
      // the ID token carries exactly the request's nonce, so an RP holding another nonce (a replay) refuses it;
      // two requests with the same nonce value each get it back (the OP does not invent or reuse one)
      const b = browser()
      const sent = 'nonce-' + crypto.randomUUID()
      const first = await codeFlow(b, { nonce: sent })
      expect((await validIdToken(first.tokens.id_token, sent)).payload.nonce).toBe(sent)
      expect(decodeJwt(first.tokens.id_token).nonce).not.toBe('another-nonce')
      const other = await codeFlow(b, { nonce: 'another-nonce' })
      expect(decodeJwt(other.tokens.id_token).nonce).toBe('another-nonce')
      // a nonce is echoed byte for byte, whatever its characters
      const odd = 'n 1&=ä/+'
      expect(decodeJwt((await codeFlow(b, { nonce: odd })).tokens.id_token).nonce).toBe(odd)
    })

    it('oidcc-refresh-token', async () => {
      const { tokens } = await codeFlow(browser(), { scope: 'openid offline_access' })
      expect(tokens.refresh_token).toBeTruthy()
      const t1 = (await validIdToken(tokens.id_token)).payload
      const r = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token })
      expect(r.status).toBe(200)
      expect(r.json.access_token).not.toBe(tokens.access_token)
      // OpenID Connect Core §12.2: the refreshed ID token has the same iss, sub, aud, auth_time; no nonce
      const t2 = (await validIdToken(r.json.id_token)).payload
      expect(t2.iss).toBe(t1.iss!)
      expect(t2.sub).toBe(t1.sub!)
      expect(t2.aud).toEqual(t1.aud!)
      expect(t2.auth_time).toBe(t1.auth_time!)
      expect(t2.nonce).toBeUndefined()
      expect((await userinfo({ headers: { authorization: `Bearer ${r.json.access_token}` } })).status).toBe(200)
      // the refresh token rotated: the old one is refused
      const replay = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token })
      expect(replay.status).toBe(400)
      expect(replay.json.error).toBe('invalid_grant')
      // another client cannot use this client's refresh token
      const res = await apps.admin.handle(new Request('http://admin/admin/clients', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], scope: 'openid offline_access', redirect_uris: [RP] }) }))
      const other = (await res.json()) as { client_id: string; client_secret: string }
      const foreign = await apps.public.handle(new Request(`${ISSUER}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(other.client_id, other.client_secret) }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: r.json.refresh_token }) }))
      expect(foreign.status).toBe(400)
    })

    it('oidcc-userinfo-get', async () => {
      const { tokens } = await codeFlow(browser())
      const info = await userinfo({ headers: { authorization: `Bearer ${tokens.access_token}` } })
      expect(info.status).toBe(200)
      expect(info.json.sub).toBe(userId)
    })

    it('oidcc-userinfo-post-header', async () => {
      const { tokens } = await codeFlow(browser())
      const info = await userinfo({ method: 'POST', headers: { authorization: `Bearer ${tokens.access_token}` } })
      expect(info.status).toBe(200)
      expect(info.json.sub).toBe(userId)
    })

    it('oidcc-userinfo-post-body', async () => {
      const { tokens } = await codeFlow(browser())
      const info = await userinfo({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ access_token: tokens.access_token }) })
      expect(info.status).toBe(200)
      expect(info.json.sub).toBe(userId)
    })

    it('oidcc-ensure-request-without-nonce-succeeds-for-code-flow', async () => {
      const b = browser()
      const p = params()
      delete (p as Partial<typeof p>).nonce
      const { back } = await authorize(b, p)
      const t = await token({ grant_type: 'authorization_code', code: back.searchParams.get('code')!, redirect_uri: RP })
      expect(t.status).toBe(200)
      const { payload } = await validIdToken(t.json.id_token)
      expect(payload.nonce).toBeUndefined()
    })

    it('oidcc-scope-profile', async () => {
      const { tokens } = await codeFlow(browser(), { scope: 'openid profile' })
      expect(tokens.scope.split(' ')).toContain('profile')
      const info = await userinfo({ headers: { authorization: `Bearer ${tokens.access_token}` } })
      expect(info.json).toMatchObject({ sub: userId, name: 'Ada Lovelace', given_name: 'Ada', family_name: 'Lovelace' })
      expect(info.json.email).toBeUndefined()
    })

    it('oidcc-scope-email', async () => {
      const { tokens } = await codeFlow(browser(), { scope: 'openid email' })
      const info = await userinfo({ headers: { authorization: `Bearer ${tokens.access_token}` } })
      expect(info.json).toMatchObject({ sub: userId, email: EMAIL, email_verified: false })
      expect(info.json.name).toBeUndefined()
    })

    it('oidcc-idtoken-rs256', async () => {
      const { tokens, nonce } = await codeFlow(browser())
      expect(decodeProtectedHeader(tokens.id_token).alg).toBe('RS256')
      const { protectedHeader } = await validIdToken(tokens.id_token, nonce)
      expect(protectedHeader.alg).toBe('RS256')
      expect(protectedHeader.kid).toBeTruthy()
    })

    it('oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported', async () => {
      // a request object with alg none: either honoured exactly, or refused with request_not_supported — here refused
      const p = params()
      const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify({ ...p, iss: client.id, aud: ISSUER })).toString('base64url')}.`
      const res = await browser().go(authUrl({ ...p, request: unsigned }))
      expect(res.status).toBe(303)
      const back = new URL(res.headers.get('location')!)
      expect(back.origin + back.pathname).toBe(RP)
      expect(back.searchParams.get('error')).toBe('request_not_supported')
      expect(back.searchParams.get('state')).toBe(p.state)
      expect(back.searchParams.get('code')).toBeNull()
      const d = (await (await apps.public.handle(new Request(`${ISSUER}/.well-known/openid-configuration`))).json()) as Record<string, any>
      expect(d.request_parameter_supported).toBe(false)
    })
  })
}

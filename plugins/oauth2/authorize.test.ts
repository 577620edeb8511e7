/**
 * The authorization code flow with an external login and consent app written against Hydra's SDK
 * (@ory/client-fetch OAuth2Api), on SQLite and PostgreSQL: /oauth2/auth, the challenge API, the code exchange,
 * ID tokens, userinfo, consent sessions — and the security checks, each naming its source
 * (../shared/reference/security-checklist.md, RFC 9700, RFC 6749, RFC 7636, RFC 9207, OpenID Connect Core;
 * the OpenID conformance module names where one applies). The Basic OP certification plan's modules, each as a
 * test named exactly as the module, are in test/conformance/oidcc-basic.test.ts (identity login); the checks here
 * are the same rules with an external, Hydra-style login and consent app.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { Configuration, OAuth2Api, ResponseError } from '@ory/client-fetch'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { bootApps, type TestApps } from '../../test/helpers/app.ts'
import { oauth2 } from './index.ts'

const ISSUER = 'https://auth.example.com'
const APP = 'https://app.example.com/callback'
// RFC 7636 Appendix B
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

for (const driver of drivers('oauth2-authorize')) {
  describe.skipIf(!driver.enabled)(`oauth2 authorization code flow (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: TestApps
    let api: OAuth2Api
    const events: { name: string; payload: any }[] = []
    let confidential: { id: string; secret: string }
    let pub: string

    /** A browser: a cookie jar over the public listener, no automatic redirects. */
    function browser() {
      const jar = new Map<string, string>()
      return {
        jar,
        async get(url: string) {
          const res = await apps.public.handle(new Request(url, { headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } }))
          for (const c of res.headers.getSetCookie()) {
            const [pair] = c.split(';')
            const i = pair!.indexOf('=')
            jar.set(pair!.slice(0, i), pair!.slice(i + 1))
          }
          return res
        },
      }
    }
    const authUrl = (params: Record<string, string>) => `${ISSUER}/oauth2/auth?${new URLSearchParams(params)}`
    const codeParams = (extra: Record<string, string> = {}) => ({ client_id: confidential.id, response_type: 'code', redirect_uri: APP, scope: 'openid offline_access email', state: 'st&=ä 1', nonce: 'n-0S6_WzA2Mj', ...extra })
    const challengeOf = (res: Response, name: string) => new URL(res.headers.get('location')!).searchParams.get(name)!

    async function tokenCall(params: Record<string, string>, auth?: { id: string; secret: string }) {
      const res = await apps.public.handle(new Request(`${ISSUER}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...(auth ? { authorization: basic(auth.id, auth.secret) } : {}) }, body: new URLSearchParams(params) }))
      return { status: res.status, json: (await res.json()) as any }
    }
    async function introspect(token: string) {
      const res = await apps.admin.handle(new Request('http://admin/admin/oauth2/introspect', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }) }))
      return (await res.json()) as any
    }

    /** Through login and consent with the SDK, to the redirect that carries the code. */
    async function authorize(b: ReturnType<typeof browser>, params: Record<string, string>, opts: { remember?: boolean; subject?: string } = {}) {
      let res = await b.get(authUrl(params))
      expect(res.status).toBe(303)
      expect(res.headers.get('location')!.startsWith('https://login.example.com/login?')).toBe(true)
      const login = challengeOf(res, 'login_challenge')
      const lr = await api.getOAuth2LoginRequest({ loginChallenge: login })
      const accepted = await api.acceptOAuth2LoginRequest({ loginChallenge: login, acceptOAuth2LoginRequest: { subject: opts.subject ?? 'user-1', remember: opts.remember ?? false, acr: 'aal1', amr: ['pwd'] } })
      res = await b.get(accepted.redirect_to)
      expect(res.status).toBe(303)
      const consent = challengeOf(res, 'consent_challenge')
      const cr = await api.getOAuth2ConsentRequest({ consentChallenge: consent })
      const done = await api.acceptOAuth2ConsentRequest({ consentChallenge: consent, acceptOAuth2ConsentRequest: { grant_scope: cr.requested_scope, grant_access_token_audience: cr.requested_access_token_audience, remember: opts.remember ?? false, session: { id_token: { custom: 'yes' } } } })
      res = await b.get(done.redirect_to)
      return { res, lr, cr }
    }

    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps([oauth2({ urls: { login: 'https://login.example.com/login', consent: 'https://login.example.com/consent' }, rateLimit: { perSecond: 1000, burst: 1000 } })], { database: scratch.db, config: { serve: { public: { baseUrl: ISSUER } } } as never })
      for (const name of ['oauth2.consent.granted', 'oauth2.consent.revoked', 'oauth2.token.revoked'] as const) apps.kernel.events.on(name, (payload) => void events.push({ name, payload }))
      api = new OAuth2Api(new Configuration({ basePath: 'http://admin', fetchApi: (input, init) => apps.admin.handle(new Request(input as string, init)) }))
      const c = await api.createOAuth2Client({ oAuth2Client: { client_name: 'web app', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], scope: 'openid offline_access email profile', redirect_uris: [APP] } })
      confidential = { id: c.client_id!, secret: c.client_secret! }
      const p = await api.createOAuth2Client({ oAuth2Client: { client_name: 'native', grant_types: ['authorization_code'], response_types: ['code'], scope: 'openid', redirect_uris: ['http://127.0.0.1/callback', 'com.example.app:/cb'], token_endpoint_auth_method: 'none' } })
      pub = p.client_id!
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    it('goes through Hydra-style login and consent to a code, tokens, an ID token and userinfo', async () => {
      const b = browser()
      const { res, lr, cr } = await authorize(b, codeParams({ code_challenge: CHALLENGE, code_challenge_method: 'S256' }))
      expect(lr.client.client_id).toBe(confidential.id)
      expect((lr.client as any).client_secret).toBeUndefined()
      expect(lr.requested_scope).toEqual(['openid', 'offline_access', 'email'])
      expect(lr.skip).toBe(false)
      expect(cr.subject).toBe('user-1')
      expect(res.status).toBe(303)
      const back = new URL(res.headers.get('location')!)
      expect(back.origin + back.pathname).toBe(APP)
      // state byte-exact, iss (RFC 9207)
      expect(back.searchParams.get('state')).toBe('st&=ä 1')
      expect(back.searchParams.get('iss')).toBe(ISSUER)
      const code = back.searchParams.get('code')!
      const t = await tokenCall({ grant_type: 'authorization_code', code, redirect_uri: APP, code_verifier: VERIFIER }, confidential)
      expect(t.status).toBe(200)
      expect(t.json.refresh_token).toBeTruthy()
      const jwks = await (await apps.public.handle(new Request(`${ISSUER}/.well-known/jwks.json`))).json()
      const { payload, protectedHeader } = await jwtVerify(t.json.id_token, createLocalJWKSet(jwks as never), { issuer: ISSUER, audience: confidential.id })
      expect(protectedHeader.alg).toBe('RS256')
      expect(payload.sub).toBe('user-1')
      expect(payload.nonce).toBe('n-0S6_WzA2Mj')
      expect(payload.azp).toBe(confidential.id)
      expect(payload.acr).toBe('aal1')
      expect(payload.amr).toEqual(['pwd'])
      expect(typeof payload.auth_time).toBe('number')
      expect(typeof payload.sid).toBe('string')
      expect(payload.custom).toBe('yes')
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(t.json.access_token)))
      expect(payload.at_hash).toBe(Buffer.from(digest.slice(0, 16)).toString('base64url'))
      // oidcc-userinfo-get, -post-header, -post-body
      const get = await apps.public.handle(new Request(`${ISSUER}/userinfo`, { headers: { authorization: `Bearer ${t.json.access_token}` } }))
      expect(await get.json()).toEqual({ sub: 'user-1', custom: 'yes' })
      const postHeader = await apps.public.handle(new Request(`${ISSUER}/userinfo`, { method: 'POST', headers: { authorization: `Bearer ${t.json.access_token}` } }))
      expect(postHeader.status).toBe(200)
      const postBody = await apps.public.handle(new Request(`${ISSUER}/userinfo`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ access_token: t.json.access_token }) }))
      expect(((await postBody.json()) as any).sub).toBe('user-1')
      const bad = await apps.public.handle(new Request(`${ISSUER}/userinfo`, { headers: { authorization: 'Bearer ory_at_nope' } }))
      expect(bad.status).toBe(401)
      // a refresh returns a new ID token without the nonce
      const r = await tokenCall({ grant_type: 'refresh_token', refresh_token: t.json.refresh_token }, confidential)
      expect(r.status).toBe(200)
      const refreshed = await jwtVerify(r.json.id_token, createLocalJWKSet(jwks as never), { issuer: ISSUER, audience: confidential.id })
      expect(refreshed.payload.sub).toBe('user-1')
      expect(refreshed.payload.nonce).toBeUndefined()
      expect(events.some((e) => e.name === 'oauth2.consent.granted' && e.payload.subject === 'user-1')).toBe(true)
    })

    it('code reuse (RFC 6749 §4.1.2, RFC 9700 §4.5): a second use of a code is invalid_grant and revokes what the first issued', async () => {
      const { res } = await authorize(browser(), codeParams())
      const code = new URL(res.headers.get('location')!).searchParams.get('code')!
      const first = await tokenCall({ grant_type: 'authorization_code', code, redirect_uri: APP }, confidential)
      expect(first.status).toBe(200)
      expect((await introspect(first.json.access_token)).active).toBe(true)
      const second = await tokenCall({ grant_type: 'authorization_code', code, redirect_uri: APP }, confidential)
      expect(second.status).toBe(400)
      expect(second.json.error).toBe('invalid_grant')
      expect((await introspect(first.json.access_token)).active).toBe(false)
      expect((await introspect(first.json.refresh_token)).active).toBe(false)
    })

    it('binds a code to its client and redirect URI (RFC 6749 §4.1.3)', async () => {
      const { res } = await authorize(browser(), codeParams())
      const code = new URL(res.headers.get('location')!).searchParams.get('code')!
      const wrongUri = await tokenCall({ grant_type: 'authorization_code', code, redirect_uri: 'https://app.example.com/other' }, confidential)
      expect(wrongUri.json.error).toBe('invalid_grant')
      const other = await api.createOAuth2Client({ oAuth2Client: { grant_types: ['authorization_code'], response_types: ['code'], scope: 'openid', redirect_uris: [APP] } })
      const wrongClient = await tokenCall({ grant_type: 'authorization_code', code, redirect_uri: APP }, { id: other.client_id!, secret: other.client_secret! })
      expect(wrongClient.json.error).toBe('invalid_grant')
    })

    it('PKCE (RFC 7636 §4.6, RFC 9700 §4.8.2): a wrong verifier, a missing one and a downgrade are refused', async () => {
      const withChallenge = async () => new URL((await authorize(browser(), codeParams({ code_challenge: CHALLENGE, code_challenge_method: 'S256' }))).res.headers.get('location')!).searchParams.get('code')!
      let code = await withChallenge()
      expect((await tokenCall({ grant_type: 'authorization_code', code, redirect_uri: APP, code_verifier: 'x'.repeat(43) }, confidential)).json.error).toBe('invalid_grant')
      code = await withChallenge()
      expect((await tokenCall({ grant_type: 'authorization_code', code, redirect_uri: APP }, confidential)).json.error).toBe('invalid_grant')
      // a code issued without a challenge does not take a verifier (downgrade)
      code = new URL((await authorize(browser(), codeParams())).res.headers.get('location')!).searchParams.get('code')!
      expect((await tokenCall({ grant_type: 'authorization_code', code, redirect_uri: APP, code_verifier: VERIFIER }, confidential)).json.error).toBe('invalid_grant')
    })

    it('PKCE: a public client must send an S256 challenge; plain is refused (RFC 9700 §2.1.1)', async () => {
      const b = browser()
      let res = await b.get(authUrl({ client_id: pub, response_type: 'code', redirect_uri: 'http://127.0.0.1/callback', scope: 'openid', state: 's' }))
      let back = new URL(res.headers.get('location')!)
      expect(back.searchParams.get('error')).toBe('invalid_request')
      expect(back.searchParams.get('state')).toBe('s')
      res = await b.get(authUrl({ client_id: pub, response_type: 'code', redirect_uri: 'http://127.0.0.1/callback', scope: 'openid', code_challenge: VERIFIER, code_challenge_method: 'plain' }))
      back = new URL(res.headers.get('location')!)
      expect(back.searchParams.get('error')).toBe('invalid_request')
      res = await b.get(authUrl({ client_id: pub, response_type: 'code', redirect_uri: 'http://127.0.0.1/callback', scope: 'openid', code_challenge: CHALLENGE, code_challenge_method: 'S256' }))
      expect(res.headers.get('location')!.startsWith('https://login.example.com/login?')).toBe(true)
    })

    it('security checklist / RFC 9700 §4.1.3: redirect URIs match exactly; an unknown one or an unknown client gets an error page, never a redirect', async () => {
      const b = browser()
      for (const uri of ['https://app.example.com/callback/', 'https://app.example.com/callback?x=1', 'https://app.example.com/callbackx', 'https://APP.example.com/callback', 'https://app.example.com.evil.com/callback', 'https://app.example.com/callback#f', 'https://evil.com/?https://app.example.com/callback', 'http://app.example.com/callback']) {
        const res = await b.get(authUrl(codeParams({ redirect_uri: uri })))
        expect(res.status).toBe(400)
        expect(res.headers.get('location')).toBeNull()
        expect(res.headers.get('content-type')).toContain('text/html')
      }
      const unknown = await b.get(authUrl(codeParams({ client_id: 'nobody' })))
      expect(unknown.status).toBe(400)
      expect(unknown.headers.get('location')).toBeNull()
      // oidcc-ensure-registered-redirect-uri: a missing redirect_uri with one registered URI is that URI
      const none = await b.get(authUrl({ client_id: confidential.id, response_type: 'code', scope: 'openid' }))
      expect(none.headers.get('location')!.startsWith('https://login.example.com/')).toBe(true)
    })

    it('RFC 8252 §7.3: loopback redirect URIs of a native client match on any port, and only loopback IP literals', async () => {
      const b = browser()
      const ok = await b.get(authUrl({ client_id: pub, response_type: 'code', redirect_uri: 'http://127.0.0.1:51004/callback', scope: 'openid', code_challenge: CHALLENGE, code_challenge_method: 'S256' }))
      expect(ok.status).toBe(303)
      expect(ok.headers.get('location')!.startsWith('https://login.example.com/')).toBe(true)
      for (const uri of ['http://localhost:51004/callback', 'http://127.0.0.1:51004/other', 'http://127.0.0.2:51004/callback']) {
        const res = await b.get(authUrl({ client_id: pub, response_type: 'code', redirect_uri: uri, scope: 'openid', code_challenge: CHALLENGE, code_challenge_method: 'S256' }))
        expect(res.status).toBe(400)
      }
    })

    it('a missing response type, implicit refused (RFC 9700 §2.1.2), unsupported request objects: errors at the redirect URI with state and iss', async () => {
      const b = browser()
      const cases: [Record<string, string>, string][] = [
        [{ response_type: '' }, 'invalid_request'],
        [{ response_type: 'token' }, 'unsupported_response_type'],
        [{ response_type: 'id_token token' }, 'unsupported_response_type'],
        // oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported: alg none (and every other) request object
        [{ request: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' }, 'request_not_supported'],
        [{ request_uri: 'https://evil.example.com/r' }, 'request_uri_not_supported'],
        [{ scope: 'openid admin' }, 'invalid_scope'],
        [{ prompt: 'none login' }, 'invalid_request'],
      ]
      for (const [extra, error] of cases) {
        const res = await b.get(authUrl(codeParams(extra)))
        expect(res.status).toBe(303)
        const back = new URL(res.headers.get('location')!)
        expect(back.searchParams.get('error')).toBe(error)
        expect(back.searchParams.get('state')).toBe('st&=ä 1')
        expect(back.searchParams.get('iss')).toBe(ISSUER)
      }
      const password = await tokenCall({ grant_type: 'password', username: 'a', password: 'b' }, confidential)
      expect(password.json.error).toBe('unsupported_grant_type')
    })

    it('prompt=none without a login is login_required', async () => {
      const res = await browser().get(authUrl(codeParams({ prompt: 'none' })))
      expect(new URL(res.headers.get('location')!).searchParams.get('error')).toBe('login_required')
    })

    it('remembers a login (skip, same subject enforced) until prompt=login or max_age demands a new one', async () => {
      const b = browser()
      await authorize(b, codeParams(), { remember: true, subject: 'user-r' })
      let res = await b.get(authUrl(codeParams()))
      let lr = await api.getOAuth2LoginRequest({ loginChallenge: challengeOf(res, 'login_challenge') })
      expect(lr.skip).toBe(true)
      expect(lr.subject).toBe('user-r')
      const wrong = (await api.acceptOAuth2LoginRequest({ loginChallenge: challengeOf(res, 'login_challenge'), acceptOAuth2LoginRequest: { subject: 'someone-else' } }).catch((e) => e)) as ResponseError
      expect(wrong.response.status).toBe(400)
      // oidcc-prompt-login
      res = await b.get(authUrl(codeParams({ prompt: 'login' })))
      lr = await api.getOAuth2LoginRequest({ loginChallenge: challengeOf(res, 'login_challenge') })
      expect(lr.skip).toBe(false)
      // oidcc-max-age-1
      await Bun.sleep(1100)
      res = await b.get(authUrl(codeParams({ max_age: '0' })))
      lr = await api.getOAuth2LoginRequest({ loginChallenge: challengeOf(res, 'login_challenge') })
      expect(lr.skip).toBe(false)
    })

    it('a verifier works once, and only in the browser that started the flow (login CSRF)', async () => {
      const b = browser()
      const res = await b.get(authUrl(codeParams()))
      const login = challengeOf(res, 'login_challenge')
      const accepted = await api.acceptOAuth2LoginRequest({ loginChallenge: login, acceptOAuth2LoginRequest: { subject: 'user-1' } })
      const other = await browser().get(accepted.redirect_to)
      expect(other.status).toBe(400)
      expect((await b.get(accepted.redirect_to)).status).toBe(303)
      expect((await b.get(accepted.redirect_to)).status).toBe(400)
      const gone = await apps.admin.handle(new Request(`http://admin/admin/oauth2/auth/requests/login?login_challenge=${login}`))
      expect(gone.status).toBe(410)
      expect(((await gone.json()) as any).redirect_to).toBeTruthy()
    })

    it('a rejected login or consent reaches the client as access_denied', async () => {
      const b = browser()
      const res = await b.get(authUrl(codeParams()))
      const r = await api.rejectOAuth2LoginRequest({ loginChallenge: challengeOf(res, 'login_challenge'), rejectOAuth2Request: { error: 'access_denied', error_description: 'no' } })
      const back = new URL((await b.get(r.redirect_to)).headers.get('location')!)
      expect(back.searchParams.get('error')).toBe('access_denied')
      expect(back.searchParams.get('state')).toBe('st&=ä 1')
    })

    it('lists and revokes consent sessions; revoking a consent revokes its tokens', async () => {
      const { res } = await authorize(browser(), codeParams(), { remember: true, subject: 'user-c' })
      const code = new URL(res.headers.get('location')!).searchParams.get('code')!
      const t = await tokenCall({ grant_type: 'authorization_code', code, redirect_uri: APP }, confidential)
      const refreshed = await tokenCall({ grant_type: 'refresh_token', refresh_token: t.json.refresh_token }, confidential)
      const sessions = await api.listOAuth2ConsentSessions({ subject: 'user-c' })
      expect(sessions.length).toBe(1)
      expect(sessions[0]!.grant_scope).toEqual(['openid', 'offline_access', 'email'])
      expect(sessions[0]!.consent_request!.client!.client_id).toBe(confidential.id)
      await api.revokeOAuth2ConsentSessions({ subject: 'user-c', client: confidential.id })
      expect(await api.listOAuth2ConsentSessions({ subject: 'user-c' })).toEqual([])
      expect((await introspect(refreshed.json.access_token)).active).toBe(false)
      expect((await introspect(refreshed.json.refresh_token)).active).toBe(false)
      expect(events.some((e) => e.name === 'oauth2.consent.revoked' && e.payload.subject === 'user-c')).toBe(true)
      await api.revokeOAuth2LoginSessions({ subject: 'user-c' })
    })

    it('answers bad admin input with Ory errors: a missing challenge, an unknown one, a bad body', async () => {
      const missing = await apps.admin.handle(new Request('http://admin/admin/oauth2/auth/requests/login'))
      expect(missing.status).toBe(400)
      const unknown = await apps.admin.handle(new Request('http://admin/admin/oauth2/auth/requests/consent?consent_challenge=nope'))
      expect(unknown.status).toBe(404)
      expect(((await unknown.json()) as any).error.code).toBe(404)
      const res = await browser().get(authUrl(codeParams()))
      const bad = await apps.admin.handle(new Request(`http://admin/admin/oauth2/auth/requests/login/accept?login_challenge=${challengeOf(res, 'login_challenge')}`, { method: 'PUT', body: '{"subject": 5}' }))
      expect(bad.status).toBe(400)
      const noSubject = await apps.admin.handle(new Request('http://admin/admin/oauth2/auth/sessions/consent'))
      expect(noSubject.status).toBe(400)
    })
  })
}

/**
 * The ui renders the oauth2 plugin's pages (`oauth2.pages`): the consent page (the ui's CSP with a nonce, the
 * client's name, the scopes in plain language; allowing issues a code), the device-code page, the error page of a
 * request that cannot go back to the client, and the RP-initiated logout confirmation ("<client> asks to sign you out": no keeps the session, yes ends it and goes to the registered
 * post_logout_redirect_uri); the sign-in and sign-up pages of an authorization name the application. A real login through the identity plugin; SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { identity } from '../identity/index.ts'
import { oauth2 } from '../oauth2/index.ts'
import { password } from '../password/index.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { bootApps, type TestApps } from '../../test/helpers/app.ts'
import { quickstartSchema } from '../../test/helpers/identity.ts'
import { inProcessBrowser } from '../../test/helpers/oauth2-login.ts'
import { ui } from './index.ts'

const BASE = 'http://127.0.0.1:4433'
const APP = 'https://app.example.com/callback'
const AFTER = 'https://app.example.com/logged-out'
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'

for (const driver of drivers('ui-oauth2-pages')) {
  describe.skipIf(!driver.enabled)(`the ui renders the oauth2 pages (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: TestApps
    const { send, form, admin } = inProcessBrowser(() => apps, BASE)
    const fieldOf = (page: string) => (name: string) => new RegExp(`name="${name}" value="([^"]+)"`).exec(page)?.[1] ?? ''
    const expectUiPage = (res: Response) => {
      expect(res.headers.get('content-type')).toContain('text/html')
      expect(res.headers.get('content-security-policy')).toMatch(/script-src 'nonce-[A-Za-z0-9_-]+'/)
    }
    let client: any
    let tokens: any

    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps([
        identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: { defaultReturnUrl: `${BASE}/ui/` } }),
        password({ hasher: { memoryCost: 64 }, breachCheck: { enabled: false } }),
        oauth2(),
        ui(),
      ], { database: scratch.db, config: { serve: { public: { baseUrl: BASE } } } as never })
      await admin('/admin/identities', { schema_id: 'default', traits: { email: 'ada@example.com' }, credentials: { password: { config: { password: 'correct horse battery staple' } } } })
      client = await admin('/admin/clients', { client_name: 'Acme Notes', grant_types: ['authorization_code'], response_types: ['code'], scope: 'openid profile', redirect_uris: [APP], post_logout_redirect_uris: [AFTER] })
    })
    afterAll(async () => {
      await apps?.kernel.stop()
      await scratch?.drop()
    })

    it('consent: the ui page with the client and its scopes; allowing issues a code', async () => {
      let res = await send(`/oauth2/auth?${new URLSearchParams({ client_id: client.client_id, response_type: 'code', redirect_uri: APP, scope: 'openid profile', state: 'state-123456' })}`)
      expect(res.status).toBe(303)
      res = await send(res.headers.get('location')!)
      const login = new URL(res.headers.get('location')!)
      const flow = (await (await send(`/self-service/login/flows?id=${login.searchParams.get('flow')}`, { headers: { accept: 'application/json' } })).json()) as any
      const csrf = flow.ui.nodes.find((n: any) => n.attributes.name === 'csrf_token').attributes.value
      res = await form(flow.ui.action, { method: 'password', csrf_token: csrf, identifier: 'ada@example.com', password: 'correct horse battery staple' })
      expect(res.status).toBe(303)
      res = await send(res.headers.get('location')!)
      expect(res.status).toBe(303)
      res = await send(res.headers.get('location')!)
      expect(res.status).toBe(200)
      expectUiPage(res)
      const page = await res.text()
      expect(page).toContain('Acme Notes asks for access to your account.')
      expect(page).toContain('data-scope="profile"')
      expect(page).toContain('See your name and profile')
      const field = fieldOf(page)
      expect(field('csrf_token')).not.toBe('')
      res = await form('/oauth2/consent', { consent_challenge: field('consent_challenge'), csrf_token: field('csrf_token'), decision: 'accept' })
      const back = new URL(res.headers.get('location')!)
      expect(back.origin + back.pathname).toBe(APP)
      const code = back.searchParams.get('code')!
      expect(code).toBeTruthy()
      tokens = (await (await apps.public.handle(new Request(`${BASE}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}` }, body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: APP }) }))).json()) as any
      expect(tokens.id_token).toBeTruthy()
    })

    it("sign-in page during an authorization: its sign-up link keeps the login challenge, so a new account goes on to consent", async () => {
      const fresh = inProcessBrowser(() => apps, BASE)
      let res = await fresh.send(`/oauth2/auth?${new URLSearchParams({ client_id: client.client_id, response_type: 'code', redirect_uri: APP, scope: 'openid profile', state: 'state-654321' })}`)
      res = await fresh.send(res.headers.get('location')!) // the identity login flow, with the challenge
      res = await fresh.send(res.headers.get('location')!) // the ui's sign-in page
      expect(res.status).toBe(200)
      const signIn = await res.text()
      // the page names the application that asks (the flow's oauth2_login_request)
      expect(signIn).toContain('Sign in to continue to Acme Notes.')
      const signUp = /href="([^"]*\/ui\/registration\?login_challenge=[^"]+)"/.exec(signIn)?.[1]?.replaceAll('&amp;', '&')
      expect(signUp).toBeTruthy()
      res = await fresh.send(signUp!)
      expect(res.headers.get('location')).toContain('/self-service/registration/browser?login_challenge=')
      res = await fresh.send(res.headers.get('location')!)
      const reg = new URL(res.headers.get('location')!)
      expect(reg.pathname).toBe('/ui/registration')
      const page = await (await fresh.send(reg.toString())).text()
      expect(page).toContain('Create an account to continue to Acme Notes.')
      // in the reader's language too
      const german = await (await fresh.send(reg.toString(), { headers: { 'accept-language': 'de' } })).text()
      expect(german).toContain('Erstelle ein Konto, um zu Acme Notes weiterzugehen.')
      // and back to sign-in keeps it too
      expect(page).toMatch(/href="[^"]*\/ui\/login\?login_challenge=[^"]+"/)
      const flow = (await (await fresh.send(`/self-service/registration/flows?id=${reg.searchParams.get('flow')}`, { headers: { accept: 'application/json' } })).json()) as any
      const csrf = flow.ui.nodes.find((n: any) => n.attributes.name === 'csrf_token').attributes.value
      res = await fresh.form(flow.ui.action, { method: 'password', csrf_token: csrf, 'traits.email': 'grace@example.com', password: 'correct horse battery staple' })
      res = await fresh.send(res.headers.get('location')!) // /oauth2/auth with the login verifier
      res = await fresh.send(res.headers.get('location')!)
      expect(res.status).toBe(200)
      expect(await res.text()).toContain('Acme Notes asks for access to your account.')
      // the challenge is used: a sign-in page for it (in another browser) no longer names the application
      const other = inProcessBrowser(() => apps, BASE)
      res = await other.send(signUp!.replace('/ui/registration', '/ui/login'))
      for (let hops = 0; res.status === 303 && hops < 3; hops++) res = await other.send(res.headers.get('location')!)
      expect(res.status).toBe(200)
      const later = await res.text()
      expect(later).toContain('name="identifier"')
      expect(later).not.toContain('continue to Acme Notes')
    })

    it('sign-in page during an authorization: in the language of ui_locales, the identifier filled from login_hint (OpenID Connect Core §3.1.2.1)', async () => {
      const signInFor = async (params: Record<string, string>, headers: Record<string, string> = {}) => {
        const b = inProcessBrowser(() => apps, BASE)
        let res = await b.send(`/oauth2/auth?${new URLSearchParams({ client_id: client.client_id, response_type: 'code', redirect_uri: APP, scope: 'openid profile', state: 'state-ui-locales', ...params })}`, { headers })
        for (let hops = 0; res.status === 303 && hops < 3; hops++) res = await b.send(res.headers.get('location')!, { headers })
        expect(res.status).toBe(200)
        return res.text()
      }
      // the application asks for Russian (an unsupported language first); the browser says English
      const ru = await signInFor({ ui_locales: 'fr-CA ru de', login_hint: 'ada@example.com' }, { 'accept-language': 'en' })
      expect(ru).toContain('<html lang="ru"')
      expect(ru).toContain('Войдите, чтобы перейти в Acme Notes.')
      expect(ru).toMatch(/name="identifier"[^>]*value="ada@example.com"|value="ada@example.com"[^>]*name="identifier"/)
      // without ui_locales the browser's language rules; a login_hint is text, never markup
      const en = await signInFor({ login_hint: '"><b id="x">hint' }, { 'accept-language': 'en' })
      expect(en).toContain('<html lang="en"')
      expect(en).not.toContain('<b id="x">')
      expect(en).toContain('value="&quot;>&lt;b id=&quot;x&quot;>hint"')
    })

    it('consent page during an authorization with ui_locales: in that language (OpenID Connect Core §3.1.2.1)', async () => {
      const b = inProcessBrowser(() => apps, BASE)
      const headers = { 'accept-language': 'en' }
      let res = await b.send(`/oauth2/auth?${new URLSearchParams({ client_id: client.client_id, response_type: 'code', redirect_uri: APP, scope: 'openid profile', state: 'state-consent-ru', ui_locales: 'ru' })}`, { headers })
      res = await b.send(res.headers.get('location')!, { headers })
      const login = new URL(res.headers.get('location')!)
      const flow = (await (await b.send(`/self-service/login/flows?id=${login.searchParams.get('flow')}`, { headers: { accept: 'application/json' } })).json()) as any
      const csrf = flow.ui.nodes.find((n: any) => n.attributes.name === 'csrf_token').attributes.value
      res = await b.form(flow.ui.action, { method: 'password', csrf_token: csrf, identifier: 'ada@example.com', password: 'correct horse battery staple' })
      res = await b.send(res.headers.get('location')!, { headers }) // /oauth2/auth with the login verifier
      res = await b.send(res.headers.get('location')!, { headers }) // the consent page
      expect(res.status).toBe(200)
      const page = await res.text()
      expect(page).toContain('<html lang="ru"')
      expect(page).toContain('Acme Notes запрашивает доступ к вашей учётной записи.')
    })

    it('device: the ui page to enter the code; a wrong code is refused on it, a right one goes on', async () => {
      const tv = await admin('/admin/clients', { client_name: 'Living-room TV', grant_types: [DEVICE_GRANT], scope: 'openid', token_endpoint_auth_method: 'none', response_types: [] })
      const auth = (await (await send('/oauth2/device/auth', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: tv.client_id, scope: 'openid' }) })).json()) as any
      let res = await send('/oauth2/device/verify')
      expect(res.status).toBe(200)
      expectUiPage(res)
      const field = fieldOf(await res.text())
      res = await form('/oauth2/device/verify', { csrf_token: field('csrf_token'), user_code: 'BBBB-BBBB' })
      expect(res.status).toBe(400)
      expectUiPage(res)
      expect(await res.text()).toContain('This code is unknown or has expired.')
      res = await form('/oauth2/device/verify', { csrf_token: field('csrf_token'), user_code: auth.user_code })
      expect(res.status).toBe(303)
    })

    it('an unknown client or redirect URI: the ui\'s error page in the reader\'s language, never a redirect', async () => {
      for (const [query, error] of [
        [{ client_id: 'no-such-client', response_type: 'code', redirect_uri: APP, state: 'state-123456' }, 'invalid_client'],
        [{ client_id: client.client_id, response_type: 'code', redirect_uri: 'https://evil.example/callback', state: 'state-123456' }, 'invalid_request'],
      ] as const) {
        const res = await send(`/oauth2/auth?${new URLSearchParams(query)}`, { headers: { 'accept-language': 'de-DE,de;q=0.9' } })
        expect(res.status).toBe(400)
        expect(res.headers.get('location')).toBeNull()
        expectUiPage(res)
        const page = await res.text()
        expect(page).toContain('<html lang="de">')
        expect(page).toContain('Die Anfrage konnte nicht abgeschlossen werden.')
        expect(page).toContain(`<code id="error-code">${error}</code>`)
      }
    })

    it('a consent answered after its client was deleted: the error page, not a server error', async () => {
      const gone = await admin('/admin/clients', { client_name: 'Short-lived', grant_types: ['authorization_code'], response_types: ['code'], scope: 'openid', redirect_uris: [APP] })
      // signed in already (the first test): straight to the consent page
      let res = await send(`/oauth2/auth?${new URLSearchParams({ client_id: gone.client_id, response_type: 'code', redirect_uri: APP, scope: 'openid', state: 'state-123456' })}`)
      while (res.status === 303 && !new URL(res.headers.get('location')!, BASE).pathname.startsWith('/oauth2/consent')) res = await send(res.headers.get('location')!)
      res = await send(res.headers.get('location')!)
      const field = fieldOf(await res.text())
      expect(field('consent_challenge')).not.toBe('')
      await apps.admin.handle(new Request(`http://admin/admin/clients/${gone.client_id}`, { method: 'DELETE' }))
      res = await form('/oauth2/consent', { consent_challenge: field('consent_challenge'), csrf_token: field('csrf_token'), decision: 'accept' })
      expect(res.status).toBe(400)
      expectUiPage(res)
      expect(await res.text()).toContain('<code id="error-code">invalid_client</code>')
    })

    it('logout: the ui asks first; no keeps the session, yes ends it and goes to the post_logout_redirect_uri', async () => {
      expect((await send('/sessions/whoami')).status).toBe(200)
      const start = `/oauth2/sessions/logout?${new URLSearchParams({ id_token_hint: tokens.id_token, post_logout_redirect_uri: AFTER, state: 'bye' })}`
      let res = await send(start)
      expect(res.status).toBe(200)
      expectUiPage(res)
      let page = await res.text()
      expect(page).toContain('Acme Notes asks to sign you out. You will be signed out of this account and of the apps you signed in to with it.')
      let field = fieldOf(page)
      // without the CSRF token nothing happens
      res = await form('/oauth2/sessions/logout', { logout_challenge: field('logout_challenge'), csrf_token: 'forged-token-forged-token', decision: 'accept' })
      expect(res.status).toBe(400)
      expect((await send('/sessions/whoami')).status).toBe(200)
      res = await form('/oauth2/sessions/logout', { logout_challenge: field('logout_challenge'), csrf_token: field('csrf_token'), decision: 'reject' })
      expect(res.status).toBe(303)
      expect(res.headers.get('location')!.startsWith(AFTER)).toBe(false)
      expect((await send('/sessions/whoami')).status).toBe(200)

      // the client's ui_locales (RP-Initiated Logout 1.0 §2) choose the question's language
      res = await send(`${start}&ui_locales=de`)
      page = await res.text()
      expect(page).toContain('<html lang="de"')
      expect(page).toContain('Acme Notes möchte dich abmelden.')
      field = fieldOf(page)
      res = await form('/oauth2/sessions/logout', { logout_challenge: field('logout_challenge'), csrf_token: field('csrf_token'), decision: 'accept' })
      expect(res.status).toBe(303)
      const to = new URL(res.headers.get('location')!)
      expect(to.origin + to.pathname).toBe(AFTER)
      expect(to.searchParams.get('state')).toBe('bye')
      expect((await send('/sessions/whoami')).status).toBe(401)
    })
  })
}

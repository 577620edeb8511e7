/**
 * Signing up in the middle of an OAuth2 authorization (Kratos: a registration browser flow takes the provider's
 * `login_challenge` and keeps it as `oauth2_login_challenge`): the browser is sent to the login flow with the
 * challenge, the person has no account and follows "sign up", the registration flow starts with the same challenge,
 * and once the registration signs them in the browser goes on to the consent page — the authorization completes
 * with a code whose ID token names the new identity. A malformed challenge is refused. The login and registration
 * flows carry the provider's login request (`oauth2_login_request`, as Kratos' getLoginFlow/getRegistrationFlow add
 * it) while the challenge waits for its login, so a page can name the application. SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { decodeJwt } from 'jose'
import { bootApps, type TestApps } from '../../test/helpers/app.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { quickstartSchema } from '../../test/helpers/identity.ts'
import { inProcessBrowser } from '../../test/helpers/oauth2-login.ts'
import { identity } from '../identity/index.ts'
import { password } from '../password/index.ts'
import { oauth2 } from './index.ts'

const BASE = 'http://127.0.0.1:4433'
const UI = 'http://ui.test'
const APP = 'https://app.example.com/callback'
const PW = 'correct horse battery staple'

for (const driver of drivers('oauth2-register-challenge')) {
  describe.skipIf(!driver.enabled)(`OAuth2 authorization through a registration (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: TestApps
    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps(
        [
          identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: { uiUrl: UI, defaultReturnUrl: `${UI}/` } }),
          password({ hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } }),
          oauth2(),
        ],
        { database: scratch.db, config: { serve: { public: { baseUrl: BASE } } } as never },
      )
    })
    afterAll(async () => {
      await apps?.kernel.stop()
      await scratch?.drop()
    })

    it('keeps the login challenge through a sign-up and goes on to consent', async () => {
      const { send, form, admin } = inProcessBrowser(() => apps, BASE)
      const client = await admin('/admin/clients', { grant_types: ['authorization_code'], response_types: ['code'], scope: 'openid email', redirect_uris: [APP] })
      let res = await send(`/oauth2/auth?${new URLSearchParams({ client_id: client.client_id, response_type: 'code', redirect_uri: APP, scope: 'openid email', state: 'state-123456', nonce: 'nonce-123456' })}`)
      expect(res.status).toBe(303)
      const toLogin = new URL(res.headers.get('location')!)
      expect(toLogin.pathname).toBe('/self-service/login/browser')
      const challenge = toLogin.searchParams.get('login_challenge')!
      expect(challenge).toBeTruthy()

      // no account yet: the UI's "sign up" link starts a registration with the same challenge
      res = await send(`/self-service/registration/browser?login_challenge=${encodeURIComponent(challenge)}`)
      expect(res.status).toBe(303)
      const ui = new URL(res.headers.get('location')!)
      expect(`${ui.origin}${ui.pathname}`).toBe(`${UI}/registration`)
      const flow = (await (await send(`/self-service/registration/flows?id=${ui.searchParams.get('flow')}`, { headers: { accept: 'application/json' } })).json()) as any
      expect(flow.oauth2_login_challenge).toBe(challenge)
      const csrf = flow.ui.nodes.find((n: any) => n.attributes.name === 'csrf_token').attributes.value as string
      res = await form(flow.ui.action, { method: 'password', csrf_token: csrf, 'traits.email': 'new@example.com', password: PW })
      // the login is accepted: back to the authorization endpoint with the login verifier (Hydra's protocol), then consent
      expect(res.status).toBe(303)
      const verifier = new URL(res.headers.get('location')!)
      expect(verifier.pathname).toBe('/oauth2/auth')
      expect(verifier.searchParams.get('login_verifier')).toBeTruthy()
      res = await send(verifier.toString())
      expect(res.status).toBe(303)
      const consentUrl = res.headers.get('location')!
      expect(new URL(consentUrl).pathname).toBe('/oauth2/consent')

      const page = await (await send(consentUrl)).text()
      const field = (name: string) => new RegExp(`name="${name}" value="([^"]+)"`).exec(page)![1]!
      res = await form('/oauth2/consent', { consent_challenge: field('consent_challenge'), csrf_token: field('csrf_token'), decision: 'accept' })
      const back = new URL(res.headers.get('location')!)
      expect(back.searchParams.get('state')).toBe('state-123456')
      const code = back.searchParams.get('code')!
      const tokens = (await (await apps.public.handle(new Request(`${BASE}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}` }, body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: APP }) }))).json()) as any
      const claims = decodeJwt(tokens.id_token)
      const who = (await (await send('/sessions/whoami')).json()) as any
      expect(claims.sub).toBe(who.identity.id)
      expect(who.identity.traits.email).toBe('new@example.com')
      expect(claims.nonce).toBe('nonce-123456')
    })

    it('names the application on the login and registration flows (oauth2_login_request) until the login is done', async () => {
      const { send, form, admin } = inProcessBrowser(() => apps, BASE)
      const client = await admin('/admin/clients', { client_name: 'Acme Notes', grant_types: ['authorization_code'], response_types: ['code'], scope: 'openid email', redirect_uris: [APP] })
      const res = await send(`/oauth2/auth?${new URLSearchParams({ client_id: client.client_id, response_type: 'code', redirect_uri: APP, scope: 'openid email', state: 'state-abcdef' })}`)
      const challenge = new URL(res.headers.get('location')!).searchParams.get('login_challenge')!
      const flowOf = async (kind: 'login' | 'registration', json = false) => {
        const started = await send(`/self-service/${kind}/browser?login_challenge=${encodeURIComponent(challenge)}`, json ? { headers: { accept: 'application/json' } } : undefined)
        if (json) return (await started.json()) as any
        const id = new URL(started.headers.get('location')!).searchParams.get('flow')!
        return (await (await send(`/self-service/${kind}/flows?id=${id}`, { headers: { accept: 'application/json' } })).json()) as any
      }
      for (const kind of ['login', 'registration'] as const) {
        for (const json of [false, true]) {
          const flow = await flowOf(kind, json)
          expect(flow.oauth2_login_challenge).toBe(challenge)
          const lr = flow.oauth2_login_request
          expect(lr.challenge).toBe(challenge)
          expect(lr.client.client_id).toBe(client.client_id)
          expect(lr.client.client_name).toBe('Acme Notes')
          expect(lr.client.client_secret).toBeUndefined()
          expect(lr.requested_scope).toEqual(['openid', 'email'])
          expect(lr.skip).toBe(false)
          expect(lr.request_url).toContain('/oauth2/auth?')
        }
      }
      // the login is done and its verifier used: a flow started with the handled challenge (another browser) carries it but names no request
      const login = await flowOf('login')
      await admin('/admin/identities', { schema_id: 'default', traits: { email: 'named@example.com' }, credentials: { password: { config: { password: PW } } } })
      const csrf = login.ui.nodes.find((n: any) => n.attributes.name === 'csrf_token').attributes.value as string
      const done = await form(login.ui.action, { method: 'password', csrf_token: csrf, identifier: 'named@example.com', password: PW })
      const verifier = new URL(done.headers.get('location')!)
      expect(verifier.searchParams.get('login_verifier')).toBeTruthy()
      // the browser brings the login verifier back: the login request is used up (Hydra's GET answers 410 now)
      expect((await send(verifier.toString())).status).toBe(303)
      const other = inProcessBrowser(() => apps, BASE)
      const again = await other.send(`/self-service/login/browser?login_challenge=${encodeURIComponent(challenge)}`, { headers: { accept: 'application/json' } })
      expect(again.status).toBe(200)
      const after = (await again.json()) as any
      expect(after.oauth2_login_challenge).toBe(challenge)
      expect(after.oauth2_login_request).toBeUndefined()
    })

    it('leaves oauth2_login_request out for a challenge the provider does not know', async () => {
      const { send } = inProcessBrowser(() => apps, BASE)
      const res = await send('/self-service/login/browser?login_challenge=unknown-challenge-0123456789', { headers: { accept: 'application/json' } })
      expect(res.status).toBe(200)
      const flow = (await res.json()) as any
      expect(flow.oauth2_login_challenge).toBe('unknown-challenge-0123456789')
      expect(flow.oauth2_login_request).toBeUndefined()
    })

    it('refuses a malformed login challenge on a registration', async () => {
      const { send } = inProcessBrowser(() => apps, BASE)
      const res = await send('/self-service/registration/browser?login_challenge=%3Cscript%3E', { headers: { accept: 'application/json' } })
      expect(res.status).toBe(400)
      expect(((await res.json()) as any).error.reason).toContain('login_challenge')
    })
  })
}

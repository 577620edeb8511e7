/**
 * RP-initiated logout ends a real identity session (OpenID Connect RP-Initiated Logout 1.0): the user logs in
 * through the identity plugin's browser login flow, the app gets an ID token, `/oauth2/sessions/logout` with it
 * as `id_token_hint` ends the identity session, and `/sessions/whoami` answers 401. SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { identity } from '../identity/index.ts'
import { password } from '../password/index.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { bootApps, type TestApps } from '../../test/helpers/app.ts'
import { quickstartSchema } from '../../test/helpers/identity.ts'
import { inProcessBrowser } from '../../test/helpers/oauth2-login.ts'
import { oauth2 } from './index.ts'

const BASE = 'http://127.0.0.1:4433'
const UI = 'http://ui.test'
const APP = 'https://app.example.com/callback'
const AFTER = 'https://app.example.com/logged-out'

for (const driver of drivers('oauth2-logout-identity')) {
  describe.skipIf(!driver.enabled)(`RP-initiated logout with the identity plugin (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: TestApps
    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps([
        identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: { uiUrl: UI, defaultReturnUrl: `${UI}/` } }),
        password({ hasher: { memoryCost: 64 }, breachCheck: { enabled: false } }),
        oauth2(),
      ], { database: scratch.db, config: { serve: { public: { baseUrl: BASE } } } as never })
    })
    afterAll(async () => {
      await apps?.kernel.stop()
      await scratch?.drop()
    })

    it('ends the identity session: whoami answers 401 afterwards', async () => {
      const { send, form, admin } = inProcessBrowser(() => apps, BASE)
      await admin('/admin/identities', { schema_id: 'default', traits: { email: 'ada@example.com' }, credentials: { password: { config: { password: 'correct horse battery staple' } } } })
      const client = await admin('/admin/clients', { grant_types: ['authorization_code'], response_types: ['code'], scope: 'openid', redirect_uris: [APP], post_logout_redirect_uris: [AFTER] })

      // /oauth2/auth → the identity login flow (its UI) → the password form
      let res = await send(`/oauth2/auth?${new URLSearchParams({ client_id: client.client_id, response_type: 'code', redirect_uri: APP, scope: 'openid', state: 'state-123456' })}`)
      expect(res.status).toBe(303)
      res = await send(res.headers.get('location')!)
      const ui = new URL(res.headers.get('location')!)
      expect(ui.origin).toBe(UI)
      const flow = (await (await send(`/self-service/login/flows?id=${ui.searchParams.get('flow')}`, { headers: { accept: 'application/json' } })).json()) as any
      const csrf = flow.ui.nodes.find((n: any) => n.attributes.name === 'csrf_token').attributes.value
      res = await form(flow.ui.action, { method: 'password', csrf_token: csrf, identifier: 'ada@example.com', password: 'correct horse battery staple' })
      expect(res.status).toBe(303)
      // back at /oauth2/auth with the login verifier → the consent page
      res = await send(res.headers.get('location')!)
      expect(res.status).toBe(303)
      const consentUrl = res.headers.get('location')!
      const page = await (await send(consentUrl)).text()
      const field = (name: string) => new RegExp(`name="${name}" value="([^"]+)"`).exec(page)![1]!
      res = await form('/oauth2/consent', { consent_challenge: field('consent_challenge'), csrf_token: field('csrf_token'), decision: 'accept' })
      const code = new URL(res.headers.get('location')!).searchParams.get('code')!
      const tokens = (await (await apps.public.handle(new Request(`${BASE}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}` }, body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: APP }) }))).json()) as any
      expect(tokens.id_token).toBeTruthy()
      expect((await send('/sessions/whoami')).status).toBe(200)

      // RP-initiated logout: ends the identity session and goes to the registered post_logout_redirect_uri
      res = await send(`/oauth2/sessions/logout?${new URLSearchParams({ id_token_hint: tokens.id_token, post_logout_redirect_uri: AFTER, state: 'bye' })}`)
      for (let i = 0; i < 5 && res.status === 302 && new URL(res.headers.get('location')!).origin === BASE; i++) res = await send(res.headers.get('location')!)
      const to = res.status === 200 ? /url=([^"]+)"/.exec(await res.text())?.[1] : res.headers.get('location')
      expect(to ?? '').toContain(AFTER)
      expect((await send('/sessions/whoami')).status).toBe(401)
    })
  })
}

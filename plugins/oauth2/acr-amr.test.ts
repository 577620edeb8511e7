/**
 * The ID token's `acr` and `amr` follow the identity session, as Kratos passes them to Hydra (`acr` = the
 * session's authenticator assurance level, `amr` = its authentication methods): an identity with a password and
 * TOTP logs in with the password (aal1), an authorization then gets `acr` "aal1" and `amr` ["password"]; the same
 * browser steps up with `?aal=aal2` and a TOTP code (computed by `otpauth`), and the next authorization gets
 * `acr` "aal2" and `amr` ["password", "totp"]. SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { decodeJwt } from 'jose'
import * as OTPAuth from 'otpauth'
import { bootApps, type TestApps } from '../../test/helpers/app.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { quickstartSchema } from '../../test/helpers/identity.ts'
import { inProcessBrowser } from '../../test/helpers/oauth2-login.ts'
import { identity } from '../identity/index.ts'
import { password } from '../password/index.ts'
import { totp, totpOf } from '../totp/index.ts'
import { oauth2 } from './index.ts'

const BASE = 'http://127.0.0.1:4433'
const UI = 'http://ui.test'
const APP = 'https://app.example.com/callback'
const PW = 'correct horse battery staple'

for (const driver of drivers('oauth2-acr-amr')) {
  describe.skipIf(!driver.enabled)(`OAuth2 acr and amr after an AAL2 step-up (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: TestApps
    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps(
        [
          identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: { uiUrl: UI, defaultReturnUrl: `${UI}/` } }),
          password({ hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } }),
          totp({ issuer: 'Example' }),
          oauth2(),
        ],
        { database: scratch.db, config: { serve: { public: { baseUrl: BASE } } } as never },
      )
    })
    afterAll(async () => {
      await apps?.kernel.stop()
      await scratch?.drop()
    })

    it('the ID token carries acr aal1 / amr [password] before the step-up, acr aal2 / amr [password, totp] after it', async () => {
      const { send, form, admin } = inProcessBrowser(() => apps, BASE)
      /** Follow a browser login flow's redirect to its UI, and read the flow. */
      const loginFlow = async (url: string) => {
        const res = await send(url)
        expect(res.status).toBe(303)
        const ui = new URL(res.headers.get('location')!)
        expect(ui.origin).toBe(UI)
        const flow = (await (await send(`/self-service/login/flows?id=${ui.searchParams.get('flow')}`, { headers: { accept: 'application/json' } })).json()) as any
        return { flow, csrf: flow.ui.nodes.find((n: any) => n.attributes.name === 'csrf_token').attributes.value as string }
      }

      const secret = new OTPAuth.Secret({ size: 20 }).base32
      const made = await admin('/admin/identities', { schema_id: 'default', traits: { email: 'ada@example.com' }, credentials: { password: { config: { password: PW } }, totp: { config: { totp_url: totpOf(secret, 'ada@example.com', 'Example').toString() } } } })
      const client = await admin('/admin/clients', { grant_types: ['authorization_code'], response_types: ['code'], scope: 'openid', redirect_uris: [APP] })

      /** An authorization with the browser's identity session (no login prompt): the ID token's claims. */
      const authorize = async () => {
        let res = await send(`/oauth2/auth?${new URLSearchParams({ client_id: client.client_id, response_type: 'code', redirect_uri: APP, scope: 'openid', state: 'state-123456', nonce: 'nonce-123456' })}`)
        expect(res.status).toBe(303)
        const consentUrl = res.headers.get('location')!
        expect(new URL(consentUrl).pathname).toBe('/oauth2/consent')
        const page = await (await send(consentUrl)).text()
        const field = (name: string) => new RegExp(`name="${name}" value="([^"]+)"`).exec(page)![1]!
        res = await form('/oauth2/consent', { consent_challenge: field('consent_challenge'), csrf_token: field('csrf_token'), decision: 'accept' })
        const code = new URL(res.headers.get('location')!).searchParams.get('code')!
        const tokens = (await (await apps.public.handle(new Request(`${BASE}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}` }, body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: APP }) }))).json()) as any
        expect(tokens.id_token).toBeTruthy()
        return decodeJwt(tokens.id_token)
      }

      // the password: an aal1 session, and the browser is sent on to step up
      const first = await loginFlow('/self-service/login/browser')
      let res = await form(first.flow.ui.action, { method: 'password', csrf_token: first.csrf, identifier: 'ada@example.com', password: PW })
      expect(res.status).toBe(303)
      expect(res.headers.get('location')).toStartWith(`${BASE}/self-service/login/browser?aal=aal2`)
      const aal1 = await authorize()
      expect(aal1.sub).toBe(made.id)
      expect(aal1.acr).toBe('aal1')
      expect(aal1.amr).toEqual(['password'])

      // the step-up with a TOTP code
      const second = await loginFlow('/self-service/login/browser?aal=aal2')
      expect(second.flow.requested_aal).toBe('aal2')
      res = await form(second.flow.ui.action, { method: 'totp', csrf_token: second.csrf, totp_code: totpOf(secret, 'x', 'Example').generate() })
      expect(res.status).toBe(303)
      const who = (await (await send('/sessions/whoami')).json()) as any
      expect(who.authenticator_assurance_level).toBe('aal2')

      const aal2 = await authorize()
      expect(aal2.sub).toBe(made.id)
      expect(aal2.acr).toBe('aal2')
      expect(aal2.amr).toEqual(['password', 'totp'])
      expect(aal2.auth_time).toBe(Math.floor(Date.parse(who.authenticated_at) / 1000))
    })
  })
}

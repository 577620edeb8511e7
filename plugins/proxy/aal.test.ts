/**
 * The proxy's session authenticators after a step-up (issue 14): `bearer_token` and `cookie_session`, in process
 * with the identity plugin, give the rules the session's assurance and methods (`.Extra` is the session, as
 * Oathkeeper's `extra_from: "@this"` gives Kratos' session): aal1 after a password login, aal2 with both methods
 * once the same session stepped up with a second factor (here the code method with `mfa`, codes caught by the
 * recording courier). On SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { call } from '../../test/helpers/app.ts'
import { recordingCourier } from '../../test/helpers/courier.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { quickstartSchema, testSelfservice } from '../../test/helpers/identity.ts'
import { code } from '../code/index.ts'
import { identity } from '../identity/index.ts'
import { password } from '../password/index.ts'
import { proxy } from './index.ts'
import { bootApps } from '../../test/helpers/app.ts'

for (const driver of drivers('proxy-aal')) {
  describe.skipIf(!driver.enabled)(`proxy session authenticators read the session's assurance (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: Awaited<ReturnType<typeof bootApps>>
    const courier = recordingCourier()
    const rule = (handler: string) => ({
      id: handler,
      match: { url: `http://localhost/${handler}/<.*>`, methods: ['GET'] },
      authenticators: [{ handler }],
      authorizer: { handler: 'allow' },
      mutators: [{ handler: 'header', config: { headers: { 'X-User': '{{ print .Subject }}', 'X-Aal': '{{ print .Extra.authenticator_assurance_level }}', 'X-Methods': '{{ index .Extra.authentication_methods 0 "method" }} {{ index .Extra.authentication_methods 1 "method" }}' } } }],
    })
    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps(
        [
          identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: testSelfservice }),
          password({ hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } }),
          courier.plugin,
          code({ passwordlessEnabled: false, mfa: { enabled: true } }),
          proxy({ serve: { enabled: false }, rules: [rule('bearer_token'), rule('cookie_session')] }),
        ],
        { database: scratch.db },
      )
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    it('a stepped-up session passes /decisions with aal2 and both methods in the subject’s extra', async () => {
      const email = 'proxy-aal@example.com'
      const reg0 = (await call(apps.public, 'GET', '/self-service/registration/api')).json as any
      const reg = (await call(apps.public, 'POST', `/self-service/registration?flow=${reg0.id}`, { body: { method: 'password', password: 'correct horse battery staple', traits: { email } } })).json as any
      const token = reg.session_token as string
      const v = (await call(apps.public, 'GET', '/self-service/verification/api')).json as any
      await call(apps.public, 'POST', `/self-service/verification?flow=${v.id}`, { body: { method: 'code', email } })
      await call(apps.public, 'POST', `/self-service/verification?flow=${v.id}`, { body: { method: 'code', code: String(courier.last(email, 'verification_code.valid')!.data.verification_code) } })

      const before = await call(apps.admin, 'GET', '/decisions/bearer_token/x', { headers: { authorization: `Bearer ${token}` } })
      expect([before.status, before.headers.get('x-user'), before.headers.get('x-aal')]).toEqual([200, reg.identity.id, 'aal1'])

      const flow = (await call(apps.public, 'GET', '/self-service/login/api?aal=aal2', { headers: { 'x-session-token': token } })).json as any
      await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { headers: { 'x-session-token': token }, body: { method: 'code', address: email } })
      const up = await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { headers: { 'x-session-token': token }, body: { method: 'code', identifier: email, code: String(courier.last(email, 'login_code.valid')!.data.login_code) } })
      expect(up.status).toBe(200)

      for (const [path, headers] of [
        ['/decisions/bearer_token/x', { authorization: `Bearer ${token}` }],
        ['/decisions/cookie_session/x', { cookie: `tessera_session=${token}` }],
      ] as const) {
        const after = await call(apps.admin, 'GET', path, { headers })
        expect([path, after.status, after.headers.get('x-aal'), after.headers.get('x-methods')?.trim()]).toEqual([path, 200, 'aal2', 'password code'])
      }
    })
  })
}

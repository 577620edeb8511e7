/**
 * Recovery codes (lookup_secret) on SQLite and PostgreSQL: made in settings (regenerate, confirm), used once to
 * step up, reuse refused, a new set invalidates the old one, hashed at rest, imported as Kratos does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { sql } from 'tessera'
import { bootApps, call } from '../../test/helpers/app.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { quickstartSchema, testSelfservice } from '../../test/helpers/identity.ts'
import { identity } from '../identity/index.ts'
import { password } from '../password/index.ts'
import { lookupSecret } from './index.ts'

const PW = 'correct horse battery staple'
const node = (flow: any, name: string) => flow.ui.nodes.find((n: any) => n.attributes.name === name || n.attributes.id === name)
const H = (t: string) => ({ 'x-session-token': t })

for (const driver of drivers('lookup')) {
  describe.skipIf(!driver.enabled)(`lookup_secret (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: Awaited<ReturnType<typeof bootApps>>
    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps(
        [
          identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: { ...testSelfservice, privilegedSessionMaxAge: 600 } }),
          password({ hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } }),
          lookupSecret(),
        ],
        { database: scratch.db },
      )
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    async function register(email: string) {
      const flow = (await call(apps.public, 'GET', '/self-service/registration/api')).json as any
      return (await call(apps.public, 'POST', `/self-service/registration?flow=${flow.id}`, { body: { method: 'password', password: PW, traits: { email } } })).json as any
    }
    async function loginPassword(email: string) {
      const flow = (await call(apps.public, 'GET', '/self-service/login/api')).json as any
      return (await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'password', identifier: email, password: PW } })).json as any
    }
    async function makeCodes(token: string): Promise<string[]> {
      const flow = (await call(apps.public, 'GET', '/self-service/settings/api', { headers: H(token) })).json as any
      expect(node(flow, 'lookup_secret_regenerate')).toBeDefined()
      const shown = await call(apps.public, 'POST', `/self-service/settings?flow=${flow.id}`, { headers: H(token), body: { method: 'lookup_secret', lookup_secret_regenerate: true } })
      expect(shown.status).toBe(200)
      const codes = node(shown.json, 'lookup_secret_codes').attributes.text.context.secrets.map((s: any) => s.context.secret)
      expect(node(shown.json, 'lookup_secret_confirm')).toBeDefined()
      const saved = await call(apps.public, 'POST', `/self-service/settings?flow=${flow.id}`, { headers: H(token), body: { method: 'lookup_secret', lookup_secret_confirm: true } })
      expect(saved.status).toBe(200)
      // Shown once: the saved flow no longer carries them.
      expect(JSON.stringify(saved.json)).not.toContain(codes[0])
      return codes
    }
    async function stepUp(token: string, code: string) {
      const flow = (await call(apps.public, 'GET', '/self-service/login/api?aal=aal2', { headers: H(token) })).json as any
      expect(node(flow, 'lookup_secret')).toBeDefined()
      return call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { headers: H(token), body: { method: 'lookup_secret', lookup_secret: code } })
    }

    it('makes 12 codes, hashed at rest; one steps up once, its reuse is refused', async () => {
      const reg = await register('lookup-1@example.com')
      const codes = await makeCodes(reg.session_token)
      expect(codes).toHaveLength(12)
      expect(new Set(codes).size).toBe(12)
      const rows = await apps.kernel.storage.db.query(sql`SELECT config FROM identity_credentials WHERE type = ${'lookup_secret'}`)
      for (const c of codes) expect(JSON.stringify(rows)).not.toContain(c)
      expect((await call(apps.public, 'GET', '/sessions/whoami', { headers: H(reg.session_token) })).status).toBe(403)
      const ok = await stepUp(reg.session_token, codes[3]!.toUpperCase())
      expect(ok.status).toBe(200)
      expect((ok.json as any).session.authentication_methods.map((m: any) => m.method)).toEqual(['password', 'lookup_secret'])
      const s2 = await loginPassword('lookup-1@example.com')
      const again = await stepUp(s2.session_token, codes[3]!)
      expect(again.status).toBe(400)
      expect(node(again.json, 'lookup_secret').messages[0].id).toBe(4000012)
      const wrong = await stepUp(s2.session_token, 'notacode0000')
      expect(node(wrong.json, 'lookup_secret').messages[0].id).toBe(4000016)
    })

    it('a new set invalidates the old one', async () => {
      const reg = await register('lookup-2@example.com')
      const old = await makeCodes(reg.session_token)
      expect((await stepUp(reg.session_token, old[0]!)).status).toBe(200)
      const fresh = await makeCodes(reg.session_token)
      const s2 = await loginPassword('lookup-2@example.com')
      expect((await stepUp(s2.session_token, old[1]!)).status).toBe(400)
      expect((await stepUp(s2.session_token, fresh[0]!)).status).toBe(200)
    })

    it('imports codes as Kratos does (credentials.lookup_secret.config.lookup_secrets), without showing them back', async () => {
      const made = await call(apps.admin, 'POST', '/admin/identities', { body: { traits: { email: 'lookup-import@example.com' }, credentials: { password: { config: { password: PW } }, lookup_secret: { config: { lookup_secrets: [{ code: 'abcdef123456' }, { code: 'spentcode999', used_at: '2024-01-01T00:00:00Z' }] } } } } })
      expect(made.status).toBe(201)
      expect(JSON.stringify(made.json)).not.toContain('abcdef123456')
      const s = await loginPassword('lookup-import@example.com')
      expect((await stepUp(s.session_token, 'spentcode999')).status).toBe(400)
      expect((await stepUp(s.session_token, 'abcdef123456')).status).toBe(200)
    })
  })
}

/**
 * Typed TypeScript flow hooks from the config, whoami?tokenize_as (a JWT signed
 * with a managed key, verified with jose against the published JWKS), and the
 * embedding macros returning the session's identity — on SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { Elysia } from 'elysia'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { tessera } from 'tessera/elysia'
import { TEST_SECRET, call } from '../../test/helpers/app.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { password } from '../password/index.ts'
import { identity } from './index.ts'
import { boot, quickstartSchema } from '../../test/helpers/identity.ts'

type Apps = Awaited<ReturnType<typeof boot>>
const seen: string[] = []

async function register(apps: Apps, email: string) {
  const flow = await call(apps.public, 'GET', '/self-service/registration/api')
  if (flow.status !== 200) return flow
  return call(apps.public, 'POST', `/self-service/registration?flow=${flow.json.id}`, { body: { method: 'password', password: 'correct horse battery staple', traits: { email } } })
}

for (const driver of drivers('identityhooks')) {
  describe.skipIf(!driver.enabled)(`identity hooks and tokenize_as (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: Apps
    beforeAll(async () => {
      seen.length = 0 // per driver: the other driver's run must not satisfy this one's assertions
      scratch = await driver.create()
      apps = await boot(scratch.db, {
        identity: {
          hooks: {
            beforeRegistration: ({ request }) => {
              if (request.headers.get('x-block') === '1') return { abort: true, messages: [{ id: 4000001, text: 'Registrations are closed.', type: 'error' }] }
              return { messages: [{ id: 1040001, text: 'Welcome!', type: 'info' }] }
            },
            afterRegistration: ({ identity }) => {
              const email = String((identity?.traits as { email: string }).email)
              if (email.endsWith('@blocked.test')) return { abort: true, messages: [{ id: 4000001, text: 'This domain cannot register.', type: 'error' }] }
            },
            afterLogin: ({ method, identity }) => void seen.push(`${method}:${(identity?.traits as { email: string }).email}`),
          },
          session: { tokenizers: { short: { ttl: 30, claims: (s) => ({ email: ((s.identity as { traits: { email: string } }).traits).email }) } } },
        },
      })
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    it('before hooks add ui messages or abort the flow; after hooks abort with messages and nothing is stored', async () => {
      const flow = await call(apps.public, 'GET', '/self-service/registration/api')
      expect(flow.json.ui.messages[0].text).toBe('Welcome!')
      const blocked = await call(apps.public, 'GET', '/self-service/registration/api', { headers: { 'x-block': '1' } })
      expect(blocked.status).toBe(403)
      expect(blocked.json.error.reason).toBe('Registrations are closed.')
      const refused = await register(apps, 'eve@blocked.test')
      expect(refused.status).toBe(400)
      expect(refused.json.ui.messages.map((m: any) => m.text)).toContain('This domain cannot register.')
      expect((await call(apps.admin, 'GET', '/admin/identities?credentials_identifier=eve@blocked.test')).json).toEqual([])
    })

    it('after-login hooks see the method and the identity', async () => {
      await register(apps, 'hooked@example.com')
      const flow = (await call(apps.public, 'GET', '/self-service/login/api')).json
      const r = await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'password', identifier: 'hooked@example.com', password: 'correct horse battery staple' } })
      expect(r.status).toBe(200)
      expect(seen).toContain('password:hooked@example.com')
    })

    it('whoami?tokenize_as returns a JWT verifiable with the published keys, with the template claims', async () => {
      const reg = await register(apps, 'jwt@example.com')
      const r = await call(apps.public, 'GET', '/sessions/whoami?tokenize_as=short', { headers: { 'x-session-token': reg.json.session_token } })
      expect(r.status).toBe(200)
      const jwks = (await call(apps.public, 'GET', '/.well-known/tessera/session-jwks.json')).json
      const { payload, protectedHeader } = await jwtVerify(r.json.tokenized, createLocalJWKSet(jwks))
      expect(protectedHeader.alg).toBe('ES256')
      expect(payload.sub).toBe(reg.json.identity.id)
      expect(payload.sid).toBe(reg.json.session.id)
      expect(payload.email).toBe('jwt@example.com')
      expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(30)
      expect((await call(apps.public, 'GET', '/sessions/whoami?tokenize_as=nope', { headers: { 'x-session-token': reg.json.session_token } })).status).toBe(400)
    })
  })
}

describe('embedding', () => {
  it('the { session: true } macro gives a host app the identity of the session', async () => {
    const auth = await tessera(
      { dsn: 'sqlite::memory:', secrets: { system: [TEST_SECRET] }, plugins: [identity({ schemas: [{ id: 'default', schema: quickstartSchema }] }), password({ hasher: { memoryCost: 64 }, breachCheck: { enabled: false } })] },
      { env: {}, migrate: true },
    )
    const app = new Elysia().use(auth).get('/me', ({ subject }) => ({ id: subject.id, type: subject.type, email: (subject.identity as any).traits.email }), { session: true })
    const flow = await (await app.handle(new Request('http://localhost/self-service/registration/api'))).json()
    const reg = await (
      await app.handle(new Request(`http://localhost/self-service/registration?flow=${flow.id}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: 'password', password: 'correct horse battery staple', traits: { email: 'host@example.com' } }) }))
    ).json()
    const me = await app.handle(new Request('http://localhost/me', { headers: { 'x-session-token': reg.session_token } }))
    expect(await me.json()).toEqual({ id: reg.identity.id, type: 'identity', email: 'host@example.com' })
    expect((await app.handle(new Request('http://localhost/me'))).status).toBe(401)
    await auth.decorator.tesseraKernel.stop()
  })
})

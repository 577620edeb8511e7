/**
 * Bad input answers with a 4xx in Ory's shape, never a 500 (DEVELOPERS.md: "never a 500 for bad input").
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { call } from '../../test/helpers/app.ts'
import { boot } from '../../test/helpers/identity.ts'

describe('identity plugin: bad input', () => {
  let apps: Awaited<ReturnType<typeof boot>>
  beforeAll(async () => {
    apps = await boot(undefined)
  })
  afterAll(async () => {
    await apps.kernel.stop()
  })

  it('unknown, malformed or wrong-kind flow ids are 404 self_service_flow_not_found', async () => {
    const reg = (await call(apps.public, 'GET', '/self-service/registration/api')).json
    for (const path of ['/self-service/login/flows?id=nope', '/self-service/login/flows', `/self-service/login/flows?id=${reg.id}`, `/self-service/login/flows?id=${crypto.randomUUID()}`]) {
      const r = await call(apps.public, 'GET', path)
      expect(r.status).toBe(404)
      expect(r.json.error.id).toBe('self_service_flow_not_found')
    }
    expect((await call(apps.public, 'POST', `/self-service/login?flow=${reg.id}`, { body: { method: 'password' } })).status).toBe(404)
  })

  it('malformed submissions show the flow again or answer 400, never 500', async () => {
    const flow = (await call(apps.public, 'GET', '/self-service/registration/api')).json
    const cases: { body: unknown; headers?: Record<string, string> }[] = [
      { body: '{not json', headers: { 'content-type': 'application/json' } },
      { body: { method: 'password', traits: 'a string', password: 1 } },
      { body: { method: 'nope' } },
      { body: { method: 'password', traits: { email: ['x'] }, password: 'correct horse battery staple' } },
      { body: [] },
    ]
    for (const c of cases) {
      const r = await call(apps.public, 'POST', `/self-service/registration?flow=${flow.id}`, c)
      expect(r.status).toBeGreaterThanOrEqual(400)
      expect(r.status).toBeLessThan(500)
    }
    const login = (await call(apps.public, 'GET', '/self-service/login/api')).json
    const r = await call(apps.public, 'POST', `/self-service/login?flow=${login.id}`, { body: { method: 'password', identifier: { $ne: 1 }, password: ['x'] } })
    expect(r.status).toBe(400)
    expect(r.json.ui.nodes.find((n: any) => n.attributes.name === 'identifier').messages[0].id).toBe(4000002)
  })

  it('prototype pollution through form keys or JSON Patch paths is refused', async () => {
    const start = await call(apps.public, 'GET', '/self-service/registration/browser')
    const jar = start.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')
    const id = new URL(start.headers.get('location')!).searchParams.get('flow')!
    const csrf = /tessera_csrf_token=([^;]+)/.exec(jar)![1]!
    const body = 'method=password&__proto__.polluted=yes&traits.__proto__.polluted=yes&traits.constructor.prototype.polluted=yes&csrf_token=' + csrf
    await call(apps.public, 'POST', `/self-service/registration?flow=${id}`, { body, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar } })
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    const c = (await call(apps.admin, 'POST', '/admin/identities', { body: { traits: { email: 'proto@example.com' } } })).json
    const r = await call(apps.admin, 'PATCH', `/admin/identities/${c.id}`, { body: [{ op: 'add', path: '/traits/__proto__/polluted', value: 'yes' }] })
    expect(r.status).toBe(400)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('admin: bad bodies, patches and ids are 4xx', async () => {
    const bad: [string, string, unknown][] = [
      ['POST', '/admin/identities', { traits: 'x' }],
      ['POST', '/admin/identities', { schema_id: 'missing', traits: { email: 'a@example.com' } }],
      ['PATCH', '/admin/identities', { identities: 'x' }],
      ['GET', '/admin/identities/not-a-uuid', undefined],
      ['PATCH', `/admin/identities/${crypto.randomUUID()}`, [{ op: 'replace', path: '/traits', value: {} }]],
      ['PUT', `/admin/identities/${crypto.randomUUID()}`, { schema_id: 'default', state: 'active', traits: {} }],
      ['DELETE', `/admin/sessions/${crypto.randomUUID()}`, undefined],
      ['GET', '/admin/identities?page_size=abc', undefined],
      ['DELETE', '/self-service/logout/api', { session_token: 42 }],
    ]
    const c = (await call(apps.admin, 'POST', '/admin/identities', { body: { traits: { email: 'patch@example.com' } } })).json
    bad.push(['PATCH', `/admin/identities/${c.id}`, [{ op: 'remove', path: '/traits/nothing/here' }]])
    bad.push(['PATCH', `/admin/identities/${c.id}`, [{ op: 'move', path: '/traits' }]])
    bad.push(['PATCH', `/admin/identities/${c.id}`, [{ op: 'replace', path: '/state', value: 'deleted' }]])
    for (const [method, path, body] of bad) {
      const app = path.startsWith('/self-service') ? apps.public : apps.admin
      const r = await call(app, method, path, body === undefined ? {} : { body })
      expect(`${method} ${path} ${r.status}`).toMatch(/ 4\d\d$/)
    }
  })
})

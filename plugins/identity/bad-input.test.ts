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

describe('identity plugin: hostile input found by fuzzing (issue 11)', () => {
  let apps: Awaited<ReturnType<typeof boot>>
  let token: string
  beforeAll(async () => {
    apps = await boot(undefined)
    const flow = (await call(apps.public, 'GET', '/self-service/registration/api')).json
    const done = await call(apps.public, 'POST', `/self-service/registration?flow=${flow.id}`, { body: { method: 'password', traits: { email: 'hostile@example.com' }, password: 'a hostile passphrase that is long' } })
    token = done.json.session_token
  })
  afterAll(async () => {
    await apps.kernel.stop()
  })

  it('tokenize_as naming an Object.prototype member is an unknown template (400), not a 500', async () => {
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      const r = await call(apps.public, 'GET', `/sessions/whoami?tokenize_as=${name}`, { headers: { 'x-session-token': token } })
      expect({ name, status: r.status, reason: r.json.error?.reason }).toEqual({ name, status: 400, reason: `Unknown tokenize_as template "${name}".` })
    }
  })

  it('a return_to with CR/LF is stored and redirected to as the URL parser reads it', async () => {
    const r = await call(apps.public, 'GET', `/self-service/login/browser?return_to=${encodeURIComponent('https://app.example.com/a\r\nb')}`, { headers: { accept: 'application/json' } })
    expect(r.status).toBe(200)
    expect(r.json.return_to).toBe('https://app.example.com/ab')
  })

  it('a CSRF cookie that is not a well-formed token is replaced, never echoed into Set-Cookie', async () => {
    for (const value of ['a;b', '%3B%20Domain%3Devil.example', '%0D%0AX-Injected%3A%201', '%00', '', 'short']) {
      const r = await call(apps.public, 'GET', '/self-service/login/browser', { headers: { accept: 'application/json', cookie: `tessera_csrf_token=${value}` } })
      expect({ value, status: r.status }).toEqual({ value, status: 200 })
      const set = r.headers.getSetCookie().find((c) => c.startsWith('tessera_csrf_token='))!
      const issued = /^tessera_csrf_token=([^;]*)/.exec(set)![1]!
      expect(issued).toMatch(/^[A-Za-z0-9_-]{43}$/)
      const node = r.json.ui.nodes.find((n: any) => n.attributes.name === 'csrf_token')
      expect(node.attributes.value).toBe(issued)
    }
  })

  it('a 500 inside a self-service submit is logged with its cause and answered with the request id', async () => {
    const { captureLog } = await import('../../test/helpers/app.ts')
    const { identity } = await import('./index.ts')
    const { password } = await import('../password/index.ts')
    const { bootApps } = await import('../../test/helpers/app.ts')
    const { quickstartSchema } = await import('../../test/helpers/identity.ts')
    const log = captureLog('error')
    const failing = await bootApps([
      identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: { uiUrl: 'http://ui.test', defaultReturnUrl: 'https://app.example.com/' } }),
      password({ hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } }),
    ], { log: log.logger })
    try {
      const flow = (await call(failing.public, 'GET', '/self-service/login/api')).json
      // the credentials table is gone: the submit fails inside the credential method
      const { sql } = await import('tessera')
      await failing.kernel.db.exec(sql`DROP TABLE identity_credential_identifiers`)
      const r = await call(failing.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'password', identifier: 'a@example.com', password: 'whatever it is' } })
      expect(r.status).toBe(500)
      expect(r.json.error.request).toBeString()
      const line = log.lines.find((l) => l.request_id === r.json.error.request)
      expect(line?.err).toBeDefined()
    } finally {
      await failing.kernel.stop()
    }
  })
})

describe('identity plugin: development restarts', () => {
  it('rotates the session signing key sealed by an earlier run\'s ephemeral secret instead of answering 500', async () => {
    const { SqliteDatabase } = await import('../../drivers/sqlite.ts')
    const { mkdtemp, rm } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const dir = await mkdtemp(join(tmpdir(), 'tessera-devrestart-'))
    const file = join(dir, 'dev.sqlite')
    const kids: string[] = []
    try {
      for (let run = 0; run < 2; run++) {
        const db = new SqliteDatabase(file)
        const apps = await boot(db, { config: { dev: true, secrets: {} } })
        expect(apps.kernel.config.secrets.ephemeral).toBe(true)
        const jwks = await call(apps.public, 'GET', '/.well-known/tessera/session-jwks.json')
        expect(jwks.status).toBe(200)
        kids.push(jwks.json.keys[0].kid)
        await apps.kernel.stop()
      }
      expect(kids[1]).not.toBe(kids[0])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

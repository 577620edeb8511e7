/**
 * `tessera serve` as a real process: both listeners, health and version in
 * Ory's shapes, Ory-shaped errors, request ids, and graceful shutdown.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { existsSync, readFileSync } from 'node:fs'
import { networkInterfaces } from 'node:os'
import { postgresAvailable, scratchPostgres } from './helpers/databases.ts'
import { CLI, FIXTURE_NOTES, SECRET, type ServerProcess, runCli, scratchDir, startServer } from './helpers/process.ts'

const scratch = scratchDir('server')
afterAll(() => scratch.remove())

function yamlConfig(extra = '') {
  return `dsn: "sqlite://${scratch.dir}/serve-${crypto.randomUUID()}.sqlite"
serve:
  public: { host: 127.0.0.1, port: 0 }
  admin: { port: 0 }
  shutdownTimeout: 5000
migrations: { auto: true }
plugins:
  - use: ${FIXTURE_NOTES}
    options: { greeting: hi }
${extra}`
}

describe('tessera serve (SQLite)', () => {
  let server: ServerProcess
  beforeAll(async () => {
    const config = scratch.write('serve.yaml', yamlConfig())
    server = await startServer(['bun', CLI, 'serve', '--config', config], { env: { SECRETS_SYSTEM: SECRET } })
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('answers /health/alive, /health/ready and /version on both listeners', async () => {
    for (const base of [server.publicUrl, server.adminUrl!]) {
      const alive = await fetch(`${base}/health/alive`)
      expect(alive.status).toBe(200)
      expect(await alive.json()).toEqual({ status: 'ok' })
      const ready = await fetch(`${base}/health/ready`)
      expect(ready.status).toBe(200)
      expect(await ready.json()).toEqual({ status: 'ok' })
      expect(await (await fetch(`${base}/version`)).json()).toEqual({ version: expect.stringMatching(/^v\d+\.\d+\.\d+/) })
    }
  })

  it('serves plugin routes on the public listener', async () => {
    expect(await (await fetch(`${server.publicUrl}/fixture/hello`)).json()).toEqual({ greeting: 'hi' })
  })

  it('answers an unknown route with 404 in Ory shape', async () => {
    const r = await fetch(`${server.publicUrl}/no/such/route`)
    expect(r.status).toBe(404)
    const body = await r.json()
    expect(body).toEqual({ error: { code: 404, status: 'Not Found', message: 'The requested resource could not be found', request: r.headers.get('x-request-id') } })
  })

  it('answers malformed JSON and form bodies with 400, never 500', async () => {
    const json = await fetch(`${server.publicUrl}/fixture/notes`, { method: 'POST', body: '{"id":', headers: { 'content-type': 'application/json' } })
    expect(json.status).toBe(400)
    expect((await json.json()).error).toMatchObject({ code: 400, status: 'Bad Request' })
    const multipart = await fetch(`${server.publicUrl}/fixture/notes`, { method: 'POST', body: '--x\r\ngarbage', headers: { 'content-type': 'multipart/form-data; boundary=zz' } })
    expect(multipart.status).toBe(400)
    const wrongShape = await fetch(`${server.publicUrl}/fixture/notes`, { method: 'POST', body: 'id=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    expect(wrongShape.status).toBe(400)
    expect((await wrongShape.json()).error.reason).toContain('body: ')
  })

  it('echoes a sane X-Request-Id and logs the request under it, without secrets', async () => {
    const r = await fetch(`${server.publicUrl}/fixture/hello`, { headers: { 'x-request-id': 'req-123', authorization: 'Bearer very-secret-token', cookie: 'ory_session=abc' } })
    expect(r.headers.get('x-request-id')).toBe('req-123')
    await Bun.sleep(50)
    const line = server.lines.find((l) => l.request_id === 'req-123' && l.msg === 'request')
    expect(line).toMatchObject({ level: 'info', method: 'GET', path: '/fixture/hello', status: 200, tenant: 'default', listener: 'public' })
    expect(JSON.stringify(server.lines)).not.toContain('very-secret-token')
    const bogus = await fetch(`${server.publicUrl}/fixture/hello`, { headers: { 'x-request-id': 'has spaces and "quotes"' } })
    expect(bogus.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
  })

  it("gives routes the socket's peer address, never a spoofed X-Forwarded-For", async () => {
    const r = await fetch(`${server.publicUrl}/fixture/peer`, { headers: { 'x-forwarded-for': '203.0.113.7' } })
    expect(await r.json()).toEqual({ remote: '127.0.0.1' })
  })

  it("serves plugins' raw routes through Bun's router with the core's request id, peer address and Ory errors", async () => {
    const r = await fetch(`${server.publicUrl}/fixture/raw/a/b?x=1`, { method: 'PUT', headers: { 'x-request-id': 'raw-1', 'x-forwarded-for': '203.0.113.7' } })
    expect(r.status).toBe(200)
    expect(r.headers.get('x-request-id')).toBe('raw-1')
    expect(await r.json()).toEqual({ path: '/fixture/raw/a/b', method: 'PUT', request_id: 'raw-1', remote: '127.0.0.1', tenant: 'default', greeting: 'hi' })
    await Bun.sleep(50)
    expect(server.lines.find((l) => l.request_id === 'raw-1' && l.msg === 'request')).toMatchObject({ method: 'PUT', path: '/fixture/raw/a/b', status: 200, remote: '127.0.0.1' })
    const failed = await fetch(`${server.publicUrl}/fixture/raw-fail`)
    expect(failed.status).toBe(400)
    const body = await failed.json()
    expect(body.error).toMatchObject({ code: 400, status: 'Bad Request', message: 'raw routes render errors in Ory shape', request: failed.headers.get('x-request-id') })
    // the raw routes are only where they were declared
    expect((await fetch(`${server.adminUrl}/fixture/raw/a`)).status).toBe(404)
  })

  it('binds the admin listener to loopback only by default', async () => {
    const port = Number(new URL(server.adminUrl!).port)
    // the kernel's listening sockets on the admin port, from the kernel's own table (Linux): only 127.0.0.1
    const listening = ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((f) =>
      existsSync(f)
        ? readFileSync(f, 'utf8')
            .split('\n')
            .slice(1)
            .map((l) => l.trim().split(/\s+/))
            .filter((c) => c[3] === '0A' && Number.parseInt(c[1]?.split(':')[1] ?? '', 16) === port)
            .map((c) => c[1]!.split(':')[0]!)
        : [],
    )
    if (existsSync('/proc/net/tcp')) expect(listening).toEqual(['0100007F']) // 127.0.0.1, not 00000000 (every address)
    // and, where the machine has another interface, the port cannot be reached through it
    const external = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)
    if (!external) return
    const reached = await fetch(`http://${external.address}:${port}/health/alive`, { signal: AbortSignal.timeout(2000) }).then(
      () => true,
      () => false,
    )
    expect(reached).toBe(false)
  })
})

describe('tessera serve: tenants resolved by host', () => {
  let server: ServerProcess
  beforeAll(async () => {
    const config = scratch.write('serve-tenancy.yaml', yamlConfig('tenancy:\n  hosts:\n    tenant-a.example: tenant-a\n'))
    server = await startServer(['bun', CLI, 'serve', '--config', config], { env: { SECRETS_SYSTEM: SECRET } })
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('gives raw routes and Elysia routes the tenant of the host, with the request id', async () => {
    const a = await fetch(`${server.publicUrl}/fixture/raw/x`, { headers: { host: 'tenant-a.example', 'x-request-id': 'ten-1' } })
    expect([a.status, a.headers.get('x-request-id')]).toEqual([200, 'ten-1'])
    expect((await a.json()).tenant).toBe('tenant-a')
    expect((await (await fetch(`${server.publicUrl}/fixture/raw/x`)).json()).tenant).toBe('default')
    const failed = await fetch(`${server.publicUrl}/fixture/raw-fail`, { headers: { host: 'tenant-a.example' } })
    expect(failed.status).toBe(400)
    expect(failed.headers.get('x-request-id')).toBeTruthy()
    expect((await fetch(`${server.publicUrl}/fixture/hello`, { headers: { host: 'tenant-a.example' } })).status).toBe(200)
  })
})

describe('tessera serve: tenants from a code resolver (an asynchronous request context)', () => {
  let server: ServerProcess
  beforeAll(async () => {
    const config = scratch.write(
      'serve-resolver.config.ts',
      `import { defineConfig } from 'tessera'
import notes from ${JSON.stringify(FIXTURE_NOTES)}
export default defineConfig({
  dsn: 'sqlite://${scratch.dir}/serve-resolver.sqlite',
  serve: { public: { host: '127.0.0.1', port: 0 }, admin: { port: 0 } },
  migrations: { auto: true },
  tenancy: { resolve: (request) => request.headers.get('x-tenant') },
  plugins: [notes({ greeting: 'hi' })],
})
`,
    )
    server = await startServer(['bun', CLI, 'serve', '--config', config], { env: { SECRETS_SYSTEM: SECRET } })
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("gives raw and Elysia routes the resolver's tenant, and answers a tenant it refuses with 400 in Ory's shape", async () => {
    const ok = await fetch(`${server.publicUrl}/fixture/raw/x`, { headers: { 'x-tenant': 'tenant-b' } })
    expect([ok.status, (await ok.json()).tenant]).toEqual([200, 'tenant-b'])
    for (const path of ['/fixture/raw/x', '/fixture/hello']) {
      const refused = await fetch(`${server.publicUrl}${path}`, { headers: { 'x-tenant': 'not a tenant!' } })
      const body = await refused.json()
      expect([path, refused.status, body.error.message]).toEqual([path, 400, 'The request names an invalid tenant'])
      // issue 11: the refusal carries a request id, in the body and the header alike, and is logged with it
      const id = refused.headers.get('x-request-id')
      expect(id).toMatch(/^[0-9a-f-]{36}$/)
      expect(body.error.request).toBe(id!)
      await Bun.sleep(50)
      expect(server.lines.find((l) => l.msg === 'request' && l.request_id === id)).toMatchObject({ path, status: 400 })
    }
  })
})

describe('tessera serve: graceful shutdown', () => {
  it('lets an in-flight request finish on SIGTERM, refuses new ones, and exits 0', async () => {
    const config = scratch.write('drain.yaml', yamlConfig())
    const server = await startServer(['bun', CLI, 'serve', '--config', config], { env: { SECRETS_SYSTEM: SECRET } })
    const inflight = fetch(`${server.publicUrl}/fixture/slow?ms=1500`).then(async (r) => ({ status: r.status, body: await r.json() }))
    await Bun.sleep(300)
    server.proc.kill('SIGTERM')
    await Bun.sleep(300)
    const late = await fetch(`${server.publicUrl}/health/alive`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.status,
      () => 'refused',
    )
    expect(late).toBe('refused')
    expect(await inflight).toEqual({ status: 200, body: { slept: 1500 } })
    expect(await server.exited).toBe(0)
    const msgs = server.lines.map((l) => l.msg)
    expect(msgs).toContain('shutting down: draining in-flight requests')
    expect(msgs.at(-1)).toBe('stopped')
  })

  it('stops waiting after serve.shutdownTimeout', async () => {
    const config = scratch.write('timeout.yaml', yamlConfig().replace('shutdownTimeout: 5000', 'shutdownTimeout: 300'))
    const server = await startServer(['bun', CLI, 'serve', '--config', config], { env: { SECRETS_SYSTEM: SECRET } })
    const inflight = fetch(`${server.publicUrl}/fixture/slow?ms=5000`).then((r) => r.status, () => 'aborted')
    await Bun.sleep(200)
    const t0 = performance.now()
    server.proc.kill('SIGTERM')
    expect(await server.exited).toBe(0)
    expect(performance.now() - t0).toBeLessThan(4000)
    expect(await inflight).toBe('aborted')
    expect(server.lines.map((l) => l.msg)).toContain('shutdown timeout reached; closing remaining connections')
  })
})

describe('tessera serve: startup errors', () => {
  it('refuses to start without secrets outside dev mode, naming SECRETS_SYSTEM, and exits non-zero', async () => {
    const config = scratch.write('nosecret.yaml', yamlConfig())
    const r = await runCli(['serve', '--config', config])
    expect(r.code).toBe(1)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toStartWith('tessera: invalid configuration: secrets.system is not set: set the SECRETS_SYSTEM environment variable')
  })

  it('starts in dev mode with an ephemeral secret and a loud warning', async () => {
    const config = scratch.write('dev.yaml', yamlConfig())
    const server = await startServer(['bun', CLI, 'serve', '--dev', '--config', config])
    expect(server.lines.some((l) => l.level === 'warn' && String(l.msg).includes('DEVELOPMENT MODE'))).toBe(true)
    expect(await server.stop()).toBe(0)
  })
})

describe.skipIf(!postgresAvailable('serve'))('tessera serve (PostgreSQL)', () => {
  it('is not ready until migrations are applied, and never migrates PostgreSQL silently', async () => {
    const pg = await scratchPostgres('serve')
    await pg.db.close()
    try {
      const config = scratch.write('pg.yaml', yamlConfig().replace(/dsn: .*/, `dsn: "${pg.dsn}"`))
      const server = await startServer(['bun', CLI, 'serve', '--config', config], { env: { SECRETS_SYSTEM: SECRET } })
      try {
        const before = await fetch(`${server.adminUrl}/health/ready`)
        expect(before.status).toBe(503)
        expect(await before.json()).toEqual({
          errors: { migrations: '2 migration(s) not applied (fixture-notes/0001_init, fixture-notes/0002_index); run tessera migrate up' },
        })
        expect((await fetch(`${server.adminUrl}/health/alive`)).status).toBe(200)
        expect(server.lines.some((l) => String(l.msg).startsWith('migrations.auto is ignored on PostgreSQL'))).toBe(true)
        const up = await runCli(['migrate', 'up', '--config', config])
        expect(up.code).toBe(0)
        const after = await fetch(`${server.adminUrl}/health/ready`)
        expect(after.status).toBe(200)
      } finally {
        expect(await server.stop()).toBe(0)
      }
    } finally {
      await pg.drop()
    }
  })

  it('reports an unreachable database as not ready with the reason', async () => {
    const config = scratch.write('pgdown.yaml', yamlConfig().replace(/dsn: .*/, 'dsn: "postgres://nobody@127.0.0.1:1/none"'))
    const server = await startServer(['bun', CLI, 'serve', '--config', config], { env: { SECRETS_SYSTEM: SECRET } })
    try {
      const r = await fetch(`${server.adminUrl}/health/ready`)
      expect(r.status).toBe(503)
      const body = await r.json()
      expect(Object.keys(body.errors)).toEqual(['database'])
      expect(body.errors.database).toContain('the database is unavailable')
    } finally {
      await server.stop()
    }
  })
})

describe("the repository's tessera.config.ts (what `bun run start` serves)", () => {
  it('starts on the embedded default, migrates itself and reports ready', async () => {
    // same config file as `bun run start`; the environment only moves the database and ports out of the way
    const server = await startServer(['bun', CLI, 'serve', '--config', 'tessera.config.ts'], {
      env: { DSN: `sqlite://${scratch.dir}/start.sqlite`, SERVE_PUBLIC_PORT: '0', SERVE_ADMIN_PORT: '0' },
    })
    try {
      const ready = await fetch(`${server.publicUrl}/health/ready`)
      expect(ready.status).toBe(200)
      expect(await ready.json()).toEqual({ status: 'ok' })
      // every first-party plugin: the account pages, OpenID Connect discovery, and the README tour's permission
      // model and access rule (403 until a tuple lets the signed-in identity view the document, then 200 with X-User)
      expect((await fetch(`${server.publicUrl}/ui/login`, { redirect: 'manual' })).status).toBeLessThan(400)
      const discovery = (await (await fetch(`${server.publicUrl}/.well-known/openid-configuration`)).json()) as { issuer: string }
      expect(discovery.issuer).toBeTruthy()
      const flow = (await (await fetch(`${server.publicUrl}/self-service/registration/api`)).json()) as { id: string }
      const registered = await fetch(`${server.publicUrl}/self-service/registration?flow=${flow.id}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ method: 'password', password: 'correct horse battery staple', traits: { email: 'ada@example.com' } }),
      })
      const { session_token: token, identity } = (await registered.json()) as { session_token: string; identity: { id: string } }
      const decide = () => fetch(`${server.adminUrl}/decisions/documents/readme`, { headers: { authorization: `Bearer ${token}` } })
      expect((await decide()).status).toBe(403)
      expect((await fetch(`${server.adminUrl}/decisions/documents/readme`)).status).toBe(401)
      const put = await fetch(`${server.adminUrl}/admin/relation-tuples`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ namespace: 'Document', object: 'readme', relation: 'viewers', subject_id: identity.id }),
      })
      expect(put.status).toBe(201)
      const allowed = await decide()
      expect(allowed.status).toBe(200)
      expect(allowed.headers.get('x-user')).toBe(identity.id)
      expect((await fetch(`${server.adminUrl}/decisions/documents/other`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(403)
    } finally {
      expect(await server.stop()).toBe(0)
    }
  })
})

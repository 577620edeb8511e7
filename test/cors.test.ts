/**
 * CORS on the public listener (`serve.public.cors`, Kratos' `serve.public.cors`) under a real `tessera serve`: a
 * browser app on an allowed origin gets its preflight answered and its answers marked readable with credentials;
 * any other origin (a look-alike host included) gets no CORS header; the admin listener never answers CORS; without
 * the setting nothing changes; and the configurations that would open the session to every site are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { resolveConfig } from '../core/config/load.ts'
import { ConfigError } from '../core/errors.ts'
import { quickstartSchema } from './helpers/identity.ts'
import { CLI, SECRET, type ServerProcess, scratchDir, startServer } from './helpers/process.ts'

const scratch = scratchDir('cors')
afterAll(() => scratch.remove())

const APP = 'https://account.example.com'

async function serveWith(cors: unknown): Promise<ServerProcess> {
  const config = {
    dsn: `sqlite://${scratch.dir}/cors-${crypto.randomUUID()}.sqlite`,
    migrations: { auto: true },
    serve: { public: { host: '127.0.0.1', port: 0, ...(cors ? { cors } : {}) }, admin: { port: 0 } },
    plugins: [{ use: 'identity', options: { schemas: [{ id: 'default', schema: quickstartSchema }] } }, { use: 'password' }],
  }
  return startServer(['bun', CLI, 'serve', '--config', scratch.write(`cors-${crypto.randomUUID()}.json`, JSON.stringify(config))], { env: { SECRETS_SYSTEM: SECRET } })
}

describe('serve.public.cors', () => {
  let server: ServerProcess
  beforeAll(async () => {
    server = await serveWith({ enabled: true, allowedOrigins: [APP, 'https://*.example.org'], maxAge: 600 })
  })
  afterAll(async () => {
    await server?.stop()
  })

  const preflight = (url: string, origin: string) =>
    fetch(url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })

  it('answers a preflight from an allowed origin', async () => {
    const res = await preflight(`${server.publicUrl}/self-service/login?flow=x`, APP)
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-origin')).toBe(APP)
    expect(res.headers.get('access-control-allow-credentials')).toBe('true')
    expect(res.headers.get('access-control-allow-methods')).toContain('POST')
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('content-type')
    expect(res.headers.get('access-control-max-age')).toBe('600')
    expect(res.headers.get('vary')).toContain('Origin')
  })

  it("marks an allowed origin's answers readable, with credentials, whatever the route answers", async () => {
    const flow = await fetch(`${server.publicUrl}/self-service/login/browser`, { headers: { origin: APP, accept: 'application/json' } })
    expect(flow.status).toBe(200)
    expect(flow.headers.get('access-control-allow-origin')).toBe(APP)
    expect(flow.headers.get('access-control-allow-credentials')).toBe('true')
    expect(flow.headers.get('access-control-expose-headers')).toContain('X-Request-Id')
    const anonymous = await fetch(`${server.publicUrl}/sessions/whoami`, { headers: { origin: APP } })
    expect(anonymous.status).toBe(401)
    expect(anonymous.headers.get('access-control-allow-origin')).toBe(APP)
    const missing = await fetch(`${server.publicUrl}/nope`, { headers: { origin: 'https://eu.example.org' } })
    expect(missing.status).toBe(404)
    expect(missing.headers.get('access-control-allow-origin')).toBe('https://eu.example.org')
  })

  it('gives no CORS header to any other origin, look-alikes included', async () => {
    for (const origin of ['https://evil.example', 'http://account.example.com', 'https://account.example.com.evil.example', 'https://example.org', 'https://a.example.org.evil.example', 'null']) {
      const res = await fetch(`${server.publicUrl}/sessions/whoami`, { headers: { origin } })
      expect(res.headers.get('access-control-allow-origin')).toBeNull()
      const pre = await preflight(`${server.publicUrl}/sessions/whoami`, origin)
      expect(pre.headers.get('access-control-allow-origin')).toBeNull()
      expect(pre.headers.get('access-control-allow-methods')).toBeNull()
    }
  })

  it('never answers CORS on the admin listener', async () => {
    const res = await fetch(`${server.adminUrl}/admin/identities`, { headers: { origin: APP } })
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('changes nothing when it is not configured', async () => {
    const plain = await serveWith(undefined)
    try {
      const res = await fetch(`${plain.publicUrl}/self-service/login/browser`, { headers: { origin: APP, accept: 'application/json' } })
      expect(res.headers.get('access-control-allow-origin')).toBeNull()
      expect((await preflight(`${plain.publicUrl}/self-service/login/browser`, APP)).headers.get('access-control-allow-origin')).toBeNull()
    } finally {
      await plain.stop()
    }
  })

  it('refuses configurations that would open the session to every site, naming the path', () => {
    const problems = (cors: unknown) => {
      try {
        resolveConfig({ secrets: { system: [SECRET] }, serve: { public: { cors } } } as never, { env: {} })
      } catch (e) {
        if (e instanceof ConfigError) return e.problems.join('\n')
        throw e
      }
      return ''
    }
    expect(problems({ enabled: true, allowedOrigins: ['*'] })).toMatch(/serve\.public\.cors\.allowedOrigins: .*name the origins/)
    expect(problems({ enabled: true })).toMatch(/serve\.public\.cors\.allowedOrigins: .*no origin is allowed/)
    expect(problems({ enabled: true, allowedOrigins: ['https://app.example.com/path'] })).toMatch(/serve\.public\.cors\.allowedOrigins\[0\]: expected an origin/)
    expect(problems({ enabled: true, allowedOrigins: ['*'], allowCredentials: false })).toBe('')
  })
})

import { afterAll, describe, expect, it } from 'bun:test'
import * as v from 'valibot'
import { createLogger, defineConfig, definePlugin } from 'tessera'
import { identity } from 'tessera/plugins/identity'
import { password } from 'tessera/plugins/password'
import { createApp, personSchema } from './app.ts'

type App = Awaited<ReturnType<typeof createApp>>

/** Real identities and passwords; a cheap hash and no breach lookup (no network) for the test. */
const plugins = () => [
  identity({ schemas: [{ id: 'person', schema: personSchema }] }),
  password({ hasher: { memoryCost: 64 }, breachCheck: { enabled: false } }),
]

const send = async (app: App, method: string, url: string, init: { body?: unknown; headers?: Record<string, string> } = {}) => {
  const headers: Record<string, string> = { ...init.headers }
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  const r = await app.handle(new Request(url, { method, headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) }))
  const text = await r.text()
  let json: any
  try {
    json = JSON.parse(text)
  } catch {}
  return { status: r.status, headers: r.headers, text, json }
}
const get = (app: App, path: string, headers: Record<string, string> = {}) => send(app, 'GET', `http://shop.test${path}`, { headers })

describe('embedding Tessera in an Elysia app', () => {
  const config = defineConfig({ dev: true, dsn: 'sqlite::memory:', plugins: plugins() })
  const apps: App[] = []
  const quiet = createLogger({ level: 'fatal' })
  const make = async (c: Parameters<typeof createApp>[0], options: Parameters<typeof createApp>[1] = {}) => {
    const app = await createApp(c, { log: quiet, ...options })
    apps.push(app)
    return app
  }
  afterAll(async () => {
    for (const a of apps) await a.decorator.tesseraKernel.stop()
  })

  it('registers through the mounted flows and shows the signed-in subject on a host route', async () => {
    const app = await make(config)
    const flow = await send(app, 'GET', 'https://shop.test/self-service/registration/api')
    expect(flow.status).toBe(200)
    // the flow's action points at the host app as the request reached it, not at localhost:4433
    expect(flow.json.ui.action).toBe(`https://shop.test/self-service/registration?flow=${flow.json.id}`)

    const done = await send(app, 'POST', flow.json.ui.action, { body: { method: 'password', password: 'a long and unusual passphrase 7', traits: { email: 'ada@shop.test' } } })
    expect(done.status).toBe(200)
    const token = done.json.session_token as string
    expect(token).toBeString()

    const me = await get(app, '/account', { 'x-session-token': token })
    expect(me.status).toBe(200)
    expect(me.json).toEqual({ id: done.json.identity.id, type: 'identity', traits: { email: 'ada@shop.test' } })
    expect((await get(app, '/hello', { 'x-session-token': token })).text).toBe(`hello ${done.json.identity.id}`)
    // and Tessera's own whoami agrees
    expect((await get(app, '/sessions/whoami', { 'x-session-token': token })).json.identity.traits).toEqual({ email: 'ada@shop.test' })
  })

  it('serves the admin API under its prefix with Ory paths after it (an SDK basePath of origin + prefix)', async () => {
    const app = await make(config)
    const list = await get(app, '/tessera/admin/identities')
    expect(list.status).toBe(200)
    expect(Array.isArray(list.json)).toBe(true)
    expect((await get(app, '/admin/identities')).status).toBe(404)
    expect((await get(app, '/tessera/health/ready')).json).toEqual({ status: 'ok' })
  })

  it('puts the public API under a prefix when asked, and flow URLs follow it', async () => {
    const app = await make(defineConfig({ dev: true, dsn: 'sqlite::memory:', plugins: plugins() }), { public: { prefix: '/auth' } })
    const flow = await get(app, '/auth/self-service/login/api')
    expect(flow.status).toBe(200)
    expect(flow.json.ui.action).toBe(`http://shop.test/auth/self-service/login?flow=${flow.json.id}`)
    expect((await get(app, '/self-service/login/api')).status).toBe(404)
  })

  it('uses serve.public.baseUrl instead of the request when it is set', async () => {
    const app = await make(defineConfig({ dev: true, dsn: 'sqlite::memory:', serve: { public: { baseUrl: 'https://id.example.com/' } }, plugins: plugins() }))
    const flow = await get(app, '/self-service/login/api', { host: 'evil.test' })
    expect(flow.json.ui.action).toBe(`https://id.example.com/self-service/login?flow=${flow.json.id}`)
  })

  it('refuses a malformed prefix with a message naming it', async () => {
    await expect(createApp(config, { admin: { prefix: 'tessera/' } })).rejects.toThrow('embed options: admin.prefix: expected a path prefix such as /tessera')
  })

  it('is idempotent: .use() twice and tessera() twice with the same config give one instance', async () => {
    let setups = 0
    const counted = definePlugin({ id: 'counted', options: v.object({}), setup: () => void setups++ })
    const once = defineConfig({ dev: true, dsn: 'sqlite::memory:', plugins: [counted()] })
    const a = await make(once)
    const b = await make(once)
    expect(a.routes.filter((r) => r.path === '/hello')).toHaveLength(1)
    expect(b.routes.filter((r) => r.path === '/tessera/health/ready')).toHaveLength(1)
    expect(setups).toBe(1)
  })

  it('answers 401 in Ory shape for a session-only route without a caller', async () => {
    const app = await make(config)
    expect((await get(app, '/hello')).text).toBe('hello stranger')
    const anon = await get(app, '/account')
    expect(anon.status).toBe(401)
    expect(anon.json.error).toMatchObject({ code: 401, status: 'Unauthorized', message: 'The request could not be authorized' })
    expect((await get(app, '/account', { 'x-session-token': 'not-a-token' })).status).toBe(401)
  })

  it("does not take over the host's own error handling", async () => {
    const app = await make(config)
    const r = await get(app, '/host-error')
    expect(r.status).toBe(500)
    expect(r.json?.error?.status).toBeUndefined()
  })
})

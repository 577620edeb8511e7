import { afterAll, describe, expect, it } from 'bun:test'
import * as v from 'valibot'
import { defineConfig, definePlugin } from 'tessera'
import { createApp } from './app.ts'

/** A toy subject resolver standing in for the identity plugin: `X-Demo-User` names the caller. */
const demoUsers = definePlugin({
  id: 'demo-users',
  subjectResolvers: [
    {
      id: 'demo',
      resolve: async (request, tenant) => {
        const id = request.headers.get('x-demo-user')
        return id ? { id, type: 'identity', tenant } : null
      },
    },
  ],
  routes: {
    public: (app) => app.get('/demo/ping', ({ tessera }) => ({ pong: true, tenant: tessera.tenant })),
    admin: (app) => app.get('/admin/demo', () => ({ admin: true })),
  },
})

let setups = 0
const counted = definePlugin({ id: 'counted', options: v.object({}), setup: () => void setups++ })

const get = async (app: Awaited<ReturnType<typeof createApp>>, path: string, headers: Record<string, string> = {}) => {
  const r = await app.handle(new Request(`http://localhost${path}`, { headers }))
  const text = await r.text()
  return { status: r.status, text, json: (() => { try { return JSON.parse(text) } catch { return undefined } })() }
}

describe('embedding Tessera in an Elysia app', () => {
  const config = defineConfig({ dev: true, dsn: 'sqlite::memory:', plugins: [demoUsers(), counted()] })
  const apps: Awaited<ReturnType<typeof createApp>>[] = []
  afterAll(async () => {
    for (const a of apps) await (a.decorator as { tesseraKernel: { stop(): Promise<void> } }).tesseraKernel.stop()
  })

  it('mounts the public routes next to the host routes', async () => {
    const app = await createApp(config)
    apps.push(app)
    expect((await get(app, '/')).text).toBe('the host app')
    expect((await get(app, '/demo/ping')).json).toEqual({ pong: true, tenant: 'default' })
  })

  it('mounts admin routes under the configured prefix only, and health checks', async () => {
    const app = await createApp(config)
    expect((await get(app, '/tessera/admin/admin/demo')).json).toEqual({ admin: true })
    expect((await get(app, '/admin/demo')).status).toBe(404)
    expect((await get(app, '/tessera/health/ready')).json).toEqual({ status: 'ok' })
  })

  it('leaves admin routes out entirely when asked', async () => {
    const app = await createApp(defineConfig({ dev: true, dsn: 'sqlite::memory:', plugins: [demoUsers()] }), { admin: false })
    apps.push(app)
    expect((await get(app, '/tessera/admin/admin/demo')).status).toBe(404)
  })

  it('is idempotent: .use() twice and tessera() twice with the same config give one instance', async () => {
    const a = await createApp(config)
    const b = await createApp(config)
    const routes = a.routes.filter((r) => r.path === '/demo/ping')
    expect(routes).toHaveLength(1)
    expect(b.routes.filter((r) => r.path === '/demo/ping')).toHaveLength(1)
    expect(setups).toBe(1)
  })

  it('gives host routes the subject: null when anonymous, the caller otherwise', async () => {
    const app = await createApp(config)
    expect((await get(app, '/hello')).text).toBe('hello stranger')
    expect((await get(app, '/hello', { 'x-demo-user': 'ada' })).text).toBe('hello ada')
  })

  it('answers 401 in Ory shape for a session-only route without a caller', async () => {
    const app = await createApp(config)
    const anon = await get(app, '/account')
    expect(anon.status).toBe(401)
    expect(anon.json.error).toMatchObject({ code: 401, status: 'Unauthorized', message: 'The request could not be authorized' })
    expect((await get(app, '/account', { 'x-demo-user': 'ada' })).json).toEqual({ id: 'ada', type: 'identity' })
  })

  it('returns no subject until a plugin can resolve one', async () => {
    const app = await createApp(defineConfig({ dev: true, dsn: 'sqlite::memory:', plugins: [] }))
    apps.push(app)
    expect((await get(app, '/hello', { 'x-demo-user': 'ada' })).text).toBe('hello stranger')
    expect((await get(app, '/account', { 'x-demo-user': 'ada' })).status).toBe(401)
  })

  it("does not take over the host's own error handling", async () => {
    const app = await createApp(config)
    const r = await get(app, '/host-error')
    expect(r.status).toBe(500)
    expect(r.json?.error?.status).toBeUndefined()
  })
})

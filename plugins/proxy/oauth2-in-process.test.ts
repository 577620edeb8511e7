/**
 * The seeds' scenario 2, end to end on SQLite and PostgreSQL: a backend gets a token with `client_credentials`
 * and calls an API behind Tessera's proxy, which introspects the token in-process (the oauth2 plugin's
 * `oauth2.tokens` service, no introspection URL). Also `oauth2_client_credentials` in-process, and the
 * configuration error when neither a URL nor the oauth2 plugin is there. The upstream is a real echo server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { type TestApps, bootApps } from '../../test/helpers/app.ts'
import { oauth2 } from '../oauth2/index.ts'
import { proxy, proxyState } from './index.ts'
import { type TestServer, bootProxy, startServer } from './test-helpers.ts'

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

const rules = (upstream: string) => [
  {
    id: 'api',
    match: { url: '<http|https>://<[^/]+>/api/<.*>', methods: ['GET', 'POST'] },
    authenticators: [{ handler: 'oauth2_introspection', config: { required_scope: ['orders.read'] } }],
    authorizer: { handler: 'allow' },
    mutators: [{ handler: 'header', config: { headers: { 'X-Subject': '{{ print .Subject }}' } } }],
    upstream: { url: upstream },
  },
  {
    id: 'machine',
    match: { url: '<http|https>://<[^/]+>/machine/<.*>', methods: ['GET'] },
    authenticators: [{ handler: 'oauth2_client_credentials', config: { required_scope: ['orders.read'] } }],
    authorizer: { handler: 'allow' },
    mutators: [{ handler: 'header', config: { headers: { 'X-Subject': '{{ print .Subject }}' } } }],
    upstream: { url: upstream },
  },
]

for (const driver of drivers('proxyoauth2')) {
  describe.skipIf(!driver.enabled)(`proxy with the oauth2 plugin in-process (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: TestApps
    let upstream: TestServer
    let proxyUrl: string
    let backend: { id: string; secret: string }

    async function tokenFor(c: { id: string; secret: string }, scope: string) {
      const res = await apps.public.handle(new Request('http://localhost/oauth2/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(c.id, c.secret) }, body: new URLSearchParams({ grant_type: 'client_credentials', scope }) }))
      expect(res.status).toBe(200)
      return (await res.json()).access_token as string
    }

    beforeAll(async () => {
      scratch = await driver.create()
      upstream = startServer(async (req) => Response.json({ path: new URL(req.url).pathname, subject: req.headers.get('x-subject'), authorization: req.headers.get('authorization') }))
      apps = await bootApps([oauth2(), proxy({ rules: rules(upstream.url), serve: { enabled: true, host: '127.0.0.1', port: 0 } })], { database: scratch.db })
      const ctx = apps.kernel.plugins.find((p) => p.id === 'proxy')!.ctx as object
      proxyUrl = `http://127.0.0.1:${proxyState(ctx).server!.port}`
      const res = await apps.admin.handle(new Request('http://localhost/admin/clients', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_id: 'orders-backend', grant_types: ['client_credentials'], response_types: [], scope: 'orders.read orders.write' }) }))
      const c = await res.json()
      backend = { id: c.client_id, secret: c.client_secret }
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await upstream.stop()
      await scratch.drop()
    })

    it('a backend with a client_credentials token reaches the API; the proxy introspected it in-process', async () => {
      const token = await tokenFor(backend, 'orders.read')
      const res = await fetch(`${proxyUrl}/api/orders`, { headers: { authorization: `Bearer ${token}` } })
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ path: '/api/orders', subject: 'orders-backend' })
    })

    it('refuses a token without the required scope, a revoked token and junk', async () => {
      const narrow = await tokenFor(backend, 'orders.write')
      expect((await fetch(`${proxyUrl}/api/orders`, { headers: { authorization: `Bearer ${narrow}` } })).status).toBe(401)
      const token = await tokenFor(backend, 'orders.read')
      await apps.public.handle(new Request('http://localhost/oauth2/revoke', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(backend.id, backend.secret) }, body: new URLSearchParams({ token }) }))
      expect((await fetch(`${proxyUrl}/api/orders`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401)
      expect((await fetch(`${proxyUrl}/api/orders`, { headers: { authorization: 'Bearer ory_at_junk' } })).status).toBe(401)
      expect(upstream.hits.filter((h) => h.headers.get('authorization') === `Bearer ${token}`)).toHaveLength(0)
    })

    it('oauth2_client_credentials exchanges Basic credentials in-process', async () => {
      const ok = await fetch(`${proxyUrl}/machine/status`, { headers: { authorization: basic(backend.id, backend.secret) } })
      expect(ok.status).toBe(200)
      expect((await ok.json()).subject).toBe('orders-backend')
      expect((await fetch(`${proxyUrl}/machine/status`, { headers: { authorization: basic(backend.id, 'wrong-secret') } })).status).toBe(401)
      expect((await fetch(`${proxyUrl}/machine/status`, { headers: { authorization: basic('nobody', 'x') } })).status).toBe(401)
    })
  })
}

describe('proxy oauth2 authenticators without the oauth2 plugin', () => {
  it('answer 500 naming the missing introspection_url / token_url instead of passing', async () => {
    const upstream = startServer(() => new Response('should not be reached'))
    const { kernel, admin } = await bootProxy({ rules: rules(upstream.url) })
    const a = await admin.handle(new Request('http://localhost/decisions/api/x', { headers: { authorization: 'Bearer abc' } }))
    expect(a.status).toBe(500)
    const b = await admin.handle(new Request('http://localhost/decisions/machine/x', { headers: { authorization: basic('a', 'b') } }))
    expect(b.status).toBe(500)
    expect(upstream.hits).toHaveLength(0)
    await kernel.stop()
    await upstream.stop()
  })
})

import { describe, expect, it } from 'bun:test'
import postgres from 'postgres'
import * as v from 'valibot'
import { compilePipeline, definePlugin, sql } from 'tessera'
import { POSTGRES_URL, basicHandlers, captureLog, testApp } from 'tessera/testing'

const notes = definePlugin({
  id: 'notes',
  options: v.object({ greeting: v.optional(v.string(), 'hi') }),
  migrations: [{ id: '0001_init', up: 'CREATE TABLE kit_notes (nid TEXT NOT NULL, body TEXT NOT NULL);' }],
  routes: {
    public: (app, ctx) =>
      app
        .get('/greeting', () => ({ greeting: ctx.options.greeting }))
        .get('/peer', ({ tessera }) => ({ peer: tessera.remoteAddress ?? null })),
    admin: (app) =>
      app
        .post('/admin/notes', async ({ tessera, body }) => {
          await tessera.db.exec(sql`INSERT INTO kit_notes (nid, body) VALUES (${tessera.db.nid}, ${(body as { body: string }).body})`)
          return new Response(null, { status: 201 })
        })
        .get('/admin/notes', async ({ tessera }) => (await tessera.db.query<{ body: string }>(sql`SELECT body FROM kit_notes WHERE nid = ${tessera.db.nid}`)).map((r) => r.body)),
  },
})

const databases = ['sqlite', ...(POSTGRES_URL ? ['postgres' as const] : [])] as const

describe('tessera/testing', () => {
  for (const database of databases) {
    it(`boots plugins on ${database}, migrated, and calls both listeners without a socket`, async () => {
      const app = await testApp([notes({ greeting: 'hello' })], { database })
      expect(app.driver).toBe(database)
      expect((await app.public.get('/greeting')).json).toEqual({ greeting: 'hello' })
      expect((await app.admin.post('/admin/notes', { body: 'first' })).status).toBe(201)
      expect((await app.admin.get('/admin/notes')).json).toEqual(['first'])
      // admin routes are not on the public listener
      expect((await app.public.get('/admin/notes')).status).toBe(404)
      expect((await app.public.get('/health/ready')).json).toEqual({ status: 'ok' })
      await app.stop()
    })
  }

  it('renders bad plugin options as boot errors naming the option', async () => {
    await expect(testApp([notes({ greeting: 42 as unknown as string })])).rejects.toThrow('plugins[0].options.greeting')
  })

  it('passes a peer address to the core when asked', async () => {
    const app = await testApp([notes()], { database: 'sqlite' })
    expect((await app.public.get('/peer')).json).toEqual({ peer: null })
    expect((await app.public.get('/peer', { remoteAddress: '10.0.0.7' })).json).toEqual({ peer: '10.0.0.7' })
    await app.stop()
  })

  it('offers allow and deny (and noop, anonymous, unauthorized) without the proxy', async () => {
    const app = await testApp([basicHandlers()], { database: 'sqlite' })
    const req = { method: 'GET', url: new URL('http://localhost/x'), headers: new Headers(), tenant: 'default' }
    const rule = (authorizer: string, authenticator = 'anonymous') =>
      compilePipeline({ id: 'r', authenticators: [{ handler: authenticator }], authorizer: { handler: authorizer }, mutators: [{ handler: 'noop' }] }, app.kernel.registries)
    const allowed = await rule('allow').run(req)
    expect(allowed.allowed).toBe(true)
    expect(allowed.session.subject).toBe('anonymous')
    const denied = await rule('deny').run(req)
    expect(denied.allowed).toBe(false)
    if (!denied.allowed) expect(denied.response.status).toBe(403)
    const unauth = await rule('allow', 'unauthorized').run(req)
    if (!unauth.allowed) expect(unauth.response.status).toBe(401)
    expect(unauth.allowed).toBe(false)
    await app.stop()
  })

  it('captures log lines', async () => {
    const log = captureLog('info')
    const app = await testApp([notes()], { database: 'sqlite', log: log.logger })
    expect(log.lines.some((l) => l.msg === 'migration applied' && l.plugin === 'notes')).toBe(true)
    await app.stop()
  })

  it.if(POSTGRES_URL !== undefined)('drops its PostgreSQL scratch schema at stop', async () => {
    const app = await testApp([notes()], { database: 'postgres' })
    const schema = (await app.kernel.db.query<{ schema: string }>(sql`SELECT current_schema() AS schema`))[0]!.schema
    const pg = postgres(POSTGRES_URL!, { max: 1, onnotice: () => {} })
    const exists = async () => (await pg`SELECT 1 FROM information_schema.schemata WHERE schema_name = ${schema}`).length
    expect(await exists()).toBe(1)
    await app.stop()
    expect(await exists()).toBe(0)
    await pg.end()
  })
})

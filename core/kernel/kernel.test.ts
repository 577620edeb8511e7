/**
 * The plugin contract, hook kind by hook kind, each exercised by a small
 * example plugin through the kernel — as a user composing plugins would.
 */
import { describe, expect, it } from 'bun:test'
import * as v from 'valibot'
import { bootApps, bootKernel, call, captureLog } from '../../test/helpers/app.ts'
import { resolveConfig } from '../config/load.ts'
import { ConfigError, NotFoundError, PluginError } from '../errors.ts'
import type { CredentialMethod } from '../flows/types.ts'
import { createLogger } from '../logger.ts'
import { definePlugin } from '../plugin.ts'
import { compilePipeline } from '../pipeline/run.ts'
import { AUTHENTICATED, NOT_RESPONSIBLE, forbidden } from '../pipeline/types.ts'
import { sql } from '../storage/sql.ts'
import { SqliteDatabase } from '../../drivers/sqlite.ts'
import type { StorageDriver } from '../storage/types.ts'
import { parse } from '../validation.ts'
import { Kernel } from './kernel.ts'

declare module '../events.ts' {
  interface TesseraEvents {
    'note.created': { id: string; title: string }
  }
}

/** A plugin with options, migrations, public and admin routes, events, lifecycle and readiness. */
const notes = definePlugin({
  id: 'notes',
  options: v.object({
    label: v.string(),
    maxTitle: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 20),
  }),
  migrations: [
    {
      id: '0001_init',
      up: 'CREATE TABLE notes (nid TEXT NOT NULL, id TEXT NOT NULL, title TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (nid, id))',
    },
  ],
  routes: {
    public: (app, ctx) =>
      app
        .post('/notes', async ({ body, tessera }) => {
          const input = parse(v.object({ id: v.string(), title: v.pipe(v.string(), v.maxLength(ctx.options.maxTitle)) }), body)
          await tessera.db.exec(sql`INSERT INTO notes (nid, id, title, created_at) VALUES (${tessera.db.nid}, ${input.id}, ${input.title}, ${new Date()})`)
          await ctx.emit('note.created', input, { tenant: tessera.tenant, requestId: tessera.requestId })
          return new Response(JSON.stringify({ ...input, label: ctx.options.label }), { status: 201, headers: { 'content-type': 'application/json' } })
        })
        .get('/notes/:id', async ({ params, tessera }) => {
          const row = await tessera.db.one(sql`SELECT id, title FROM notes WHERE nid = ${tessera.db.nid} AND id = ${params.id}`)
          if (!row) throw new (await import('../errors.ts')).NotFoundError(`note ${params.id} does not exist`)
          return row
        }),
    admin: (app) =>
      app.get('/admin/notes', async ({ tessera }) => tessera.db.query(sql`SELECT id, title FROM notes WHERE nid = ${tessera.db.nid} ORDER BY id`)),
  },
  ready: (ctx) => (ctx.options.label === 'not-ready' ? 'notes is warming up' : null),
})

describe('definePlugin', () => {
  it('returns a factory whose instances carry the user options unvalidated', () => {
    const inst = notes({ label: 'x' })
    expect(inst.id).toBe('notes')
    expect(inst.input).toEqual({ label: 'x' })
    expect(notes.id).toBe('notes')
  })

  it('refuses an id that is not kebab-case', () => {
    expect(() => definePlugin({ id: 'Bad_Id' })).toThrow(/kebab-case/)
  })
})

describe('kernel: options', () => {
  it('validates options once at boot and applies defaults', async () => {
    let seen: unknown
    const probe = definePlugin({
      id: 'probe',
      options: v.object({ n: v.optional(v.number(), 7) }),
      setup: (ctx) => {
        seen = ctx.options
      },
    })
    const k = await bootKernel([probe()])
    expect(seen).toEqual({ n: 7 })
    await k.stop()
  })

  it('names the plugin index and option path of a bad option', async () => {
    const webauthn = definePlugin({ id: 'webauthn', options: v.object({ rpId: v.string() }) })
    const other = definePlugin({ id: 'other' })
    const third = definePlugin({ id: 'third' })
    const err = await bootKernel([other(), third(), webauthn({ rpId: 42 as unknown as string })]).catch((e) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect(err.problems).toEqual(['plugins[2].options.rpId: expected string, received 42'])
  })

  it('reports every bad plugin at once, missing options included', async () => {
    const a = definePlugin({ id: 'a', options: v.object({ url: v.pipe(v.string(), v.url()) }) })
    const b = definePlugin({ id: 'b', options: v.strictObject({ size: v.number() }) })
    const err = await bootKernel([a({ url: 'not a url' }), b({ size: 1, colour: 'red' } as never)]).catch((e) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect(err.problems).toHaveLength(2)
    expect(err.problems[0]).toMatch(/^plugins\[0\]\.options\.url: /)
    expect(err.problems[1]).toBe('plugins[1].options.colour: unknown option; expected one of: size')
  })

  it('refuses options for a plugin that takes none', async () => {
    const bare = definePlugin({ id: 'bare' })
    const inst = { ...bare(), input: { x: 1 } }
    await expect(bootKernel([inst])).rejects.toThrow('plugins[0].options: plugin `bare` takes no options')
  })
})

describe('kernel: dependsOn', () => {
  const order: string[] = []
  const mk = (id: string, dependsOn: string[] = [], after: string[] = []) =>
    definePlugin({ id, dependsOn, after, setup: () => void order.push(id) })

  it('sets plugins up after what they depend on, whatever the config order', async () => {
    order.length = 0
    const k = await bootKernel([mk('proxy', ['identity', 'permissions'])(), mk('permissions')(), mk('identity')()])
    expect(order).toEqual(['permissions', 'identity', 'proxy'])
    expect(k.plugins.map((p) => p.id)).toEqual(['permissions', 'identity', 'proxy'])
    await k.stop()
  })

  it('keeps the config order where dependencies allow, and honours `after` for optional ordering', async () => {
    order.length = 0
    const k = await bootKernel([mk('a')(), mk('b', [], ['c', 'missing-ok'])(), mk('c')(), mk('d')()])
    expect(order).toEqual(['a', 'c', 'b', 'd'])
    await k.stop()
  })

  it('refuses duplicate ids, naming both positions', async () => {
    await expect(bootKernel([mk('x')(), mk('y')(), mk('x')()])).rejects.toThrow(
      'plugin `x` appears twice in plugins (plugins[0] and plugins[2]); keep one',
    )
  })

  it('refuses a missing dependency, naming it and how to fix it', async () => {
    const err = await bootKernel([mk('proxy', ['identity'])()]).catch((e) => e)
    expect(err).toBeInstanceOf(PluginError)
    expect(err.code).toBe('ERR_MISSING_DEPENDENCY')
    expect(err.message).toBe('plugin `proxy` depends on `identity`, which is not in plugins; add identity() to plugins')
  })

  it('refuses a dependency cycle, naming every plugin in it', async () => {
    const err = await bootKernel([mk('a', ['b'])(), mk('b', ['c'])(), mk('c', ['a'])(), mk('d')()]).catch((e) => e)
    expect(err.code).toBe('ERR_DEPENDENCY_CYCLE')
    expect(err.message).toContain('`a` -> `b` -> `c` -> `a`')
  })
})

describe('kernel: routes, storage, events and lifecycle', () => {
  it('serves public routes on the public listener and admin routes on the admin listener', async () => {
    const { kernel, public: pub, admin } = await bootApps([notes({ label: 'L' })])
    const created = await call(pub, 'POST', '/notes', { body: { id: 'n1', title: 'hello' } })
    expect(created.status).toBe(201)
    expect(created.json).toEqual({ id: 'n1', title: 'hello', label: 'L' })
    expect((await call(pub, 'GET', '/notes/n1')).json).toEqual({ id: 'n1', title: 'hello' })
    expect((await call(admin, 'GET', '/admin/notes')).json).toEqual([{ id: 'n1', title: 'hello' }])
    expect((await call(pub, 'GET', '/admin/notes')).status).toBe(404)
    expect((await call(admin, 'POST', '/notes', { body: {} })).status).toBe(404)
    await kernel.stop()
  })

  it('mounts raw routes as Elysia routes where Bun.serve is not in front (embedded, tests), errors in Ory shape', async () => {
    const raw = definePlugin({
      id: 'raw',
      rawRoutes: {
        admin: [
          { path: '/hot', handle: (request, rc) => Response.json({ method: request.method, tenant: rc.tenant, has_id: rc.requestId.length > 0 }) },
          { path: '/hot/*', handle: (request) => Response.json({ path: new URL(request.url).pathname }) },
          { path: '/boom', handle: () => Promise.reject(new NotFoundError('no such thing')) },
        ],
      },
    })
    const { kernel, public: pub, admin } = await bootApps([raw()])
    expect((await call(admin, 'DELETE', '/hot')).json).toEqual({ method: 'DELETE', tenant: 'default', has_id: true })
    expect((await call(admin, 'GET', '/hot/a/b')).json).toEqual({ path: '/hot/a/b' })
    const boom = await call(admin, 'GET', '/boom')
    expect(boom.status).toBe(404)
    expect(boom.json.error).toMatchObject({ code: 404, status: 'Not Found', reason: 'no such thing' })
    expect((await call(pub, 'GET', '/hot')).status).toBe(404)
    await kernel.stop()
  })

  it('refuses a raw route path Bun cannot serve as given, and two plugins claiming one path', async () => {
    const withPaths = (id: string, ...paths: string[]) =>
      definePlugin({ id, rawRoutes: { public: paths.map((path) => ({ path, handle: () => new Response('x') })) } })()
    const bad = await bootKernel([withPaths('a', '/ok/*', '/items/:id', 'no-slash', '/a/*/b')]).catch((e) => e)
    expect(bad).toBeInstanceOf(PluginError)
    expect(bad.message).toContain('plugin `a`: rawRoutes.public[1].path: "/items/:id" is not a static path or a path ending in /*')
    expect(bad.message).toContain('rawRoutes.public[2].path: "no-slash"')
    expect(bad.message).toContain('rawRoutes.public[3].path: "/a/*/b"')
    const dup = await bootKernel([withPaths('a', '/hot'), withPaths('b', '/hot')]).catch((e) => e)
    expect(dup.message).toBe('plugin `b`: rawRoutes.public[0].path: /hot on the public listener is already served by plugin `a`')
  })

  it('renders errors in Ory shape: 404 for a missing resource, 400 naming each bad field', async () => {
    const { kernel, public: pub } = await bootApps([notes({ label: 'L', maxTitle: 3 })])
    const missing = await call(pub, 'GET', '/notes/nope')
    expect(missing.status).toBe(404)
    expect(missing.json.error).toMatchObject({ code: 404, status: 'Not Found', reason: 'note nope does not exist' })
    const bad = await call(pub, 'POST', '/notes', { body: { id: 5, title: 'too long' } })
    expect(bad.status).toBe(400)
    expect(bad.json.error.code).toBe(400)
    expect(bad.json.error.reason).toContain('id: expected string, received 5')
    expect(bad.json.error.reason).toContain('title: ')
    expect(bad.json.error.details.issues.map((i: { path: string }) => i.path)).toEqual(['id', 'title'])
    await kernel.stop()
  })

  it('answers malformed JSON with 400, never 500', async () => {
    const { kernel, public: pub } = await bootApps([notes({ label: 'L' })])
    const r = await call(pub, 'POST', '/notes', { body: '{"id": "x", ', headers: { 'content-type': 'application/json' } })
    expect(r.status).toBe(400)
    expect(r.json.error.code).toBe(400)
    expect(r.text).not.toMatch(/\bat .*\.ts:\d+/)
    await kernel.stop()
  })

  it('delivers typed events to other plugins in dependency order, with the tenant', async () => {
    const seen: string[] = []
    const audit = definePlugin({
      id: 'audit',
      dependsOn: ['notes'],
      on: {
        'note.created': (e, meta, ctx) => {
          seen.push(`${ctx.id}:${e.id}:${meta.tenant}`)
        },
      },
    })
    const failing = definePlugin({
      id: 'failing',
      on: {
        'note.created': () => {
          throw new Error('handler bug')
        },
      },
    })
    const log = captureLog('error')
    const { kernel, public: pub } = await bootApps([audit(), failing(), notes({ label: 'L' })], { log: log.logger })
    expect((await call(pub, 'POST', '/notes', { body: { id: 'e1', title: 't' } })).status).toBe(201)
    expect(seen).toEqual(['audit:e1:default'])
    expect(log.lines.find((l) => l.msg === 'event handler failed')).toMatchObject({ event: 'note.created', plugin: 'failing' })
    await kernel.stop()
  })

  it('runs onStart in dependency order and onStop in reverse, then closes storage', async () => {
    const calls: string[] = []
    const mk = (id: string, dependsOn: string[] = []) =>
      definePlugin({
        id,
        dependsOn,
        onStart: () => void calls.push(`start:${id}`),
        onStop: () => void calls.push(`stop:${id}`),
      })
    const k = await bootKernel([mk('b', ['a'])(), mk('a')()], { start: false })
    await k.start()
    await k.stop()
    expect(calls).toEqual(['start:a', 'start:b', 'stop:b', 'stop:a'])
    await expect(k.db.ping()).rejects.toThrow(/closed/)
  })

  it('reports readiness from the database, migrations and plugins', async () => {
    const k = await bootKernel([notes({ label: 'not-ready' })], { start: false })
    expect(await k.readiness()).toEqual({
      migrations: '1 migration(s) not applied (notes/0001_init); run tessera migrate up',
      notes: 'notes is warming up',
    })
    await k.migrate()
    expect(await k.readiness()).toEqual({ notes: 'notes is warming up' })
    await k.stop()
  })
})

describe('kernel: pipeline handlers through the registries', () => {
  const handlers = definePlugin({
    id: 'static-handlers',
    options: v.object({ token: v.string() }),
    authenticators: (ctx) => [
      {
        id: 'static_token',
        authenticate: (req, session) => {
          const h = req.headers.get('authorization')
          if (!h) return NOT_RESPONSIBLE
          if (h !== `Bearer ${ctx.options.token}`) return { kind: 'denied', error: forbidden('bad_token') }
          session.subject = 'robot'
          return AUTHENTICATED
        },
      },
    ],
    authorizers: [
      {
        id: 'allow_list',
        config: v.object({ subjects: v.array(v.string()) }),
        authorize: (_req, session, config: { subjects: string[] }) =>
          config.subjects.includes(session.subject) ? { allowed: true } : { allowed: false, error: forbidden('not_listed') },
      },
    ],
    mutators: [
      {
        id: 'subject_header',
        config: v.object({ name: v.optional(v.string(), 'X-User') }),
        mutate: (_req, session, config: { name: string }) => {
          session.header.set(config.name, session.subject)
        },
      },
    ],
    errorHandlers: [
      {
        id: 'teapot',
        handle: (error) => new Response(`no: ${error.reasonId}`, { status: 418 }),
      },
    ],
  })

  /** A consumer that finds the handlers by id, never importing the plugin above. */
  let compiled: ReturnType<typeof compilePipeline> | undefined
  const gateway = definePlugin({
    id: 'gateway',
    dependsOn: ['static-handlers'],
    setup: (ctx) => {
      compiled = compilePipeline(
        {
          id: 'robots-only',
          authenticators: [{ handler: 'static_token' }],
          authorizer: { handler: 'allow_list', config: { subjects: ['robot'] } },
          mutators: [{ handler: 'subject_header', config: { name: 'X-Robot' } }],
          errors: [{ handler: 'teapot' }],
        },
        ctx.registries,
      )
    },
  })

  const req = (headers: Record<string, string> = {}) => ({
    method: 'GET',
    url: new URL('http://localhost/x'),
    headers: new Headers(headers),
    tenant: 'default',
  })

  it('lets a plugin find authenticators, authorizers, mutators and error handlers by id', async () => {
    const k = await bootKernel([gateway(), handlers({ token: 's3cret' })])
    const ok = await compiled!.run(req({ authorization: 'Bearer s3cret' }))
    expect(ok.allowed).toBe(true)
    expect(ok.session.header.get('X-Robot')).toBe('robot')
    const denied = await compiled!.run(req({ authorization: 'Bearer wrong' }))
    expect(denied.allowed).toBe(false)
    if (!denied.allowed) {
      expect(denied.response.status).toBe(418)
      expect(await denied.response.text()).toBe('no: bad_token')
    }
    const anonymous = await compiled!.run(req())
    expect(anonymous.allowed).toBe(false)
    if (!anonymous.allowed) expect(anonymous.error.reasonId).toBe('no_authenticator_responsible')
    await k.stop()
  })

  it('names the missing handler and what is registered', async () => {
    const lonely = definePlugin({
      id: 'lonely',
      setup: (ctx) => {
        compilePipeline({ id: 'r1', authenticators: [{ handler: 'jwt' }], authorizer: { handler: 'allow' }, mutators: [] }, ctx.registries)
      },
    })
    await expect(bootKernel([lonely()])).rejects.toThrow('rule r1 needs the authenticator `jwt`, which no plugin registered; no authenticator is registered')
  })

  it('refuses two plugins registering the same handler id', async () => {
    const twin = definePlugin({ id: 'twin', authorizers: [{ id: 'allow_list', authorize: () => ({ allowed: true }) }] })
    await expect(bootKernel([handlers({ token: 't' }), twin()])).rejects.toThrow(
      'the authorizer `allow_list` is registered twice: by plugin `static-handlers` and by plugin `twin`',
    )
  })
})

describe('kernel: credential methods', () => {
  it('lets the flow engine find a credential method by id and call the flows it implements', async () => {
    const magic: CredentialMethod = {
      id: 'magic',
      factor: 'first',
      login: {
        submit: (_flow, body) =>
          body.word === 'please' ? { kind: 'success', identityId: 'id-1', aal: 'aal1' } : { kind: 'invalid', messages: [{ id: 4000006, text: 'The provided credentials are invalid.', type: 'error' }] },
      },
    }
    const magicPlugin = definePlugin({ id: 'magic-word', credentialMethods: [magic] })
    let outcomes: unknown[] = []
    const engine = definePlugin({
      id: 'flow-engine',
      after: ['magic-word'],
      setup: async (ctx) => {
        const m = ctx.registries.credentialMethods.require('magic', 'the login flow')
        const flow = { id: 'f', type: 'api' as const, expires_at: '', issued_at: '', request_url: '', ui: { action: '', method: 'POST', nodes: [] } }
        outcomes = [await m.login!.submit(flow, { word: 'please' }, undefined), await m.login!.submit(flow, { word: 'nope' }, undefined)]
      },
    })
    const k = await bootKernel([engine(), magicPlugin()])
    expect(outcomes[0]).toEqual({ kind: 'success', identityId: 'id-1', aal: 'aal1' })
    expect((outcomes[1] as { kind: string }).kind).toBe('invalid')
    await k.stop()
  })
})

describe('kernel: storage drivers', () => {
  it('connects through a driver a plugin contributes, chosen by the DSN scheme', async () => {
    const connected: string[] = []
    const memdb: StorageDriver = {
      id: 'memdb',
      schemes: ['memdb'],
      async connect(dsn) {
        connected.push(dsn)
        return new SqliteDatabase(':memory:')
      },
    }
    const driverPlugin = definePlugin({ id: 'memdb-driver', storageDrivers: [memdb] })
    const k = await bootKernel([driverPlugin(), notes({ label: 'x' })], { config: { dsn: 'memdb://anything' } })
    expect(connected).toEqual(['memdb://anything'])
    expect(k.registries.storageDrivers.ids()).toEqual(['sqlite', 'postgres', 'memdb'])
    expect(await k.readiness()).toEqual({})
    await k.stop()
  })

  it('names the known schemes when no driver fits the DSN', async () => {
    await expect(bootKernel([], { config: { dsn: 'mysql://x' } })).rejects.toThrow(
      'dsn: no storage driver for scheme "mysql"; known schemes: sqlite, sqlite3, memory, postgres, postgresql',
    )
  })

  it('ships no driver itself: booted without the built-in ones, a sqlite DSN says where they come from', async () => {
    const config = resolveConfig({ dsn: 'sqlite::memory:', secrets: { system: ['test-secret-0123456789abcdef'] }, plugins: [] }, { env: {} })
    await expect(Kernel.boot(config, { log: createLogger({ level: 'fatal' }) })).rejects.toThrow(
      'dsn: no storage driver for scheme "sqlite"; no driver was given to Kernel.boot (see tessera/drivers)',
    )
  })
})

describe('kernel: services', () => {
  it('lets one plugin offer a typed service another finds by name', async () => {
    const provider = definePlugin({ id: 'provider', setup: (ctx) => ctx.services.provide('greeter', (n: string) => `hi ${n}`, ctx.id) })
    let got = ''
    const consumer = definePlugin({
      id: 'consumer',
      dependsOn: ['provider'],
      setup: (ctx) => {
        got = (ctx.services.get('greeter') as (n: string) => string)('ann')
      },
    })
    const k = await bootKernel([consumer(), provider()])
    expect(got).toBe('hi ann')
    await k.stop()
  })
})

describe('kernel: tenancy', () => {
  const req = (app: Parameters<typeof call>[0], method: string, host: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    app.handle(new Request(`http://${host}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: body ? JSON.stringify(body) : undefined }))

  it('resolves the tenant from the host map and keeps tenants apart', async () => {
    const { kernel, public: pub } = await bootApps([notes({ label: 'L' })], {
      config: { tenancy: { hosts: { 'a.example.com': 'tenant-a', 'b.example.com': 'tenant-b' } } },
    })
    expect((await req(pub, 'POST', 'a.example.com', '/notes', { id: 'n1', title: 'for A' })).status).toBe(201)
    expect((await req(pub, 'GET', 'a.example.com', '/notes/n1')).status).toBe(200)
    expect((await req(pub, 'GET', 'b.example.com', '/notes/n1')).status).toBe(404)
    // an unmapped host is the default tenant
    expect((await req(pub, 'GET', 'other.example.com', '/notes/n1')).status).toBe(404)
    await kernel.stop()
  })

  it('resolves the tenant once per request with a code resolver, and refuses an invalid tenant id', async () => {
    let calls = 0
    const { kernel, public: pub } = await bootApps([notes({ label: 'L' })], {
      config: {
        tenancy: {
          resolve: (request) => {
            calls++
            return request.headers.get('x-tenant')
          },
        },
      },
    })
    const created = await req(pub, 'POST', 'localhost', '/notes', { id: 'n1', title: 't' }, { 'x-tenant': 'acme' })
    expect(created.status).toBe(201)
    expect(calls).toBe(1)
    expect((await req(pub, 'GET', 'localhost', '/notes/n1', undefined, { 'x-tenant': 'acme' })).status).toBe(200)
    expect((await req(pub, 'GET', 'localhost', '/notes/n1', undefined, { 'x-tenant': 'globex' })).status).toBe(404)
    const bad = await req(pub, 'GET', 'localhost', '/notes/n1', undefined, { 'x-tenant': "x' OR 1=1 --" })
    expect(bad.status).toBe(400)
    expect((await bad.json()).error.message).toBe('The request names an invalid tenant')
    await kernel.stop()
  })
})

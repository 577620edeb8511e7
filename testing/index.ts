/**
 * `tessera/testing`: a test kit for plugins and apps built on Tessera.
 *
 * ```ts
 * import { expect, it } from 'bun:test'
 * import { testApp } from 'tessera/testing'
 * import { apiKeys } from './index.ts'
 *
 * it('lists the keys', async () => {
 *   const app = await testApp([apiKeys({ keys })])
 *   const r = await app.admin.get('/admin/api-keys')
 *   expect(r.status).toBe(200)
 *   await app.stop()
 * })
 * ```
 *
 * A kernel is booted with the given plugins on in-memory SQLite — or, when `TESSERA_TEST_POSTGRES_URL` is
 * set, in a fresh PostgreSQL schema dropped at `stop()` — its migrations applied, and requests go to its
 * listeners' apps with `app.handle(new Request(…))`: no socket, no port.
 */
import type { AnyElysia } from 'elysia'
import postgres from 'postgres'
import * as v from 'valibot'
import { resolveConfig } from '../core/config/load.ts'
import type { TesseraConfig } from '../core/config/schema.ts'
import { buildListenerApp } from '../core/http/app.ts'
import { Kernel } from '../core/kernel/kernel.ts'
import { type LogLevel, type Logger, createLogger } from '../core/logger.ts'
import { type BootedKernel, type PluginInstance, definePlugin } from '../core/plugin.ts'
import { AUTHENTICATED, type Authenticator, type Authorizer, type Mutator, NOT_RESPONSIBLE, forbidden, unauthorized } from '../core/pipeline/types.ts'
import type { Database } from '../core/storage/types.ts'
import type { PeerLookup } from '../core/http/context.ts'
import { SqliteDatabase, builtinDrivers, postgresDriver } from '../drivers/index.ts'

/** The system secret test kernels use (at least the minimum length; never use it outside tests). */
export const TEST_SECRET = 'test-secret-0123456789abcdef'

const peers = new WeakMap<Request, string>()
/** Every test kernel's peer addresses: what a server's socket would say. */
const testPeers: PeerLookup = { requestIP: (request) => (peers.has(request) ? { address: peers.get(request)! } : null) }

/** Give a request a connecting peer address before `app.handle(request)`, as a socket would. */
export function setPeer(request: Request, address: string | undefined): void {
  if (address) peers.set(request, address)
}

/** The PostgreSQL server tests may create schemas in, when set. */
export const POSTGRES_URL: string | undefined = process.env.TESSERA_TEST_POSTGRES_URL

// ------------------------------------------------------------------ logs

export interface CapturedLog {
  /** Every line written, parsed. */
  lines: Record<string, unknown>[]
  logger: Logger
}

/** A logger that keeps its lines, for asserting what was logged. */
export function captureLog(level: LogLevel = 'debug'): CapturedLog {
  const lines: Record<string, unknown>[] = []
  return { lines, logger: createLogger({ level, sink: (line) => lines.push(JSON.parse(line)) }) }
}

// ------------------------------------------------------------------ databases

export interface ScratchDatabase {
  /** A DSN that selects the scratch database (for PostgreSQL, its schema via search_path). */
  dsn: string
  db: Database
  /** Close it; for PostgreSQL, drop the schema. */
  drop(): Promise<void>
}

/** A fresh PostgreSQL schema on `TESSERA_TEST_POSTGRES_URL` (or `url`) and a Database whose search_path points at it. */
export async function scratchPostgres(label = 't', url: string | undefined = POSTGRES_URL): Promise<ScratchDatabase> {
  if (!url) throw new Error('TESSERA_TEST_POSTGRES_URL is not set')
  const base = label.replace(/[^a-z0-9]/gi, '').slice(0, 20) || 't'
  const schema = `${base}_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`.toLowerCase()
  const admin = postgres(url, { max: 1, onnotice: () => {} })
  await admin.unsafe(`CREATE SCHEMA "${schema}"`)
  await admin.end()
  const u = new URL(url)
  u.searchParams.set('search_path', schema)
  const dsn = u.toString()
  const db = await postgresDriver.connect(dsn)
  return {
    dsn,
    db,
    async drop() {
      await db.close().catch(() => {})
      const a = postgres(url, { max: 1, onnotice: () => {} })
      await a.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await a.end()
    },
  }
}

/** A fresh in-memory SQLite database. */
export async function scratchSqlite(): Promise<ScratchDatabase> {
  const db = new SqliteDatabase(':memory:')
  return { dsn: 'sqlite::memory:', db, drop: () => db.close() }
}

export interface DriverCase {
  name: 'sqlite' | 'postgres'
  /** False for PostgreSQL without TESSERA_TEST_POSTGRES_URL. */
  enabled: boolean
  create(): Promise<ScratchDatabase>
}

/**
 * Both drivers, for suites that run against each: `for (const d of drivers('my-suite')) describe.if(d.enabled)(d.name, …)`.
 * PostgreSQL is enabled when TESSERA_TEST_POSTGRES_URL is set.
 */
export function drivers(suite: string): DriverCase[] {
  return [
    { name: 'sqlite', enabled: true, create: scratchSqlite },
    { name: 'postgres', enabled: POSTGRES_URL !== undefined, create: () => scratchPostgres(suite) },
  ]
}

// ------------------------------------------------------------------ kernels and calls

export interface BootKernelOptions {
  /** Config merged over the test defaults (in-memory SQLite, a test secret). `plugins` is ignored. */
  config?: Partial<TesseraConfig>
  /** Use this database instead of connecting from the config's DSN. */
  database?: Database
  /** Default: a logger that writes nothing. */
  log?: Logger
  /** Apply migrations and run onStart (default true). */
  start?: boolean
}

/** Boot a kernel with these plugins: options validated, migrations applied, started. */
export async function bootKernel(plugins: PluginInstance[], opts: BootKernelOptions = {}): Promise<Kernel> {
  const config = resolveConfig({ dsn: 'sqlite::memory:', secrets: { system: [TEST_SECRET] }, ...opts.config, plugins }, { env: {} })
  const kernel = await Kernel.boot(config, { log: opts.log ?? createLogger({ level: 'fatal' }), database: opts.database, peers: testPeers, drivers: builtinDrivers })
  if (opts.start !== false) await kernel.start({ migrate: true })
  return kernel
}

export interface CallResult {
  status: number
  headers: Headers
  /** The body as text. */
  text: string
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: any
}

export interface CallInit {
  /** An object is sent as JSON; a string as is; URLSearchParams as a form. */
  body?: unknown
  headers?: Record<string, string>
  /** The connecting peer's address the core should see (`rc.remoteAddress`); none by default. */
  remoteAddress?: string
}

/** Call an Elysia app without a socket; `path` may carry a query string. */
export async function call(app: AnyElysia, method: string, path: string, init: CallInit = {}, kernel?: Kernel): Promise<CallResult> {
  const headers: Record<string, string> = { ...init.headers }
  let body: BodyInit | undefined
  if (init.body !== undefined) {
    if (typeof init.body === 'string' || init.body instanceof URLSearchParams) body = init.body
    else {
      body = JSON.stringify(init.body)
      headers['content-type'] ??= 'application/json'
    }
  }
  const request = new Request(new URL(path, 'http://localhost'), { method, headers, body })
  setPeer(request, init.remoteAddress)
  const res = await app.handle(request)
  const text = await res.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, text, json }
}

/** One listener of a test app: its Elysia app and shorthands for calling it. */
export interface TestListener {
  readonly app: AnyElysia
  request(method: string, path: string, init?: CallInit): Promise<CallResult>
  get(path: string, init?: CallInit): Promise<CallResult>
  post(path: string, body?: unknown, init?: CallInit): Promise<CallResult>
  put(path: string, body?: unknown, init?: CallInit): Promise<CallResult>
  patch(path: string, body?: unknown, init?: CallInit): Promise<CallResult>
  delete(path: string, init?: CallInit): Promise<CallResult>
}

export interface TestApp {
  readonly kernel: Kernel
  /** The public listener (routes.public, rawRoutes.public, health and version). */
  readonly public: TestListener
  /** The admin listener (routes.admin, rawRoutes.admin, health and version). */
  readonly admin: TestListener
  /** Which database it runs on. */
  readonly driver: string
  /** Stop the kernel (every onStop) and drop its scratch database. */
  stop(): Promise<void>
}

export interface TestAppOptions extends Omit<BootKernelOptions, 'database'> {
  /**
   * `sqlite` (in memory), `postgres` (a fresh schema on TESSERA_TEST_POSTGRES_URL, dropped at stop), or a
   * Database you manage. Default: `postgres` when TESSERA_TEST_POSTGRES_URL is set, else `sqlite`.
   */
  database?: 'sqlite' | 'postgres' | Database
}

function listener(app: AnyElysia, kernel: Kernel): TestListener {
  const request = (method: string, path: string, init?: CallInit) => call(app, method, path, init, kernel)
  return {
    app,
    request,
    get: (path, init) => request('GET', path, init),
    post: (path, body, init) => request('POST', path, { ...init, body }),
    put: (path, body, init) => request('PUT', path, { ...init, body }),
    patch: (path, body, init) => request('PATCH', path, { ...init, body }),
    delete: (path, init) => request('DELETE', path, init),
  }
}

/** Boot a kernel with these plugins and give its listeners, callable without sockets. */
export async function testApp(plugins: PluginInstance[], opts: TestAppOptions = {}): Promise<TestApp> {
  const choice = opts.database ?? (POSTGRES_URL ? 'postgres' : 'sqlite')
  const scratch = choice === 'postgres' ? await scratchPostgres('kit') : choice === 'sqlite' ? await scratchSqlite() : undefined
  const database = scratch?.db ?? (choice as Database)
  let kernel: Kernel
  try {
    kernel = await bootKernel(plugins, { ...opts, database })
  } catch (e) {
    await scratch?.drop()
    throw e
  }
  return {
    kernel,
    driver: database.driver,
    public: listener(buildListenerApp(kernel, 'public'), kernel),
    admin: listener(buildListenerApp(kernel, 'admin'), kernel),
    async stop() {
      await kernel.stop()
      await scratch?.drop()
    },
  }
}

// ------------------------------------------------------------------ pipeline handlers

const noopAuthenticator: Authenticator = { id: 'noop', authenticate: () => AUTHENTICATED }
const anonymous: Authenticator<{ subject: string }> = {
  id: 'anonymous',
  config: v.object({ subject: v.optional(v.string(), 'anonymous') }),
  authenticate(req, session, config) {
    if (req.headers.get('authorization')) return NOT_RESPONSIBLE
    session.subject = config.subject
    return AUTHENTICATED
  },
}
const unauthorizedAuthenticator: Authenticator = {
  id: 'unauthorized',
  authenticate: () => ({ kind: 'denied', error: unauthorized('unauthorized_authenticator') }),
}
const allowAuthorizer: Authorizer = { id: 'allow', authorize: () => ({ allowed: true }) }
const denyAuthorizer: Authorizer = { id: 'deny', authorize: () => ({ allowed: false, error: forbidden('deny_authorizer') }) }
const noopMutator: Mutator = { id: 'noop', mutate: () => {} }

/**
 * Oathkeeper's trivial handlers, for rules in tests without installing the proxy: authenticators `noop`,
 * `anonymous` and `unauthorized`, authorizers `allow` and `deny`, the mutator `noop`. The proxy registers
 * the same ids, so use one or the other.
 */
export const basicHandlers = definePlugin({
  id: 'basic-handlers',
  description: 'Test kit: noop/anonymous/unauthorized authenticators, allow/deny authorizers, noop mutator',
  authenticators: [noopAuthenticator, anonymous, unauthorizedAuthenticator],
  authorizers: [allowAuthorizer, denyAuthorizer],
  mutators: [noopMutator],
})

export type { Kernel }

/** A test kernel as a plugin's CLI command sees it (`CliContext.boot()`): listeners answer in-process. */
export function bootedKernel(kernel: Kernel): BootedKernel {
  const apps = new Map<'public' | 'admin', AnyElysia>()
  const app = (l: 'public' | 'admin') => apps.get(l) ?? apps.set(l, buildListenerApp(kernel, l, { metadata: false })).get(l)!
  return Object.assign(kernel, { handle: (l: 'public' | 'admin', request: Request) => app(l).handle(request) })
}

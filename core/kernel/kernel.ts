/**
 * The kernel: validates every plugin's options once, orders plugins by
 * dependsOn, connects storage, registers contributions, runs setup, and owns
 * the lifecycle (migrations, onStart, onStop).
 */
import { validatePluginOptions } from '../config/plugin-options.ts'
import type { ResolvedConfig } from '../config/schema.ts'
import { ConfigError, PluginError } from '../errors.ts'
import { type EventMeta, EventBus, type EventName, type TesseraEvents } from '../events.ts'
import { type ContextResolver, type PeerLookup, type PublicBaseUrlResolver, type RequestContext, configuredPublicBaseUrl, requestIdFor } from '../http/context.ts'
import type { BlockList } from 'node:net'
import { type Logger, createLogger } from '../logger.ts'
import { cidrList, clientAddressOf } from '../net.ts'
import type { PluginContext, PluginDefinition, PluginInstance, RawRoutes, Storage } from '../plugin.ts'
import { type Registries, Services, createRegistries } from '../registry.ts'
import { Keyring, type Secrets } from '../secrets.ts'
import { StorageUnavailableError } from '../storage/errors.ts'
import { type MigrationState, type PluginMigrations, migrateUp, migrationStatus, validateMigrations } from '../storage/migrate.ts'
import { ScopedDb } from '../storage/scoped.ts'
import type { Database, StorageDriver } from '../storage/types.ts'
import type { Subject } from '../subject.ts'
import { resolveTenant } from '../tenancy.ts'
import type { Listener } from '../types.ts'
import { orderPlugins } from './order.ts'

export interface LoadedPlugin {
  id: string
  /** The plugin's raw routes, resolved against its context at boot. */
  rawRoutes: RawRoutes<any>
  definition: PluginDefinition<any, any>
  options: unknown
  ctx: PluginContext<any>
  /** Index in the user's plugins list. */
  index: number
}

/** What answers a listener's requests in-process: its app, un-prefixed (`kernel.handle`, `ctx.handle`). */
export interface ListenerHandler {
  handle(request: Request): Promise<Response>
}

/**
 * Builds a listener's un-prefixed app for a kernel. The HTTP module (`core/http/app.ts`) registers it when it is
 * imported, so the kernel never imports it (app.ts imports the kernel).
 */
type ListenerAppBuilder = (kernel: Kernel, listener: Listener) => ListenerHandler
let listenerAppBuilder: ListenerAppBuilder | undefined

/** Called once by `core/http/app.ts` at import: how `Kernel.handle` builds a listener's app on first use. */
export function registerListenerAppBuilder(build: ListenerAppBuilder): void {
  listenerAppBuilder = build
}

export interface BootOptions {
  log?: Logger
  /** Use this database instead of connecting from the DSN (tests). */
  database?: Database
  /** How a request's public base URL is worked out (embedding); default: from the config alone. */
  publicBaseUrl?: PublicBaseUrlResolver
  /**
   * Where a request's peer address comes from when no server of ours received it (embedded in a host
   * server that knows it; tests). Without it such requests have no `remoteAddress`.
   */
  peers?: PeerLookup
  /**
   * Storage drivers known besides those plugins contribute. The core ships none: the entry points (CLI,
   * `tessera/elysia`, `tessera/testing`) pass `builtinDrivers` from `tessera/drivers` (SQLite, PostgreSQL).
   */
  drivers?: readonly StorageDriver[]
}

type ContributionKey = 'authenticators' | 'authorizers' | 'mutators' | 'errorHandlers' | 'credentialMethods' | 'subjectResolvers'
const CONTRIBUTIONS: ContributionKey[] = ['authenticators', 'authorizers', 'mutators', 'errorHandlers', 'credentialMethods', 'subjectResolvers']

/** Choose the driver for a DSN by its scheme. */
function driverScheme(dsn: string): string {
  if (dsn === 'memory') return 'memory'
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(dsn)
  return m ? m[1]!.toLowerCase() : ''
}

/** A request's context; the logger and the peer address are worked out on first use (most requests need neither). */
class LiveRequestContext implements RequestContext {
  readonly startedAt = performance.now()
  #log: Logger | undefined
  #remote: { address: string | undefined } | undefined
  #client: { address: string | undefined } | undefined
  #publicBaseUrl: string | undefined
  constructor(
    readonly requestId: string,
    readonly tenant: string,
    readonly db: ScopedDb,
    private readonly root: Logger,
    private readonly peers: PeerLookup | undefined,
    private readonly request: Request,
    private readonly baseUrl: PublicBaseUrlResolver,
    private readonly trusted: BlockList | undefined,
  ) {}
  get log(): Logger {
    this.#log ??= this.root.child({ request_id: this.requestId, tenant: this.tenant })
    return this.#log
  }
  get remoteAddress(): string | undefined {
    this.#remote ??= { address: this.peers?.requestIP(this.request)?.address }
    return this.#remote.address
  }
  get clientAddress(): string | undefined {
    this.#client ??= { address: clientAddressOf(this.remoteAddress, this.request.headers.get('x-forwarded-for'), this.trusted) }
    return this.#client.address
  }
  get publicBaseUrl(): string {
    this.#publicBaseUrl ??= this.baseUrl(this.request)
    return this.#publicBaseUrl
  }
}

const RAW_ROUTE_PATH = /^\/(?:[A-Za-z0-9._~-]+\/)*(?:[A-Za-z0-9._~-]+|\*)?$/

/** Raw routes: static paths or a trailing `/*`, each (listener, path) claimed by one plugin. */
function validateRawRoutes(plugins: readonly LoadedPlugin[]): void {
  const owners = new Map<string, string>()
  const problems: string[] = []
  for (const p of plugins) {
    for (const listener of ['public', 'admin'] as const) {
      for (const [i, r] of (p.rawRoutes[listener] ?? []).entries()) {
        const where = `plugin \`${p.id}\`: rawRoutes.${listener}[${i}].path`
        if (!RAW_ROUTE_PATH.test(r.path)) {
          problems.push(`${where}: ${JSON.stringify(r.path)} is not a static path or a path ending in /*`)
          continue
        }
        const key = `${listener} ${r.path}`
        const owner = owners.get(key)
        if (owner) problems.push(`${where}: ${r.path} on the ${listener} listener is already served by plugin \`${owner}\``)
        else owners.set(key, p.id)
      }
    }
  }
  if (problems.length) throw new PluginError('ERR_PLUGIN_ROUTES', problems.join('\n'))
}

export class Kernel {
  readonly config: ResolvedConfig
  readonly log: Logger
  readonly events: EventBus
  readonly registries: Registries
  readonly services = new Services()
  readonly secrets: Secrets
  readonly plugins: LoadedPlugin[] = []
  #db!: Database
  #storage!: Storage
  #started = false
  #stopped = false
  #migrationsApplied = false
  #publicBaseUrl: PublicBaseUrlResolver = () => ''
  /** Whether the public base URL comes from the configuration alone (no resolver given at boot). */
  #configuredBaseUrl = false
  readonly #apps = new Map<Listener, ListenerHandler>()
  readonly #contexts = new WeakMap<Request, RequestContext | Promise<RequestContext>>()
  #peers: PeerLookup | undefined
  /** serve.trustedProxies, parsed once (undefined when empty). */
  readonly #trusted: BlockList | undefined

  private constructor(config: ResolvedConfig, log: Logger) {
    this.config = config
    this.log = log
    this.events = new EventBus(log.child({ component: 'events' }))
    this.registries = createRegistries()
    this.secrets = { system: new Keyring(config.secrets.system), cookie: new Keyring(config.secrets.cookie) }
    const trusted = config.serve.trustedProxies ?? []
    this.#trusted = trusted.length ? cidrList(trusted, 'serve.trustedProxies') : undefined
  }

  get db(): Database {
    return this.#db
  }

  get storage(): Storage {
    return this.#storage
  }

  get started(): boolean {
    return this.#started
  }

  /** Validate, order, connect and set up. Throws ConfigError / PluginError with messages naming what is wrong. */
  static async boot(config: ResolvedConfig, opts: BootOptions = {}): Promise<Kernel> {
    const log = opts.log ?? createLogger({ level: config.log.level, format: config.log.format })
    const kernel = new Kernel(config, log)
    const fixed = configuredPublicBaseUrl(config)
    kernel.#publicBaseUrl = opts.publicBaseUrl ?? (() => fixed)
    kernel.#configuredBaseUrl = !opts.publicBaseUrl
    await kernel.#boot(opts)
    return kernel
  }

  async #boot(opts: BootOptions): Promise<void> {
    this.#peers = opts.peers
    const instances = this.config.plugins as PluginInstance[]

    // 1. every plugin's options, validated once and strictly (unknown keys too); all problems reported together
    const { options, problems } = validatePluginOptions(instances)
    const validated = instances.map((inst, index) => ({ inst, index, options: options[index] }))
    if (problems.length) throw new ConfigError(problems)

    // 2. order by dependsOn (duplicates, missing and cyclic dependencies are named)
    const ordered = orderPlugins(
      validated.map((x) => ({
        id: x.inst.id,
        dependsOn: x.inst.definition.dependsOn ?? [],
        after: x.inst.definition.after ?? [],
        x,
      })),
    )
    for (const { x } of ordered) validateMigrations({ plugin: x.inst.id, migrations: x.inst.definition.migrations ?? [] })

    // 3. storage drivers (given, then contributed), then connect
    for (const d of opts.drivers ?? []) this.registries.storageDrivers.register(d, 'core')
    for (const { x } of ordered) {
      for (const d of x.inst.definition.storageDrivers ?? []) this.registries.storageDrivers.register(d, x.inst.id)
    }
    this.#db = opts.database ?? (await this.#connect())
    const db = this.#db
    // one ScopedDb per tenant, reused by every request and plugin (bounded: a resolver that invents tenants
    // must not grow this without limit)
    const scopedDbs = new Map<string, ScopedDb>()
    this.#storage = {
      db,
      scoped: (tenant: string) => {
        let scoped = scopedDbs.get(tenant)
        if (!scoped) {
          if (scopedDbs.size >= 1024) scopedDbs.clear()
          scoped = new ScopedDb(tenant, db)
          scopedDbs.set(tenant, scoped)
        }
        return scoped
      },
    }

    // 4. contexts, contributions, event handlers, setup — in dependency order
    for (const { x } of ordered) {
      const ctx = this.#context(x.inst.id, x.options)
      try {
        if (x.inst.definition.state) ctx.state = x.inst.definition.state(ctx as PluginContext<unknown, undefined>)
      } catch (e) {
        throw setupError(x.inst.id, e)
      }
      const raw = x.inst.definition.rawRoutes
      const rawRoutes = (typeof raw === 'function' ? raw(ctx) : raw) ?? {}
      this.plugins.push({ id: x.inst.id, definition: x.inst.definition, options: x.options, ctx, index: x.index, rawRoutes })
    }
    validateRawRoutes(this.plugins)
    for (const p of this.plugins) {
      const def = p.definition
      for (const key of CONTRIBUTIONS) {
        const c = def[key] as unknown
        if (!c) continue
        const items = (typeof c === 'function' ? (c as (ctx: PluginContext) => unknown[])(p.ctx) : c) as { id: string }[]
        const registry = this.registries[key] as { register(item: unknown, owner: string): void }
        for (const item of items) registry.register(item, p.id)
      }
      for (const [event, handler] of Object.entries(def.on ?? {})) {
        if (typeof handler !== 'function') continue
        this.events.on(
          event as EventName,
          (payload: unknown, meta: EventMeta) => (handler as (a: unknown, b: EventMeta, c: PluginContext) => unknown)(payload, meta, p.ctx) as void,
          p.id,
        )
      }
    }
    for (const p of this.plugins) {
      try {
        await p.definition.setup?.(p.ctx)
      } catch (e) {
        throw setupError(p.id, e)
      }
    }
  }

  /** The storage driver for a DSN, by scheme; a ConfigError naming the known schemes otherwise. */
  driverFor(dsn: string): StorageDriver {
    const scheme = driverScheme(dsn)
    const driver = this.registries.storageDrivers.list().find((d) => d.schemes.includes(scheme))
    if (!driver) {
      const known = this.registries.storageDrivers.list().flatMap((d) => d.schemes)
      const hint = known.length ? `known schemes: ${known.join(', ')}` : 'no driver was given to Kernel.boot (see tessera/drivers)'
      throw new ConfigError([`dsn: no storage driver for scheme "${scheme || dsn}"; ${hint}`])
    }
    return driver
  }

  async #connect(): Promise<Database> {
    const dsn = this.config.dsn
    const driver = this.driverFor(dsn)
    try {
      return await driver.connect(dsn, {
        onQuery: this.log.enabled('debug') ? (text, ms) => this.log.debug('sql', { sql: text, ms: Math.round(ms * 100) / 100 }) : undefined,
      })
    } catch (e) {
      if (e instanceof TypeError) throw new ConfigError([`dsn: ${e.message}`])
      throw e
    }
  }

  #context(id: string, options: unknown): PluginContext<any> & { state: unknown } {
    const kernel = this
    return {
      id,
      options,
      state: undefined,
      config: this.config,
      log: this.log.child({ plugin: id }),
      events: this.events,
      get storage() {
        return kernel.#storage
      },
      registries: this.registries,
      services: this.services,
      secrets: this.secrets,
      requestContext: this.requestContext,
      handle: this.handle,
      emit: <E extends EventName>(event: E, payload: TesseraEvents[E], meta?: Partial<EventMeta>) =>
        this.events.emit(event, payload, meta),
    }
  }

  /**
   * The request's context, resolved once per request: synchronously unless a code resolver looks the tenant
   * up (then a promise). `peer` (the server that received the request) is asked for the socket's address on
   * first use of `remoteAddress`.
   */
  contextOf(request: Request, peer?: PeerLookup): RequestContext | Promise<RequestContext> {
    let c = this.#contexts.get(request)
    if (!c) {
      const requestId = requestIdFor(request)
      const make = (tenant: string) =>
        new LiveRequestContext(requestId, tenant, this.#storage.scoped(tenant), this.log, peer ?? this.#peers, request, this.#publicBaseUrl, this.#trusted)
      const tenant = resolveTenant(request, this.config.tenancy)
      c = typeof tenant === 'string' ? make(tenant) : tenant.then(make)
      this.#contexts.set(request, c)
    }
    return c
  }

  /**
   * Answer a request as the listener would, in-process (no socket): the listener's every route, un-prefixed
   * (Ory's paths, whatever prefix an embedding mounts them under), with the same validation, CSRF and errors as
   * over HTTP. The app is built on first use.
   */
  handle = (listener: Listener, request: Request): Promise<Response> => {
    let app = this.#apps.get(listener)
    if (!app) {
      if (!listenerAppBuilder) throw new Error('no HTTP module is loaded: import an entry point (tessera/server, tessera/elysia, tessera/testing)')
      app = listenerAppBuilder(this, listener)
      this.#apps.set(listener, app)
    }
    return app.handle(request)
  }

  /**
   * The standalone server says where the public listener actually listens. With neither `serve.public.baseUrl`
   * nor a resolver and port 0, that is the public base URL (not `http://localhost:0`).
   */
  listeningAt(publicUrl: string): void {
    if (this.#configuredBaseUrl && !this.config.serve.public.baseUrl && this.config.serve.public.port === 0) {
      const url = publicUrl.replace(/\/+$/, '')
      this.#publicBaseUrl = () => url
    }
  }

  /** `contextOf`, always as a promise (what plugins get as `ctx.requestContext`). */
  readonly requestContext: ContextResolver = (request: Request, peer?: PeerLookup) => Promise.resolve(this.contextOf(request, peer))

  /** The subject of a request, from the first subject resolver that knows it; null without resolvers. */
  async resolveSubject(request: Request): Promise<Subject | null> {
    const { tenant } = await this.requestContext(request)
    for (const r of this.registries.subjectResolvers.list()) {
      const s = await r.resolve(request, tenant)
      if (s) return s
    }
    return null
  }

  migrationSets(): PluginMigrations[] {
    return this.plugins
      .filter((p) => (p.definition.migrations ?? []).length > 0)
      .map((p) => ({ plugin: p.id, migrations: p.definition.migrations! }))
  }

  async migrate(): Promise<{ plugin: string; id: string }[]> {
    const applied = await migrateUp(this.#db, this.migrationSets(), {
      onApplied: (plugin, migration) => {
        this.log.info('migration applied', { plugin, migration })
      },
    })
    for (const a of applied) await this.events.emit('migration.applied', { plugin: a.plugin, migration: a.id })
    this.#migrationsApplied = false
    return applied
  }

  migrationStatus(): Promise<MigrationState[]> {
    return migrationStatus(this.#db, this.migrationSets())
  }

  /** Readiness: an empty map when ready, otherwise a reason per failing check. */
  async readiness(): Promise<Record<string, string>> {
    const errors: Record<string, string> = {}
    try {
      await withTimeout(this.#db.ping(), 3000, 'the database did not answer within 3s')
    } catch (e) {
      errors.database = e instanceof StorageUnavailableError ? e.message : `the database is unreachable: ${(e as Error).message}`
      return errors
    }
    if (!this.#migrationsApplied) {
      try {
        const pending = (await this.migrationStatus()).filter((s) => s.state === 'pending')
        if (pending.length > 0) {
          const names = pending.map((p) => `${p.plugin}/${p.id}`)
          errors.migrations = `${pending.length} migration(s) not applied (${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}); run tessera migrate up`
        } else {
          this.#migrationsApplied = true
        }
      } catch (e) {
        errors.migrations = `cannot read the migration ledger: ${(e as Error).message}`
      }
    }
    for (const p of this.plugins) {
      if (!p.definition.ready) continue
      try {
        const reason = await p.definition.ready(p.ctx)
        if (reason) errors[p.id] = reason
      } catch (e) {
        errors[p.id] = (e as Error).message
      }
    }
    return errors
  }

  /**
   * Start: apply migrations when configured (SQLite only — PostgreSQL is never
   * migrated silently), then every plugin's onStart in order.
   */
  async start(opts: { migrate?: boolean } = {}): Promise<void> {
    if (this.#started) return
    if (opts.migrate) {
      await this.migrate()
    } else if (this.config.migrations.auto) {
      if (this.#db.driver === 'sqlite') await this.migrate()
      else {
        const pending = await this.migrationStatus().then(
          (all) => all.filter((s) => s.state === 'pending').length,
          () => 0, // unreachable: /health/ready says so
        )
        if (pending) {
          this.log.warn('migrations.auto is ignored on PostgreSQL; run `tessera migrate up` (or serve --migrate)', { pending })
        }
      }
    }
    for (const p of this.plugins) {
      if (p.definition.onStart) await p.definition.onStart(p.ctx)
    }
    this.#started = true
  }

  /** Stop: every plugin's onStop in reverse order (failures logged), then close storage. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    for (const p of [...this.plugins].reverse()) {
      if (!p.definition.onStop) continue
      try {
        await p.definition.onStop(p.ctx)
      } catch (e) {
        this.log.error('plugin onStop failed', { plugin: p.id, err: e })
      }
    }
    try {
      await this.#db.close()
    } catch (e) {
      this.log.error('closing storage failed', { err: e })
    }
  }
}

/** A plugin's state or setup failed: a config or plugin error as it is, anything else naming the plugin. */
function setupError(plugin: string, e: unknown): unknown {
  if (e instanceof ConfigError || e instanceof PluginError) return e
  return new PluginError('ERR_PLUGIN_SETUP', `plugin \`${plugin}\` failed to set up: ${(e as Error).message}`, { cause: e })
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let t: ReturnType<typeof setTimeout>
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new StorageUnavailableError(message)), ms)
    }),
  ])
}

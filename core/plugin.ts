/**
 * The plugin contract.
 *
 * ```ts
 * export const apiKeys = definePlugin({
 *   id: 'api-keys',
 *   options: v.object({ keys: v.array(v.string()) }),   // valibot, validated once at boot
 *   dependsOn: ['identity'],
 *   authenticators: (ctx) => [apiKeyAuthenticator(ctx.options)],
 *   routes: { admin: (app, ctx) => app.get('/admin/api-keys', ...) },
 *   on: { 'identity.deleted': (event, meta, ctx) => ... },
 * })
 *
 * // tessera.config.ts
 * export default defineConfig({ plugins: [apiKeys({ keys: [...] })] })
 * ```
 *
 * `definePlugin` returns a factory; calling it records the user's options, which
 * the kernel validates at boot against `options` and hands to every hook as
 * `ctx.options`.
 */
import type { AnyElysia } from 'elysia'
import type * as v from 'valibot'
import type { ResolvedConfig } from './config/schema.ts'
import type { EventBus, EventMeta, EventName, TesseraEvents } from './events.ts'
import type { CredentialMethod } from './flows/types.ts'
import type { ContextResolver, RequestContext, RouteApp } from './http/context.ts'
import type { Operations } from './http/operations.ts'
import type { Logger } from './logger.ts'
import type { Authenticator, Authorizer, ErrorHandler, Mutator } from './pipeline/types.ts'
import type { Registries, Services } from './registry.ts'
import type { Secrets } from './secrets.ts'
import type { Migration, MigrationState } from './storage/migrate.ts'
import type { ScopedDb } from './storage/scoped.ts'
import type { Database, StorageDriver } from './storage/types.ts'
import type { SubjectResolver } from './subject.ts'
import { type Awaitable, PLUGIN, type PluginEntry, isPluginEntry } from './types.ts'

/** Storage as plugins see it. */
export interface Storage {
  /** The database, unscoped: for tenant-independent tables and transactions. */
  readonly db: Database
  /** The database scoped to a tenant: what repositories use. */
  scoped(tenant: string): ScopedDb
}

/** What every hook of a plugin receives. `T` is the plugin's own state (see `PluginDefinition.state`). */
export interface PluginContext<O = unknown, T = unknown> {
  /** The plugin's id. */
  readonly id: string
  /** The plugin's options, validated against its schema (defaults applied). */
  readonly options: O
  /** The global configuration (serve, secrets, tenancy, …). */
  readonly config: ResolvedConfig
  /** A logger whose lines carry `plugin`. */
  readonly log: Logger
  readonly events: EventBus
  readonly storage: Storage
  readonly registries: Registries
  readonly services: Services
  readonly secrets: Secrets
  /** The request context of a request (request id, tenant, scoped db). */
  readonly requestContext: ContextResolver
  /**
   * Answer a request as the listener would, in-process (no socket): `ctx.handle('public', new Request(…))`.
   * Ory's paths (no embedding prefix), the same validation, CSRF and errors as over HTTP. Pass on the caller's
   * cookies and `X-Request-Id` (the outer request's id) so the logs join up.
   */
  handle(listener: 'public' | 'admin', request: Request): Promise<Response>
  /**
   * This plugin instance's own state: what `state(ctx)` returned at boot (undefined without `state`). One per
   * plugin instance, so two kernels in one process never share it.
   */
  readonly state: T
  /** Emit an event; `meta.tenant` should say which tenant it happened in. */
  emit<E extends EventName>(event: E, payload: TesseraEvents[E], meta?: Partial<EventMeta>): Promise<void>
}

type Contribution<T, O, St = unknown> = readonly T[] | ((ctx: PluginContext<O, St>) => readonly T[])

export type OptionsSchema = v.GenericSchema<any, any>

export type InputOf<S> = S extends v.GenericSchema<infer I, any> ? I : undefined
export type OutputOf<S> = S extends v.GenericSchema<any, infer O> ? O : undefined

export type RouteFn<O, T = unknown> = (app: RouteApp, ctx: PluginContext<O, T>) => AnyElysia

/**
 * A route for a hot path, served by Bun's own router ahead of Elysia when Tessera runs standalone
 * (embedded, it becomes an Elysia route with the same handler). Any method. The core still gives it a
 * request id, span and access log; the handler answers with a Response, and what it throws is rendered
 * as an Ory error. `path` is static (`/decisions`) or ends in `/*` (`/decisions/*`).
 */
export interface RawRoutes<O = unknown, T = unknown> {
  public?: readonly RawRoute<O, T>[]
  admin?: readonly RawRoute<O, T>[]
}

export interface RawRoute<O = unknown, T = unknown> {
  path: string
  handle(request: Request, rc: RequestContext, ctx: PluginContext<O, T>): Awaitable<Response>
  /**
   * The handler puts `X-Request-Id: rc.requestId` on every response it returns, so the core need not add it
   * afterwards (a copy of the response's headers saved per request).
   */
  stampsRequestId?: boolean
}

export type EventHandlers<O, T = unknown> = {
  [E in EventName]?: (payload: TesseraEvents[E], meta: EventMeta, ctx: PluginContext<O, T>) => Awaitable<void>
}

export interface PluginDefinition<S extends OptionsSchema | undefined = undefined, T = undefined> {
  /** Unique, kebab-case (`identity`, `api-keys`). */
  id: string
  /** One line shown by `tessera config check`. */
  description?: string
  /** A valibot schema for the plugin's options. */
  options?: S
  /** Plugins that must be present and set up before this one. */
  dependsOn?: readonly string[]
  /** Plugins to come after when present, without requiring them. */
  after?: readonly string[]
  /**
   * The plugin instance's own state, made once at boot (in dependency order, before contributions are
   * registered and before any `setup`) and handed to every hook, contribution, route function and `onStop`
   * as `ctx.state`, typed from what this returns. Construct here; do I/O in `setup` or `onStart`.
   * A throw stops boot naming the plugin.
   */
  state?: (ctx: PluginContext<OutputOf<S>, undefined>) => T
  /** Runs once at boot, in dependency order, after contributions are registered. */
  setup?: (ctx: PluginContext<OutputOf<S>, T>) => Awaitable<void>
  /** Routes for the public listener (browser- and app-facing) and the admin listener. */
  routes?: {
    public?: RouteFn<OutputOf<S>, T>
    admin?: RouteFn<OutputOf<S>, T>
  }
  /**
   * Hot-path routes served by Bun's router ahead of Elysia (see RawRoute); a function of the plugin's context
   * when which listener serves them is an option.
   */
  rawRoutes?: RawRoutes<OutputOf<S>, T> | ((ctx: PluginContext<OutputOf<S>, T>) => RawRoutes<OutputOf<S>, T>)
  /**
   * What the routes and raw routes do, per listener, for the listener's OpenAPI document (`GET /openapi.json`):
   * method, path, operationId, summary, parameters, and the request body as the valibot schema the handler
   * validates with. A function of the plugin's context when options decide which listener serves a route.
   */
  openapi?: Operations | ((ctx: PluginContext<OutputOf<S>, T>) => Operations)
  authenticators?: Contribution<Authenticator<any>, OutputOf<S>, T>
  authorizers?: Contribution<Authorizer<any>, OutputOf<S>, T>
  mutators?: Contribution<Mutator<any>, OutputOf<S>, T>
  errorHandlers?: Contribution<ErrorHandler<any>, OutputOf<S>, T>
  credentialMethods?: Contribution<CredentialMethod<any>, OutputOf<S>, T>
  subjectResolvers?: Contribution<SubjectResolver, OutputOf<S>, T>
  /** Storage drivers, chosen by DSN scheme. Registered before storage connects. */
  storageDrivers?: readonly StorageDriver[]
  /** Ordered migrations; ids ascending (`0001_init`). */
  migrations?: readonly Migration[]
  /** Typed event handlers. */
  on?: EventHandlers<OutputOf<S>, T>
  /** A readiness check: a reason string when not ready, null when ready. */
  ready?: (ctx: PluginContext<OutputOf<S>, T>) => Awaitable<string | null>
  /**
   * Commands this plugin adds to the CLI: `tessera <name> …` (e.g. `permissions`, `rules`).
   * Available for first-party plugins listed in the catalog, without loading a config.
   */
  commands?: Record<string, CliCommand>
  /** After storage and migrations, before the listeners accept requests. */
  onStart?: (ctx: PluginContext<OutputOf<S>, T>) => Awaitable<void>
  /** At shutdown, in reverse order, after the listeners drained. */
  onStop?: (ctx: PluginContext<OutputOf<S>, T>) => Awaitable<void>
}

/** What a plugin's CLI command gets. */
export interface CliContext {
  out(line: string): void
  err(line: string): void
  env: Record<string, string | undefined>
  cwd: string
  /**
   * Load the configuration (`--config` given here, else TESSERA_CONFIG, else tessera.config.*) and boot a
   * kernel without listeners. Stop it when done.
   */
  boot(opts?: { config?: string; dev?: boolean }): Promise<BootedKernel>
}

/** A kernel booted for a command (the core's Kernel, seen from a plugin): its plugins, registries and storage. */
export interface BootedKernel {
  readonly config: ResolvedConfig
  readonly plugins: readonly { id: string; ctx: PluginContext<any> }[]
  readonly registries: Registries
  readonly services: Services
  readonly storage: Storage
  readonly events: EventBus
  migrate(): Promise<{ plugin: string; id: string }[]>
  /** Every migration of the installed plugins and whether it is applied. */
  migrationStatus(): Promise<MigrationState[]>
  /** Answer a request as the listener would, in-process (no socket): `handle('admin', new Request(…))`. */
  handle(listener: 'public' | 'admin', request: Request): Promise<Response>
  stop(): Promise<void>
}

export interface CliCommand {
  /** One line for `tessera help`. */
  summary: string
  /** The full text for `tessera help <name>` and `tessera <name> --help`. */
  usage: string
  /** Run with the arguments after the command name; resolves to the exit code. Throw for a one-line error. */
  run(args: string[], ctx: CliContext): Promise<number>
}

/** A plugin with the user's (not yet validated) options. What `plugins: [...]` holds. */
export interface PluginInstance extends PluginEntry {
  readonly definition: PluginDefinition<any, any>
  readonly input: unknown
}

export type PluginFactory<S extends OptionsSchema | undefined, T = any> = ((
  ...args: S extends OptionsSchema
    ? undefined extends InputOf<S>
      ? [options?: InputOf<S>]
      : {} extends InputOf<S>
        ? [options?: InputOf<S>]
        : [options: InputOf<S>]
    : []
) => PluginInstance) & {
  readonly id: string
  readonly definition: PluginDefinition<S, T>
}

/** Any plugin factory, whatever its options (catalogs, module loading). */
export type AnyPluginFactory = ((options?: any) => PluginInstance) & {
  readonly id: string
  readonly definition: PluginDefinition<any, any>
}

const PLUGIN_ID = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/

export function definePlugin<S extends OptionsSchema | undefined = undefined, T = undefined>(def: PluginDefinition<S, T>): PluginFactory<S, T> {
  if (!PLUGIN_ID.test(def.id)) {
    throw new TypeError(`plugin id ${JSON.stringify(def.id)} must be kebab-case (e.g. api-keys)`)
  }
  const factory = (...args: unknown[]): PluginInstance => ({
    [PLUGIN]: true,
    id: def.id,
    definition: def,
    input: args[0],
  })
  Object.defineProperty(factory, 'id', { value: def.id })
  Object.defineProperty(factory, 'definition', { value: def })
  return factory as unknown as PluginFactory<S, T>
}

export function isPluginInstance(x: unknown): x is PluginInstance {
  return isPluginEntry(x)
}

export function isPluginFactory(x: unknown): x is AnyPluginFactory {
  return typeof x === 'function' && typeof (x as { definition?: unknown }).definition === 'object'
}

/**
 * Embedding Tessera in an existing Elysia app:
 *
 * ```ts
 * import { Elysia } from 'elysia'
 * import { tessera } from 'tessera/elysia'
 * import config from './tessera.config'
 *
 * const auth = await tessera(config, { admin: { prefix: '/tessera' } })   // /tessera/admin/identities
 * new Elysia()
 *   .use(auth)
 *   .get('/me', ({ subject }) => subject, { subject: true })     // null when anonymous
 *   .get('/account', ({ subject }) => subject.id, { session: true }) // 401 when anonymous
 *   .listen(3000)
 * ```
 *
 * The plugin is named and seeded, so `.use()` twice is a no-op; the same config
 * object always gives the same instance and kernel.
 *
 * Prefixes: a listener's prefix is where that listener's root goes, and Tessera's own paths follow unchanged
 * (`/self-service/…`, `/admin/identities`), so a prefix is exactly the path of an Ory SDK's basePath. URLs
 * Tessera builds (a flow's `ui.action`) follow the host: `serve.public.baseUrl` when set, else the request's
 * origin plus the public prefix.
 */
import { Elysia } from 'elysia'
import * as v from 'valibot'
import { loadConfig, resolveConfig } from '../core/config/load.ts'
import type { ResolvedConfig, TesseraConfig } from '../core/config/schema.ts'
import { formatIssues } from '../core/config/issues.ts'
import { ConfigError, UnauthorizedError, renderError } from '../core/errors.ts'
import type { PublicBaseUrlResolver } from '../core/http/context.ts'
import { buildListenerApp, metadataRoutes } from '../core/http/app.ts'
import { Kernel } from '../core/kernel/kernel.ts'
import type { Logger } from '../core/logger.ts'
import type { Subject } from '../core/subject.ts'
import { builtinDrivers, keptDevSecret } from '../drivers/index.ts'

export interface EmbedOptions {
  /**
   * Mount the public API under this prefix (default: at the root of the host app). `/auth` serves
   * `/auth/self-service/login/browser`; an Ory SDK's basePath is then `https://<host>/auth`.
   */
  public?: { prefix: string }
  /**
   * Mount the admin API under this prefix, or not at all (the default). `/tessera` serves
   * `/tessera/admin/identities`; an Ory SDK's admin basePath is then `https://<host>/tessera`.
   */
  admin?: { prefix: string } | false
  /** Serve /health/alive, /health/ready and /version under this prefix (default: not at all). */
  health?: { prefix: string } | false
  /** Apply pending migrations at start (any driver: this is explicit). */
  migrate?: boolean
  log?: Logger
  /** Environment for overrides (default: process.env). */
  env?: Record<string, string | undefined>
}

const Prefix = v.pipe(
  v.string('expected a path prefix such as /tessera'),
  v.regex(/^(\/[A-Za-z0-9._~-]+)+$/, 'expected a path prefix such as /tessera: segments of letters, digits, ".", "_", "~" or "-", no trailing slash'),
)
const EmbedOptionsSchema = v.object({
  public: v.optional(v.object({ prefix: v.union([v.literal(''), Prefix], 'expected "" (the root) or a path prefix such as /auth') })),
  admin: v.optional(v.union([v.literal(false), v.object({ prefix: Prefix })], 'expected false or { prefix: "/…" }')),
  health: v.optional(v.union([v.literal(false), v.object({ prefix: Prefix })], 'expected false or { prefix: "/…" }')),
  migrate: v.optional(v.boolean('expected true or false')),
})

const instances = new WeakMap<object, Promise<ReturnType<typeof build>>>()

/**
 * Embedded: `serve.public.baseUrl` when set (fixed, whatever the request says), else the request's own origin
 * plus the prefix Tessera's public routes are mounted under. X-Forwarded-* are not read: an embedded kernel
 * does not see the socket's peer, so it cannot tell a trusted proxy's header from a client's.
 */
function embeddedPublicBaseUrl(config: { serve: { public: { baseUrl?: string } } }, prefix: string): PublicBaseUrlResolver {
  const fixed = config.serve.public.baseUrl?.replace(/\/+$/, '')
  if (fixed) return () => fixed
  return (request) => `${new URL(request.url).origin}${prefix}`
}

function isResolved(c: TesseraConfig | ResolvedConfig): c is ResolvedConfig {
  return typeof (c as ResolvedConfig).source === 'string' && Array.isArray((c as ResolvedConfig).secrets?.system)
}

function seedOf(config: ResolvedConfig, opts: EmbedOptions): string {
  return JSON.stringify({
    dsn: config.dsn.replace(/:[^:@/]*@/, ':@'),
    plugins: (config.plugins as { id: string }[]).map((p) => p.id),
    public: opts.public?.prefix ?? '',
    admin: opts.admin ? opts.admin.prefix : false,
    health: opts.health ? opts.health.prefix : false,
  })
}

function build(kernel: Kernel, opts: EmbedOptions) {
  const app = new Elysia({ name: 'tessera', seed: seedOf(kernel.config, opts) })
    .decorate('tesseraKernel', kernel)
    .macro({
      /** `{ subject: true }`: the caller's subject, or null. */
      subject: {
        async resolve({ request }) {
          return { subject: (await kernel.resolveSubject(request)) as Subject | null }
        },
      },
      /** `{ session: true }`: the caller's subject; 401 in Ory's shape when there is none. */
      session: {
        async resolve({ request }) {
          const subject = await kernel.resolveSubject(request)
          if (!subject) throw new UnauthorizedError('No valid session credentials found in the request')
          return { subject }
        },
      },
    })
    .onError({ as: 'global' }, ({ error }) => {
      // Only our own 401 from the session macro; every other error stays the host's.
      if (error instanceof UnauthorizedError) return renderError(error)
    })
    .onStop(() => kernel.stop())
  app.use(buildListenerApp(kernel, 'public', { metadata: false, prefix: opts.public?.prefix || undefined }))
  if (opts.admin) app.use(buildListenerApp(kernel, 'admin', { metadata: false, prefix: opts.admin.prefix }))
  if (opts.health) app.use(new Elysia({ prefix: opts.health.prefix }).use(metadataRoutes(kernel)))
  return app
}

/**
 * Boot Tessera from a config (a code config, or a path to a config file) and
 * return an Elysia plugin that mounts its public routes.
 */
export async function tessera(config: TesseraConfig | ResolvedConfig | string, opts: EmbedOptions = {}) {
  const checked = v.safeParse(EmbedOptionsSchema, { public: opts.public, admin: opts.admin, health: opts.health, migrate: opts.migrate })
  if (!checked.success) throw new ConfigError(formatIssues(checked.issues, { prefix: [], schema: EmbedOptionsSchema }).map((p) => `embed options: ${p}`))
  const key: object = typeof config === 'string' ? { path: config } : config
  let p = typeof config === 'string' ? undefined : instances.get(key)
  if (!p) {
    p = (async () => {
      const resolved =
        typeof config === 'string'
          ? await loadConfig({ path: config, env: opts.env ?? process.env, log: opts.log, devSecret: keptDevSecret })
          : isResolved(config)
            ? config
            : resolveConfig(config, { env: opts.env ?? process.env, log: opts.log })
      const kernel = await Kernel.boot(resolved, {
        log: opts.log,
        publicBaseUrl: embeddedPublicBaseUrl(resolved, opts.public?.prefix ?? ''),
        drivers: builtinDrivers,
      })
      await kernel.start({ migrate: opts.migrate })
      return build(kernel, opts)
    })()
    if (typeof config !== 'string') instances.set(key, p)
  }
  return p
}

export type TesseraPlugin = Awaited<ReturnType<typeof tessera>>

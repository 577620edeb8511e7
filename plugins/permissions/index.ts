/**
 * The `permissions` plugin: Zanzibar-style relation tuples with Ory Keto's HTTP API and the Ory Permission
 * Language for namespaces. Contributes:
 *   - Keto's read API (list, check, batch check, expand, namespaces, OPL syntax check) and write API
 *     (`/admin/relation-tuples`), on the admin listener by default;
 *   - the service `permissions.check` for other plugins and host apps; the proxy's `permissions` authorizer
 *     (Oathkeeper's Keto authorizer, plugins/proxy/handlers/permissions.ts) asks it for access rules.
 */
import { definePlugin, type PluginContext } from 'tessera'
import { permissionsCommand } from './cli.ts'
import { PermissionsOptions, type ResolvedPermissionsOptions } from './options.ts'
import { permissionsOperations } from './openapi.ts'
import { Permissions, checkRoutes, readRoutes, writeRoutes } from './routes.ts'
import type { WireTuple } from './engine.ts'
import { migrations, type Subject } from './store.ts'

export { parseOpl } from './opl.ts'
export { and, defineNamespaces, includes, not, or, permits as permitsOf, subjectSet, traverse } from './builder.ts'
export { PermissionsOptions } from './options.ts'

type Ctx = PluginContext<ResolvedPermissionsOptions>

declare module 'tessera/events' {
  interface TesseraEvents {
    /** Relation tuples were inserted or deleted by PUT or PATCH /admin/relation-tuples (one event per request). */
    'relation_tuples.written': { inserted: WireTuple[]; deleted: WireTuple[] }
    /** DELETE /admin/relation-tuples removed the tuples matching a filter. */
    'relation_tuples.deleted': { filter: Record<string, unknown>; count: number }
  }
}

/** One runtime (parsed namespaces) per plugin instance: the plugin's state. */
function runtime(ctx: Ctx): Permissions {
  return (ctx as PluginContext<ResolvedPermissionsOptions, Permissions>).state
}

export const permissions = definePlugin({
  id: 'permissions',
  description: 'Relation tuples, Ory Permission Language namespaces, check and expand (Keto-compatible)',
  options: PermissionsOptions,
  migrations,
  commands: { permissions: permissionsCommand },
  state: (ctx) => new Permissions(ctx),

  setup(ctx) {
    const p = runtime(ctx)
    ctx.services.provide(
      'permissions.check',
      {
        async check(tenant, req) {
          const subject: Subject = 'id' in req.subject ? { id: req.subject.id } : { set: { ...req.subject, relation: req.subject.relation ?? '' } }
          return p.check(ctx.storage.scoped(tenant), { namespace: req.namespace, object: req.object, relation: req.relation, subject }, ctx.options.maxReadDepth, req.context ?? {})
        },
      },
      ctx.id,
    )
  },

  // check is the hot path: raw routes on whichever listener serves reads
  rawRoutes: (ctx) => ({ [ctx.options.read]: checkRoutes(runtime(ctx)) }),
  openapi: permissionsOperations,

  routes: {
    public: (app, ctx) => {
      const p = runtime(ctx)
      if (ctx.options.read === 'public') readRoutes(app, p)
      if (ctx.options.write === 'public') writeRoutes(app, p)
      return app
    },
    admin: (app, ctx) => {
      const p = runtime(ctx)
      if (ctx.options.read === 'admin') readRoutes(app, p)
      if (ctx.options.write === 'admin') writeRoutes(app, p)
      return app
    },
  },
})

export default permissions

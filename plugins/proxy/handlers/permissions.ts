/**
 * The `permissions` authorizer: a Keto check for an access rule, as Oathkeeper's `keto_engine_acp_ory`. The
 * namespace and relation are fixed; object, subject and each request-context value are templates. It asks the
 * `permissions.check` service in-process (the permissions plugin provides it, or a host app's own plugin);
 * without that service a rule naming it is refused when the rules load. A Keto (or Tessera) reached over HTTP is
 * `remote_json` against its `/relation-tuples/check`.
 */
import * as v from 'valibot'
import { type Authorizer, PipelineError, type PluginContext, forbidden } from 'tessera'
import { ProxyTemplate } from '../sprig.ts'

export const PermissionsAuthorizerConfig = v.object({
  namespace: v.pipe(v.string(), v.minLength(1)),
  /** A template: `{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}`, `{{ .Extra.key }}`. */
  object: ProxyTemplate,
  relation: v.pipe(v.string(), v.minLength(1)),
  /** The subject id template; `{{ .Subject }}` by default. */
  subject: v.optional(ProxyTemplate, '{{ .Subject }}'),
  /** The request context for conditions, each value a template: `{ organization: '{{ .Extra.org }}' }`. */
  context: v.optional(v.record(v.string(), ProxyTemplate), {}),
})
type PermissionsAuthorizerConfig = v.InferOutput<typeof PermissionsAuthorizerConfig>

/** Why a rule naming the authorizer cannot load here, or null when the service is there. */
export function permissionsUnavailable(ctx: PluginContext<unknown>): string | null {
  return ctx.services.get('permissions.check')
    ? null
    : 'needs the `permissions.check` service, which no installed plugin provides: install the permissions plugin (`tessera/plugins/permissions`) before the proxy, or ask a Keto over HTTP with `remote_json`'
}

export function permissionsAuthorizer(ctx: PluginContext<unknown>): Authorizer<PermissionsAuthorizerConfig> {
  return {
    id: 'permissions',
    config: PermissionsAuthorizerConfig,
    async authorize(req, session, config) {
      const service = ctx.services.get('permissions.check')
      if (!service) throw new PipelineError('internal_server_error', 500, 'The permissions authorizer has no permissions.check service', 'permissions_unavailable')
      const context: Record<string, string> = {}
      for (const k in config.context) context[k] = config.context[k]!(session)
      const allowed = await service.check(req.tenant, { namespace: config.namespace, object: config.object(session), relation: config.relation, subject: { id: config.subject(session) }, context })
      return allowed ? { allowed: true } : { allowed: false, error: forbidden('permission_denied') }
    },
  }
}

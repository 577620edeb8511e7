/**
 * The `oauth2.tokens` service (core/services.ts `OAuth2TokenService`): introspection and the client_credentials
 * grant in-process, through the same code as `POST /admin/oauth2/introspect` and `POST /oauth2/token` (client
 * authentication, rate limit, whitelists, the `oauth2.token.issued` event). The proxy's `oauth2_introspection`
 * and `oauth2_client_credentials` authenticators use it when this plugin is installed.
 */
import { type ClientCredentialsToken, OAuth2Error, type OAuth2TokenService, type RequestContext, type TokenIntrospection, configuredPublicBaseUrl } from 'tessera'
import type { OAuth2 } from './oauth2.ts'
import { exchange } from './token-endpoint.ts'

export function tokenService(o: OAuth2): OAuth2TokenService {
  const ctx = o.ctx
  const publicBaseUrl = () => configuredPublicBaseUrl(ctx.config).replace(/\/+$/, '')
  const rcOf = (tenant: string): RequestContext => ({
    requestId: crypto.randomUUID(),
    tenant,
    log: ctx.log,
    db: ctx.storage.scoped(tenant),
    startedAt: performance.now(),
    publicBaseUrl: publicBaseUrl(),
  })
  return {
    async introspect(tenant, token, opts = {}) {
      const got = o.tokens.introspect(ctx.storage.scoped(tenant), token, o.issuer({ publicBaseUrl: publicBaseUrl() }), opts.scope ?? [])
      return (got instanceof Promise ? await got : got) as TokenIntrospection
    },
    async clientCredentials(tenant, r) {
      const form = new URLSearchParams({ grant_type: 'client_credentials' })
      if (r.scope?.length) form.set('scope', r.scope.join(' '))
      for (const a of r.audience ?? []) form.append('audience', a)
      const enc = (s: string) => encodeURIComponent(s)
      const request = new Request('http://in-process/oauth2/token', {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${enc(r.clientId)}:${enc(r.clientSecret)}`).toString('base64')}` },
      })
      try {
        const t = await exchange(o, request, form, rcOf(tenant))
        return { access_token: t.access_token, token_type: t.token_type, expires_in: t.expires_in, scope: t.scope } satisfies ClientCredentialsToken
      } catch (e) {
        if (e instanceof OAuth2Error) return null
        throw e
      }
    },
  }
}

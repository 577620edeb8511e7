/**
 * The `oauth2` plugin: an OAuth 2.0 / OpenID Connect provider with Ory Hydra's HTTP API. This part: the clients
 * admin API (with secret rotation), JSON Web Keys (a KeyStore service, the admin JWK API, rotation),
 * discovery, the token endpoint (client_credentials, refresh_token with rotation and reuse detection),
 * introspection and revocation. See README.md for the modules and what the next parts add.
 */
import { type PeriodicJob, definePlugin, periodic, sql } from 'tessera'
import { Authorizer, authorizationCode, authorizeRoutes, refreshWithIdToken } from './authorize.ts'
import { consentRoutes, pendingLoginRequest } from './consent.ts'
import { FlowRepo } from './flows.ts'
import { userinfoRoutes } from './userinfo.ts'
import { clientsCommand, keysCommand, tokenCommand, trustCommand } from './cli.ts'
import { migrations } from './migrations.ts'
import { OAuth2 } from './oauth2.ts'
import { oauth2Operations } from './openapi.ts'
import { OAuth2Options, WELL_KNOWN_SETS } from './options.ts'
import { adminRoutes, publicRoutes } from './routes.ts'
import { clientCredentials, tokenRoutes } from './token-endpoint.ts'
import { JWT_BEARER_GRANT, jwtBearer } from './jwt-bearer.ts'
import { trustRoutes } from './trust.ts'
import { tokenService } from './service.ts'
import { logoutAdminRoutes, logoutPublicRoutes } from './logout.ts'
import { deliverDue } from './backchannel.ts'
import { DEVICE_CODE_GRANT, DeviceFlow, deviceCode, deviceRoutes } from './device.ts'

export { OAuth2Options, type OAuth2OptionsInput, type ClaimsMapping, type ClaimsInput, ID_TOKEN_SET, ACCESS_TOKEN_SET } from './options.ts'
export { DatabaseKeyStore, signJwt } from './keys.ts'
export type { GrantHandler, GrantResult, TokenRequest } from './token-endpoint.ts'
export type { IssueRequest, TokenResponse } from './tokens.ts'

interface Jobs {
  sweeper?: PeriodicJob
  rotator?: PeriodicJob
  backchannel?: PeriodicJob
}

export const oauth2 = definePlugin({
  id: 'oauth2',
  description: 'OAuth 2.0 and OpenID Connect provider: clients, keys, tokens, introspection, revocation (Hydra-compatible)',
  options: OAuth2Options,
  migrations,
  commands: { clients: clientsCommand, keys: keysCommand, token: tokenCommand, trust: trustCommand },
  state: (ctx) => {
    const o = new OAuth2(ctx)
    const authorizer = new Authorizer(o)
    const device = new DeviceFlow(authorizer)
    authorizer.device = device
    return Object.assign(o, { jobs: {} as Jobs, authorizer, device })
  },
  setup(ctx) {
    const o = ctx.state
    o.grants.set('client_credentials', clientCredentials)
    o.grants.set('refresh_token', refreshWithIdToken)
    o.grants.set('authorization_code', authorizationCode)
    o.grants.set(JWT_BEARER_GRANT, jwtBearer)
    o.grants.set(DEVICE_CODE_GRANT, deviceCode)
    ctx.services.provide('oauth2.keys', o.keys, ctx.id)
    ctx.services.provide('oauth2.tokens', tokenService(o), ctx.id)
  },
  onStart(ctx) {
    const o = ctx.state
    // the identity plugin's login flow is this provider's login (unless an external login app is configured)
    if (!ctx.options.urls.login) {
      const identityLogin = ctx.services.get('identity.login')
      identityLogin?.onChallenge((e) => o.authorizer.identityLoginDone(e.tenant, e.loginChallenge, e.session))
      // the login and registration flows name the application that asks (`oauth2_login_request`, as Kratos' do)
      identityLogin?.onLoginRequest((tenant, challenge) => pendingLoginRequest(o.authorizer, ctx.storage.scoped(tenant), challenge))
    }
    // every tenant with rows of its own, and the default one
    const tenants = async (table: 'oauth2_jwks' | 'oauth2_access_tokens' | 'oauth2_logout_deliveries') => {
      const rows = await ctx.storage.db.query<{ nid: string }>(sql`SELECT DISTINCT nid FROM ${sql.id(table)}`)
      return [...new Set([ctx.config.tenancy.default, ...rows.map((r) => r.nid)])]
    }
    if (ctx.options.cleanup.enabled) {
      o.jobs.sweeper = periodic(ctx.options.cleanup.intervalSeconds * 1000, async () => {
        for (const t of await tenants('oauth2_access_tokens')) {
          await o.tokens.sweep(ctx.storage.scoped(t))
          await new FlowRepo(ctx.storage.scoped(t)).sweep()
        }
      }, ctx.log, 'oauth2 expired-token sweep')
    }
    // back-channel logout deliveries are rows: whatever a restart interrupted is sent by the next process
    o.jobs.backchannel = periodic(ctx.options.logout.backchannel.intervalSeconds * 1000, async () => {
      for (const t of await tenants('oauth2_logout_deliveries')) await deliverDue(o, ctx.storage.scoped(t))
    }, ctx.log, 'oauth2 back-channel logout')
    const every = ctx.options.keys.rotateEverySeconds
    if (every) {
      o.jobs.rotator = periodic(every * 1000, async () => {
        for (const t of await tenants('oauth2_jwks')) for (const set of WELL_KNOWN_SETS) await o.rotate(t, set)
      }, ctx.log, 'oauth2 key rotation')
    }
  },
  async onStop(ctx) {
    await ctx.state.jobs.sweeper?.stop()
    await ctx.state.jobs.rotator?.stop()
    await ctx.state.jobs.backchannel?.stop()
    ctx.state.jobs = {}
  },
  rawRoutes: (ctx) => {
    const t = tokenRoutes(ctx.state)
    const c = consentRoutes(ctx.state.authorizer)
    const d = deviceRoutes(ctx.state.device)
    return { public: [...t.public, ...authorizeRoutes(ctx.state.authorizer), ...userinfoRoutes(ctx.state), ...c.public, ...d.public], admin: [...t.admin, ...c.admin, ...d.admin] }
  },
  routes: {
    public: (app, ctx) => {
      logoutPublicRoutes(app, ctx.state)
      return publicRoutes(app, ctx.state)
    },
    admin: (app, ctx) => {
      trustRoutes(app, ctx.state)
      logoutAdminRoutes(app, ctx.state)
      return adminRoutes(app, ctx.state)
    },
  },
  openapi: oauth2Operations,
})

export default oauth2

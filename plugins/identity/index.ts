/**
 * The `identity` plugin: identities with JSON-Schema traits (Kratos'
 * `ory.sh/kratos` extension), the self-service flow engine (login,
 * registration, logout; settings, recovery and verification plug into the same
 * engine later), sessions, and the admin API — Kratos' paths and shapes.
 *
 * Credential methods (`password`, …) are separate plugins that register in the
 * core's `credentialMethods` registry; the flow engine finds them by id.
 */
import { type PeriodicJob, definePlugin, periodic } from 'tessera'
import { IdentityCore } from './core.ts'
import { IdentityLogin } from './login-challenge.ts'
import { FlowEngine } from './engine.ts'
import { identitiesCommand, sessionsCommand } from './cli.ts'
import { migrations } from './migrations.ts'
import { IdentityOptions } from './options.ts'
import { identityOperations } from './openapi.ts'
import { adminRoutes } from './routes-admin.ts'
import { publicRoutes } from './routes-public.ts'
import { adminRecoveryRoutes } from './routes-flows.ts'
import { sweepExpiredFlows, sweepFlowCreationCounters, sweepFlowErrors } from './sweep.ts'
import { sessionEnd } from './session-end.ts'

declare module 'tessera/events' {
  interface TesseraEvents {
    'identity.created': { identityId: string; schemaId: string; via: 'registration' | 'admin' }
    'identity.updated': { identityId: string }
    'identity.deleted': { identityId: string }
    'session.issued': { sessionId: string; identityId: string; method: string }
    'session.revoked': { sessionId: string; identityId: string }
    'login.succeeded': { identityId: string; sessionId: string; method: string }
  }
}

export type { FlowMethodContext } from './engine.ts'
export { IdentityOptions, type IdentityOptionsInput } from './options.ts'

export { sweepExpiredFlows, sweepFlowCreationCounters, sweepFlowErrors } from './sweep.ts'

/** The plugin's state: its core and flow engine, and the sweep job while running. */
interface IdentityState {
  core: IdentityCore
  engine: FlowEngine
  login: IdentityLogin
  sweeper?: PeriodicJob
}

const coreOf = (ctx: { readonly state: IdentityState }) => ctx.state

export const identity = definePlugin({
  id: 'identity',
  description: 'Identities, self-service login/registration/logout, sessions and the admin API (Kratos-compatible)',
  options: IdentityOptions,
  migrations,
  commands: { identities: identitiesCommand, sessions: sessionsCommand },
  state(ctx): IdentityState {
    const core = new IdentityCore(ctx)
    return { core, engine: new FlowEngine(core), login: new IdentityLogin(core) }
  },
  setup(ctx) {
    const { core } = coreOf(ctx)
    ctx.services.provide('identity.sessions', core, ctx.id)
    ctx.services.provide('identity.login', ctx.state.login, ctx.id)
    ctx.services.provide('identity.session-end', sessionEnd(ctx), ctx.id)
  },
  onStart(ctx) {
    const c = ctx.options.cleanup
    if (!c.enabled) return
    const limit = ctx.options.flowRateLimit
    ctx.state.sweeper = periodic(
      c.intervalSeconds * 1000,
      async () =>
        (await sweepExpiredFlows(ctx.storage, c)) +
        // an error outlives its page as a flow does: lifespan and grace
        (await sweepFlowErrors(ctx.storage, ctx.options.selfservice.flowLifespan + c.graceSeconds, c)) +
        (limit.enabled ? await sweepFlowCreationCounters(ctx.storage, limit.windowSeconds) : 0),
      ctx.log,
      'expired-flow sweep',
    )
  },
  async onStop(ctx) {
    await ctx.state.sweeper?.stop()
    ctx.state.sweeper = undefined
  },
  subjectResolvers: (ctx) => [
    {
      id: 'identity-session',
      async resolve(request, tenant) {
        const s = await coreOf(ctx).core.fromRequest(request, tenant)
        return s ? { id: s.identityId, type: 'identity', tenant, identity: s.identity, session: s.session } : null
      },
    },
  ],
  routes: {
    public: (app, ctx) => {
      const { core, engine } = coreOf(ctx)
      return publicRoutes(app, core, engine, ctx.state.login)
    },
    admin: (app, ctx) => {
      adminRecoveryRoutes(app, coreOf(ctx).core, coreOf(ctx).engine)
      return adminRoutes(app, coreOf(ctx).core)
    },
  },
  openapi: identityOperations,
})

export default identity

/** The `identity.session-end` service: another plugin (the oauth2 plugin's logout) ends a session by id. */
import type { PluginContext, SessionEndService } from 'tessera'
import { SessionRepo } from './repo.ts'

export function sessionEnd(ctx: PluginContext<unknown>): SessionEndService {
  return {
    async end(tenant, sessionId) {
      const repo = new SessionRepo(ctx.storage.scoped(tenant))
      const s = await repo.get(sessionId)
      if (!s || !s.active) return false
      if (!(await repo.deactivate(sessionId))) return false
      await ctx.emit('session.revoked', { sessionId, identityId: s.identity_id }, { tenant })
      return true
    },
  }
}

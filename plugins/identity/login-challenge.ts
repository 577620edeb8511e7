/**
 * The identity login flow as an OAuth 2.0 provider's login (Kratos' `oauth2_provider` setting): the
 * `identity.login` service. The provider (the oauth2 plugin, met only through this service) sends the browser to
 * `/self-service/login/browser?login_challenge=…`; the flow keeps the challenge (`oauth2_login_challenge`, as
 * Kratos' flow does) and, once the login succeeds, the browser goes where the provider's handler says.
 */
import type { ActiveSession, IdentityLoginService, LoginChallengeHandler } from 'tessera'
import type { IdentityCore } from './core.ts'
import { IdentityRepo } from './repo.ts'

/** A login challenge as the flow carries it: opaque, bounded. */
export const LOGIN_CHALLENGE = /^[A-Za-z0-9_-]{16,128}$/

export class IdentityLogin implements IdentityLoginService {
  #handler: LoginChallengeHandler | undefined
  constructor(private readonly core: IdentityCore) {}

  loginUrl(publicBaseUrl: string, opts: { loginChallenge: string; refresh?: boolean }): string {
    const url = new URL(`${publicBaseUrl}/self-service/login/browser`)
    url.searchParams.set('login_challenge', opts.loginChallenge)
    if (opts.refresh) url.searchParams.set('refresh', 'true')
    return url.toString()
  }

  async identity(tenant: string, id: string): Promise<Record<string, unknown> | null> {
    const row = await new IdentityRepo(this.core.ctx.storage.scoped(tenant)).get(id)
    return row && row.state === 'active' ? (this.core.identityJson(row) as Record<string, unknown>) : null
  }

  onChallenge(handler: LoginChallengeHandler): void {
    this.#handler = handler
  }

  /** Where a browser goes after a login that carried `challenge` (null: no provider, the flow's usual return_to). */
  async after(tenant: string, challenge: unknown, session: ActiveSession | null, request: Request): Promise<string | null> {
    if (!this.#handler || typeof challenge !== 'string' || !session) return null
    return this.#handler({ tenant, loginChallenge: challenge, session, request })
  }
}

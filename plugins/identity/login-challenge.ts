/**
 * The identity login flow as an OAuth 2.0 provider's login (Kratos' `oauth2_provider` setting): the
 * `identity.login` service. The provider (the oauth2 plugin, met only through this service) sends the browser to
 * `/self-service/login/browser?login_challenge=…`; the flow keeps the challenge (`oauth2_login_challenge`, as
 * Kratos' flow does) and, once the login succeeds, the browser goes where the provider's handler says.
 */
import type { ActiveSession, IdentityLoginService, LoginChallengeHandler, LoginRequestLookup } from 'tessera'
import type { IdentityCore } from './core.ts'
import { IdentityRepo } from './repo.ts'

/** A login challenge as the flow carries it: opaque, bounded. */
export const LOGIN_CHALLENGE = /^[A-Za-z0-9_-]{16,128}$/

export class IdentityLogin implements IdentityLoginService {
  #handler: LoginChallengeHandler | undefined
  #lookup: LoginRequestLookup | undefined
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

  onLoginRequest(lookup: LoginRequestLookup): void {
    this.#lookup = lookup
  }

  /**
   * A login or registration flow as the public API shows it: with the provider's login request
   * (`oauth2_login_request`) when the flow carries a challenge the provider still knows (Kratos adds it when a
   * flow is fetched). A challenge the provider no longer knows (expired, handled) leaves the field out: the flow
   * itself still works and the login then goes to the flow's usual return_to.
   */
  async withLoginRequest<F extends object>(tenant: string, flow: F): Promise<F> {
    const challenge = (flow as { oauth2_login_challenge?: unknown }).oauth2_login_challenge
    if (!this.#lookup || typeof challenge !== 'string') return flow
    const request = await this.#lookup(tenant, challenge)
    return request ? { ...flow, oauth2_login_request: request } : flow
  }

  /** Where a browser goes after a login that carried `challenge` (null: no provider, the flow's usual return_to). */
  async after(tenant: string, challenge: unknown, session: ActiveSession | null, request: Request): Promise<string | null> {
    if (!this.#handler || typeof challenge !== 'string' || !session) return null
    return this.#handler({ tenant, loginChallenge: challenge, session, request })
  }
}

/**
 * Authenticator assurance (Kratos' AAL): which factor a stored credential is, the assurance an identity can reach
 * (its available AAL), a session's assurance from its completed methods, and the 403 `session_aal2_required` that
 * whoami and settings answer with `highest_available`. Generic: a method says what it is (`factor`, and per
 * credential `credential.factor(config)`); nothing here knows a method by name.
 */
import { type AuthenticatorAssuranceLevel, type CredentialMethod, ForbiddenError, type Registry, type ScopedDb, renderError } from 'tessera'
import { IdentityRepo } from './repo.ts'

export type Factor = 'first' | 'second' | 'both'

/** The factor a stored credential of `type` gives (null: none, or its method is not installed). */
export function factorOf(registry: Registry<CredentialMethod<any>>, type: string, config: Record<string, unknown>): Factor | null {
  const m = registry.get(type)
  if (!m) return null
  return m.credential?.factor ? m.credential.factor(config) : m.factor
}

export const isFirst = (f: Factor | null) => f === 'first' || f === 'both'
export const isSecond = (f: Factor | null) => f === 'second' || f === 'both'

/** Whether any installed method can be a second factor (else no identity can reach aal2 and nothing needs checking). */
export const anySecondFactor = (registry: Registry<CredentialMethod<any>>) => registry.list().some((m) => m.factor !== 'first' || m.credential?.factor !== undefined)

/**
 * The highest assurance an identity can reach (Kratos' `available_aal`): aal2 as soon as it has a second-factor
 * credential — a first factor is not required for that (Kratos GHSA-wc43-73w7-x2f5: an identity whose only first
 * factor is a login code, plus TOTP, must still be asked for TOTP); aal1 with a first factor alone; else aal0.
 */
export async function availableAal(db: ScopedDb, registry: Registry<CredentialMethod<any>>, identityId: string): Promise<AuthenticatorAssuranceLevel> {
  const creds = await new IdentityRepo(db).credentials([identityId])
  const factors = creds.map((c) => factorOf(registry, c.type, c.config))
  if (factors.some(isSecond)) return 'aal2'
  if (factors.some(isFirst)) return 'aal1'
  return 'aal0'
}

const RANK: Record<string, number> = { aal0: 0, aal1: 1, aal2: 2, aal3: 3 }
export const aalRank = (a: string | undefined) => RANK[a ?? 'aal0'] ?? 0

/** A session's assurance: the highest of its completed methods (a second factor is only ever added to a signed-in session). */
export function sessionAal(methods: { aal: string }[]): AuthenticatorAssuranceLevel {
  let best = 'aal1'
  for (const m of methods) if (aalRank(m.aal) > aalRank(best)) best = m.aal
  return best as AuthenticatorAssuranceLevel
}

/** Kratos' ErrAALNotSatisfied: 403 `session_aal2_required` with where to step up (`redirect_browser_to`). */
export async function aal2Required(redirectTo: string, requestId?: string): Promise<Response> {
  const err = new ForbiddenError('Session does not fulfill the requested Authenticator Assurance Level', {
    id: 'session_aal2_required',
    reason: 'An active session was found but it does not fulfill the requested Authenticator Assurance Level. Please verify yourself with a second factor to resolve this issue.',
  })
  const rendered = renderError(err, requestId)
  const body = { ...((await rendered.json()) as Record<string, unknown>), redirect_browser_to: redirectTo }
  return new Response(JSON.stringify(body), { status: 403, headers: rendered.headers })
}

/** Where a browser steps up: the login flow at aal2, returning to `returnTo`. */
export function stepUpUrl(publicBaseUrl: string, returnTo?: string): string {
  const u = new URL(`${publicBaseUrl}/self-service/login/browser`)
  u.searchParams.set('aal', 'aal2')
  if (returnTo) u.searchParams.set('return_to', returnTo)
  return u.toString()
}

/**
 * Whether removing the credential of `type` leaves the identity able to log in and, when it had one, with a second
 * factor: refused when it is the last first-factor credential, or the last second-factor one (enrol another
 * second factor first; an administrator can remove it with DELETE /admin/identities/{id}/credentials/{type}).
 * Returns the reason, or null when the removal is allowed.
 */
export async function removalRefused(db: ScopedDb, registry: Registry<CredentialMethod<any>>, identityId: string, type: string, opts: { secondFactor: boolean } = { secondFactor: true }): Promise<string | null> {
  const creds = await new IdentityRepo(db).credentials([identityId])
  const gone = creds.find((c) => c.type === type)
  if (!gone) return null
  const f = factorOf(registry, type, gone.config)
  const rest = creds.filter((c) => c.type !== type).map((c) => factorOf(registry, c.type, c.config))
  if (isFirst(f) && !rest.some(isFirst)) return 'This is the last credential you can sign in with: add another way to sign in before removing it.'
  if (opts.secondFactor && isSecond(f) && !rest.some(isSecond)) return 'This is your last second factor: add another second factor before removing it.'
  return null
}

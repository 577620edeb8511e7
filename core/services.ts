/**
 * Contracts of the services first-party plugins offer each other in-process.
 * They live in the core so that a provider and a consumer agree on a type
 * without importing each other:
 *
 *   identity     provides 'identity.sessions'  (used by the proxy's cookie_session / bearer_token)
 *   permissions  provides 'permissions.check'  (used by host apps and the permissions authorizer)
 *
 * Get one with `ctx.services.get('identity.sessions')` — undefined when the plugin is not installed.
 */

/** An active session as the identity plugin resolves it. */
export interface ActiveSession {
  /** The session id. */
  id: string
  /** The identity the session belongs to. */
  identityId: string
  /** `aal1`, `aal2`, … */
  aal: string
  expiresAt: Date
  /** The identity in Kratos' JSON shape (id, schema_id, traits, metadata_public, …). */
  identity: Record<string, unknown>
  /** The session in Kratos' JSON shape (id, active, expires_at, authenticated_at, identity, …). */
  session: Record<string, unknown>
}

export interface SessionService {
  /** The session cookie's name. */
  readonly cookieName: string
  /** The active session a session token (cookie value, X-Session-Token, or Bearer) belongs to. */
  fromToken(token: string, tenant: string): Promise<ActiveSession | null>
  /** The active session of a request: session cookie, `X-Session-Token`, or `Authorization: Bearer`. */
  fromRequest(request: Request, tenant: string): Promise<ActiveSession | null>
}

/** A Keto-style check: may `subject` have `relation` on `namespace:object`? */
export interface PermissionCheckRequest {
  namespace: string
  object: string
  relation: string
  /** A subject id, or a subject set. */
  subject: { id: string } | { namespace: string; object: string; relation?: string }
  /** Request context for conditions (time, attributes). */
  context?: Record<string, unknown>
}

export interface PermissionService {
  check(tenant: string, request: PermissionCheckRequest): Promise<boolean>
}

declare module './registry.ts' {
  interface TesseraServices {
    'identity.sessions': SessionService
    'permissions.check': PermissionService
  }
}

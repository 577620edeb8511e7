/**
 * The subject of a request: who is calling. Host apps get it through the
 * `subject` / `session` macros (elysia/index.ts); the identity plugin registers
 * the resolver that knows sessions. Until one is registered there is no subject.
 */
export interface Subject {
  /** The subject id (an identity id, a client id, …). */
  id: string
  /** What kind of subject: `identity`, `client`, `api_key`, … */
  type: string
  /** The tenant the subject belongs to. */
  tenant: string
  /** The identity, when the subject is one. */
  identity?: unknown
  /** The session, when the request carried one. */
  session?: unknown
  /** Anything else the resolver learned. */
  extra?: Record<string, unknown>
}

export interface SubjectResolver {
  id: string
  /** The subject for this request, or null when it carries no credentials this resolver knows. */
  resolve(request: Request, tenant: string): Promise<Subject | null>
}

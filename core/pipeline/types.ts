/**
 * The access pipeline contract, in Oathkeeper's order:
 * authenticate -> authorize -> mutate -> (on failure) render an error.
 *
 * Handlers are registered by plugins in the core's registries and found by id
 * ("the authorizer `permissions`"). Each declares a valibot schema for its
 * config; a rule's config is merged over the handler's global config and
 * validated once, when the pipeline is compiled — never per request.
 */
import type * as v from 'valibot'

import type { Awaitable } from '../types.ts'

/** The request as the pipeline sees it. */
export interface PipelineRequest {
  method: string
  url: URL
  headers: Headers
  /** The connecting peer's address, when known. */
  remoteAddress?: string
  /** The client's address (behind `serve.trustedProxies`, from X-Forwarded-For), when known; default `remoteAddress`. */
  readonly clientAddress?: string
  /** The tenant the request belongs to. */
  tenant: string
  /** The original request, for handlers that need the body. */
  raw?: Request
}

/** What the pipeline learns about the caller; mutators read it. */
export interface AuthenticationSession {
  subject: string
  extra: Record<string, unknown>
  /** Headers that mutators set on the upstream request / the decision response. */
  header: Headers
  /** Cookies that mutators set. */
  cookies: Record<string, string>
  matchContext: {
    regexpCaptureGroups: string[]
    url: URL
    method: string
    header: Headers
  }
}

/** A pipeline failure; error handlers render it. `name` follows Oathkeeper's error names. */
export class PipelineError extends Error {
  constructor(
    /** `unauthorized`, `forbidden`, `not_found`, `internal_server_error`, … */
    readonly kind: 'unauthorized' | 'forbidden' | 'not_found' | 'bad_request' | 'internal_server_error',
    readonly status: number,
    message: string,
    /** A machine-readable denial reason for logs (`tessera.reason_id`). */
    readonly reasonId: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'PipelineError'
  }
}

export const unauthorized = (reasonId: string, message = 'Access credentials are invalid') =>
  new PipelineError('unauthorized', 401, message, reasonId)
export const forbidden = (reasonId: string, message = 'Access credentials are not sufficient to access this resource') =>
  new PipelineError('forbidden', 403, message, reasonId)

/** An authenticator's answer. "Not responsible" is a value, not an exception. */
export type AuthenticatorResult =
  | { kind: 'authenticated' }
  | { kind: 'not_responsible' }
  | { kind: 'denied'; error: PipelineError }

export const NOT_RESPONSIBLE: AuthenticatorResult = Object.freeze({ kind: 'not_responsible' })
export const AUTHENTICATED: AuthenticatorResult = Object.freeze({ kind: 'authenticated' })

export interface HandlerBase<C> {
  /** The handler's id (`cookie_session`, `allow`, `header`): Oathkeeper's names where they exist. */
  id: string
  /** The handler's config schema (valibot). Omit for handlers without config. */
  config?: v.GenericSchema<unknown, C>
}

export interface Authenticator<C = unknown> extends HandlerBase<C> {
  authenticate(req: PipelineRequest, session: AuthenticationSession, config: C): Awaitable<AuthenticatorResult>
}

export type AuthorizerResult = { allowed: true } | { allowed: false; error: PipelineError }

export interface Authorizer<C = unknown> extends HandlerBase<C> {
  authorize(req: PipelineRequest, session: AuthenticationSession, config: C): Awaitable<AuthorizerResult>
}

export interface Mutator<C = unknown> extends HandlerBase<C> {
  mutate(req: PipelineRequest, session: AuthenticationSession, config: C): Awaitable<void>
}

export interface ErrorHandler<C = unknown> extends HandlerBase<C> {
  handle(error: PipelineError, req: PipelineRequest, config: C): Awaitable<Response>
}

/** A handler reference in a rule: `{ handler: 'jwt', config: {...} }`. */
export interface HandlerRef {
  handler: string
  config?: unknown
}

/** An error handler in a rule; the first whose `matches` accepts the error renders it (all do without one). */
export interface ErrorHandlerRef extends HandlerRef {
  matches?: (error: PipelineError, req: PipelineRequest) => boolean
}

/** The part of an access rule the pipeline runs. */
export interface PipelineSpec {
  id: string
  authenticators: HandlerRef[]
  authorizer: HandlerRef
  mutators: HandlerRef[]
  errors?: ErrorHandlerRef[]
}

/** The outcome of running a pipeline. */
export type Decision =
  | { allowed: true; session: AuthenticationSession }
  | { allowed: false; error: PipelineError; response: Response; session: AuthenticationSession }

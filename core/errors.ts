/**
 * Error classes with stable codes, and the two renderers Tessera answers with:
 * Ory's generic error shape (`{"error":{"id","code","status","reason","message"}}`)
 * and RFC 6749's `error` / `error_description` for OAuth2 endpoints.
 *
 * `code` is Tessera's stable, machine-readable code (`ERR_FLOW_EXPIRED`).
 * `id` is the Ory error id where Ory has one (`self_service_flow_expired`).
 * `cause` is kept for logs and never rendered.
 */

export const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

export interface TesseraErrorInit {
  /** A human-readable reason, safe to show to the caller. */
  reason?: string
  /** Ory's error id, where Ory has one. */
  id?: string
  /** Structured details, safe to show to the caller. */
  details?: Record<string, unknown>
  /** The underlying error: logged, never rendered. */
  cause?: unknown
  /** Extra response headers (e.g. Retry-After). */
  headers?: Record<string, string>
}

export class TesseraError extends Error {
  override readonly name: string = 'TesseraError'
  /** Stable machine-readable code, e.g. `ERR_NOT_FOUND`. */
  readonly code: string
  /** HTTP status this error renders with. */
  readonly status: number
  readonly id: string | undefined
  readonly reason: string | undefined
  readonly details: Record<string, unknown> | undefined
  readonly headers: Record<string, string> | undefined

  constructor(code: string, status: number, message: string, init: TesseraErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause })
    this.code = code
    this.status = status
    this.id = init.id
    this.reason = init.reason
    this.details = init.details
    this.headers = init.headers
  }
}

/**
 * Make an HTTP error class: a fixed code, status and message. Its first argument is the caller-safe `reason`
 * (or, with `firstArg: 'message'`, replaces the message), the second the usual init.
 */
function httpError(name: string, code: string, status: number, message: string, firstArg: 'reason' | 'message' = 'reason') {
  return class extends TesseraError {
    override readonly name: string = name
    constructor(detail?: string, init: TesseraErrorInit = {}) {
      if (firstArg === 'message') super(code, status, detail ?? message, init)
      else super(code, status, message, { reason: detail, ...init })
    }
  }
}

const MALFORMED = 'The request was malformed or contained invalid parameters'

export const BadRequestError = httpError('BadRequestError', 'ERR_BAD_REQUEST', 400, MALFORMED, 'message')
export const MalformedBodyError = httpError('MalformedBodyError', 'ERR_MALFORMED_BODY', 400, MALFORMED)
export const UnauthorizedError = httpError('UnauthorizedError', 'ERR_UNAUTHORIZED', 401, 'The request could not be authorized')
export const ForbiddenError = httpError('ForbiddenError', 'ERR_FORBIDDEN', 403, 'The requested action was forbidden')
export const NotFoundError = httpError('NotFoundError', 'ERR_NOT_FOUND', 404, 'The requested resource could not be found')
export const ConflictError = httpError('ConflictError', 'ERR_CONFLICT', 409, 'The resource could not be created due to a conflict')
export const ServiceUnavailableError = httpError('ServiceUnavailableError', 'ERR_UNAVAILABLE', 503, 'The service is temporarily unavailable')
export type BadRequestError = InstanceType<typeof BadRequestError>
export type MalformedBodyError = InstanceType<typeof MalformedBodyError>
export type UnauthorizedError = InstanceType<typeof UnauthorizedError>
export type ForbiddenError = InstanceType<typeof ForbiddenError>
export type NotFoundError = InstanceType<typeof NotFoundError>
export type ConflictError = InstanceType<typeof ConflictError>
export type ServiceUnavailableError = InstanceType<typeof ServiceUnavailableError>

export class TooManyRequestsError extends TesseraError {
  override readonly name: string = 'TooManyRequestsError'
  constructor(retryAfterSeconds: number, reason?: string, init: TesseraErrorInit = {}) {
    const headers = { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) }
    super('ERR_TOO_MANY_REQUESTS', 429, 'Too many requests, try again later', { reason, headers, ...init })
  }
}

export interface ValidationIssue {
  /** Dotted path of the offending field (`traits.email`), empty for the root. */
  path: string
  message: string
}

export class ValidationError extends TesseraError {
  override readonly name: string = 'ValidationError'
  readonly issues: ValidationIssue[]
  constructor(issues: ValidationIssue[], init: TesseraErrorInit = {}) {
    const reason = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')
    super('ERR_VALIDATION', 400, MALFORMED, { reason, details: { issues }, ...init })
    this.issues = issues
  }
}

/** A configuration error: names the path and what was expected. Not an HTTP error. */
export class ConfigError extends TesseraError {
  override readonly name: string = 'ConfigError'
  readonly problems: string[]
  constructor(problems: string[], init: TesseraErrorInit = {}) {
    super('ERR_CONFIG_INVALID', 500, `invalid configuration: ${problems.join('; ')}`, init)
    this.problems = problems
  }
}

/** A plugin composition error (duplicate id, missing or cyclic dependency, duplicate registration). */
export class PluginError extends TesseraError {
  override readonly name: string = 'PluginError'
  constructor(code: string, message: string, init: TesseraErrorInit = {}) {
    super(code, 500, message, init)
  }
}

export class StorageError extends TesseraError {
  override readonly name: string = 'StorageError'
  constructor(code: string, message: string, init: TesseraErrorInit = {}, status = 500) {
    super(code, status, message, init)
  }
}

/** RFC 6749 §5.2 error, rendered as `{"error","error_description"}`. */
export class OAuth2Error extends TesseraError {
  override readonly name = 'OAuth2Error'
  readonly error: string
  readonly errorDescription: string | undefined
  constructor(error: string, description?: string, status = 400, init: TesseraErrorInit = {}) {
    super(`ERR_OAUTH2_${error.toUpperCase()}`, status, description ?? error, init)
    this.error = error
    this.errorDescription = description
  }
}

/** Render any thrown value as an HTTP response: RFC 6749's shape for OAuth2Error, Ory's generic error shape
 * (`errorGeneric` in the Ory OpenAPI specs) otherwise. Unknown errors become a generic 500, their cause kept out. */
export function renderError(e: unknown, requestId?: string): Response {
  const err = e instanceof TesseraError ? e : new TesseraError('ERR_INTERNAL', 500, 'An internal server error occurred, please contact the system administrator', { cause: e })
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', ...err.headers }
  if (err instanceof OAuth2Error) {
    headers['cache-control'] = 'no-store'
    const body = err.errorDescription ? { error: err.error, error_description: err.errorDescription } : { error: err.error }
    return new Response(JSON.stringify(body), { status: err.status, headers })
  }
  const body = {
    code: err.status,
    status: STATUS_TEXT[err.status] ?? 'Error',
    message: err.message,
    ...(err.id && { id: err.id }),
    ...(err.reason && { reason: err.reason }),
    ...(err.details && { details: err.details }),
    ...(requestId && { request: requestId }),
  }
  return new Response(JSON.stringify({ error: body }), { status: err.status, headers })
}

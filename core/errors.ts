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

export class BadRequestError extends TesseraError {
  override readonly name: string = 'BadRequestError'
  constructor(message = 'The request was malformed or contained invalid parameters', init: TesseraErrorInit = {}) {
    super('ERR_BAD_REQUEST', 400, message, init)
  }
}

export class MalformedBodyError extends TesseraError {
  override readonly name: string = 'MalformedBodyError'
  constructor(reason: string, init: TesseraErrorInit = {}) {
    super('ERR_MALFORMED_BODY', 400, 'The request was malformed or contained invalid parameters', {
      reason,
      ...init,
    })
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
    super('ERR_VALIDATION', 400, 'The request was malformed or contained invalid parameters', {
      reason,
      details: { issues },
      ...init,
    })
    this.issues = issues
  }
}

export class UnauthorizedError extends TesseraError {
  override readonly name: string = 'UnauthorizedError'
  constructor(reason?: string, init: TesseraErrorInit = {}) {
    super('ERR_UNAUTHORIZED', 401, 'The request could not be authorized', { reason, ...init })
  }
}

export class ForbiddenError extends TesseraError {
  override readonly name: string = 'ForbiddenError'
  constructor(reason?: string, init: TesseraErrorInit = {}) {
    super('ERR_FORBIDDEN', 403, 'The requested action was forbidden', { reason, ...init })
  }
}

export class NotFoundError extends TesseraError {
  override readonly name: string = 'NotFoundError'
  constructor(reason?: string, init: TesseraErrorInit = {}) {
    super('ERR_NOT_FOUND', 404, 'The requested resource could not be found', { reason, ...init })
  }
}

export class ConflictError extends TesseraError {
  override readonly name: string = 'ConflictError'
  constructor(reason?: string, init: TesseraErrorInit = {}) {
    super('ERR_CONFLICT', 409, 'The resource could not be created due to a conflict', { reason, ...init })
  }
}

export class TooManyRequestsError extends TesseraError {
  override readonly name: string = 'TooManyRequestsError'
  constructor(retryAfterSeconds: number, reason?: string, init: TesseraErrorInit = {}) {
    super('ERR_TOO_MANY_REQUESTS', 429, 'Too many requests, try again later', {
      reason,
      headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
      ...init,
    })
  }
}

export class ServiceUnavailableError extends TesseraError {
  override readonly name: string = 'ServiceUnavailableError'
  constructor(reason?: string, init: TesseraErrorInit = {}) {
    super('ERR_UNAVAILABLE', 503, 'The service is temporarily unavailable', { reason, ...init })
  }
}

export class InternalError extends TesseraError {
  override readonly name: string = 'InternalError'
  constructor(cause?: unknown) {
    super(
      'ERR_INTERNAL',
      500,
      'An internal server error occurred, please contact the system administrator',
      { cause },
    )
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

export function isTesseraError(e: unknown): e is TesseraError {
  return e instanceof TesseraError
}

/** Ory's generic error body (`errorGeneric` in the Ory OpenAPI specs). */
export interface OryErrorBody {
  error: {
    id?: string
    code: number
    status: string
    reason?: string
    message: string
    request?: string
    details?: Record<string, unknown>
  }
}

export function toOryErrorBody(err: TesseraError, requestId?: string): OryErrorBody {
  const body: OryErrorBody['error'] = {
    code: err.status,
    status: STATUS_TEXT[err.status] ?? 'Error',
    message: err.message,
  }
  if (err.id) body.id = err.id
  if (err.reason) body.reason = err.reason
  if (err.details) body.details = err.details
  if (requestId) body.request = requestId
  return { error: body }
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' }

/** Render any thrown value as an HTTP response. Unknown errors become a generic 500. */
export function renderError(e: unknown, requestId?: string): Response {
  const err = isTesseraError(e) ? e : new InternalError(e)
  const headers: Record<string, string> = { ...JSON_HEADERS, ...err.headers }
  if (err instanceof OAuth2Error) {
    const body: Record<string, string> = { error: err.error }
    if (err.errorDescription) body.error_description = err.errorDescription
    headers['cache-control'] = 'no-store'
    return new Response(JSON.stringify(body), { status: err.status, headers })
  }
  return new Response(JSON.stringify(toOryErrorBody(err, requestId)), { status: err.status, headers })
}

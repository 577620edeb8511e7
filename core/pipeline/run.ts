/**
 * One request path, in Oathkeeper's order:
 * authenticators in order (the first responsible one wins) -> one authorizer ->
 * all mutators -> on failure, the first error handler whose `matches` accepts the error.
 *
 * `compilePipeline` resolves handlers from the registries and validates each
 * handler's config once; `run` does no validation. Errors name the rule and the handler.
 * (How a product fills in configs and chooses error handlers — Oathkeeper's global configs and `when` —
 * is the proxy plugin's business: it hands the core a finished spec.)
 */
import * as v from 'valibot'
import { formatIssues } from '../config/issues.ts'
import { ConfigError } from '../errors.ts'
import type { Awaitable } from '../types.ts'
import type { Registries, Registry } from '../registry.ts'
import type { Span } from '@opentelemetry/api'
import { withSpan } from '../telemetry.ts'
import {
  type AuthenticationSession,
  type Authenticator,
  type AuthenticatorResult,
  type Authorizer,
  type AuthorizerResult,
  type Decision,
  type ErrorHandler,
  type HandlerRef,
  type Mutator,
  PipelineError,
  type PipelineRequest,
  type PipelineSpec,
} from './types.ts'

interface Bound<H> {
  handler: H
  config: unknown
}

export interface CompiledPipeline {
  readonly id: string
  /** The decision; synchronous when every handler on the way answered synchronously (await it either way). */
  run(req: PipelineRequest, captures?: string[]): Awaitable<Decision>
}

/** A handler with its config validated (once, here): a ConfigError naming the rule and path otherwise. */
function bind<H extends { id: string; config?: v.GenericSchema }>(handler: H, config: unknown, where: (string | number)[]): Bound<H> {
  if (!handler.config) return { handler, config: config ?? {} }
  const r = v.safeParse(handler.config, config ?? {})
  if (!r.success) throw new ConfigError(formatIssues(r.issues, { prefix: where, schema: handler.config }))
  return { handler, config: r.output }
}

/** Oathkeeper's default error answer when no error handler matches: JSON in Ory's shape. */
export function defaultErrorResponse(error: PipelineError): Response {
  return Response.json(
    { error: { code: error.status, status: error.kind, message: error.message, reason: error.reasonId } },
    { status: error.status },
  )
}

export function newSession(req: PipelineRequest, captures: string[] = []): AuthenticationSession {
  return {
    subject: '',
    extra: {},
    header: new Headers(),
    cookies: {},
    matchContext: {
      regexpCaptureGroups: captures,
      // the request's URL may be built on first use (the proxy does): do not force it here
      get url() {
        return req.url
      },
      method: req.method,
      header: req.headers,
    },
  }
}

export function compilePipeline(spec: PipelineSpec, registries: Registries): CompiledPipeline {
  const rule = `rule ${spec.id}`
  if (spec.authenticators.length === 0) {
    throw new ConfigError([`${rule}: authenticators: expected at least one authenticator`])
  }
  const resolve = <H extends { id: string; config?: v.GenericSchema }>(
    registry: Registry<H>,
    ref: HandlerRef,
    where: (string | number)[],
  ) => bind(registry.require(ref.handler, rule), ref.config, ['rules', spec.id, ...where, 'config'])
  const authenticators = spec.authenticators.map((ref, i) => resolve(registries.authenticators, ref, ['authenticators', i]))
  const authorizer = resolve(registries.authorizers, spec.authorizer, ['authorizer'])
  const mutators = spec.mutators.map((ref, i) => resolve(registries.mutators, ref, ['mutators', i]))
  const errorHandlers = (spec.errors ?? []).map((ref, i) => ({ ...resolve(registries.errorHandlers, ref, ['errors', i]), matches: ref.matches }))

  const fail = async (error: PipelineError, req: PipelineRequest, session: AuthenticationSession): Promise<Decision> => {
    const chosen = errorHandlers.find((h) => !h.matches || h.matches(error, req))
    let response: Response
    try {
      response = chosen ? await chosen.handler.handle(error, req, chosen.config) : defaultErrorResponse(error)
    } catch (e) {
      response = defaultErrorResponse(new PipelineError('internal_server_error', 500, 'error handler failed', 'error_handler_failed', { cause: e }))
    }
    return { allowed: false, error, response, session }
  }

  const asPipelineError = (e: unknown, reasonId: string): PipelineError =>
    e instanceof PipelineError
      ? e
      : new PipelineError('internal_server_error', 500, 'An internal server error occurred', reasonId, { cause: e })

  const attributes = { 'tessera.rule_id': spec.id }
  return {
    id: spec.id,
    run: (req, captures = []) => withSpan('tessera.pipeline', attributes, (span) => execute(req, captures, span)),
  }

  // The pipeline runs synchronously for as long as its handlers answer synchronously (a cached token, allow,
  // a header mutator) and continues with a promise only from the first handler that returns one: no promise,
  // no microtask per step on the hot path.
  function execute(req: PipelineRequest, captures: string[], span: Span): Awaitable<Decision> {
    return authenticateFrom(0, req, newSession(req, captures), span)
  }

  function authenticateFrom(from: number, req: PipelineRequest, session: AuthenticationSession, span: Span): Awaitable<Decision> {
    // 1. authenticate: the first responsible authenticator decides
    for (let i = from; i < authenticators.length; i++) {
      const a = authenticators[i]!
      let r: Awaitable<AuthenticatorResult>
      try {
        r = a.handler.authenticate(req, session, a.config)
      } catch (e) {
        return authenticatorFailed(e, req, session, span)
      }
      if (r instanceof Promise) {
        return r.then(
          (result) => afterAuthenticator(result, i, req, session, span),
          (e) => authenticatorFailed(e, req, session, span),
        )
      }
      if (r.kind !== 'not_responsible') return afterAuthenticator(r, i, req, session, span)
    }
    const e = new PipelineError('unauthorized', 401, 'Access credentials are invalid', 'no_authenticator_responsible')
    span.setAttribute('tessera.reason_id', e.reasonId)
    return fail(e, req, session)
  }

  function authenticatorFailed(e: unknown, req: PipelineRequest, session: AuthenticationSession, span: Span): Promise<Decision> {
    span.setAttribute('tessera.reason_id', 'authenticator_error')
    return fail(asPipelineError(e, 'authenticator_error'), req, session)
  }

  function afterAuthenticator(result: AuthenticatorResult, i: number, req: PipelineRequest, session: AuthenticationSession, span: Span): Awaitable<Decision> {
    if (result.kind === 'not_responsible') return authenticateFrom(i + 1, req, session, span)
    if (result.kind === 'denied') {
      span.setAttribute('tessera.reason_id', result.error.reasonId)
      return fail(result.error, req, session)
    }
    span.setAttribute('tessera.authenticator', authenticators[i]!.handler.id)
    // 2. authorize
    let p: Awaitable<AuthorizerResult>
    try {
      p = authorizer.handler.authorize(req, session, authorizer.config)
    } catch (e) {
      return fail(asPipelineError(e, 'authorizer_error'), req, session)
    }
    if (p instanceof Promise) {
      return p.then(
        (r) => afterAuthorizer(r, req, session, span),
        (e) => fail(asPipelineError(e, 'authorizer_error'), req, session),
      )
    }
    return afterAuthorizer(p, req, session, span)
  }

  function afterAuthorizer(r: AuthorizerResult, req: PipelineRequest, session: AuthenticationSession, span: Span): Awaitable<Decision> {
    if (!r.allowed) {
      span.setAttribute('tessera.reason_id', r.error.reasonId)
      return fail(r.error, req, session)
    }
    return mutateFrom(0, req, session, span)
  }

  function mutateFrom(from: number, req: PipelineRequest, session: AuthenticationSession, span: Span): Awaitable<Decision> {
    // 3. mutate: every mutator, in order
    for (let i = from; i < mutators.length; i++) {
      const m = mutators[i]!
      let p: Awaitable<void>
      try {
        p = m.handler.mutate(req, session, m.config)
      } catch (e) {
        return fail(asPipelineError(e, 'mutator_error'), req, session)
      }
      if (p instanceof Promise) {
        return p.then(
          () => mutateFrom(i + 1, req, session, span),
          (e) => fail(asPipelineError(e, 'mutator_error'), req, session),
        )
      }
    }
    span.setAttribute('tessera.subject', session.subject)
    return { allowed: true, session }
  }
}

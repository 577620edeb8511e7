/**
 * One request path, in Oathkeeper's order:
 * authenticators in order (the first responsible one wins) -> one authorizer ->
 * all mutators -> on failure, an error handler chosen by `when`.
 *
 * `compilePipeline` resolves handlers from the registries and validates each
 * handler's merged config (global config, then the rule's) once; `run` does no
 * validation. Errors name the rule and the handler.
 */
import { BlockList, isIP } from 'node:net'
import * as v from 'valibot'
import { formatIssues } from '../config/issues.ts'
import { ConfigError } from '../errors.ts'
import type { Awaitable } from '../plugin.ts'
import type { Registries } from '../registry.ts'
import type { Span } from '@opentelemetry/api'
import { NOOP_SPAN, tracingEnabled, withSpan } from '../telemetry.ts'
import {
  type AuthenticationSession,
  type Authenticator,
  type AuthenticatorResult,
  type Authorizer,
  type AuthorizerResult,
  type Decision,
  type ErrorHandler,
  type ErrorWhen,
  type HandlerRef,
  type Mutator,
  PipelineError,
  type PipelineRequest,
  type PipelineSpec,
} from './types.ts'

/** Global handler configs, keyed by handler id (Oathkeeper's `authenticators.jwt.config`). */
export type GlobalHandlerConfigs = {
  authenticators?: Record<string, unknown>
  authorizers?: Record<string, unknown>
  mutators?: Record<string, unknown>
  errors?: Record<string, unknown>
}

interface Bound<H> {
  handler: H
  config: unknown
}

export interface CompiledPipeline {
  readonly id: string
  /** The decision; synchronous when every handler on the way answered synchronously (await it either way). */
  run(req: PipelineRequest, captures?: string[]): Awaitable<Decision>
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

/** Deep merge: objects merge key by key, anything else from `over` replaces `base`. */
export function mergeConfig(base: unknown, over: unknown): unknown {
  if (over === undefined) return base
  if (isPlainObject(base) && isPlainObject(over)) {
    const out: Record<string, unknown> = { ...base }
    for (const [k, val] of Object.entries(over)) out[k] = mergeConfig(base[k], val)
    return out
  }
  return over
}

function bind<H extends { id: string; config?: v.GenericSchema }>(
  handler: H,
  global: unknown,
  local: unknown,
  where: (string | number)[],
): Bound<H> {
  const merged = mergeConfig(global ?? {}, local ?? {})
  if (!handler.config) return { handler, config: merged }
  const r = v.safeParse(handler.config, merged)
  if (!r.success) throw new ConfigError(formatIssues(r.issues, { prefix: where, schema: handler.config }))
  return { handler, config: r.output }
}

/** A CIDR list as a BlockList; a ConfigError naming the bad entry otherwise. */
export function cidrList(cidrs: readonly string[], where: string): BlockList {
  const list = new BlockList()
  for (const c of cidrs) {
    const [addr, bits, ...rest] = c.split('/')
    const family = addr ? isIP(addr) : 0
    // a prefix is digits: Number('') would read `10.0.0.0/` as /0, everything
    const prefix = bits === undefined ? (family === 6 ? 128 : 32) : /^\d{1,3}$/.test(bits) ? Number(bits) : Number.NaN
    if (!family || rest.length || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) {
      throw new ConfigError([`${where}: "${c}" is not an IP address or CIDR range (e.g. 10.0.0.0/8, ::1/128)`])
    }
    list.addSubnet(addr!, prefix, family === 6 ? 'ipv6' : 'ipv4')
  }
  return list
}

/** Whether `address` (IPv4, IPv6, or IPv4-mapped IPv6) is in `list`. */
export function inCidrList(list: BlockList, address: string | undefined): boolean {
  if (!address) return false
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  const addr = mapped ? mapped[1]! : address
  const family = isIP(addr)
  if (!family) return false
  return list.check(addr, family === 6 ? 'ipv6' : 'ipv4')
}

function matchesWhen(
  when: ErrorWhen[] | undefined,
  cidrs: (BlockList | undefined)[],
  error: PipelineError,
  req: PipelineRequest,
): boolean {
  if (!when || when.length === 0) return true
  return when.some((w, i) => {
    const cidr = cidrs[i]
    if (cidr && !inCidrList(cidr, req.remoteAddress)) return false
    if (w.error && !w.error.includes(error.kind)) return false
    const h = w.request?.header
    if (h?.accept) {
      const accept = req.headers.get('accept') ?? ''
      if (!h.accept.some((a) => accept.includes(a))) return false
    }
    if (h?.content_type) {
      const ct = req.headers.get('content-type') ?? ''
      if (!h.content_type.some((c) => ct.startsWith(c))) return false
    }
    return true
  })
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

export function compilePipeline(
  spec: PipelineSpec,
  registries: Registries,
  globals: GlobalHandlerConfigs = {},
): CompiledPipeline {
  const rule = `rule ${spec.id}`
  if (spec.authenticators.length === 0) {
    throw new ConfigError([`${rule}: authenticators: expected at least one authenticator`])
  }
  type Slot = 'authenticators' | 'authorizers' | 'mutators' | 'errorHandlers'
  const globalKey = { authenticators: 'authenticators', authorizers: 'authorizers', mutators: 'mutators', errorHandlers: 'errors' } as const
  const resolve = <H extends { id: string; config?: v.GenericSchema }>(slot: Slot, ref: HandlerRef, where: (string | number)[]) =>
    bind<H>(
      registries[slot].require(ref.handler, rule) as unknown as H,
      globals[globalKey[slot]]?.[ref.handler],
      ref.config,
      ['rules', spec.id, ...where, 'config'],
    )
  const authenticators = spec.authenticators.map((ref, i) => resolve<Authenticator<any>>('authenticators', ref, ['authenticators', i]))
  const authorizer = resolve<Authorizer<any>>('authorizers', spec.authorizer, ['authorizer'])
  const mutators = spec.mutators.map((ref, i) => resolve<Mutator<any>>('mutators', ref, ['mutators', i]))
  const errorHandlers = (spec.errors ?? []).map((ref, i) => ({
    ...resolve<ErrorHandler<any>>('errorHandlers', ref, ['errors', i]),
    when: ref.when,
    cidrs: (ref.when ?? []).map((w, j) =>
      w.request?.cidr ? cidrList(w.request.cidr, `rules.${spec.id}.errors[${i}].when[${j}].request.cidr`) : undefined,
    ),
  }))

  const fail = async (error: PipelineError, req: PipelineRequest, session: AuthenticationSession): Promise<Decision> => {
    const chosen = errorHandlers.find((h) => matchesWhen(h.when, h.cidrs, error, req))
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

  return {
    id: spec.id,
    run(req, captures = []) {
      // without an OTel SDK there is no span to record into: skip building one
      if (!tracingEnabled()) return execute(req, captures, NOOP_SPAN)
      return withSpan('tessera.pipeline', { 'tessera.rule_id': spec.id }, (span) => execute(req, captures, span))
    },
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

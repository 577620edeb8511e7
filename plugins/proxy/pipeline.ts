/**
 * Oathkeeper's conventions on top of the core pipeline: a handler's rule config is merged over its global
 * config (`authenticators.jwt.config` in the proxy's options), and an error handler is chosen by `when`
 * (error kind, Accept / Content-Type, the client's CIDR). `pipelineSpec` turns a rule into the finished spec
 * the core compiles; everything here is parsed once, at compile time.
 */
import { ConfigError, type ErrorHandlerRef, type HandlerRef, type PipelineError, type PipelineRequest, type PipelineSpec, cidrList, formatIssues, inCidrList } from 'tessera'
import * as v from 'valibot'

/** Global handler configs, keyed by handler id (Oathkeeper's `authenticators.jwt.config`). */
export type GlobalHandlerConfigs = {
  authenticators?: Record<string, unknown>
  authorizers?: Record<string, unknown>
  mutators?: Record<string, unknown>
  errors?: Record<string, unknown>
  /**
   * Error handlers tried, with their global config and `when`, when none of a rule's matches (Oathkeeper's
   * `errors.fallback`, default `json`); after them the core's default answer.
   */
  fallback?: string[]
}

/**
 * Oathkeeper's `when` conditions for choosing an error handler (pipeline/errors/when.go): any one entry matches;
 * inside an entry the error kinds and every request condition must hold. `request.remote_ip.match` is what
 * Oathkeeper's code reads; `request.cidr` is what its config schema names: both are accepted.
 */
export const When = v.object({
  error: v.optional(v.array(v.picklist(['unauthorized', 'forbidden', 'not_found', 'bad_request', 'internal_server_error', 'too_many_requests']))),
  request: v.optional(
    v.object({
      header: v.optional(v.object({ accept: v.optional(v.array(v.string())), content_type: v.optional(v.array(v.string())) })),
      remote_ip: v.optional(v.object({ match: v.optional(v.array(v.string()), []), respect_forwarded_for_header: v.optional(v.boolean(), false) })),
      cidr: v.optional(v.array(v.string())),
    }),
  ),
})
export type ErrorWhen = v.InferInput<typeof When>

/** A rule as the proxy hands it over: error handlers carry `when` instead of a predicate. */
export interface ProxyPipelineSpec extends Omit<PipelineSpec, 'errors'> {
  errors?: (HandlerRef & { when?: ErrorWhen[] })[]
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

// CIDR lists live in the core (serve.trustedProxies uses them too)
export { cidrList, inCidrList }

/** The media types of an Accept or Content-Type value, without parameters, in lower case. */
function mediaTypes(value: string): string[] {
  return value
    .split(',')
    .map((p) => (p.split(';')[0] ?? '').trim().toLowerCase())
    .filter(Boolean)
}

/**
 * Oathkeeper's matchesAcceptMIME: does any media type of the request match any of the handler's, where the
 * handler's may be a wildcard (any type, or `type/` followed by a star)? A wildcard in the request matches only the same one.
 */
function matchesMedia(request: string, wanted: string[]): boolean {
  const want = wanted.flatMap(mediaTypes)
  return mediaTypes(request).some((a) => want.some((m) => m === '*/*' || a === m || (m.endsWith('/*') && m.slice(0, -2) === a.split('/')[0])))
}

/** `when` as a predicate: any one condition set matches (no conditions: always). CIDRs parsed here, once. */
function compileWhen(when: ErrorWhen[] | undefined, where: string): ErrorHandlerRef['matches'] {
  if (!when || when.length === 0) return undefined
  const cidrs = when.map((w, j) => (w.request?.cidr?.length ? cidrList(w.request.cidr, `${where}.when[${j}].request.cidr`) : undefined))
  const remote = when.map((w, j) => (w.request?.remote_ip?.match?.length ? cidrList(w.request.remote_ip.match, `${where}.when[${j}].request.remote_ip.match`) : undefined))
  return (error: PipelineError, req: PipelineRequest) =>
    when.some((w, i) => {
      if (w.error?.length && !w.error.includes(error.kind as never)) return false
      // the client's address: the socket peer, or behind serve.trustedProxies the client X-Forwarded-For names
      const client = req.clientAddress ?? req.remoteAddress
      const cidr = cidrs[i]
      if (cidr && !inCidrList(cidr, client)) return false
      const ips = remote[i]
      if (ips && !inCidrList(ips, client)) {
        // X-Forwarded-For only when the condition asks for it, as Oathkeeper's respect_forwarded_for_header
        const xff = w.request?.remote_ip?.respect_forwarded_for_header ? (req.headers.get('x-forwarded-for') ?? '').split(',') : []
        if (!xff.some((ip) => inCidrList(ips, ip.trim()))) return false
      }
      const h = w.request?.header
      // an absent header counts as application/octet-stream, as in Oathkeeper
      if (h?.accept?.length && !matchesMedia(req.headers.get('accept') || 'application/octet-stream', h.accept)) return false
      if (h?.content_type?.length && !matchesMedia(req.headers.get('content-type') || 'application/octet-stream', h.content_type)) return false
      return true
    })
}

/**
 * An error handler's `when`: Oathkeeper's place is inside its config (`config.when`, also from the global
 * config); Tessera also reads it beside `handler` and `config`. Given in both places, it is a config error.
 */
function errorWhen(ref: HandlerRef & { when?: ErrorWhen[] }, where: string): { config: unknown; when?: ErrorWhen[] } {
  const config = ref.config
  if (!isPlainObject(config) || config.when === undefined) return { config, when: ref.when }
  if (ref.when !== undefined) throw new ConfigError([`${where}: give \`when\` once, inside config (as Oathkeeper) or beside it`])
  const { when, ...rest } = config
  const parsed = v.safeParse(v.array(When), when)
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.issues, { label: `${where}.config.when` }))
  return { config: rest, when: parsed.output }
}

/** The core's spec for a rule: every handler's config merged over its global one, `when` compiled. */
export function pipelineSpec(rule: ProxyPipelineSpec, globals: GlobalHandlerConfigs = {}): PipelineSpec {
  const merged = (slot: Exclude<keyof GlobalHandlerConfigs, 'fallback'>) => (ref: HandlerRef): HandlerRef => ({
    handler: ref.handler,
    config: mergeConfig(globals[slot]?.[ref.handler] ?? {}, ref.config ?? {}),
  })
  return {
    id: rule.id,
    authenticators: rule.authenticators.map(merged('authenticators')),
    authorizer: merged('authorizers')(rule.authorizer),
    mutators: rule.mutators.map(merged('mutators')),
    errors: [
      ...(rule.errors ?? []).map((ref, i) => {
        const where = `rules.${rule.id}.errors[${i}]`
        const { config, when } = errorWhen({ ...merged('errors')(ref), when: ref.when }, where)
        return { handler: ref.handler, config, matches: compileWhen(when, where) }
      }),
      ...(globals.fallback ?? []).map((handler) => {
        const where = `errors.${handler}`
        const { config, when } = errorWhen({ handler, config: globals.errors?.[handler] ?? {} }, where)
        return { handler, config, matches: compileWhen(when, where) }
      }),
    ],
  }
}

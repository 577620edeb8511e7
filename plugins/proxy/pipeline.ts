/**
 * Oathkeeper's conventions on top of the core pipeline: a handler's rule config is merged over its global
 * config (`authenticators.jwt.config` in the proxy's options), and an error handler is chosen by `when`
 * (error kind, Accept / Content-Type, the peer's CIDR). `pipelineSpec` turns a rule into the finished spec
 * the core compiles; everything here is parsed once, at compile time.
 */
import { type ErrorHandlerRef, type HandlerRef, type PipelineError, type PipelineRequest, type PipelineSpec, cidrList, inCidrList } from 'tessera'

/** Global handler configs, keyed by handler id (Oathkeeper's `authenticators.jwt.config`). */
export type GlobalHandlerConfigs = {
  authenticators?: Record<string, unknown>
  authorizers?: Record<string, unknown>
  mutators?: Record<string, unknown>
  errors?: Record<string, unknown>
}

/** Oathkeeper's `when` conditions for choosing an error handler. */
export interface ErrorWhen {
  error?: string[]
  request?: {
    header?: { accept?: string[]; content_type?: string[] }
    cidr?: string[]
  }
}

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

/** `when` as a predicate: any one condition set matches (no conditions: always). CIDRs parsed here, once. */
function compileWhen(when: ErrorWhen[] | undefined, where: string): ErrorHandlerRef['matches'] {
  if (!when || when.length === 0) return undefined
  const cidrs = when.map((w, j) => (w.request?.cidr ? cidrList(w.request.cidr, `${where}.when[${j}].request.cidr`) : undefined))
  return (error: PipelineError, req: PipelineRequest) =>
    when.some((w, i) => {
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

/** The core's spec for a rule: every handler's config merged over its global one, `when` compiled. */
export function pipelineSpec(rule: ProxyPipelineSpec, globals: GlobalHandlerConfigs = {}): PipelineSpec {
  const merged = (slot: keyof GlobalHandlerConfigs) => (ref: HandlerRef): HandlerRef => ({
    handler: ref.handler,
    config: mergeConfig(globals[slot]?.[ref.handler] ?? {}, ref.config ?? {}),
  })
  return {
    id: rule.id,
    authenticators: rule.authenticators.map(merged('authenticators')),
    authorizer: merged('authorizers')(rule.authorizer),
    mutators: rule.mutators.map(merged('mutators')),
    errors: (rule.errors ?? []).map((ref, i) => ({
      ...merged('errors')(ref),
      matches: compileWhen(ref.when, `rules.${rule.id}.errors[${i}]`),
    })),
  }
}

/**
 * Oathkeeper's conventions on top of the core pipeline: a handler's rule config is merged over its global
 * config (`authenticators.jwt.config` in the proxy's options), and an error handler is chosen by `when`
 * (error kind, Accept / Content-Type, the peer's CIDR). `pipelineSpec` turns a rule into the finished spec
 * the core compiles; everything here is parsed once, at compile time.
 */
import { BlockList, isIP } from 'node:net'
import { ConfigError, type ErrorHandlerRef, type HandlerRef, type PipelineError, type PipelineRequest, type PipelineSpec } from 'tessera'

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

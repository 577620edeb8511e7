/** The proxy plugin's options (valibot), with Oathkeeper's names where it has them. */
import * as v from 'valibot'

const HandlerGlobals = v.optional(
  v.record(v.string(), v.object({ enabled: v.optional(v.boolean(), true), config: v.optional(v.unknown()) })),
  {},
)

export const ProxyOptions = v.object({
  /** Access rules given inline (Oathkeeper's rule format). */
  rules: v.optional(v.array(v.unknown()), []),
  /** Rule files (JSON or YAML, each an array of rules), reloaded when they change. */
  rule_files: v.optional(v.array(v.pipe(v.string(), v.minLength(1))), []),
  /** Rule documents served over HTTP(S), fetched at start and every `refresh_interval`. */
  rule_urls: v.optional(v.array(v.pipe(v.string(), v.url())), []),
  /** How often rule files and URLs are checked for changes. */
  refresh_interval_ms: v.optional(v.pipe(v.number(), v.integer(), v.minValue(10)), 1000),
  /** `regexp` (Oathkeeper's default) or `glob`, for the `<…>` parts of `match.url`. */
  matching_strategy: v.optional(v.picklist(['regexp', 'glob']), 'regexp'),
  /**
   * Deprecated alias of the core's `serve.trustedProxies` (the one trusted-proxy setting), kept for one release:
   * used, with a warning at boot, when it is the only one set; set beside a different `serve.trustedProxies`, boot
   * stops naming both.
   */
  trusted_proxies: v.optional(
    v.pipe(
      v.array(v.string()),
      v.description('Deprecated: set serve.trustedProxies (env SERVE_TRUSTED_PROXIES), which the proxy and every rate limiter read. Used, with a warning, only when serve.trustedProxies is empty; both set and different stops boot.'),
    ),
    [],
  ),
  /** Global handler configs, merged under each rule's: `authenticators.jwt.config`. */
  authenticators: HandlerGlobals,
  authorizers: HandlerGlobals,
  mutators: HandlerGlobals,
  errors: HandlerGlobals,
  /** The reverse-proxy listener. */
  serve: v.optional(
    v.object({
      enabled: v.optional(v.boolean(), true),
      host: v.optional(v.string(), '0.0.0.0'),
      port: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535)), 4455),
      /** Upstream timeout. */
      timeout_ms: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 30_000),
      /** Share the port with other processes (SO_REUSEPORT); off: a port in use stops the start. */
      reuse_port: v.optional(v.boolean(), false),
    }),
    {},
  ),
  /**
   * An optional listener serving only `/decisions` where the peer address is known, so X-Forwarded-Method /
   * -Uri / -Host / -Proto from `serve.trustedProxies` are honoured (Traefik forwardAuth, Envoy ext_authz over HTTP).
   * The admin listener's `/decisions` never honours them.
   */
  decisions_listener: v.optional(
    v.object({
      enabled: v.optional(v.boolean(), false),
      host: v.optional(v.string(), '127.0.0.1'),
      port: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535)), 4456),
      /** Share the port with other processes (SO_REUSEPORT); off: a port in use stops the start. */
      reuse_port: v.optional(v.boolean(), false),
    }),
    {},
  ),
  /** The id_token mutator's signing key: a private JWK (RS256 or ES256); generated at start when absent. */
  id_token_jwk: v.optional(v.record(v.string(), v.unknown())),
})

export type ProxyOptions = v.InferInput<typeof ProxyOptions>
export type ResolvedProxyOptions = v.InferOutput<typeof ProxyOptions>

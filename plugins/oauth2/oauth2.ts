/**
 * The plugin's state: options, the KeyStore, the client cache, the token module, the grant registry and the
 * per-client rate limiter — one per plugin instance.
 */
import type { KeyStore, PluginContext, RequestContext } from 'tessera'
import { ClientCache, Secrets, durationSeconds } from './clients.ts'
import { type Alg, DatabaseKeyStore } from './keys.ts'
import type { OAuth2Options } from './options.ts'
import { Tokens } from './tokens.ts'
import type { GrantHandler } from './token-endpoint.ts'

export type Ctx = PluginContext<OAuth2Options, OAuth2>

/** A token bucket per tenant and client, per process. */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>()
  constructor(private readonly perSecond: number, private readonly burst: number) {}

  /** Seconds to wait when over the limit, 0 when the request may go. */
  take(key: string, now = performance.now()): number {
    let b = this.#buckets.get(key)
    if (!b) {
      if (this.#buckets.size > 100_000) this.#buckets.clear()
      b = { tokens: this.burst, at: now }
      this.#buckets.set(key, b)
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond)
    b.at = now
    if (b.tokens >= 1) {
      b.tokens -= 1
      return 0
    }
    return (1 - b.tokens) / this.perSecond
  }
}

export class OAuth2 {
  readonly options: OAuth2Options
  readonly keys: KeyStore
  /** The built-in store, when it is the one in use (the admin JWK API needs its extra operations). */
  readonly dbKeys: DatabaseKeyStore | undefined
  readonly clients: ClientCache
  readonly secrets: Secrets
  readonly tokens: Tokens
  /** Grant types the token endpoint handles, by `grant_type`: the next parts add theirs here. */
  readonly grants = new Map<string, GrantHandler>()
  readonly limiter: RateLimiter | undefined
  readonly durationSeconds = durationSeconds

  constructor(readonly ctx: PluginContext<OAuth2Options, unknown>) {
    const o = ctx.options
    this.options = o
    this.dbKeys = o.keys.store ? undefined : new DatabaseKeyStore(ctx.storage, ctx.secrets, o.keys.algorithm as Alg)
    this.keys = o.keys.store ?? this.dbKeys!
    this.clients = new ClientCache(o.clients.cacheSeconds * 1000)
    this.secrets = new Secrets(ctx.secrets.system, o.clients)
    this.tokens = new Tokens(this)
    this.limiter = o.rateLimit.enabled ? new RateLimiter(o.rateLimit.perSecond, o.rateLimit.burst) : undefined
  }

  /** The issuer: the `issuer` option, else the public base URL (`serve.public.baseUrl` or the request's). */
  issuer(rc: Pick<RequestContext, 'publicBaseUrl'>): string {
    const base = this.options.issuer ?? rc.publicBaseUrl
    return base.endsWith('/') ? base.replace(/\/+$/, '') : base
  }

  /** Rotate one set with the plugin's timing and say so (`oauth2.key.rotated`): the one way every caller rotates. */
  async rotate(tenant: string, set: string): Promise<{ kid: string; alg: string; signsFrom: string; retired: string[] }> {
    const timing = this.rotation()
    const r = await this.keys.rotate(tenant, set, { ...timing, alg: this.options.keys.algorithm })
    const signsFrom = new Date(Date.now() + timing.overlapSeconds * 1000).toISOString()
    const out = { set, kid: r.added.kid, alg: r.added.alg, signsFrom, retired: r.retired }
    await this.ctx.emit('oauth2.key.rotated', out, { tenant })
    return out
  }

  /** How a rotation is timed: overlap (default one ID-token lifespan) and how long retired keys stay published. */
  rotation() {
    const l = this.options.lifespans
    return {
      overlapSeconds: this.options.keys.overlapSeconds ?? l.idToken,
      retainSeconds: Math.max(l.idToken, l.accessToken),
    }
  }
}

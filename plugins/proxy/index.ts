/**
 * The access proxy, Oathkeeper-compatible: access rules (inline, files reloaded on change,
 * HTTP URLs), Oathkeeper's handlers registered in the core registries, `/decisions` and the
 * rules API on the admin listener, and a reverse-proxy listener (default 4455).
 *
 * Every request: X-Forwarded-* only from trusted proxies -> path normalised -> exactly one
 * rule -> the core pipeline (authenticators, authorizer, mutators, error handler by `when`).
 */
import { stat } from 'node:fs/promises'
import { type JWK, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK } from 'jose'
import {
  ConfigError,
  NotFoundError,
  type PeriodicJob,
  type PluginContext,
  definePlugin,
  parse,
  periodic,
} from 'tessera'
import type { GlobalHandlerConfigs } from './pipeline.ts'
import * as v from 'valibot'
import { rulesCommand } from './cli.ts'
import { authenticators } from './handlers/authenticators.ts'
import { authorizers } from './handlers/authorizers.ts'
import { permissionsUnavailable } from './handlers/permissions.ts'
import { errorHandlers } from './handlers/errors.ts'
import { type IdTokenKeys, mutators } from './handlers/mutators.ts'
import { proxyOperations } from './openapi.ts'
import { ProxyOptions, type ResolvedProxyOptions } from './options.ts'
import { type ProxyTrust, resolveTrust } from './engine.ts'
import { type CompiledRule, type Rule, compileRules, parseRuleDocument, parseRules, readRuleFile } from './rules.ts'
import { type DecisionContext, decisionResponse, startDecisionsListener, startReverseProxy } from './server.ts'

const Count = (max: number) => v.pipe(v.string(), v.regex(/^\d{1,6}$/, 'expected a non-negative integer'), v.transform(Number), v.maxValue(max))
export const RulesQuery = v.object({ limit: v.optional(Count(500)), offset: v.optional(Count(1_000_000), '0') })

declare module 'tessera/events' {
  interface TesseraEvents {
    /** The access rules changed (start, a rule file or URL changed). */
    'rules.reloaded': { count: number; source: string }
  }
}

type Ctx = PluginContext<ResolvedProxyOptions>

/** What the proxy holds at run time, one per plugin context. */
export interface ProxyState {
  rules: readonly CompiledRule[]
  inline: Rule[]
  files: Map<string, { fingerprint: string; rules: Rule[]; rejected?: string }>
  urls: Map<string, { etag: string | null; rules: Rule[] }>
  keys: IdTokenKeys & { jwks(): Promise<{ keys: JWK[] }> }
  refresher?: PeriodicJob
  /** The refresh warnings already logged since the last good reload: a failure persisting is reported once. */
  warned: Set<string>
  server?: { port: number; stop(): Promise<void> }
  decisions?: { port: number; stop(): Promise<void> }
  /** The trusted proxies: `serve.trustedProxies` (or the deprecated `trusted_proxies`), resolved at setup. */
  trust: ProxyTrust
}

/** The proxy's state (the plugin's `state`, made at boot). */
export function proxyState(ctx: object): ProxyState {
  return (ctx as PluginContext<ResolvedProxyOptions, ProxyState>).state
}

function idTokenKeys(options: ResolvedProxyOptions): ProxyState['keys'] {
  let loaded: Promise<{ privateKey: CryptoKey; kid: string; alg: string; publicJwk: JWK }> | undefined
  const load = async () => {
    let alg = 'RS256'
    let privateKey: CryptoKey
    let publicJwk: JWK
    if (options.id_token_jwk) {
      const jwk = options.id_token_jwk as JWK
      alg = jwk.alg ?? (jwk.kty === 'EC' ? 'ES256' : 'RS256')
      privateKey = (await importJWK(jwk, alg)) as CryptoKey
      const { d, p, q, dp, dq, qi, k, ...pub } = jwk
      void [d, p, q, dp, dq, qi, k]
      publicJwk = pub
    } else {
      const pair = await generateKeyPair('RS256', { extractable: true })
      privateKey = pair.privateKey
      publicJwk = await exportJWK(pair.publicKey)
    }
    const kid = publicJwk.kid ?? (await calculateJwkThumbprint(publicJwk))
    return { privateKey, kid, alg, publicJwk: { ...publicJwk, kid, alg, use: 'sig' } }
  }
  return {
    get: () => (loaded ??= load()),
    async jwks() {
      return { keys: [(await (loaded ??= load())).publicJwk] }
    },
  }
}

function globalsOf(o: ResolvedProxyOptions): GlobalHandlerConfigs {
  const pick = (r: Record<string, { config?: unknown }>) => Object.fromEntries(Object.entries(r).map(([k, val]) => [k, val.config]))
  // Oathkeeper's errors.fallback default: `json` (with its global config) answers when no rule handler matches
  const fallback = o.errors.json?.enabled === false ? [] : ['json']
  return { authenticators: pick(o.authenticators), authorizers: pick(o.authorizers), mutators: pick(o.mutators), errors: pick(o.errors), fallback }
}

/** Compile every rule from every source; throws a ConfigError listing all problems. */
export function compileAll(ctx: Ctx, rules: Rule[]): CompiledRule[] {
  const o = ctx.options
  const disabled: string[] = []
  const off = (slot: 'authenticators' | 'authorizers' | 'mutators' | 'errors', id: string) => o[slot][id]?.enabled === false
  for (const r of rules) {
    for (const a of r.authenticators) if (off('authenticators', a.handler)) disabled.push(`rules.${r.id}: the authenticator \`${a.handler}\` is disabled`)
    if (off('authorizers', r.authorizer.handler)) disabled.push(`rules.${r.id}: the authorizer \`${r.authorizer.handler}\` is disabled`)
    else if (r.authorizer.handler === 'permissions') {
      const why = permissionsUnavailable(ctx as PluginContext<unknown>)
      if (why) disabled.push(`rules.${r.id}: the authorizer \`permissions\` ${why}`)
    }
    for (const m of r.mutators) if (off('mutators', m.handler)) disabled.push(`rules.${r.id}: the mutator \`${m.handler}\` is disabled`)
    for (const e of r.errors) if (off('errors', e.handler)) disabled.push(`rules.${r.id}: the error handler \`${e.handler}\` is disabled`)
  }
  if (disabled.length) throw new ConfigError(disabled)
  return compileRules(rules, o.matching_strategy, ctx.registries, globalsOf(o))
}

function allRules(s: ProxyState): Rule[] {
  return [...s.inline, ...[...s.files.values()].flatMap((f) => f.rules), ...[...s.urls.values()].flatMap((u) => u.rules)]
}

async function fingerprint(path: string): Promise<string> {
  const st = await stat(path)
  return `${st.mtimeMs}:${st.size}:${st.ino}`
}

async function fetchRules(url: string, etag: string | null): Promise<{ etag: string | null; rules: Rule[] } | 'unchanged'> {
  const res = await fetch(url, { headers: etag ? { 'if-none-match': etag } : {}, signal: AbortSignal.timeout(5000) })
  if (res.status === 304) return 'unchanged'
  if (res.status !== 200) {
    await res.body?.cancel()
    throw new ConfigError([`${url}: answered ${res.status}`])
  }
  const text = await res.text()
  const source = /ya?ml/.test(res.headers.get('content-type') ?? '') ? `${url}#.yaml` : url
  return { etag: res.headers.get('etag'), rules: parseRuleDocument(text, source) }
}

/** Look at every file and URL; swap in the new rules only when all of them compile. */
export async function refresh(ctx: Ctx): Promise<boolean> {
  const s = proxyState(ctx)
  const files = new Map(s.files)
  const urls = new Map(s.urls)
  const touched: [string, string][] = []
  for (const path of ctx.options.rule_files) {
    const fp = await fingerprint(path).catch(() => 'missing')
    const prev = files.get(path)
    // unchanged, or the same broken content already reported once
    if (prev && (prev.fingerprint === fp || prev.rejected === fp)) continue
    touched.push([path, fp])
    try {
      files.set(path, { fingerprint: fp, rules: await readRuleFile(path) })
    } catch (e) {
      ctx.log.warn('rule file not reloaded, keeping the last good rules', { file: path, reason: reasonOf(e) })
      const kept = { ...(prev ?? { fingerprint: '', rules: [] }), rejected: fp }
      files.set(path, kept)
      s.files.set(path, kept)
    }
  }
  let urlsChanged = false
  for (const url of ctx.options.rule_urls) {
    try {
      const r = await fetchRules(url, urls.get(url)?.etag ?? null)
      if (r === 'unchanged' || JSON.stringify(r.rules) === JSON.stringify(urls.get(url)?.rules)) continue
      urls.set(url, r)
      urlsChanged = true
    } catch (e) {
      warnOnce(ctx, s, 'rule URL not reloaded, keeping the last good rules', { url, reason: reasonOf(e) })
    }
  }
  const filesChanged = touched.some(([p]) => files.get(p)?.rejected === undefined)
  if (!filesChanged && !urlsChanged) return false
  let compiled: CompiledRule[]
  try {
    compiled = compileAll(ctx, allRules({ ...s, files, urls }))
  } catch (e) {
    warnOnce(ctx, s, 'rules not reloaded, keeping the last good rules', { reason: reasonOf(e) })
    // remember the rejected content so it is reported once, not on every tick
    for (const [p, fp] of touched) {
      const prev = s.files.get(p) ?? { fingerprint: '', rules: [] }
      s.files.set(p, { ...prev, rejected: fp })
    }
    return false
  }
  s.rules = compiled
  s.files = files
  s.urls = urls
  s.warned.clear()
  ctx.log.info('rules reloaded', { count: s.rules.length })
  await ctx.emit('rules.reloaded', { count: s.rules.length, source: 'refresh' })
  return true
}

/** Log a refresh warning unless the same one was logged since the last good reload (a bad URL, every tick). */
function warnOnce(ctx: Ctx, s: ProxyState, msg: string, fields: Record<string, string>): void {
  const key = `${msg}\u0000${JSON.stringify(fields)}`
  if (s.warned.has(key)) return
  s.warned.add(key)
  ctx.log.warn(msg, fields)
}

function reasonOf(e: unknown): string {
  return e instanceof ConfigError ? e.problems.join('; ') : (e as Error).message
}

export const proxy = definePlugin({
  id: 'proxy',
  description: 'Access proxy (Oathkeeper-compatible): access rules, /decisions and a reverse proxy',
  options: ProxyOptions,
  after: ['identity', 'permissions'],
  state: (ctx): ProxyState => ({ rules: [], inline: [], files: new Map(), urls: new Map(), keys: idTokenKeys(ctx.options), warned: new Set(), trust: { list: null, fromCore: true } }),
  authenticators: (ctx) => authenticators(ctx as PluginContext<unknown>),
  authorizers: (ctx) => authorizers(ctx as PluginContext<unknown>),
  mutators: (ctx) => mutators(proxyState(ctx).keys),
  errorHandlers: errorHandlers,
  commands: { rules: rulesCommand },

  async setup(ctx) {
    const s = proxyState(ctx)
    // one trusted-proxy setting (serve.trustedProxies); a bad entry, or a conflicting alias, stops boot here
    s.trust = resolveTrust(ctx.config.serve.trustedProxies ?? [], ctx.options.trusted_proxies, ctx.log)
    s.inline = parseRules(ctx.options.rules, 'plugins.proxy.options.rules')
    for (const path of ctx.options.rule_files) s.files.set(path, { fingerprint: await fingerprint(path).catch(() => 'missing'), rules: await readRuleFile(path) })
    s.rules = compileAll(ctx, s.inline.concat([...s.files.values()].flatMap((f) => f.rules)))
  },

  async onStart(ctx) {
    const s = proxyState(ctx)
    for (const url of ctx.options.rule_urls) {
      const r = await fetchRules(url, null)
      if (r !== 'unchanged') s.urls.set(url, r)
    }
    if (ctx.options.rule_urls.length) s.rules = compileAll(ctx, allRules(s))
    await ctx.emit('rules.reloaded', { count: s.rules.length, source: 'start' })
    if (ctx.options.rule_files.length || ctx.options.rule_urls.length) {
      s.refresher = periodic(ctx.options.refresh_interval_ms, () => refresh(ctx), ctx.log, 'rule refresh')
    }
    if (ctx.options.serve.enabled) s.server = startReverseProxy(ctx, () => proxyState(ctx).rules, s.trust)
    if (ctx.options.decisions_listener.enabled) s.decisions = startDecisionsListener(ctx, () => proxyState(ctx).rules, s.trust)
  },

  async onStop(ctx) {
    const s = proxyState(ctx)
    await s.refresher?.stop()
    s.refresher = undefined
    await s.server?.stop()
    await s.decisions?.stop()
    s.server = undefined
    s.decisions = undefined
  },

  ready: (ctx) => (ctx.options.serve.enabled && !proxyState(ctx).server ? 'the reverse-proxy listener is not running' : null),

  // `/decisions` is the hot path: Bun's router serves it ahead of Elysia. The core gives it the socket's peer
  // address (`rc.remoteAddress`): X-Forwarded-* count only when that peer is one of `serve.trustedProxies`
  // (CVE-2026-33495). Embedded without a peer address, they never count.
  rawRoutes: {
    admin: ['/decisions', '/decisions/*'].map((path) => ({
      path,
      handle: (request: Request, rc: DecisionContext, ctx: Ctx) => decisionResponse(ctx, proxyState(ctx).rules, proxyState(ctx).trust, request, rc),
      stampsRequestId: true,
    })),
  },

  openapi: proxyOperations,

  routes: {
    admin: (app, ctx) => {
      return app
        .get('/rules', ({ query }) => {
          // Oathkeeper's pagination: limit (default all, at most 500) and offset
          const q = parse(RulesQuery, query)
          const all = proxyState(ctx).rules.map((r) => r.rule)
          return all.slice(q.offset, q.limit === undefined ? undefined : q.offset + q.limit)
        })
        .get('/rules/:id', ({ params }) => {
          const r = proxyState(ctx).rules.find((x) => x.rule.id === params.id)
          if (!r) throw new NotFoundError(`no rule with id ${JSON.stringify(params.id)}`)
          return r.rule
        })
        .get('/.well-known/jwks.json', async () => proxyState(ctx).keys.jwks())
    },
  },
})

export default proxy

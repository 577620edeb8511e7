/**
 * `tessera clients create|list|get|delete`, `tessera keys list|rotate [set]`, `tessera token client` and
 * `tessera trust create|list|delete`.
 *
 * clients and keys boot the configured kernel without listeners and drive the admin API in-process (the same
 * validation, hashing and events). `token client` performs the client_credentials grant as
 * `hydra perform client-credentials` does: against `--endpoint` (a running server's public URL) when given,
 * else in-process.
 */
import { parseArgs } from 'node:util'
import type { BootedKernel, CliCommand, CliContext } from 'tessera'
import { WELL_KNOWN_SETS } from './options.ts'
import type { OAuth2 } from './oauth2.ts'

const CONFIG = { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } as const
const COMMON = `  -c, --config <file>   config file; default: $TESSERA_CONFIG, then tessera.config.* in the working directory`

class UsageError extends Error {}

async function withKernel<T>(ctx: CliContext, config: string | undefined, fn: (k: BootedKernel) => Promise<T>): Promise<T> {
  const k = await ctx.boot(config ? { config } : {})
  try {
    await k.migrate()
    return await fn(k)
  } finally {
    await k.stop()
  }
}

async function admin(k: BootedKernel, method: string, path: string, body?: unknown) {
  const res = await k.handle('admin', new Request(`http://localhost${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }))
  const text = await res.text()
  let json: any
  try {
    json = text ? JSON.parse(text) : undefined
  } catch {
    json = undefined
  }
  if (res.status >= 400) throw new Error(json?.error?.reason ?? json?.error?.message ?? json?.error_description ?? `the admin API answered ${res.status}`)
  return json
}

const list = (v: string | undefined) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined)

export const CLIENTS_USAGE = `Usage:
  tessera clients create [--name N] [--grant-type G,...] [--response-type R,...] [--scope "a b"] [--audience A,...]
                         [--redirect-uri U,...] [--token-endpoint-auth-method M] [--secret S] [--id ID] [--format json|json-pretty]
  tessera clients list [--page-size N] [--page-token T] [--format table|json|json-pretty]
  tessera clients get <id> [--format json|json-pretty]
  tessera clients delete <id>...

Runs against the configured database through the admin API's own handlers (no server needed).
create prints the client id and its secret (shown once; store it now), or the client as JSON.

Options:
${COMMON}`

async function clientsRun(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...CONFIG,
      name: { type: 'string' }, 'grant-type': { type: 'string' }, 'response-type': { type: 'string' }, scope: { type: 'string' }, audience: { type: 'string' },
      'redirect-uri': { type: 'string' }, 'token-endpoint-auth-method': { type: 'string' }, secret: { type: 'string' }, id: { type: 'string' },
      format: { type: 'string' }, 'page-size': { type: 'string' }, 'page-token': { type: 'string' },
    },
  })
  const [sub, ...rest] = positionals
  const fmt = (x: unknown) => (values.format === 'json' ? JSON.stringify(x) : JSON.stringify(x, null, 2))
  if (sub === 'create') {
    const body: Record<string, unknown> = {
      ...(values.id ? { client_id: values.id } : {}),
      ...(values.name ? { client_name: values.name } : {}),
      ...(values['grant-type'] ? { grant_types: list(values['grant-type']) } : {}),
      // a client without the authorization_code grant has no response types unless told
      ...(values['response-type'] !== undefined
        ? { response_types: list(values['response-type']) ?? [] }
        : values['grant-type'] && !list(values['grant-type'])!.includes('authorization_code') ? { response_types: [] } : {}),
      ...(values.scope !== undefined ? { scope: values.scope } : {}),
      ...(values.audience ? { audience: list(values.audience) } : {}),
      ...(values['redirect-uri'] ? { redirect_uris: list(values['redirect-uri']) } : {}),
      ...(values['token-endpoint-auth-method'] ? { token_endpoint_auth_method: values['token-endpoint-auth-method'] } : {}),
      ...(values.secret ? { client_secret: values.secret } : {}),
    }
    return withKernel(ctx, values.config, async (k) => {
      const c = await admin(k, 'POST', '/admin/clients', body)
      if (values.format) ctx.out(fmt(c))
      else {
        ctx.out(`CLIENT ID\t${c.client_id}`)
        if (c.client_secret) ctx.out(`CLIENT SECRET\t${c.client_secret}`)
        ctx.out(`GRANT TYPES\t${c.grant_types.join(', ')}`)
      }
      return 0
    })
  }
  if (sub === 'list') {
    const q = new URLSearchParams()
    if (values['page-size']) q.set('page_size', values['page-size'])
    if (values['page-token']) q.set('page_token', values['page-token'])
    return withKernel(ctx, values.config, async (k) => {
      const res = await k.handle('admin', new Request(`http://localhost/admin/clients?${q}`))
      const body = await res.json()
      if (res.status >= 400) throw new Error(body?.error?.reason ?? body?.error?.message)
      if (values.format) ctx.out(fmt(body))
      else {
        ctx.out('CLIENT ID\tNAME\tGRANT TYPES\tAUTH METHOD')
        for (const c of body) ctx.out(`${c.client_id}\t${c.client_name}\t${c.grant_types.join(',')}\t${c.token_endpoint_auth_method}`)
        const next = /<[^>]*[?&]page_token=([^&>]+)[^>]*>; rel="next"/.exec(res.headers.get('link') ?? '')
        if (next) ctx.out(`NEXT PAGE TOKEN\t${next[1]}`)
      }
      return 0
    })
  }
  if (sub === 'get') {
    if (rest.length !== 1) throw new UsageError('get needs one client id')
    return withKernel(ctx, values.config, async (k) => {
      ctx.out(fmt(await admin(k, 'GET', `/admin/clients/${encodeURIComponent(rest[0]!)}`)))
      return 0
    })
  }
  if (sub === 'delete') {
    if (rest.length === 0) throw new UsageError('delete needs at least one client id')
    return withKernel(ctx, values.config, async (k) => {
      let failed = 0
      for (const id of rest) {
        try {
          await admin(k, 'DELETE', `/admin/clients/${encodeURIComponent(id)}`)
          ctx.out(id)
        } catch (e) {
          failed++
          ctx.err(`tessera: ${id}: ${(e as Error).message}`)
        }
      }
      return failed ? 1 : 0
    })
  }
  throw new UsageError(sub === undefined ? 'expected a subcommand: create, list, get, delete' : `unknown subcommand "${sub}"`)
}

export const KEYS_USAGE = `Usage:
  tessera keys list [set] [--tenant T]
  tessera keys rotate [set] [--tenant T]

list     every key of the signing sets (or of one set): kid, algorithm, and when it signs and verifies.
rotate   adds a new signing key to each signing set (or one set), published at once and signing after the
         overlap window (keys.overlapSeconds, default one ID-token lifespan); the current key stops signing
         then and stays published until what it signed has expired.

Options:
${COMMON}`

function oauth2Of(k: BootedKernel): OAuth2 {
  const p = k.plugins.find((x) => x.id === 'oauth2')
  if (!p) throw new Error('the configuration does not install the oauth2 plugin')
  return p.ctx.state as OAuth2
}

async function keysRun(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { ...CONFIG, tenant: { type: 'string' } } })
  const [sub, set, ...extra] = positionals
  if (extra.length) throw new UsageError('too many arguments')
  if (sub !== 'list' && sub !== 'rotate') throw new UsageError(sub === undefined ? 'expected a subcommand: list, rotate' : `unknown subcommand "${sub}"`)
  return withKernel(ctx, values.config, async (k) => {
    const o = oauth2Of(k)
    const tenant = values.tenant ?? k.config.tenancy.default
    const sets = set ? [set] : [...WELL_KNOWN_SETS]
    if (sub === 'rotate') {
      for (const s of sets) {
        const r = await o.rotate(tenant, s)
        ctx.out(`${s}\tnew key ${r.kid} (${r.alg}) signs from ${r.signsFrom}${r.retired.length ? `; retiring ${r.retired.join(', ')}` : ''}`)
      }
      return 0
    }
    ctx.out('SET\tKID\tALG\tSIGNS FROM\tSIGNS UNTIL\tPUBLISHED UNTIL')
    const all = set ? sets : o.dbKeys ? [...new Set([...sets, ...(await o.dbKeys.sets(tenant))])] : sets
    for (const s of all) {
      if (o.dbKeys) {
        for (const key of await o.dbKeys.list(tenant, s)) ctx.out(`${s}\t${key.kid}\t${key.alg}\t${key.signFrom.toISOString()}\t${key.signUntil?.toISOString() ?? '-'}\t${key.verifyUntil?.toISOString() ?? '-'}`)
      } else {
        for (const key of await o.keys.verificationKeys(tenant, s)) ctx.out(`${s}\t${key.kid}\t${key.alg}\t?\t?\t?`)
      }
    }
    return 0
  })
}

export const TOKEN_USAGE = `Usage:
  tessera token client --client-id ID --client-secret SECRET [--scope "a b"] [--audience A,...] [--endpoint URL] [--format json]

Performs the client_credentials grant (as \`hydra perform client-credentials\`) and prints the access token
(or the whole response with --format json). With --endpoint (a running server's public URL) it asks that
server; without, it answers in-process from the configuration. TESSERA_CLIENT_ID / TESSERA_CLIENT_SECRET
may stand for the flags (so that the secret is not in the shell history).

Options:
${COMMON}`

async function tokenRun(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...CONFIG, 'client-id': { type: 'string' }, 'client-secret': { type: 'string' }, scope: { type: 'string' }, audience: { type: 'string' }, endpoint: { type: 'string' }, format: { type: 'string' } },
  })
  if (positionals[0] !== 'client' || positionals.length !== 1) throw new UsageError('expected: token client')
  const id = values['client-id'] ?? ctx.env.TESSERA_CLIENT_ID
  const secret = values['client-secret'] ?? ctx.env.TESSERA_CLIENT_SECRET
  if (!id || !secret) throw new UsageError('--client-id and --client-secret are required')
  const form = new URLSearchParams({ grant_type: 'client_credentials' })
  if (values.scope) form.set('scope', values.scope)
  for (const a of list(values.audience) ?? []) form.append('audience', a)
  const enc = (s: string) => encodeURIComponent(s)
  const init: RequestInit = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}` }, body: form.toString() }
  const show = async (res: Response) => {
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>
    if (res.status !== 200) throw new Error(`${body.error ?? res.status}: ${body.error_description ?? ''}`.trim())
    ctx.out(values.format === 'json' ? JSON.stringify(body) : String(body.access_token))
    return 0
  }
  if (values.endpoint) {
    if (!/^https?:\/\//.test(values.endpoint)) throw new UsageError('--endpoint must be an http(s) URL')
    let res: Response
    try {
      res = await fetch(`${values.endpoint.replace(/\/+$/, '')}/oauth2/token`, init)
    } catch (e) {
      throw new Error(`cannot reach ${values.endpoint}: ${(e as Error).message}`)
    }
    return show(res)
  }
  return withKernel(ctx, values.config, async (k) => show(await k.handle('public', new Request('http://localhost/oauth2/token', init))))
}

export const TRUST_USAGE = `Usage:
  tessera trust create --issuer ISS (--subject SUB | --allow-any-subject) --scope "a b" --jwk-file FILE
                       [--expires-at RFC3339 | --expires-in DURATION] [--format json|json-pretty]
  tessera trust list [--issuer ISS] [--page-size N] [--page-token T] [--format table|json|json-pretty]
  tessera trust delete <id>...

Trusted JWT-bearer issuers (RFC 7523, Hydra's /admin/trust/grants/jwt-bearer/issuers): an issuer whose JWTs,
signed with the public key in FILE (a JWK with kid and alg), may be exchanged for access tokens for SUB (or any
subject) and the scopes given. --expires-in takes 30d, 12h, 90m (default: 365d).

Options:
${COMMON}`

const DURATION = /^(\d{1,6})([smhd])$/

async function trustRun(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...CONFIG,
      issuer: { type: 'string' }, subject: { type: 'string' }, 'allow-any-subject': { type: 'boolean' }, scope: { type: 'string' },
      'jwk-file': { type: 'string' }, 'expires-at': { type: 'string' }, 'expires-in': { type: 'string' },
      format: { type: 'string' }, 'page-size': { type: 'string' }, 'page-token': { type: 'string' },
    },
  })
  const [sub, ...rest] = positionals
  const fmt = (x: unknown) => (values.format === 'json' ? JSON.stringify(x) : JSON.stringify(x, null, 2))
  const BASE = '/admin/trust/grants/jwt-bearer/issuers'
  if (sub === 'create') {
    if (rest.length) throw new UsageError('create takes no arguments')
    if (!values.issuer) throw new UsageError('--issuer is required')
    if (!values['jwk-file']) throw new UsageError('--jwk-file is required')
    if (!values.subject && !values['allow-any-subject']) throw new UsageError('--subject or --allow-any-subject is required')
    let jwk: unknown
    try {
      jwk = JSON.parse(await Bun.file(values['jwk-file']).text())
    } catch (e) {
      throw new UsageError(`--jwk-file: cannot read a JSON Web Key from ${values['jwk-file']}: ${(e as Error).message}`)
    }
    let expiresAt = values['expires-at']
    if (!expiresAt) {
      const m = DURATION.exec(values['expires-in'] ?? '365d')
      if (!m) throw new UsageError('--expires-in must look like 30d, 12h, 90m or 3600s')
      const unit = { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd']
      expiresAt = new Date(Date.now() + Number(m[1]) * unit * 1000).toISOString()
    }
    const body = { issuer: values.issuer, subject: values.subject ?? '', allow_any_subject: values['allow-any-subject'] ?? false, scope: (values.scope ?? '').split(' ').filter(Boolean), jwk, expires_at: expiresAt }
    return withKernel(ctx, values.config, async (k) => {
      const t = await admin(k, 'POST', BASE, body)
      if (values.format) ctx.out(fmt(t))
      else {
        ctx.out(`ID\t${t.id}`)
        ctx.out(`ISSUER\t${t.issuer}`)
        ctx.out(`SUBJECT\t${t.allow_any_subject ? '(any)' : t.subject}`)
        ctx.out(`SCOPE\t${t.scope.join(' ')}`)
        ctx.out(`EXPIRES AT\t${t.expires_at}`)
      }
      return 0
    })
  }
  if (sub === 'list') {
    if (rest.length) throw new UsageError('list takes no arguments')
    const q = new URLSearchParams()
    if (values.issuer) q.set('issuer', values.issuer)
    if (values['page-size']) q.set('page_size', values['page-size'])
    if (values['page-token']) q.set('page_token', values['page-token'])
    return withKernel(ctx, values.config, async (k) => {
      const res = await k.handle('admin', new Request(`http://localhost${BASE}?${q}`))
      const body = await res.json()
      if (res.status >= 400) throw new Error(body?.error?.reason ?? body?.error?.message)
      if (values.format) ctx.out(fmt(body))
      else {
        ctx.out('ID\tISSUER\tSUBJECT\tSCOPE\tKEY ID\tEXPIRES AT')
        for (const t of body) ctx.out(`${t.id}\t${t.issuer}\t${t.allow_any_subject ? '(any)' : t.subject}\t${t.scope.join(' ')}\t${t.public_key?.kid ?? ''}\t${t.expires_at}`)
        const next = /<[^>]*[?&]page_token=([^&>]+)[^>]*>; rel="next"/.exec(res.headers.get('link') ?? '')
        if (next) ctx.out(`NEXT PAGE TOKEN\t${next[1]}`)
      }
      return 0
    })
  }
  if (sub === 'delete') {
    if (rest.length === 0) throw new UsageError('delete needs at least one id')
    return withKernel(ctx, values.config, async (k) => {
      let failed = 0
      for (const id of rest) {
        try {
          await admin(k, 'DELETE', `${BASE}/${encodeURIComponent(id)}`)
          ctx.out(id)
        } catch (e) {
          failed++
          ctx.err(`tessera: ${id}: ${(e as Error).message}`)
        }
      }
      return failed ? 1 : 0
    })
  }
  throw new UsageError(sub === undefined ? 'expected a subcommand: create, list, delete' : `unknown subcommand "${sub}"`)
}

function guarded(name: string, usage: string, run: (args: string[], ctx: CliContext) => Promise<number>): CliCommand['run'] {
  return async (args, ctx) => {
    try {
      return await run(args, ctx)
    } catch (e) {
      if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
        ctx.err(`tessera: ${(e as Error).message}; usage: see tessera ${name} --help`)
        return 2
      }
      throw e
    }
  }
}

export const clientsCommand: CliCommand = { summary: 'create, list, get and delete OAuth 2.0 clients (the admin API, in-process)', usage: CLIENTS_USAGE, run: guarded('clients', CLIENTS_USAGE, clientsRun) }
export const keysCommand: CliCommand = { summary: 'list and rotate the OAuth 2.0 signing keys', usage: KEYS_USAGE, run: guarded('keys', KEYS_USAGE, keysRun) }
export const tokenCommand: CliCommand = { summary: 'perform the client_credentials grant (as hydra perform client-credentials)', usage: TOKEN_USAGE, run: guarded('token', TOKEN_USAGE, tokenRun) }
export const trustCommand: CliCommand = { summary: 'create, list and delete trusted JWT-bearer issuers (RFC 7523)', usage: TRUST_USAGE, run: guarded('trust', TRUST_USAGE, trustRun) }

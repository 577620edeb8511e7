/**
 * `tessera identities import | list | get | delete` and `tessera sessions list | revoke`.
 *
 * Every command boots the configured kernel without listeners and drives the identity plugin's admin
 * routes in-process (`app.handle(new Request(…))`): validation, hashing, events and errors are exactly
 * those of the admin API, on whatever database the configuration names.
 */
import { parseArgs } from 'node:util'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { BootedKernel, CliCommand, CliContext } from 'tessera'

const COMMON = `  -c, --config <file>   config file; default: $TESSERA_CONFIG, then tessera.config.* in the working directory
  -h, --help            show this help`

const IDENTITIES_USAGE = {
  import: 'tessera identities import <file|->... [--format ids|table|json|json-pretty]',
  list: 'tessera identities list [--page-size N] [--page-token T] [--format table|json|json-pretty]',
  get: 'tessera identities get <id> [--include-credentials] [--format json|json-pretty|table]',
  delete: 'tessera identities delete <id>...',
}

export const IDENTITIES_USAGE_TEXT = `Usage:
  ${IDENTITIES_USAGE.import}
  ${IDENTITIES_USAGE.list}
  ${IDENTITIES_USAGE.get}
  ${IDENTITIES_USAGE.delete}

Runs against the configured database through the admin API's own handlers (no server needed).

import   reads Kratos' import format: one identity or an array of them, each the body of
         POST /admin/identities ("-" reads standard input). Each is validated as the admin API does;
         a failure is reported on stderr as <file>[<index>]: <reason> and the rest go on. Prints the
         created ids (--format ids, the default), a table, or the created identities as JSON.
         Exits 1 if any identity failed.
list     one page of identities (default 250, at most 1000) and the token of the next page.
get      one identity as JSON; --include-credentials adds every credential's configuration
         (password hashes included).
delete   deletes each identity (its credentials and sessions go with it) and prints its id.

Options:
${COMMON}`

const SESSIONS_USAGE = {
  list: 'tessera sessions list [--identity <id>] [--active] [--page-size N] [--page-token T] [--format table|json|json-pretty]',
  revoke: 'tessera sessions revoke <session-id>... | --identity <id>',
}

export const SESSIONS_USAGE_TEXT = `Usage:
  ${SESSIONS_USAGE.list}
  ${SESSIONS_USAGE.revoke}

Runs against the configured database through the admin API's own handlers (no server needed).

list     sessions, oldest first; --identity lists one identity's sessions (up to 1000, no paging),
         --active only the active ones.
revoke   revokes sessions by id, or every session of an identity with --identity; a revoked
         session's token stops working at once.

Options:
${COMMON}`

/** A mistake in how the command was called: exit 2 with the subcommand's usage line. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message)
  }
}

type Format = 'ids' | 'table' | 'json' | 'json-pretty'

function parse<O extends Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>>(args: string[], options: O, usage: string) {
  try {
    return parseArgs({ args, options: { ...options, config: { type: 'string', short: 'c' } }, allowPositionals: true, strict: true })
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify.*$/, ''), usage)
  }
}

function formatOf(raw: string | boolean | undefined, allowed: Format[], fallback: Format, usage: string): Format {
  if (raw === undefined) return fallback
  if (typeof raw !== 'string' || !allowed.includes(raw as Format)) throw new UsageError(`--format is one of ${allowed.join(', ')}`, usage)
  return raw as Format
}

function pageSizeOf(raw: string | boolean | undefined, usage: string): string | undefined {
  if (raw === undefined) return undefined
  const n = Number(raw)
  if (typeof raw !== 'string' || !Number.isInteger(n) || n < 1 || n > 1000) throw new UsageError('--page-size is an integer from 1 to 1000', usage)
  return String(n)
}

// ---------------------------------------------------------------------------------------------------------
// The admin API, in-process

interface Answer {
  status: number
  headers: Headers
  body: any
}

/** Ory's error body as one line: the reason when there is one (it names fields), else the message. */
function reasonOf(a: Answer): string {
  const e = a.body?.error
  if (e && typeof e === 'object') return String(e.reason ?? e.message ?? `HTTP ${a.status}`)
  return `HTTP ${a.status}`
}

class AdminApi {
  constructor(private readonly kernel: BootedKernel) {}

  async call(method: string, path: string, body?: unknown): Promise<Answer> {
    const init: RequestInit = { method }
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body)
      init.headers = { 'content-type': 'application/json' }
    }
    const res = await this.kernel.handle('admin', new Request(`http://localhost${path}`, init))
    const text = await res.text()
    let parsed: unknown = null
    if (text) {
      try {
        parsed = JSON.parse(text)
      } catch {
        parsed = text
      }
    }
    return { status: res.status, headers: res.headers, body: parsed }
  }

  /** A call that must succeed; a failure becomes the command's one-line error. */
  async ok(method: string, path: string, body?: unknown): Promise<Answer> {
    const a = await this.call(method, path, body)
    if (a.status >= 400) throw new Error(reasonOf(a))
    return a
  }
}

/** Boot the configured kernel, refuse to run on a database with pending migrations, and hand over the admin API. */
async function withAdmin<T>(ctx: CliContext, config: string | undefined, fn: (api: AdminApi) => Promise<T>): Promise<T> {
  const kernel = await ctx.boot({ config })
  try {
    if (!kernel.plugins.some((p) => p.id === 'identity')) throw new Error('the configuration has no identity plugin')
    const pending = (await kernel.migrationStatus()).filter((s) => s.state === 'pending')
    if (pending.length) throw new Error(`${pending.length} migration(s) not applied (${pending[0]!.plugin}/${pending[0]!.id}${pending.length > 1 ? ', …' : ''}); run tessera migrate up`)
    return await fn(new AdminApi(kernel))
  } finally {
    await kernel.stop()
  }
}

/** The `page_token` of a Link header's rel="next", if any. */
function nextPageToken(headers: Headers): string {
  const link = headers.get('link') ?? ''
  for (const part of link.split(',')) {
    const m = /<([^>]*)>\s*;\s*rel="next"/.exec(part)
    if (m) return new URL(m[1]!, 'http://localhost').searchParams.get('page_token') ?? ''
  }
  return ''
}

// ---------------------------------------------------------------------------------------------------------
// Output

const NONE = '<none>'

function table(header: string[], rows: string[][], trailer: string[][] = []): string {
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((r) => (r[i] ?? '').length)))
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  const body = [header, ...rows].map(line)
  if (trailer.length) body.push('', ...trailer.map(line))
  return body.join('\n')
}

function json(value: unknown, format: Format): string {
  return format === 'json-pretty' ? JSON.stringify(value, null, 2) : JSON.stringify(value)
}

const IDENTITY_HEADER = ['ID', 'EXTERNAL ID', 'VERIFIED ADDRESSES', 'RECOVERY ADDRESSES', 'SCHEMA ID', 'SCHEMA URL']

function identityRow(i: any): string[] {
  const values = (list: unknown) => (Array.isArray(list) ? list.map((a) => a?.value).filter(Boolean).join(', ') : '')
  return [String(i.id), i.external_id || NONE, values(i.verifiable_addresses) || NONE, values(i.recovery_addresses) || NONE, String(i.schema_id ?? NONE), String(i.schema_url ?? NONE)]
}

const SESSION_HEADER = ['ID', 'IDENTITY ID', 'ACTIVE', 'AAL', 'AUTHENTICATED AT', 'EXPIRES AT']

function sessionRow(s: any): string[] {
  return [String(s.id), String(s.identity?.id ?? NONE), String(s.active), String(s.authenticator_assurance_level ?? NONE), String(s.authenticated_at ?? NONE), String(s.expires_at ?? NONE)]
}

// ---------------------------------------------------------------------------------------------------------
// identities import

interface Entry {
  source: string
  body: unknown
}

/** Kratos' import files: one identity object or an array of them. */
async function readEntries(files: string[], ctx: CliContext): Promise<Entry[]> {
  const entries: Entry[] = []
  for (const f of files) {
    const label = f === '-' ? 'stdin' : f
    let text: string
    try {
      text = f === '-' ? await Bun.stdin.text() : await readFile(resolve(ctx.cwd, f), 'utf8')
    } catch (e) {
      throw new Error(`${label}: cannot read: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`)
    }
    let doc: unknown
    try {
      doc = JSON.parse(text.replace(/^\uFEFF/, ''))
    } catch (e) {
      throw new Error(`${label}: not valid JSON: ${(e as Error).message}`)
    }
    if (Array.isArray(doc)) doc.forEach((body, i) => entries.push({ source: `${label}[${i}]`, body }))
    else if (doc !== null && typeof doc === 'object') entries.push({ source: `${label}[0]`, body: doc })
    else throw new Error(`${label}: expected an identity object or an array of identities`)
  }
  return entries
}

/** A progress bar on a terminal; elsewhere a plain line every few seconds for long imports. */
function progress(total: number, ctx: CliContext) {
  const tty = process.stderr.isTTY === true
  const started = Date.now()
  let last = 0
  let drawn = false
  const text = (done: number, failed: number) => `${done}/${total}${failed ? ` (${failed} failed)` : ''}`
  return {
    tick(done: number, failed: number) {
      const now = Date.now()
      if (tty) {
        if (total < 50 || (now - last < 100 && done < total)) return
        last = now
        const width = 30
        const filled = Math.round((done / total) * width)
        process.stderr.write(`\r\x1b[2Kimporting [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${text(done, failed)}`)
        drawn = true
      } else if (now - (last || started) >= 5000 && done < total) {
        last = now
        ctx.err(`importing: ${text(done, failed)}`)
      }
    },
    clear() {
      if (drawn) process.stderr.write('\r\x1b[2K')
    },
  }
}

/** Creates run four at a time (hashing runs off the main thread; argon2id takes its memory per hash); output keeps the input order. */
const CONCURRENCY = 4

async function importIdentities(args: string[], ctx: CliContext): Promise<number> {
  const usage = IDENTITIES_USAGE.import
  const { values, positionals } = parse(args, { format: { type: 'string' } }, usage)
  const format = formatOf(values.format, ['ids', 'table', 'json', 'json-pretty'], 'ids', usage)
  if (positionals.length === 0) throw new UsageError('name a file to import, or - for standard input', usage)
  if (positionals.filter((p) => p === '-').length > 1) throw new UsageError('standard input (-) can be read once', usage)
  const entries = await readEntries(positionals, ctx)
  return withAdmin(ctx, values.config, async (api) => {
    const created: unknown[] = new Array(entries.length)
    const failures: string[] = new Array(entries.length)
    let next = 0
    let done = 0
    let failed = 0
    const bar = progress(entries.length, ctx)
    const worker = async () => {
      while (next < entries.length) {
        const i = next++
        const a = await api.call('POST', '/admin/identities', JSON.stringify(entries[i]!.body))
        if (a.status === 201) created[i] = a.body
        else {
          failures[i] = `${entries[i]!.source}: ${reasonOf(a)}`
          failed++
        }
        bar.tick(++done, failed)
      }
    }
    try {
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, entries.length) }, worker))
    } finally {
      bar.clear()
    }
    const ok = created.filter(Boolean) as any[]
    if (format === 'ids') {
      if (ok.length) ctx.out(ok.map((i) => i.id).join('\n'))
    } else if (format === 'table') ctx.out(table(IDENTITY_HEADER, ok.map(identityRow)))
    else ctx.out(json(ok, format))
    for (const f of failures) if (f) ctx.err(f)
    ctx.err(`imported ${ok.length} of ${entries.length} identit${entries.length === 1 ? 'y' : 'ies'}${failed ? `; ${failed} failed` : ''}`)
    return failed ? 1 : 0
  })
}

// ---------------------------------------------------------------------------------------------------------
// identities list | get | delete

async function listIdentities(args: string[], ctx: CliContext): Promise<number> {
  const usage = IDENTITIES_USAGE.list
  const { values, positionals } = parse(args, { 'page-size': { type: 'string' }, 'page-token': { type: 'string' }, format: { type: 'string' } }, usage)
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`, usage)
  const format = formatOf(values.format, ['table', 'json', 'json-pretty'], 'table', usage)
  const q = new URLSearchParams()
  const size = pageSizeOf(values['page-size'], usage)
  if (size) q.set('page_size', size)
  if (values['page-token']) q.set('page_token', String(values['page-token']))
  return withAdmin(ctx, values.config, async (api) => {
    const a = await api.ok('GET', `/admin/identities${q.size ? `?${q}` : ''}`)
    const token = nextPageToken(a.headers)
    if (format === 'table') ctx.out(table(IDENTITY_HEADER, (a.body as any[]).map(identityRow), [['NEXT PAGE TOKEN', token || NONE]]))
    else ctx.out(json({ identities: a.body, next_page_token: token }, format))
    return 0
  })
}

async function getIdentity(args: string[], ctx: CliContext): Promise<number> {
  const usage = IDENTITIES_USAGE.get
  const { values, positionals } = parse(args, { 'include-credentials': { type: 'boolean' }, format: { type: 'string' } }, usage)
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `unexpected argument "${positionals[1]}"` : 'name the identity id', usage)
  const format = formatOf(values.format, ['json', 'json-pretty', 'table'], 'json-pretty', usage)
  const path = `/admin/identities/${encodeURIComponent(positionals[0]!)}`
  return withAdmin(ctx, values.config, async (api) => {
    let a = await api.call('GET', path)
    if (a.status === 404) throw new Error(`${positionals[0]}: no such identity`)
    if (a.status >= 400) throw new Error(reasonOf(a))
    if (values['include-credentials']) {
      const types = Object.keys((a.body as { credentials?: Record<string, unknown> }).credentials ?? {})
      if (types.length) a = await api.ok('GET', `${path}?${types.map((t) => `include_credential=${encodeURIComponent(t)}`).join('&')}`)
    }
    ctx.out(format === 'table' ? table(IDENTITY_HEADER, [identityRow(a.body)]) : json(a.body, format))
    return 0
  })
}

async function deleteIdentities(args: string[], ctx: CliContext): Promise<number> {
  const usage = IDENTITIES_USAGE.delete
  const { values, positionals } = parse(args, {}, usage)
  if (positionals.length === 0) throw new UsageError('name at least one identity id', usage)
  return withAdmin(ctx, values.config, async (api) => {
    let failed = 0
    for (const id of positionals) {
      const a = await api.call('DELETE', `/admin/identities/${encodeURIComponent(id)}`)
      if (a.status === 204) ctx.out(id)
      else {
        failed++
        ctx.err(`tessera: ${id}: ${a.status === 404 ? 'no such identity' : reasonOf(a)}`)
      }
    }
    return failed ? 1 : 0
  })
}

// ---------------------------------------------------------------------------------------------------------
// sessions list | revoke

async function listSessions(args: string[], ctx: CliContext): Promise<number> {
  const usage = SESSIONS_USAGE.list
  const { values, positionals } = parse(
    args,
    { identity: { type: 'string' }, active: { type: 'boolean' }, 'page-size': { type: 'string' }, 'page-token': { type: 'string' }, format: { type: 'string' } },
    usage,
  )
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`, usage)
  const format = formatOf(values.format, ['table', 'json', 'json-pretty'], 'table', usage)
  const size = pageSizeOf(values['page-size'], usage)
  if (values.identity !== undefined && (size || values['page-token'])) throw new UsageError('--identity lists every session of the identity: no --page-size or --page-token', usage)
  const q = new URLSearchParams()
  if (values.active) q.set('active', 'true')
  if (size) q.set('page_size', size)
  if (values['page-token']) q.set('page_token', String(values['page-token']))
  const path = values.identity !== undefined ? `/admin/identities/${encodeURIComponent(String(values.identity))}/sessions` : '/admin/sessions'
  return withAdmin(ctx, values.config, async (api) => {
    const a = await api.call('GET', `${path}${q.size ? `?${q}` : ''}`)
    if (a.status === 404 && values.identity !== undefined) throw new Error(`${values.identity}: no such identity`)
    if (a.status >= 400) throw new Error(reasonOf(a))
    const paged = values.identity === undefined
    const token = paged ? nextPageToken(a.headers) : ''
    if (format === 'table') ctx.out(table(SESSION_HEADER, (a.body as any[]).map(sessionRow), paged ? [['NEXT PAGE TOKEN', token || NONE]] : []))
    else ctx.out(json(paged ? { sessions: a.body, next_page_token: token } : { sessions: a.body }, format))
    return 0
  })
}

async function revokeSessions(args: string[], ctx: CliContext): Promise<number> {
  const usage = SESSIONS_USAGE.revoke
  const { values, positionals } = parse(args, { identity: { type: 'string' } }, usage)
  if (values.identity !== undefined) {
    if (positionals.length) throw new UsageError('give session ids or --identity, not both', usage)
    const id = String(values.identity)
    return withAdmin(ctx, values.config, async (api) => {
      const a = await api.call('DELETE', `/admin/identities/${encodeURIComponent(id)}/sessions`)
      if (a.status === 404) throw new Error(`${id}: no such identity`)
      if (a.status >= 400) throw new Error(reasonOf(a))
      ctx.out(`revoked every session of identity ${id}`)
      return 0
    })
  }
  if (positionals.length === 0) throw new UsageError('name a session id, or --identity <id>', usage)
  return withAdmin(ctx, values.config, async (api) => {
    let failed = 0
    for (const id of positionals) {
      const a = await api.call('DELETE', `/admin/sessions/${encodeURIComponent(id)}`)
      if (a.status === 204) ctx.out(`revoked ${id}`)
      else {
        failed++
        ctx.err(`tessera: ${id}: ${a.status === 404 ? 'no such session' : reasonOf(a)}`)
      }
    }
    return failed ? 1 : 0
  })
}

// ---------------------------------------------------------------------------------------------------------
// Dispatch

function dispatch(name: string, subcommands: Record<string, (args: string[], ctx: CliContext) => Promise<number>>): CliCommand['run'] {
  return async (args, ctx) => {
    // the subcommand is the first argument that is neither an option nor --config's value
    let at = 0
    while (at < args.length && args[at]!.startsWith('-') && args[at] !== '-') at += args[at] === '-c' || args[at] === '--config' ? 2 : 1
    const sub = args[at]
    const rest = [...args.slice(0, at), ...args.slice(at + 1)]
    try {
      const run = sub === undefined ? undefined : Object.hasOwn(subcommands, sub) ? subcommands[sub] : undefined
      if (!run) throw new UsageError(sub === undefined ? `expected a subcommand: ${Object.keys(subcommands).join(', ')}` : `unknown subcommand "${sub}"`, `tessera ${name} ${Object.keys(subcommands).join('|')} (tessera ${name} --help)`)
      return await run(rest, ctx)
    } catch (e) {
      if (!(e instanceof UsageError)) throw e
      ctx.err(`tessera: ${e.message}; usage: ${e.usage}`)
      return 2
    }
  }
}

export const identitiesCommand: CliCommand = {
  summary: 'import, list, get and delete identities (the admin API, in-process)',
  usage: IDENTITIES_USAGE_TEXT,
  run: dispatch('identities', { import: importIdentities, list: listIdentities, get: getIdentity, delete: deleteIdentities }),
}

export const sessionsCommand: CliCommand = {
  summary: 'list and revoke sessions (the admin API, in-process)',
  usage: SESSIONS_USAGE_TEXT,
  run: dispatch('sessions', { list: listSessions, revoke: revokeSessions }),
}

/**
 * `tessera permissions check | expand | write` against a running server's read and write API.
 *
 * Tuples are written in Keto's text form: `namespace:object#relation@subject_id` or
 * `namespace:object#relation@namespace:object#relation` for a subject set.
 */
import type { CliCommand, CliContext } from '../../core/plugin.ts'

export const USAGE = `Usage:
  tessera permissions check <subject> <relation> <namespace> <object> [--max-depth N]
  tessera permissions expand <relation> <namespace> <object> [--max-depth N]
  tessera permissions write <tuple>... [--delete]

  <subject> is a subject id or a subject set namespace:object#relation.
  <tuple> is namespace:object#relation@subject (Keto's text form).

Options:
  --endpoint URL   the listener serving the permission API (default: $TESSERA_PERMISSIONS_URL or http://127.0.0.1:4434)

Exit codes: check 0 when allowed, 2 when denied; 1 on errors.`

const SET = /^([^:#@]+):([^#@]*)#([^@]*)$/

export function parseTuple(s: string) {
  const m = /^([^:#@]+):([^#@]*)#([^@]*)@(.+)$/.exec(s)
  if (!m) throw new Error(`not a relation tuple: ${JSON.stringify(s)} (expected namespace:object#relation@subject)`)
  return { namespace: m[1]!, object: m[2]!, relation: m[3]!, ...subjectOf(m[4]!) }
}

function subjectOf(s: string): { subject_id: string } | { subject_set: { namespace: string; object: string; relation: string } } {
  const m = SET.exec(s)
  return m ? { subject_set: { namespace: m[1]!, object: m[2]!, relation: m[3]! } } : { subject_id: s }
}

function options(args: string[], ctx: CliContext) {
  const rest: string[] = []
  let endpoint = ctx.env.TESSERA_PERMISSIONS_URL ?? 'http://127.0.0.1:4434'
  let maxDepth: string | undefined
  let del = false
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === '--endpoint') endpoint = args[++i] ?? ''
    else if (a === '--max-depth') maxDepth = args[++i]
    else if (a === '--delete') del = true
    else rest.push(a)
  }
  if (!/^https?:\/\//.test(endpoint)) throw new Error(`--endpoint must be an http(s) URL, got ${JSON.stringify(endpoint)}`)
  return { rest, endpoint: endpoint.replace(/\/$/, ''), maxDepth, del }
}

async function request(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init)
  } catch (e) {
    throw new Error(`cannot reach ${new URL(url).origin}: ${(e as Error).message}`)
  }
}

async function failure(res: Response): Promise<Error> {
  const body = (await res.json().catch(() => null)) as { error?: { message?: string; reason?: string } } | null
  return new Error(`the server answered ${res.status}: ${body?.error?.reason ?? body?.error?.message ?? res.statusText}`)
}

export const permissionsCommand: CliCommand = {
  summary: 'check, expand and write relation tuples on a running server',
  usage: USAGE,
  async run(args, ctx) {
    const [sub, ...restArgs] = args
    const o = options(restArgs, ctx)
    const depth = o.maxDepth ? `&max-depth=${encodeURIComponent(o.maxDepth)}` : ''
    if (sub === 'check') {
      if (o.rest.length !== 4) throw new Error('check needs <subject> <relation> <namespace> <object>')
      const [subject, relation, namespace, object] = o.rest as [string, string, string, string]
      const res = await request(`${o.endpoint}/relation-tuples/check/openapi?max-depth=${encodeURIComponent(o.maxDepth ?? '0')}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ namespace, object, relation, ...subjectOf(subject) }),
      })
      if (!res.ok) throw await failure(res)
      const { allowed } = (await res.json()) as { allowed: boolean }
      ctx.out(allowed ? 'Allowed' : 'Denied')
      return allowed ? 0 : 2
    }
    if (sub === 'expand') {
      if (o.rest.length !== 3) throw new Error('expand needs <relation> <namespace> <object>')
      const [relation, namespace, object] = o.rest.map(encodeURIComponent) as [string, string, string]
      const res = await request(`${o.endpoint}/relation-tuples/expand?namespace=${namespace}&object=${object}&relation=${relation}${depth}`)
      if (!res.ok) throw await failure(res)
      ctx.out(JSON.stringify(await res.json(), null, 2))
      return 0
    }
    if (sub === 'write') {
      if (o.rest.length === 0) throw new Error('write needs at least one tuple')
      const patch = o.rest.map((t) => ({ action: o.del ? 'delete' : 'insert', relation_tuple: parseTuple(t) }))
      const res = await request(`${o.endpoint}/admin/relation-tuples`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) })
      if (!res.ok) throw await failure(res)
      ctx.out(`${o.del ? 'deleted' : 'wrote'} ${patch.length} relation tuple${patch.length === 1 ? '' : 's'}`)
      return 0
    }
    throw new Error(`unknown subcommand ${JSON.stringify(sub ?? '')}; see tessera permissions --help`)
  },
}

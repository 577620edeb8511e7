/**
 * Benchmark harness: the server under test runs in its own process pinned to
 * one core (taskset -c 0); the load generator runs in a second process on
 * another core (wrk when installed, autocannon otherwise). Results print as a table.
 */
import { parseArgs } from 'node:util'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

export const REPO = resolve(import.meta.dir, '../..')

const hasTaskset = Bun.which('taskset') !== null
const wrk = Bun.which('wrk')

export function pinned(cpu: number, cmd: string[]): string[] {
  const cpus = navigator.hardwareConcurrency
  return hasTaskset && cpus > 1 ? ['taskset', '-c', String(cpu % cpus), ...cmd] : cmd
}

export interface ServerHandle {
  url: string
  stop(): Promise<void>
}

/** Start a process and wait until `ready` (a URL) answers 200. */
export async function startServer(cmd: string[], opts: { env?: Record<string, string>; cwd?: string; ready: string; cpu?: number }): Promise<ServerHandle> {
  // a server left over from an earlier run would answer `ready` and take the load meant for this one
  if (await fetch(opts.ready).then(() => true, () => false)) {
    throw new Error(`${new URL(opts.ready).host} already answers before the server under test starts: stop the process listening there (a server left over from an earlier run?)`)
  }
  const proc = Bun.spawn(pinned(opts.cpu ?? 0, cmd), {
    cwd: opts.cwd ?? REPO,
    env: { ...process.env, LOG_LEVEL: 'warn', ...opts.env },
    stdout: 'ignore',
    stderr: 'inherit',
  })
  const deadline = Date.now() + 20_000
  for (;;) {
    const ok = await fetch(opts.ready).then((r) => r.ok, () => false)
    if (ok) break
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}`)
    if (Date.now() > deadline) {
      proc.kill('SIGKILL')
      throw new Error(`${opts.ready} did not answer 200 within 20 s`)
    }
    await Bun.sleep(100)
  }
  return {
    url: new URL(opts.ready).origin,
    async stop() {
      proc.kill('SIGTERM')
      await Promise.race([proc.exited, Bun.sleep(5000)])
      proc.kill('SIGKILL')
    },
  }
}

export interface LoadOptions {
  url: string
  method?: string
  headers?: Record<string, string>
  body?: string
  connections?: number
  durationSec?: number
  cpu?: number
}

export interface LoadResult {
  rps: number
  p50: number
  p99: number
  requests: number
  errors: number
  tool: string
}

/** Generate load from a second process; latencies in milliseconds. */
export async function load(o: LoadOptions): Promise<LoadResult> {
  const connections = o.connections ?? 64
  const duration = o.durationSec ?? 10
  if (wrk) {
    const dir = mkdtempSync(join(REPO, '.tmp-bench-'))
    try {
      const script = join(dir, 'req.lua')
      const headerLines = Object.entries(o.headers ?? {}).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`)
      writeFileSync(
        script,
        [`wrk.method = ${JSON.stringify(o.method ?? 'GET')}`, ...(o.body ? [`wrk.body = ${JSON.stringify(o.body)}`] : []), ...headerLines,
          'done = function(summary, latency, requests)',
          '  io.write(string.format("JSON {\\"requests\\":%d,\\"errors\\":%d,\\"p50\\":%f,\\"p99\\":%f,\\"duration\\":%d,\\"non2xx\\":%d}\\n", summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, latency:percentile(50)/1000, latency:percentile(99)/1000, summary.duration, summary.errors.status))',
          'end'].join('\n'),
      )
      const p = Bun.spawnSync(pinned(o.cpu ?? 1, [wrk, '-t1', `-c${connections}`, `-d${duration}s`, '-s', script, o.url]), { stdout: 'pipe', stderr: 'pipe' })
      const out = p.stdout.toString()
      const m = /JSON (\{.*\})/.exec(out)
      if (!m) throw new Error(`wrk failed: ${out}${p.stderr.toString()}`)
      const r = JSON.parse(m[1]!) as { requests: number; errors: number; p50: number; p99: number; duration: number; non2xx: number }
      return { rps: r.requests / (r.duration / 1e6), p50: r.p50, p99: r.p99, requests: r.requests, errors: r.errors + r.non2xx, tool: 'wrk' }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
  const bin = join(REPO, 'node_modules/autocannon/autocannon.js')
  if (!existsSync(bin)) throw new Error('neither wrk nor autocannon is available (apt-get install wrk, or bun install)')
  const args = ['node', bin, '-j', '-c', String(connections), '-d', String(duration), '-m', o.method ?? 'GET']
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}=${v}`)
  if (o.body) args.push('-b', o.body)
  args.push(o.url)
  const p = Bun.spawnSync(pinned(o.cpu ?? 1, args), { stdout: 'pipe', stderr: 'pipe' })
  const r = JSON.parse(p.stdout.toString()) as { requests: { average: number; total: number }; latency: { p50: number; p99: number }; errors: number; non2xx: number }
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total, errors: r.errors + r.non2xx, tool: 'autocannon' }
}

export function printTable(title: string, rows: Record<string, string | number>[]): void {
  const cols = Object.keys(rows[0] ?? {})
  const fmt = (v: string | number) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : v)
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => fmt(r[c] ?? '').length)))
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  console.log(`\n${title}\n`)
  console.log(line(cols))
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
  for (const r of rows) console.log(line(cols.map((c) => fmt(r[c] ?? ''))))
  console.log()
}

export function scratch(): { dir: string; write(name: string, text: string): string; remove(): void } {
  mkdirSync(join(REPO, '.tmp'), { recursive: true })
  const dir = mkdtempSync(join(REPO, '.tmp', 'bench-'))
  return {
    dir,
    write: (name, text) => {
      const p = join(dir, name)
      writeFileSync(p, text)
      return p
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}

/** `--duration <s>` (default 10), `--connections <n>` (default 64) and `--rounds <n>` (default 3), the options every benchmark takes. */
export function benchOptions(extra: Record<string, { type: 'string'; default?: string }> = {}) {
  const { values } = parseArgs({
    options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '64' }, rounds: { type: 'string', default: '3' }, ...extra },
  })
  return {
    durationSec: Number(values.duration),
    connections: Number(values.connections),
    rounds: Math.max(1, Number(values.rounds)),
    values: values as Record<string, string | undefined>,
  }
}

/** A table row: what a load run measured. */
export function row(target: string, r: LoadResult): Record<string, string | number> {
  return { target, 'req/s': Math.round(r.rps), 'p50 ms': r.p50, 'p99 ms': r.p99, errors: r.errors, tool: r.tool }
}

/**
 * A bare Bun.serve, pinned like the server under test: the ceiling. `mode: 'form'` reads a form body and answers
 * JSON (bench/lib/bare-server.ts), the floor of a POST endpoint; the default answers a GET with a hello world.
 */
export function startBare(port = 45499, mode: 'hello' | 'form' = 'hello'): Promise<ServerHandle> {
  return startServer(['bun', 'bench/lib/bare-server.ts'], { env: { PORT: String(port), MODE: mode }, ready: `http://127.0.0.1:${port}/` })
}

export interface Target {
  name: string
  url: string
  method?: string
  headers?: Record<string, string>
  body?: string
}

/**
 * Load each target in turn, `rounds` times, interleaved (a, b, a, b, …), so that a slow spell of the machine
 * touches every target alike, after an unmeasured warm-up run of each; one row per target with its median
 * round (req/s, p50, p99) and the spread.
 */
export async function measureRounds(
  targets: Target[],
  o: { durationSec: number; connections: number; rounds: number; warmupSec?: number },
): Promise<Record<string, string | number>[]> {
  // an unmeasured run first: the JIT compiles the hot path in its top tiers only after a few seconds of load
  for (const t of targets) await load({ url: t.url, method: t.method, headers: t.headers, body: t.body, durationSec: o.warmupSec ?? 5, connections: o.connections })
  const runs = new Map<string, LoadResult[]>(targets.map((t) => [t.name, []]))
  for (let i = 0; i < o.rounds; i++) {
    for (const t of targets) {
      const r = await load({ url: t.url, method: t.method, headers: t.headers, body: t.body, durationSec: o.durationSec, connections: o.connections })
      if (process.env.BENCH_VERBOSE) console.error(`round ${i + 1}: ${t.name}: ${Math.round(r.rps)} req/s`)
      runs.get(t.name)!.push(r)
    }
  }
  return targets.map((t) => {
    const rs = runs.get(t.name)!.toSorted((a, b) => a.rps - b.rps)
    const median = rs[Math.floor(rs.length / 2)]!
    return {
      ...row(t.name, median),
      errors: rs.reduce((n, r) => n + r.errors, 0),
      'req/s range': rs.length > 1 ? `${Math.round(rs[0]!.rps)}–${Math.round(rs.at(-1)!.rps)}` : '—',
    }
  })
}

/** Add a "% of bare" column: each row's req/s against the first row's. */
export function percentOfFirst(rows: Record<string, string | number>[]): void {
  const base = Number(rows[0]?.['req/s'])
  for (const r of rows) r['% of bare'] = `${Math.round((Number(r['req/s']) / base) * 100)}%`
}

/**
 * Baseline: the kernel's request path (request context, routing, logging at
 * warn) on /health/alive and /version, against a bare Bun.serve hello world.
 *
 *   bun bench/health.ts [--duration 10] [--connections 64]
 */
import { benchOptions, load, measureBare, printTable, scratch, startServer } from './lib/harness.ts'

const { durationSec, connections } = benchOptions()

const s = scratch()
const PUBLIC = 45433
const BARE = 45499
try {
  const config = s.write('bench.yaml', `dsn: "sqlite://${s.dir}/bench.sqlite"\nserve:\n  public: { host: 127.0.0.1, port: ${PUBLIC} }\n  admin: { enabled: false }\nmigrations: { auto: true }\n`)
  const rows: Record<string, string | number>[] = [await measureBare({ durationSec, connections, port: BARE })]
  const server = await startServer(['bun', 'bin/tessera.ts', 'serve', '--config', config, '--dev'], { ready: `http://127.0.0.1:${PUBLIC}/health/alive` })
  try {
    for (const path of ['/health/alive', '/version']) {
      const r = await load({ url: `${server.url}${path}`, durationSec, connections })
      rows.push({ target: `tessera ${path}`, 'req/s': Math.round(r.rps), 'p50 ms': r.p50, 'p99 ms': r.p99, errors: r.errors, tool: r.tool })
    }
  } finally {
    await server.stop()
  }
  const base = Number(rows[0]!['req/s'])
  for (const r of rows) r['% of bare'] = `${Math.round((Number(r['req/s']) / base) * 100)}%`
  printTable(`kernel request path, server pinned to one core, ${connections} connections, ${durationSec}s each`, rows)
} finally {
  s.remove()
}

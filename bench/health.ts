/**
 * Baseline: the kernel's request path (request context, routing, logging at
 * warn) on /health/alive and /version, against a bare Bun.serve hello world.
 *
 *   bun bench/health.ts [--duration 10] [--connections 64] [--rounds 3]
 */
import { benchOptions, measureRounds, percentOfFirst, printTable, scratch, startBare, startServer } from './lib/harness.ts'

const { durationSec, connections, rounds } = benchOptions()

const s = scratch()
const PUBLIC = 45433
const BARE = 45499
try {
  const config = s.write('bench.yaml', `dsn: "sqlite://${s.dir}/bench.sqlite"\nserve:\n  public: { host: 127.0.0.1, port: ${PUBLIC} }\n  admin: { enabled: false }\nmigrations: { auto: true }\n`)
  // both servers run for the whole benchmark (pinned to the same core; the idle one costs nothing) and the
  // rounds alternate between them, so a slow spell of the machine touches both alike
  const bare = await startBare(BARE)
  const server = await startServer(['bun', 'bin/tessera.ts', 'serve', '--config', config, '--dev'], { ready: `http://127.0.0.1:${PUBLIC}/health/alive` })
  try {
    const rows = await measureRounds(
      [
        { name: 'bare Bun.serve', url: `${bare.url}/` },
        { name: 'tessera /health/alive', url: `${server.url}/health/alive` },
        { name: 'tessera /version', url: `${server.url}/version` },
      ],
      { durationSec, connections, rounds },
    )
    percentOfFirst(rows)
    printTable(`kernel request path, servers pinned to one core, ${connections} connections, ${durationSec}s × ${rounds} interleaved rounds (median)`, rows)
  } finally {
    await server.stop()
    await bare.stop()
  }
} finally {
  s.remove()
}

/**
 * whoami, the hottest path: GET /sessions/whoami with a session token, one
 * indexed lookup (sessions ⋈ identities on (nid, token_hash)). Server pinned to
 * one core, load from a second process (wrk, else autocannon). Targets (issue 3):
 * ≥ 15k req/s on SQLite, ≥ 5k on PostgreSQL.
 *
 *   bun bench/whoami.ts [--duration 10] [--connections 64] [--rounds 3] [--postgres postgres://…]
 *
 * PostgreSQL runs when --postgres (or TESSERA_BENCH_POSTGRES_URL) names a database;
 * the benchmark creates and drops its own schema there.
 */
import postgres from 'postgres'
import schema from '../schemas/identity.default.json'
import { benchOptions, measureRounds, printTable, scratch, startServer } from './lib/harness.ts'

const { durationSec, connections, rounds, values } = benchOptions({ postgres: { type: 'string' } })
const pgUrl = values.postgres ?? process.env.TESSERA_BENCH_POSTGRES_URL

const s = scratch()
const PUBLIC = 45533

function configFor(dsn: string): string {
  const plugins = [
    { use: 'identity', options: { schemas: [{ id: 'default', schema }] } },
    { use: 'password', options: { hasher: { memoryCost: 1024, timeCost: 1 }, breachCheck: { enabled: false } } },
  ]
  return JSON.stringify({ dsn, serve: { public: { host: '127.0.0.1', port: PUBLIC }, admin: { enabled: false } }, migrations: { auto: true }, plugins }, null, 2)
}

async function sessionToken(base: string): Promise<string> {
  const flow = await (await fetch(`${base}/self-service/registration/api`)).json()
  const res = await fetch(`${base}/self-service/registration?flow=${flow.id}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ method: 'password', password: 'bench mark pass phrase', traits: { email: `bench-${crypto.randomUUID()}@example.com` } }),
  })
  const body = await res.json()
  if (!body.session_token) throw new Error(`registration failed: ${JSON.stringify(body)}`)
  return body.session_token
}

async function run(label: string, dsn: string, rows: Record<string, string | number>[]) {
  const config = s.write(`whoami-${label}.json`, configFor(dsn))
  // BENCH_PROFILE=<dir> writes a CPU profile of the server (markdown) there when it exits
  const bun = process.env.BENCH_PROFILE ? ['bun', '--cpu-prof-md', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : ['bun']
  const server = await startServer([...bun, 'bin/tessera.ts', 'serve', '--config', config, '--dev', '--migrate'], { ready: `http://127.0.0.1:${PUBLIC}/health/ready` })
  try {
    const token = await sessionToken(server.url)
    // Some sessions of other identities, so the lookup is not against a one-row table.
    for (let i = 0; i < 50; i++) await sessionToken(server.url)
    const check = await fetch(`${server.url}/sessions/whoami`, { headers: { 'x-session-token': token } })
    if (check.status !== 200) throw new Error(`whoami answered ${check.status}`)
    const [m] = await measureRounds([{ name: label, url: `${server.url}/sessions/whoami`, headers: { 'X-Session-Token': token } }], { durationSec, connections, rounds })
    const { target: _, ...rest } = m!
    rows.push({ database: label, ...rest, target: label === 'sqlite' ? '≥ 15000' : '≥ 5000' })
  } finally {
    await server.stop()
  }
}

try {
  const rows: Record<string, string | number>[] = []
  await run('sqlite', `sqlite://${s.dir}/whoami.sqlite`, rows)
  if (pgUrl) {
    const name = `bench_${crypto.randomUUID().replaceAll('-', '').slice(0, 10)}`
    const admin = postgres(pgUrl, { max: 1, onnotice: () => {} })
    await admin.unsafe(`CREATE SCHEMA "${name}"`)
    try {
      const u = new URL(pgUrl)
      u.searchParams.set('search_path', name)
      await run('postgres', u.toString(), rows)
    } finally {
      await admin.unsafe(`DROP SCHEMA IF EXISTS "${name}" CASCADE`)
      await admin.end()
    }
  } else {
    console.log('[skipped] PostgreSQL: pass --postgres postgres://… (or TESSERA_BENCH_POSTGRES_URL)')
  }
  printTable(`GET /sessions/whoami (X-Session-Token), server pinned to one core, ${connections} connections, ${durationSec}s × ${rounds} rounds after a warm-up (median)`, rows)
} finally {
  s.remove()
}

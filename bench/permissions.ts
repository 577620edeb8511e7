/**
 * Permission checks over HTTP: a depth-3 check (Doc#view -> viewers -> Group#members -> Group#members)
 * and a direct check, over generated tuples, on SQLite (and PostgreSQL with --postgres).
 *
 *   bun bench/permissions.ts [--tuples 1000000] [--duration 10] [--connections 64] [--rounds 3] [--postgres postgres://…]
 *
 * BENCH_PROFILE=<dir> writes a CPU profile of the server under load. Targets (issue 4): >= 15k checks/s on SQLite with p99 <= 5 ms; >= 5k checks/s on PostgreSQL.
 */
import { Database } from 'bun:sqlite'
import postgres from 'postgres'
import { REPO, benchOptions, measureRounds, printTable, scratch, startBare, startServer } from './lib/harness.ts'

const { durationSec, connections, rounds, values } = benchOptions({ tuples: { type: 'string', default: '1000000' }, postgres: { type: 'string' } })
const total = Number(values.tuples)

const OPL = `
class User implements Namespace {}
class Group implements Namespace { related: { members: (User | SubjectSet<Group, "members">)[] } }
class Doc implements Namespace {
  related: { viewers: (User | SubjectSet<Group, "members">)[] }
  permits = { view: (ctx: Context): boolean => this.related.viewers.includes(ctx.subject) }
}`

/**
 * The data: users u0…, groups in pairs (team tN has member user uN; org oN has member team tN#members),
 * docs dN viewable by org oN#members, plus filler direct tuples up to `total`.
 * So `Doc:dK#view@uK` is a depth-3 check, `Group:tK#members@uK` a direct one.
 */
function* rows(n: number): Generator<[string, string, string, string, string, string, string]> {
  const chains = Math.max(1, Math.floor(n / 6))
  for (let i = 0; i < chains; i++) {
    yield ['Group', `t${i}`, 'members', `u${i}`, '', '', '']
    yield ['Group', `o${i}`, 'members', '', 'Group', `t${i}`, 'members']
    yield ['Doc', `d${i}`, 'viewers', '', 'Group', `o${i}`, 'members']
  }
  for (let i = 0; i < n - chains * 3; i++) yield ['Doc', `f${i % chains}`, 'viewers', `u${i}`, '', '', '']
}

async function seedSqlite(file: string) {
  const db = new Database(file)
  db.exec('PRAGMA journal_mode = WAL')
  const ins = db.prepare(
    "INSERT OR IGNORE INTO permission_tuples (nid, namespace, object, relation, sid, ss_ns, ss_obj, ss_rel, created_at) VALUES ('default', ?, ?, ?, ?, ?, ?, ?, ?)",
  )
  const now = new Date().toISOString()
  db.transaction(() => {
    for (const r of rows(total)) ins.run(...r, now)
  })()
  db.exec('ANALYZE')
  db.close()
}

async function seedPostgres(url: string) {
  // the DSN may carry Tessera's own parameters (max_conns): postgres.js would send them to the server
  const u = new URL(url)
  u.searchParams.delete('max_conns')
  const sql = postgres(u.toString(), { max: 1, onnotice: () => {} })
  let batch: Record<string, string>[] = []
  const flush = async () => {
    if (batch.length) await sql`INSERT INTO permission_tuples ${sql(batch)} ON CONFLICT DO NOTHING`
    batch = []
  }
  for (const [namespace, object, relation, sid, ss_ns, ss_obj, ss_rel] of rows(total)) {
    batch.push({ nid: 'default', namespace, object, relation, sid, ss_ns, ss_obj, ss_rel, created_at: new Date().toISOString() })
    if (batch.length === 5000) await flush()
  }
  await flush()
  await sql`ANALYZE permission_tuples`
  await sql.end()
}

const s = scratch()
const ADMIN = 47534
const chains = Math.max(1, Math.floor(total / 6))
const k = Math.floor(chains / 2)
const checks = [
  { name: 'depth 3 (allowed)', q: `namespace=Doc&object=d${k}&relation=view&subject_id=u${k}` },
  { name: 'depth 3 (denied)', q: `namespace=Doc&object=d${k}&relation=view&subject_id=u${k + 1}` },
  { name: 'direct (allowed)', q: `namespace=Group&object=t${k}&relation=members&subject_id=u${k}` },
]
const targets: { name: string; dsn: string; seed: () => Promise<void> }[] = [
  { name: 'sqlite', dsn: `sqlite://${s.dir}/bench.sqlite`, seed: () => seedSqlite(`${s.dir}/bench.sqlite`) },
]
if (values.postgres) targets.push({ name: 'postgres', dsn: values.postgres, seed: () => seedPostgres(values.postgres!) })

// A bare Bun.serve hello world, measured in the rounds of the first driver: how fast this machine is today
// (the targets are absolute numbers; this row says what they meant on the machine that ran them).
const bare = await startBare()
try {
  const rowsOut: Record<string, string | number>[] = []
  const referenceRows: Record<string, string | number>[] = []
  for (const [ti, t] of targets.entries()) {
    const config = s.write(
      `bench-${t.name}.config.ts`,
      `import { defineConfig } from '${REPO}/core/index.ts'
import { permissions } from '${REPO}/plugins/permissions/index.ts'
export default defineConfig({
  dsn: ${JSON.stringify(t.dsn)},
  serve: { public: { host: '127.0.0.1', port: ${ADMIN + 1} }, admin: { host: '127.0.0.1', port: ${ADMIN} } },
  migrations: { auto: true },
  plugins: [permissions({ namespaces: ${JSON.stringify(OPL)} })],
})
`,
    )
    const cmd = ['bun', 'bin/tessera.ts', 'serve', '--config', config, '--dev', '--migrate']
    // BENCH_PROFILE=<dir> writes a CPU profile of the measured server (markdown) there when it exits
    const profiled = process.env.BENCH_PROFILE ? ['bun', '--cpu-prof-md', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`, ...cmd.slice(1)] : cmd
    // first start migrates; seed; then serve for the measurement
    let server = await startServer(cmd, { ready: `http://127.0.0.1:${ADMIN}/health/alive` })
    await server.stop()
    const t0 = performance.now()
    await t.seed()
    const seedSec = ((performance.now() - t0) / 1000).toFixed(1)
    server = await startServer(profiled, { ready: `http://127.0.0.1:${ADMIN}/health/alive` })
    try {
      const url = (q: string) => `${server.url}/relation-tuples/check/openapi?${q}`
      const answers = await Promise.all(checks.map((c) => fetch(url(c.q)).then((r) => r.text())))
      const reference = ti === 0 ? [{ name: 'bare Bun.serve (machine reference)', url: `${bare.url}/` }] : []
      const measured = await measureRounds(
        [...checks.map((c) => ({ name: c.name, url: url(c.q) })), ...reference],
        { durationSec, connections, rounds },
      )
      for (const [i, m] of measured.entries()) {
        if (i >= checks.length) {
          referenceRows.push({ driver: '—', check: String(m.target), answer: '—', 'checks/s': `${m['req/s']} req/s`, 'p50 ms': m['p50 ms']!, 'p99 ms': m['p99 ms']!, 'checks/s range': m['req/s range']!, errors: m.errors!, 'seed s': '—', tool: m.tool! })
          continue
        }
        rowsOut.push({
          driver: t.name,
          check: String(m.target),
          answer: answers[i]!,
          'checks/s': m['req/s']!,
          'p50 ms': m['p50 ms']!,
          'p99 ms': m['p99 ms']!,
          'checks/s range': m['req/s range']!,
          errors: m.errors!,
          'seed s': seedSec,
          tool: m.tool!,
        })
      }
    } finally {
      await server.stop()
    }
  }
  rowsOut.push(...referenceRows)
  printTable(`permission checks over HTTP, ${total} tuples, server pinned to one core, ${connections} connections, ${durationSec}s × ${rounds} interleaved rounds (median)`, rowsOut)
} finally {
  await bare.stop()
  s.remove()
}

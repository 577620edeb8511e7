/**
 * The oauth2 plugin's hot paths against panva's oidc-provider, in the same run: `client_credentials` token
 * issuance (client_secret_basic, opaque access tokens) and introspection of one opaque token. Each server runs
 * in its own process pinned to one core and is loaded from a second process (wrk, else autocannon); the
 * targets are measured in interleaved rounds. Targets (issue 12), on SQLite: token issuance ≥ 4× oidc-provider's
 * rate, introspection ≥ 6×. Two bare Bun.serve rows say how fast the machine was: a GET hello world, and a POST
 * that reads a form body and answers JSON (the least an introspection endpoint does on Bun).
 *
 *   bun bench/oauth2.ts [--duration 10] [--connections 64] [--rounds 3] [--postgres postgres://…] [--oidc-runtime both|node|bun]
 *
 * oidc-provider (bench/lib/oidc-provider-server.ts) runs with its in-memory adapter under Node.js, the runtime
 * it supports (≥ 22), and under Bun, where it runs but warns that the runtime is unsupported; `both` (the
 * default) measures it under each. When the `node` on PATH is older than 22, the script installs Node.js 22
 * from the npm registry (the `node` package) into .tmp/bench-node once; when that fails, the Node rows are
 * skipped with the reason. Tessera runs `tessera serve` with the oauth2 plugin and one confidential client; its
 * rate limiter stays on, with a per-client rate above what one core can issue. With --postgres (or
 * TESSERA_BENCH_POSTGRES_URL) Tessera is also measured on PostgreSQL, in a schema it creates and drops.
 * BENCH_PROFILE=<dir> writes a CPU profile (markdown) of each Tessera server there when it exits.
 */
import postgres from 'postgres'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { REPO, type Target, benchOptions, measureRounds, printTable, scratch, startBare, startServer } from './lib/harness.ts'

const { durationSec, connections, rounds, values } = benchOptions({ postgres: { type: 'string' }, 'oidc-runtime': { type: 'string', default: 'both' } })
const pgUrl = values.postgres ?? process.env.TESSERA_BENCH_POSTGRES_URL
const runtimeOption = values['oidc-runtime']
if (!['both', 'node', 'bun'].includes(runtimeOption ?? '')) {
  console.error(`--oidc-runtime: expected both, node or bun, received ${JSON.stringify(runtimeOption)}`)
  process.exit(2)
}
type Runtime = 'node' | 'bun'

const s = scratch()
const TESSERA = { public: 45641, admin: 45642 }
const OIDC: Record<Runtime, number> = { bun: 45643, node: 45644 }
const BARE = { hello: 45499, form: 45498 }
const OIDC_CLIENT = { id: 'bench', secret: `bench-${crypto.randomUUID()}` }
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

function tesseraConfig(name: string, dsn: string): string {
  return s.write(
    `oauth2-${name}.config.ts`,
    `import { defineConfig } from '${REPO}/core/index.ts'
import { oauth2 } from '${REPO}/plugins/oauth2/index.ts'
export default defineConfig({
  dsn: ${JSON.stringify(dsn)},
  serve: { public: { host: '127.0.0.1', port: ${TESSERA.public}, baseUrl: 'http://127.0.0.1:${TESSERA.public}' }, admin: { host: '127.0.0.1', port: ${TESSERA.admin} } },
  migrations: { auto: true },
  plugins: [oauth2({ lifespans: { accessToken: 3600 }, rateLimit: { enabled: true, perSecond: 10_000_000, burst: 10_000_000 } })],
})
`,
  )
}

/** A client_credentials token from `base`'s token endpoint, checking that the endpoint answers as expected. */
async function issue(url: string, auth: string): Promise<string> {
  const res = await fetch(url, { method: 'POST', headers: { ...FORM, authorization: auth }, body: 'grant_type=client_credentials&scope=read' })
  const body = (await res.json()) as { access_token?: string }
  if (res.status !== 200 || !body.access_token) throw new Error(`${url} answered ${res.status}: ${JSON.stringify(body)}`)
  return body.access_token
}

async function checkActive(url: string, headers: Record<string, string>, body: string): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers, body })
  const json = (await res.json()) as { active?: boolean }
  if (res.status !== 200 || json.active !== true) throw new Error(`${url} answered ${res.status}: ${JSON.stringify(json)}`)
}

/** Tessera's two targets on `dsn`: start, create the client, issue the token to introspect. */
async function tesseraTargets(name: string, dsn: string) {
  const cmd = ['bun', 'bin/tessera.ts', 'serve', '--config', tesseraConfig(name, dsn), '--dev', '--migrate']
  const profiled = process.env.BENCH_PROFILE ? ['bun', '--cpu-prof-md', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`, ...cmd.slice(1)] : cmd
  const server = await startServer(profiled, { ready: `http://127.0.0.1:${TESSERA.admin}/health/alive` })
  try {
    return { server, targets: await prepareTessera(name) }
  } catch (e) {
    await server.stop()
    throw e
  }
}

async function prepareTessera(name: string): Promise<Target[]> {
  const admin = `http://127.0.0.1:${TESSERA.admin}`
  const created = await fetch(`${admin}/admin/clients`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'bench', grant_types: ['client_credentials'], response_types: [], scope: 'read write', token_endpoint_auth_method: 'client_secret_basic' }),
  })
  const client = (await created.json()) as { client_id: string; client_secret: string }
  if (created.status !== 201) throw new Error(`creating the client answered ${created.status}: ${JSON.stringify(client)}`)
  const auth = basic(client.client_id, client.client_secret)
  const tokenUrl = `http://127.0.0.1:${TESSERA.public}/oauth2/token`
  const token = await issue(tokenUrl, auth)
  const introspectUrl = `${admin}/admin/oauth2/introspect`
  const introspectBody = `token=${encodeURIComponent(token)}`
  await checkActive(introspectUrl, FORM, introspectBody)
  return [
    { name: `tessera (${name}): token`, url: tokenUrl, method: 'POST', headers: { ...FORM, authorization: auth }, body: 'grant_type=client_credentials&scope=read' },
    { name: `tessera (${name}): introspect`, url: introspectUrl, method: 'POST', headers: FORM, body: introspectBody },
  ]
}

/** The major version a `node` binary reports, or 0 when it does not run. */
function nodeMajor(bin: string): number {
  try {
    const out = Bun.spawnSync([bin, '--version'], { stdout: 'pipe', stderr: 'ignore' })
    return out.exitCode === 0 ? Number(/^v(\d+)/.exec(out.stdout.toString())?.[1] ?? 0) : 0
  } catch {
    return 0
  }
}

/** A Node.js ≥ 22 to run oidc-provider on: the one on PATH, else Node.js 22 from the npm registry in .tmp/bench-node. */
function nodeBinary(): { bin: string } | { skipped: string } {
  const onPath = Bun.which('node')
  if (onPath && nodeMajor(onPath) >= 22) return { bin: onPath }
  const prefix = join(REPO, '.tmp', 'bench-node')
  const local = join(prefix, 'node_modules', '.bin', 'node')
  if (!existsSync(local) || nodeMajor(local) < 22) {
    console.log(`oidc-provider needs Node.js ≥ 22 (PATH has ${onPath ? `v${nodeMajor(onPath)}` : 'none'}): installing node@22 from the npm registry into .tmp/bench-node`)
    const npm = Bun.which('npm')
    if (!npm) return { skipped: 'no npm to install Node.js 22 with' }
    const done = Bun.spawnSync([npm, 'install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', 'node@22'], { stdout: 'ignore', stderr: 'pipe' })
    if (done.exitCode !== 0 || nodeMajor(local) < 22) return { skipped: `installing node@22 failed: ${done.stderr.toString().trim().split('\n').at(-1) ?? ''}` }
  }
  return { bin: local }
}

async function oidcTargets(runtime: Runtime, nodeBin?: string) {
  const script = 'bench/lib/oidc-provider-server.ts'
  const cmd = runtime === 'node' ? [nodeBin ?? 'node', '--experimental-strip-types', '--no-warnings', script] : ['bun', script]
  const port = OIDC[runtime]
  const server = await startServer(cmd, {
    env: { PORT: String(port), CLIENT_ID: OIDC_CLIENT.id, CLIENT_SECRET: OIDC_CLIENT.secret, NODE_ENV: 'production' },
    ready: `http://127.0.0.1:${port}/.well-known/openid-configuration`,
  })
  try {
    return { server, targets: await prepareOidc(server.url, runtime) }
  } catch (e) {
    await server.stop()
    throw e
  }
}

async function prepareOidc(base: string, runtime: Runtime): Promise<Target[]> {
  const auth = basic(OIDC_CLIENT.id, OIDC_CLIENT.secret)
  const tokenUrl = `${base}/token`
  const token = await issue(tokenUrl, auth)
  const introspectUrl = `${base}/token/introspection`
  const introspectBody = `token=${encodeURIComponent(token)}`
  // oidc-provider requires the client to authenticate at its introspection endpoint (the same Basic credential)
  await checkActive(introspectUrl, { ...FORM, authorization: auth }, introspectBody)
  return [
    { name: `oidc-provider (${runtime}): token`, url: tokenUrl, method: 'POST', headers: { ...FORM, authorization: auth }, body: 'grant_type=client_credentials&scope=read' },
    { name: `oidc-provider (${runtime}): introspect`, url: introspectUrl, method: 'POST', headers: { ...FORM, authorization: auth }, body: introspectBody },
  ]
}

const rate = (r: Record<string, string | number> | undefined) => Number(r?.['req/s'] ?? NaN)
const ratio = (a: Record<string, string | number> | undefined, b: Record<string, string | number> | undefined, target: number) =>
  `${(rate(a) / rate(b)).toFixed(1)}× (target ≥ ${target}×)`

const runtimes: Runtime[] = runtimeOption === 'both' ? ['node', 'bun'] : [runtimeOption as Runtime]
let nodeBin: string | undefined
if (runtimes.includes('node')) {
  const found = nodeBinary()
  if ('bin' in found) nodeBin = found.bin
  else {
    console.log(`[skipped] oidc-provider under Node.js: ${found.skipped}`)
    runtimes.splice(runtimes.indexOf('node'), 1)
  }
}
if (runtimes.length === 0) {
  console.error('no runtime left to run oidc-provider on')
  process.exit(1)
}

const stops: (() => Promise<void>)[] = []
try {
  const bare = await startBare(BARE.hello, 'hello')
  stops.push(() => bare.stop())
  const bareForm = await startBare(BARE.form, 'form')
  stops.push(() => bareForm.stop())
  // SQLite: Tessera and oidc-provider (each runtime) all up, their targets interleaved with the machine's bare references
  const oidc: Partial<Record<Runtime, Target[]>> = {}
  for (const runtime of runtimes) {
    const o = await oidcTargets(runtime, nodeBin)
    stops.push(() => o.server.stop())
    oidc[runtime] = o.targets
  }
  const tessera = await tesseraTargets('sqlite', `sqlite://${s.dir}/oauth2.sqlite`)
  const references: Target[] = [
    { name: 'bare Bun.serve: GET hello world (machine reference)', url: `${bare.url}/` },
    { name: 'bare Bun.serve: POST, read the form, answer JSON', url: `${bareForm.url}/`, method: 'POST', headers: FORM, body: tessera.targets[1]!.body },
  ]
  let sqliteRows: Record<string, string | number>[]
  try {
    sqliteRows = await measureRounds([...tessera.targets, ...runtimes.flatMap((r) => oidc[r]!), ...references], { durationSec, connections, rounds })
  } finally {
    await tessera.server.stop()
  }
  const [tToken, tIntro] = sqliteRows
  const byName = (name: string) => sqliteRows.find((r) => r.target === name)
  const out: Record<string, string | number>[] = [tToken!, tIntro!]
  for (const runtime of runtimes) {
    const oToken = byName(`oidc-provider (${runtime}): token`)
    const oIntro = byName(`oidc-provider (${runtime}): introspect`)
    tToken![`vs oidc-provider (${runtime})`] = ratio(tToken, oToken, 4)
    tIntro![`vs oidc-provider (${runtime})`] = ratio(tIntro, oIntro, 6)
    out.push(oToken!, oIntro!)
  }

  if (pgUrl) {
    const schema = `bench_${crypto.randomUUID().replaceAll('-', '').slice(0, 10)}`
    const adminSql = postgres(pgUrl, { max: 1, onnotice: () => {} })
    await adminSql.unsafe(`CREATE SCHEMA "${schema}"`)
    try {
      const u = new URL(pgUrl)
      u.searchParams.set('search_path', schema)
      const pg = await tesseraTargets('postgres', u.toString())
      try {
        const pgRows = await measureRounds(pg.targets, { durationSec, connections, rounds })
        for (const runtime of runtimes) {
          pgRows[0]![`vs oidc-provider (${runtime})`] = `${(rate(pgRows[0]) / rate(byName(`oidc-provider (${runtime}): token`))).toFixed(1)}× (its rate in the SQLite rounds)`
          pgRows[1]![`vs oidc-provider (${runtime})`] = `${(rate(pgRows[1]) / rate(byName(`oidc-provider (${runtime}): introspect`))).toFixed(1)}× (its rate in the SQLite rounds)`
        }
        out.push(...pgRows)
      } finally {
        await pg.server.stop()
      }
    } finally {
      await adminSql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await adminSql.end()
    }
  } else {
    console.log('[skipped] PostgreSQL: pass --postgres postgres://… (or TESSERA_BENCH_POSTGRES_URL)')
  }
  out.push(...sqliteRows.slice(-2))
  printTable(
    `oauth2: client_credentials (client_secret_basic, opaque) and introspection of an opaque token; servers pinned to one core, ${connections} connections, ${durationSec}s × ${rounds} interleaved rounds (median)`,
    out,
  )
} finally {
  for (const stop of stops.reverse()) await stop()
  s.remove()
}

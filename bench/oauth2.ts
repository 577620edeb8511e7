/**
 * The oauth2 plugin's hot paths against panva's oidc-provider, in the same run: `client_credentials` token
 * issuance (client_secret_basic, opaque access tokens) and introspection of one opaque token. Each server runs
 * in its own process pinned to one core and is loaded from a second process (wrk, else autocannon); the
 * targets are measured in interleaved rounds. Targets (issue 12), on SQLite: token issuance ≥ 4× oidc-provider's
 * rate, introspection ≥ 6×. A bare Bun.serve row says how fast the machine was.
 *
 *   bun bench/oauth2.ts [--duration 10] [--connections 64] [--rounds 3] [--postgres postgres://…]
 *
 * oidc-provider (bench/lib/oidc-provider-server.ts) runs under Bun (`--oidc-runtime node` runs it under Node
 * instead), with its in-memory adapter. Tessera runs `tessera serve` with the oauth2 plugin and one confidential
 * client; its rate limiter stays on, with a per-client rate above what one core can issue. With --postgres (or
 * TESSERA_BENCH_POSTGRES_URL) Tessera is also measured on PostgreSQL, in a schema it creates and drops.
 * BENCH_PROFILE=<dir> writes a CPU profile (markdown) of each Tessera server there when it exits.
 */
import postgres from 'postgres'
import { REPO, type Target, benchOptions, measureRounds, printTable, scratch, startBare, startServer } from './lib/harness.ts'

const { durationSec, connections, rounds, values } = benchOptions({ postgres: { type: 'string' }, 'oidc-runtime': { type: 'string', default: 'bun' } })
const pgUrl = values.postgres ?? process.env.TESSERA_BENCH_POSTGRES_URL
const oidcRuntime = values['oidc-runtime'] === 'node' ? 'node' : 'bun'

const s = scratch()
const TESSERA = { public: 45641, admin: 45642 }
const OIDC = 45643
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

async function oidcTargets() {
  const script = 'bench/lib/oidc-provider-server.ts'
  const cmd = oidcRuntime === 'node' ? ['node', '--experimental-strip-types', '--no-warnings', script] : ['bun', script]
  const server = await startServer(cmd, {
    env: { PORT: String(OIDC), CLIENT_ID: OIDC_CLIENT.id, CLIENT_SECRET: OIDC_CLIENT.secret, NODE_ENV: 'production' },
    ready: `http://127.0.0.1:${OIDC}/.well-known/openid-configuration`,
  })
  try {
    return { server, targets: await prepareOidc(server.url) }
  } catch (e) {
    await server.stop()
    throw e
  }
}

async function prepareOidc(base: string): Promise<Target[]> {
  const auth = basic(OIDC_CLIENT.id, OIDC_CLIENT.secret)
  const tokenUrl = `${base}/token`
  const token = await issue(tokenUrl, auth)
  const introspectUrl = `${base}/token/introspection`
  const introspectBody = `token=${encodeURIComponent(token)}`
  // oidc-provider requires the client to authenticate at its introspection endpoint (the same Basic credential)
  await checkActive(introspectUrl, { ...FORM, authorization: auth }, introspectBody)
  return [
    { name: `oidc-provider (${oidcRuntime}): token`, url: tokenUrl, method: 'POST', headers: { ...FORM, authorization: auth }, body: 'grant_type=client_credentials&scope=read' },
    { name: `oidc-provider (${oidcRuntime}): introspect`, url: introspectUrl, method: 'POST', headers: { ...FORM, authorization: auth }, body: introspectBody },
  ]
}

const rate = (r: Record<string, string | number> | undefined) => Number(r?.['req/s'] ?? NaN)

const bare = await startBare()
try {
  const out: Record<string, string | number>[] = []
  // SQLite: Tessera and oidc-provider both up, their targets interleaved with the machine's bare reference
  const oidc = await oidcTargets()
  let sqliteRows: Record<string, string | number>[]
  try {
    const tessera = await tesseraTargets('sqlite', `sqlite://${s.dir}/oauth2.sqlite`)
    try {
      sqliteRows = await measureRounds([...tessera.targets, ...oidc.targets, { name: 'bare Bun.serve (machine reference)', url: `${bare.url}/` }], { durationSec, connections, rounds })
    } finally {
      await tessera.server.stop()
    }
  } finally {
    await oidc.server.stop()
  }
  const [tToken, tIntro, oToken, oIntro, bareRow] = sqliteRows
  tToken!['vs oidc-provider'] = `${(rate(tToken) / rate(oToken)).toFixed(1)}× (target ≥ 4×)`
  tIntro!['vs oidc-provider'] = `${(rate(tIntro) / rate(oIntro)).toFixed(1)}× (target ≥ 6×)`
  out.push(tToken!, tIntro!, oToken!, oIntro!)

  if (pgUrl) {
    const schema = `bench_${crypto.randomUUID().replaceAll('-', '').slice(0, 10)}`
    const adminSql = postgres(pgUrl, { max: 1, onnotice: () => {} })
    await adminSql.unsafe(`CREATE SCHEMA "${schema}"`)
    try {
      const u = new URL(pgUrl)
      u.searchParams.set('search_path', schema)
      const tessera = await tesseraTargets('postgres', u.toString())
      try {
        const pgRows = await measureRounds(tessera.targets, { durationSec, connections, rounds })
        pgRows[0]!['vs oidc-provider'] = `${(rate(pgRows[0]) / rate(oToken)).toFixed(1)}× (its SQLite-run rate)`
        pgRows[1]!['vs oidc-provider'] = `${(rate(pgRows[1]) / rate(oIntro)).toFixed(1)}× (its SQLite-run rate)`
        out.push(...pgRows)
      } finally {
        await tessera.server.stop()
      }
    } finally {
      await adminSql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await adminSql.end()
    }
  } else {
    console.log('[skipped] PostgreSQL: pass --postgres postgres://… (or TESSERA_BENCH_POSTGRES_URL)')
  }
  out.push({ ...bareRow!, 'vs oidc-provider': '—' })
  printTable(
    `oauth2: client_credentials (client_secret_basic, opaque) and introspection of an opaque token; servers pinned to one core, ${connections} connections, ${durationSec}s × ${rounds} interleaved rounds (median)`,
    out,
  )
} finally {
  await bare.stop()
  s.remove()
}

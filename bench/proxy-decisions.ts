/**
 * The proxy's decision path: `/decisions` with the jwt authenticator (JWKS from a file,
 * verification cached), the allow authorizer and a header mutator, against a bare
 * Bun.serve hello world in the same run. Target: at least 40% of the bare server.
 *
 *   bun bench/proxy-decisions.ts [--duration 10] [--connections 64] [--rounds 3]
 */
import { SignJWT, exportJWK, generateKeyPair } from 'jose'
import { benchOptions, measureRounds, percentOfFirst, printTable, scratch, startBare, startServer } from './lib/harness.ts'

const { durationSec, connections, rounds } = benchOptions()

const s = scratch()
const ADMIN = 45434
const BARE = 45499
try {
  const { publicKey, privateKey } = await generateKeyPair('RS256')
  const jwks = s.write('jwks.json', JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'bench', alg: 'RS256', use: 'sig' }] }))
  const token = await new SignJWT({ scp: ['read'] })
    .setProtectedHeader({ alg: 'RS256', kid: 'bench' })
    .setSubject('bench-user')
    .setIssuer('https://issuer.bench/')
    .setAudience('api')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey)
  const rule = {
    id: 'bench',
    match: { url: 'http://<[^/]+>/api/<.*>', methods: ['GET'] },
    authenticators: [{ handler: 'jwt', config: { jwks_urls: [`file://${jwks}`], trusted_issuers: ['https://issuer.bench/'], target_audience: ['api'] } }],
    authorizer: { handler: 'allow' },
    mutators: [{ handler: 'header', config: { headers: { 'X-User': '{{ print .Subject }}' } } }],
  }
  const config = s.write(
    'tessera.config.json',
    JSON.stringify({
      dsn: `sqlite://${s.dir}/bench.sqlite`,
      serve: { public: { host: '127.0.0.1', port: 45433 }, admin: { host: '127.0.0.1', port: ADMIN } },
      migrations: { auto: true },
      plugins: [{ use: 'proxy', options: { rules: [rule], serve: { enabled: false } } }],
    }),
  )
  // BENCH_PROFILE=<dir> writes a CPU profile of the server (markdown) there when it exits
  const bun = process.env.BENCH_PROFILE ? ['bun', '--cpu-prof-md', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : ['bun']
  // both servers run for the whole benchmark (pinned to the same core; the idle one costs nothing) and the
  // rounds alternate between them, so a slow spell of the machine touches both alike
  const bare = await startBare(BARE)
  const server = await startServer([...bun, 'bin/tessera.ts', 'serve', '--config', config, '--dev'], { ready: `http://127.0.0.1:${ADMIN}/health/alive` })
  try {
    const probe = await fetch(`${server.url}/decisions/api/orders`, { headers: { authorization: `Bearer ${token}` } })
    if (probe.status !== 200 || probe.headers.get('x-user') !== 'bench-user' || !probe.headers.get('x-request-id')) throw new Error(`the decision endpoint answered ${probe.status}; check the rule`)
    const rows = await measureRounds(
      [
        { name: 'bare Bun.serve', url: `${bare.url}/` },
        { name: 'tessera /decisions (jwt + allow + header)', url: `${server.url}/decisions/api/orders`, headers: { authorization: `Bearer ${token}` } },
      ],
      { durationSec, connections, rounds },
    )
    percentOfFirst(rows)
    printTable(
      `proxy decisions, servers pinned to one core, ${connections} connections, ${durationSec}s × ${rounds} interleaved rounds (median; target: >= 40% of bare)`,
      rows,
    )
  } finally {
    await server.stop()
    await bare.stop()
  }
} finally {
  s.remove()
}

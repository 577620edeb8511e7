/**
 * The PostgreSQL driver when its connections are terminated under load (issue 11: "PostgreSQL connection loss"):
 * real terminations with pg_terminate_backend, as a restart or failover does. A read outside a transaction runs
 * again on a fresh connection (up to twice); what cannot be retried is a 503 (StorageUnavailableError), never a 500.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import postgres from 'postgres'
import { StorageUnavailableError } from '../core/storage/errors.ts'
import { sql } from '../core/storage/sql.ts'
import { buildListenerApp } from '../core/http/app.ts'
import type { Kernel } from '../core/kernel/kernel.ts'
import { identity } from '../plugins/identity/index.ts'
import { password } from '../plugins/password/index.ts'
import { bootKernel, call } from '../test/helpers/app.ts'
import { POSTGRES_URL, type ScratchDatabase, postgresAvailable, scratchPostgres } from '../test/helpers/databases.ts'
import { quickstartSchema } from '../test/helpers/identity.ts'

const enabled = postgresAvailable('postgres connection loss')

describe.if(enabled)('postgres driver: connections terminated under load', () => {
  let scratch: ScratchDatabase
  let killer: postgres.Sql
  let kernel: Kernel
  let token: string
  let pub: ReturnType<typeof buildListenerApp>
  /** The pool under test names itself, so that only its connections are terminated (other suites may share the database). */
  const app = `tessera_loss_${crypto.randomUUID().slice(0, 8)}`
  /** Terminate every connection of the pool under test. */
  const terminate = async () => {
    const rows = await killer.unsafe(`SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1`, [app])
    return rows.length
  }

  beforeAll(async () => {
    const url = new URL(POSTGRES_URL!)
    url.searchParams.set('application_name', app)
    scratch = await scratchPostgres('pgloss', url.toString())
    killer = postgres(POSTGRES_URL!, { max: 1, onnotice: () => {}, connection: { application_name: 'tessera-test-killer' } })
    await scratch.db.script('CREATE TABLE loss_probe (id integer PRIMARY KEY, v text)')
    await scratch.db.exec(sql`INSERT INTO loss_probe (id, v) VALUES (${1}, ${'one'})`)
    // an identity with a session, before any connection is killed (a write on a dead connection is a 503, not retried)
    kernel = await bootKernel(
      [
        identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: { uiUrl: 'http://ui.test', defaultReturnUrl: 'https://app.example.com/' } }),
        password({ hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } }),
      ],
      { database: scratch.db },
    )
    pub = buildListenerApp(kernel, 'public')
    const flow = (await call(pub, 'GET', '/self-service/registration/api')).json
    token = (await call(pub, 'POST', `/self-service/registration?flow=${flow.id}`, { body: { method: 'password', traits: { email: 'loss@example.com' }, password: 'a passphrase for the loss test' } })).json.session_token
  })
  afterAll(async () => {
    await killer?.end()
    await scratch?.drop()
  }, 20_000)

  it('answers every read while its connections are killed (run again on a fresh connection)', async () => {
    let failed = 0
    for (let round = 0; round < 5; round++) {
      const reads = Array.from({ length: 40 }, () =>
        scratch.db.one<{ v: string }>(sql`SELECT v, pg_sleep(0.01) FROM loss_probe WHERE id = ${1}`).then(
          (r) => expect(r?.v).toBe('one'),
          (e) => {
            failed++
            if (failed < 3) console.log('read failed', e)
          },
        ),
      )
      // kill the pool's connections while the reads run; if none is listed yet (after a round's kills the pool
      // reconnects, and a connection still starting is not in pg_stat_activity under its name), a little later
      await Bun.sleep(5)
      let killed = await terminate()
      for (let i = 0; i < 100 && killed === 0; i++) {
        await Bun.sleep(5)
        killed = await terminate()
      }
      expect(killed).toBeGreaterThan(0)
      await Promise.all(reads)
    }
    expect(failed).toBe(0)
  }, 60_000)

  it('does not run a write twice: a write on a killed connection is a StorageUnavailableError (503)', async () => {
    const write = scratch.db.exec(sql`INSERT INTO loss_probe (id, v) SELECT ${2}, ${'two'} FROM pg_sleep(1)`)
    // kill it while it runs (a busy machine may take a while to send it)
    for (let i = 0; i < 200; i++) {
      const [running] = await killer.unsafe(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query LIKE 'INSERT INTO loss_probe%'`, [app])
      if (running?.n) break
      await Bun.sleep(10)
    }
    await terminate()
    const e = await write.then(() => null, (x: unknown) => x)
    expect(e).toBeInstanceOf(StorageUnavailableError)
    expect((e as StorageUnavailableError).status).toBe(503)
    expect(await scratch.db.one(sql`SELECT v FROM loss_probe WHERE id = ${2}`)).toBeUndefined()
  })

  describe('whoami under load', () => {
    it('never answers 500 when the connections are terminated mid-load, and serves the reads', async () => {
      const statuses = new Map<number, number>()
      for (let round = 0; round < 5; round++) {
          const calls = Array.from({ length: 60 }, () => call(pub, 'GET', '/sessions/whoami', { headers: { 'x-session-token': token } }).then((r) => statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)))
        await Bun.sleep(2)
        await terminate()
        await Promise.all(calls)
      }
      // whoami only reads: each read whose connection died ran again on a fresh one
      expect(Object.fromEntries(statuses)).toEqual({ 200: 300 })
    }, 60_000)
  })
})

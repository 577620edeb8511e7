/**
 * Cleanup of expired self-service flows: bounded, tenant-scoped deletes; flows
 * still inside the grace period (a late submit answers 410 "flow expired") and
 * live flows stay; old self-service errors go too. The periodic sweep starts with
 * the server and stops with it.
 * On SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { sql } from 'tessera'
import { call } from '../../test/helpers/app.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { sweepExpiredFlows, sweepFlowErrors } from './index.ts'
import { boot } from '../../test/helpers/identity.ts'

const T = (tenant: string) => ({ 'x-tenant': tenant })
const tenancy = { tenancy: { default: 'default', resolve: (r: Request) => r.headers.get('x-tenant') } }
const HOUR = 3600_000

for (const driver of drivers('identitysweep')) {
  describe.skipIf(!driver.enabled)(`expired flow cleanup (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: Awaited<ReturnType<typeof boot>>
    beforeAll(async () => {
      scratch = await driver.create()
      apps = await boot(scratch.db, { identity: { cleanup: { enabled: false } }, config: tenancy })
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    const newFlow = async (tenant: string, expiresAt: Date) => {
      const r = await call(apps.public, 'GET', '/self-service/login/api', { headers: T(tenant) })
      expect(r.status).toBe(200)
      await scratch.db.exec(sql`UPDATE selfservice_flows SET expires_at = ${expiresAt} WHERE nid = ${tenant} AND id = ${r.json.id}`)
      return r.json.id as string
    }
    const remaining = async (tenant: string) =>
      (await scratch.db.query<{ id: string }>(sql`SELECT id FROM selfservice_flows WHERE nid = ${tenant} ORDER BY id`)).map((r) => r.id).sort()

    it('deletes flows expired longer than the grace period, in every tenant, in bounded batches; keeps the rest', async () => {
      const now = Date.now()
      const keep: Record<string, string[]> = { 'tenant-a': [], 'tenant-b': [] }
      for (const t of ['tenant-a', 'tenant-b']) {
        for (let i = 0; i < 5; i++) await newFlow(t, new Date(now - 2 * HOUR - i * 1000))
        keep[t]!.push(await newFlow(t, new Date(now - 10 * 60_000))) // expired, still in the grace period
        keep[t]!.push(await newFlow(t, new Date(now + HOUR))) // live
      }
      // batches of 2, at most 2 per tenant: 4 of the 5 old flows per tenant go in this run
      expect(await sweepExpiredFlows(apps.kernel.storage, { graceSeconds: 3600, batchSize: 2, maxBatches: 2 })).toBe(8)
      expect((await remaining('tenant-a')).length).toBe(3)
      expect((await remaining('tenant-b')).length).toBe(3)
      // the next run takes the last one of each tenant and stops (a short batch)
      expect(await sweepExpiredFlows(apps.kernel.storage, { graceSeconds: 3600, batchSize: 2, maxBatches: 2 })).toBe(2)
      expect(await remaining('tenant-a')).toEqual(keep['tenant-a']!.sort())
      expect(await remaining('tenant-b')).toEqual(keep['tenant-b']!.sort())
      expect(await sweepExpiredFlows(apps.kernel.storage, { graceSeconds: 3600, batchSize: 2, maxBatches: 2 })).toBe(0)
    })

    it('a flow kept for the grace period still answers 410 flow expired on submit', async () => {
      const id = await newFlow('tenant-a', new Date(Date.now() - 60_000))
      await sweepExpiredFlows(apps.kernel.storage, { graceSeconds: 3600, batchSize: 100, maxBatches: 10 })
      const r = await call(apps.public, 'POST', `/self-service/login?flow=${id}`, { headers: T('tenant-a'), body: { method: 'password', identifier: 'x@example.com', password: 'whatever it is' } })
      expect(r.status).toBe(410)
    })

    it('deletes self-service errors older than the given age, in every tenant; a newer one still reads', async () => {
      const made: Record<string, string> = {}
      for (const t of ['tenant-a', 'tenant-b']) {
        const r = await call(apps.public, 'GET', `/self-service/login/browser?return_to=${encodeURIComponent('https://evil.example.org/')}`, { headers: { ...T(t), accept: 'text/html' } })
        made[t] = new URL(r.headers.get('location')!).searchParams.get('id')!
      }
      await scratch.db.exec(sql`UPDATE selfservice_errors SET created_at = ${new Date(Date.now() - 3 * HOUR)} WHERE nid = ${'tenant-a'} AND id = ${made['tenant-a']!}`)
      expect(await sweepFlowErrors(apps.kernel.storage, 2 * 3600, { batchSize: 10, maxBatches: 10 })).toBe(1)
      expect((await call(apps.public, 'GET', `/self-service/errors?id=${made['tenant-a']}`, { headers: T('tenant-a') })).status).toBe(404)
      expect((await call(apps.public, 'GET', `/self-service/errors?id=${made['tenant-b']}`, { headers: T('tenant-b') })).status).toBe(200)
      // an error belongs to its tenant
      expect((await call(apps.public, 'GET', `/self-service/errors?id=${made['tenant-b']}`, { headers: T('tenant-a') })).status).toBe(404)
    })

    it('runs periodically from onStart and stops in onStop', async () => {
      const own = await driver.create()
      const running = await boot(own.db, { identity: { cleanup: { intervalSeconds: 1, graceSeconds: 0 } } })
      try {
        const r = await call(running.public, 'GET', '/self-service/login/api')
        await own.db.exec(sql`UPDATE selfservice_flows SET expires_at = ${new Date(Date.now() - 1000)} WHERE nid = ${'default'} AND id = ${r.json.id}`)
        const live = await call(running.public, 'GET', '/self-service/login/api')
        const deadline = Date.now() + 5000
        let ids: string[] = []
        while (Date.now() < deadline) {
          ids = (await own.db.query<{ id: string }>(sql`SELECT id FROM selfservice_flows WHERE nid = ${'default'}`)).map((x) => x.id)
          if (ids.length === 1) break
          await Bun.sleep(100)
        }
        expect(ids).toEqual([live.json.id])
      } finally {
        await running.kernel.stop()
        await own.drop()
      }
    })
  })
}

/**
 * Flow flooding (issue 11): anonymous `GET /self-service/registration/api` created 18,000 flows in 5 s while the
 * sweeper removed about 33 a second. Flow creation is limited per client address (429 with Retry-After), counted
 * in the database so the limit holds across instances and under parallel requests; the sweeper deletes far faster
 * than the limit lets flows in. On SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import * as v from 'valibot'
import { sql } from 'tessera'
import { setPeer } from '../../test/helpers/app.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { boot, quickstartSchema } from '../../test/helpers/identity.ts'
import { IdentityOptions, sweepExpiredFlows, sweepFlowCreationCounters } from './index.ts'

type Apps = Awaited<ReturnType<typeof boot>>

const get = (apps: Apps, path: string, peer: string, headers: Record<string, string> = {}) => {
  const req = new Request(`http://localhost${path}`, { headers })
  setPeer(req, peer)
  return apps.public.handle(req)
}

for (const driver of drivers('identityflood')) {
  describe.skipIf(!driver.enabled)(`flow creation limit and sweep (${driver.name})`, () => {
    let scratch: ScratchDatabase
    const instances: Apps[] = []
    beforeAll(async () => {
      scratch = await driver.create()
      // Two instances on one database.
      for (let i = 0; i < 2; i++) instances.push(await boot(scratch.db, { identity: { flowRateLimit: { perAddress: 5, windowSeconds: 600 }, cleanup: { enabled: false } } }))
    })
    afterAll(async () => {
      for (const a of instances) await a.kernel.stop()
      await scratch.drop()
    })

    it('limits flow creation per client address across instances: 429 with Retry-After, other addresses unaffected', async () => {
      const [a, b] = instances as [Apps, Apps]
      const statuses: number[] = []
      for (let i = 0; i < 3; i++) statuses.push((await get(a, '/self-service/registration/api', '192.0.2.1')).status)
      for (let i = 0; i < 2; i++) statuses.push((await get(b, '/self-service/login/api', '192.0.2.1')).status)
      expect(statuses).toEqual([200, 200, 200, 200, 200])
      for (const [apps, path] of [
        [a, '/self-service/registration/api'],
        [b, '/self-service/login/browser'],
      ] as const) {
        const r = await get(apps, path, '192.0.2.1', { accept: 'application/json' })
        expect(r.status).toBe(429)
        const retry = Number(r.headers.get('retry-after'))
        expect(retry).toBeGreaterThan(0)
        expect(retry).toBeLessThanOrEqual(600)
        expect(((await r.json()) as any).error.code).toBe(429)
      }
      expect((await get(a, '/self-service/registration/api', '192.0.2.2')).status).toBe(200)
      const stored = await scratch.db.one<{ n: number | string }>(sql`SELECT COUNT(*) AS n FROM selfservice_flows WHERE nid = ${'default'}`)
      expect(Number(stored!.n)).toBe(6)
    })

    it('holds under parallel requests: of 20 at once from one address, exactly the limit get a flow', async () => {
      const [a, b] = instances as [Apps, Apps]
      const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => get(i % 2 ? a : b, '/self-service/registration/api', '198.51.100.7')))
      const statuses = rs.map((r) => r.status)
      expect(statuses.filter((s) => s === 200).length).toBe(5)
      expect(statuses.filter((s) => s === 429).length).toBe(15)
    })

    it('the sweep deletes the counters of windows already over', async () => {
      await scratch.db.exec(sql`UPDATE identity_flow_creation SET window_start = ${0} WHERE nid = ${'default'} AND key = ${'ip:192.0.2.2'}`)
      expect(await sweepFlowCreationCounters(instances[0]!.kernel.storage, 600)).toBe(1)
      const left = await scratch.db.query<{ key: string }>(sql`SELECT key FROM identity_flow_creation WHERE nid = ${'default'} ORDER BY key`)
      expect(left.map((r) => r.key)).toEqual(['ip:192.0.2.1', 'ip:198.51.100.7'])
    })

    it('one sweep with the default options removes 12,000 expired flows (the old defaults left 2,000 of them)', async () => {
      const defaults = v.parse(IdentityOptions, { schemas: [{ id: 'default', schema: quickstartSchema }] }).cleanup
      const expired = new Date(Date.now() - 3 * 3600_000)
      for (let i = 0; i < 24; i++) {
        const rows = Array.from({ length: 500 }, () => sql`(${'flood'}, ${crypto.randomUUID()}, ${'registration'}, ${'api'}, ${''}, ${sql.json({})}, ${expired})`)
        await scratch.db.exec(sql`INSERT INTO selfservice_flows (nid, id, kind, type, csrf_token, flow, expires_at) VALUES ${sql.join(rows)}`)
      }
      expect(await sweepExpiredFlows(instances[0]!.kernel.storage, defaults)).toBe(12_000)
      const n = await scratch.db.one<{ n: number | string }>(sql`SELECT COUNT(*) AS n FROM selfservice_flows WHERE nid = ${'flood'}`)
      expect(Number(n!.n)).toBe(0)
      // A sweep deletes at least 100 times what one address may create between two sweeps.
      const limit = v.parse(IdentityOptions, { schemas: [{ id: 'default', schema: quickstartSchema }] }).flowRateLimit
      const perSecondSwept = (defaults.batchSize * defaults.maxBatches) / defaults.intervalSeconds
      expect(perSecondSwept).toBeGreaterThan((100 * limit.perAddress) / limit.windowSeconds)
    })
  })
}

/**
 * Cleanup of old rate-limit rows: counters of windows already over are deleted
 * tenant by tenant in bounded batches; the current window's counters stay (the
 * limit still holds). Periodic from onStart, stopped in onStop. Both drivers.
 */
import { describe, expect, it } from 'bun:test'
import { sql } from 'tessera'
import { drivers } from '../../test/helpers/databases.ts'
import { boot } from '../../test/helpers/identity.ts'
import { RateLimiter } from './index.ts'

const rl = { enabled: true, perIdentifier: 2, perIp: 100, windowSeconds: 600, delayAfter: 5, delayMs: 0, maxDelayMs: 0, sweepIntervalSeconds: 300 }

for (const driver of drivers('pwsweep')) {
  describe.skipIf(!driver.enabled)(`rate-limit row cleanup (${driver.name})`, () => {
    it('deletes counters of past windows in every tenant, in bounded batches, and keeps the current window', async () => {
      const scratch = await driver.create()
      const apps = await boot(scratch.db, { password: { rateLimit: rl } })
      try {
        const now = Date.now()
        const current = now - (now % 600_000)
        for (const nid of ['tenant-a', 'tenant-b']) {
          for (let i = 0; i < 5; i++) await scratch.db.exec(sql`INSERT INTO password_login_attempts (nid, key, window_start, count) VALUES (${nid}, ${`id:old-${i}`}, ${current - 600_000 * (i + 1)}, ${3})`)
          await scratch.db.exec(sql`INSERT INTO password_login_attempts (nid, key, window_start, count) VALUES (${nid}, ${'id:now'}, ${current}, ${2})`)
        }
        const limiter = new RateLimiter(rl)
        expect(await limiter.sweep(apps.kernel.storage, now, 2, 2)).toBe(8)
        expect(await limiter.sweep(apps.kernel.storage, now, 2, 2)).toBe(2)
        expect(await limiter.sweep(apps.kernel.storage, now, 2, 2)).toBe(0)
        const rows = await scratch.db.query<{ nid: string; key: string }>(sql`SELECT nid, key FROM password_login_attempts ORDER BY nid, key`)
        expect(rows.map((r) => `${r.nid}/${r.key}`)).toEqual(['tenant-a/id:now', 'tenant-b/id:now'])
      } finally {
        await apps.kernel.stop()
        await scratch.drop()
      }
    })

    it('the current window still limits after a sweep; the sweep runs from onStart', async () => {
      // the counters are per 10-minute window: a window that turns during the test makes the current counters past
      // ones, which the sweep rightly deletes — start in a window with time to spare
      const untilTurn = rl.windowSeconds * 1000 - (Date.now() % (rl.windowSeconds * 1000))
      if (untilTurn < 15_000) await Bun.sleep(untilTurn + 100)
      const scratch = await driver.create()
      const apps = await boot(scratch.db, { password: { rateLimit: { ...rl, sweepIntervalSeconds: 1 } } })
      try {
        await scratch.db.exec(sql`INSERT INTO password_login_attempts (nid, key, window_start, count) VALUES (${'default'}, ${'id:stale@example.com'}, ${0}, ${9})`)
        const login = async () => {
          const flow = await (await apps.public.handle(new Request('http://localhost/self-service/login/api'))).json()
          const res = await apps.public.handle(
            new Request(`http://localhost/self-service/login?flow=${flow.id}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: 'password', identifier: 'cur@example.com', password: 'wrong password here' }) }),
          )
          return res.status
        }
        expect(await login()).toBe(400)
        expect(await login()).toBe(400)
        const deadline = Date.now() + 5000
        let keys: string[] = []
        while (Date.now() < deadline) {
          keys = (await scratch.db.query<{ key: string }>(sql`SELECT key FROM password_login_attempts`)).map((r) => r.key)
          if (!keys.includes('id:stale@example.com')) break
          await Bun.sleep(100)
        }
        expect(keys.sort()).toEqual(['id:cur@example.com', 'pair:["cur@example.com",""]'])
        expect(await login()).toBe(429)
      } finally {
        await apps.kernel.stop()
        await scratch.drop()
      }
    }, 40_000)
  })
}

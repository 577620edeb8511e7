/**
 * Login rate limiting per client IP over a real socket (the IP comes from the
 * connection), shared by every instance through the database: two servers on
 * the same database see the same count. On SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { boot } from '../identity/testing/setup.ts'

for (const driver of drivers('pwratelimit')) {
  describe.skipIf(!driver.enabled)(`password rate limit per IP (${driver.name})`, () => {
    let scratch: ScratchDatabase
    const stops: (() => unknown)[] = []
    const urls: string[] = []
    beforeAll(async () => {
      scratch = await driver.create()
      // Two instances on one database, each behind its own socket.
      for (let i = 0; i < 2; i++) {
        const apps = await boot(scratch.db, { password: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false }, rateLimit: { perIp: 3, perIdentifier: 100, windowSeconds: 600 } } })
        apps.public.listen({ port: 0, hostname: '127.0.0.1' })
        urls.push(`http://127.0.0.1:${apps.public.server!.port}`)
        stops.push(() => apps.public.stop(), () => apps.kernel.stop())
      }
    })
    afterAll(async () => {
      for (const s of stops) await s()
      await scratch.drop()
    })

    const attempt = async (base: string, identifier: string) => {
      const flow = await (await fetch(`${base}/self-service/login/api`)).json()
      return fetch(`${base}/self-service/login?flow=${flow.id}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: 'password', identifier, password: 'wrong password here' }) })
    }

    it('counts failures per IP across identifiers and instances, then answers 429 with Retry-After', async () => {
      expect((await attempt(urls[0]!, 'a@example.com')).status).toBe(400)
      expect((await attempt(urls[1]!, 'b@example.com')).status).toBe(400)
      expect((await attempt(urls[0]!, 'c@example.com')).status).toBe(400)
      const limited = await attempt(urls[1]!, 'd@example.com')
      expect(limited.status).toBe(429)
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
      expect((await limited.json()).error.code).toBe(429)
    })

    it("counts per peer address from the core's request context, which a spoofed X-Forwarded-For cannot change", async () => {
      const apps = await boot(scratch.db, { password: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false }, rateLimit: { perIp: 2, perIdentifier: 100, windowSeconds: 600 } } })
      try {
        const from = async (peer: string, identifier: string) => {
          const flowReq = new Request('http://localhost/self-service/login/api')
          apps.kernel.setRemoteAddress(flowReq, peer)
          const flow = await (await apps.public.handle(flowReq)).json()
          const req = new Request(`http://localhost/self-service/login?flow=${flow.id}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-forwarded-for': `10.0.0.${Math.floor(Math.random() * 250)}` },
            body: JSON.stringify({ method: 'password', identifier, password: 'wrong password here' }),
          })
          apps.kernel.setRemoteAddress(req, peer)
          return (await apps.public.handle(req)).status
        }
        expect(await from('203.0.113.9', 'p@example.com')).toBe(400)
        expect(await from('203.0.113.9', 'q@example.com')).toBe(400)
        expect(await from('203.0.113.9', 'r@example.com')).toBe(429)
        // another peer has its own count
        expect(await from('198.51.100.7', 's@example.com')).toBe(400)
      } finally {
        await apps.kernel.stop()
      }
    })
  })
}

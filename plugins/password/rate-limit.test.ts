/**
 * Login rate limiting per client IP over a real socket (the IP comes from the
 * connection), shared by every instance through the database: two servers on
 * the same database see the same count. On SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { sql } from 'tessera'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { setPeer } from '../../test/helpers/app.ts'
import { boot } from '../../test/helpers/identity.ts'

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
          setPeer(flowReq, peer)
          const flow = await (await apps.public.handle(flowReq)).json()
          const req = new Request(`http://localhost/self-service/login?flow=${flow.id}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-forwarded-for': `10.0.0.${Math.floor(Math.random() * 250)}` },
            body: JSON.stringify({ method: 'password', identifier, password: 'wrong password here' }),
          })
          setPeer(req, peer)
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

    // Kratos #4251 (OTP attempts): "50 parallel wrong guesses allow at most N attempts". A check-then-increment
    // limiter lets every racing request read the old count; the attempt must be taken atomically first.
    it('50 parallel wrong logins: at most the limit get past the limiter, on two instances of one database', async () => {
      const opts = { password: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false }, rateLimit: { perIp: 1000, perIdentifier: 5, windowSeconds: 600 } } }
      const own = await driver.create()
      const both = [await boot(own.db, opts), await boot(own.db, opts)]
      try {
        const requests = await Promise.all(
          Array.from({ length: 50 }, async (_, i) => {
            const apps = both[i % 2]!
            const flow = await (await apps.public.handle(new Request('http://localhost/self-service/login/api'))).json()
            const req = new Request(`http://localhost/self-service/login?flow=${flow.id}`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ method: 'password', identifier: 'race@example.com', password: 'wrong password here' }),
            })
            setPeer(req, `192.0.2.${i}`)
            return { apps, req }
          }),
        )
        const statuses = await Promise.all(requests.map(async ({ apps, req }) => (await apps.public.handle(req)).status))
        const passed = statuses.filter((s) => s === 400).length
        expect(statuses.filter((s) => s !== 400 && s !== 429)).toEqual([])
        expect(passed).toBeGreaterThan(0)
        expect(passed).toBeLessThanOrEqual(5)
        expect(statuses.filter((s) => s === 429).length).toBe(50 - passed)
      } finally {
        for (const a of both) await a.kernel.stop()
        await own.drop()
      }
    })

    it('refused attempts and successful logins give their slot back; failures keep it', async () => {
      const own = await driver.create()
      const apps = await boot(own.db, { password: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false }, rateLimit: { perIp: 1000, perIdentifier: 2, windowSeconds: 600 } } })
      try {
        const api = async (path: string, body?: unknown) => {
          const res = await apps.public.handle(new Request(`http://localhost${path}`, body ? { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}))
          return { status: res.status, json: await res.json() }
        }
        const email = `slot-${crypto.randomUUID()}@example.com`
        const reg = await api('/self-service/registration/api')
        expect((await api(`/self-service/registration?flow=${reg.json.id}`, { method: 'password', password: 'correct horse battery staple', traits: { email } })).status).toBe(200)
        const login = async (password: string) => (await api(`/self-service/login?flow=${(await api('/self-service/login/api')).json.id}`, { method: 'password', identifier: email, password })).status
        expect(await login('wrong password here')).toBe(400)
        // a success in between does not use up a slot
        expect(await login('correct horse battery staple')).toBe(200)
        expect(await login('wrong password here')).toBe(400)
        expect(await login('wrong password here')).toBe(429)
        // refused attempts are not counted: still exactly at the limit, so still refused (not more)
        expect(await login('correct horse battery staple')).toBe(429)
        const [row] = await own.db.query<{ count: number }>(sql`SELECT count FROM password_login_attempts WHERE key = ${`id:${email}`}`)
        expect(Number(row!.count)).toBe(2)
      } finally {
        await apps.kernel.stop()
        await own.drop()
      }
    })
  })
}

/**
 * Login throttling: per client address over a real socket (the address comes from the connection), shared by
 * every instance through the database (two servers on one database see the same count); an address's excess
 * gets 429, an account's failures only delay it, so the owner is never locked out from elsewhere; the counts
 * hold under parallel attempts. On SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { sql } from 'tessera'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { setPeer } from '../../test/helpers/app.ts'
import { boot } from '../../test/helpers/identity.ts'
import { RateLimiter } from './index.ts'

for (const driver of drivers('pwratelimit')) {
  describe.skipIf(!driver.enabled)(`password login throttling (${driver.name})`, () => {
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

    const post = async (apps: Awaited<ReturnType<typeof boot>>, path: string, body: unknown, peer: string) => {
      const req = new Request(`http://localhost${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      setPeer(req, peer)
      return apps.public.handle(req)
    }
    const login = async (apps: Awaited<ReturnType<typeof boot>>, identifier: string, password: string, peer: string) => {
      const flow = await (await apps.public.handle(new Request('http://localhost/self-service/login/api'))).json()
      return (await post(apps, `/self-service/login?flow=${flow.id}`, { method: 'password', identifier, password }, peer)).status
    }
    /** `n` wrong logins for one identifier, prepared first, then sent all at once, alternating between instances. */
    const parallelLogins = async (instances: Awaited<ReturnType<typeof boot>>[], n: number, peer: (i: number) => string) => {
      const requests = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const apps = instances[i % instances.length]!
          const flow = await (await apps.public.handle(new Request('http://localhost/self-service/login/api'))).json()
          const req = new Request(`http://localhost/self-service/login?flow=${flow.id}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ method: 'password', identifier: 'race@example.com', password: 'wrong password here' }),
          })
          setPeer(req, peer(i))
          return { apps, req }
        }),
      )
      return Promise.all(requests.map(async ({ apps, req }) => (await apps.public.handle(req)).status))
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

    it('behind serve.trustedProxies counts per client X-Forwarded-For names, so one attacker behind the load balancer locks out no one else', async () => {
      const own = await driver.create()
      const apps = await boot(own.db, {
        config: { serve: { trustedProxies: ['10.0.0.0/8'] } },
        password: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false }, rateLimit: { perIp: 2, perIdentifier: 100, windowSeconds: 600 } },
      })
      try {
        const via = async (peer: string, forwardedFor: string, identifier: string) => {
          const flowReq = new Request('http://localhost/self-service/login/api')
          setPeer(flowReq, peer)
          const flow = await (await apps.public.handle(flowReq)).json()
          const req = new Request(`http://localhost/self-service/login?flow=${flow.id}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
            body: JSON.stringify({ method: 'password', identifier, password: 'wrong password here' }),
          })
          setPeer(req, peer)
          return (await apps.public.handle(req)).status
        }
        // the attacker (192.0.2.66) behind the balancer (10.1.1.1) invents hops to the left: they do not count
        expect(await via('10.1.1.1', '1.1.1.1, 192.0.2.66', 't1@example.com')).toBe(400)
        expect(await via('10.1.1.1', '8.8.8.8, 192.0.2.66', 't2@example.com')).toBe(400)
        expect(await via('10.1.1.1', '9.9.9.9, 192.0.2.66', 't3@example.com')).toBe(429)
        // another client behind the same balancer is not locked out
        expect(await via('10.1.1.1', '192.0.2.77', 't4@example.com')).toBe(400)
        // an untrusted peer's X-Forwarded-For is not believed: it counts as itself
        expect(await via('198.18.0.5', '192.0.2.77', 't5@example.com')).toBe(400)
        expect(await via('198.18.0.5', '192.0.2.78', 't6@example.com')).toBe(400)
        expect(await via('198.18.0.5', '192.0.2.79', 't7@example.com')).toBe(429)
      } finally {
        await apps.kernel.stop()
        await own.drop()
      }
    })

    // Kratos #4251 (OTP attempts): "50 parallel wrong guesses allow at most N attempts". A check-then-increment
    // limiter lets every racing request read the old count; the attempt must be taken atomically first.
    it('50 parallel wrong logins from one address: at most the limit get past the limiter, on two instances of one database', async () => {
      const opts = { password: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false }, rateLimit: { perIp: 1000, perIdentifier: 5, windowSeconds: 600, delayMs: 0 } } }
      const own = await driver.create()
      const both = [await boot(own.db, opts), await boot(own.db, opts)]
      try {
        const statuses = await parallelLogins(both, 50, () => '192.0.2.1')
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

    it('50 parallel wrong logins from 50 addresses: none is locked out, every one is counted against the account (and delayed)', async () => {
      const opts = { password: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false }, rateLimit: { perIp: 1000, perIdentifier: 5, windowSeconds: 600, delayAfter: 5, delayMs: 1, maxDelayMs: 20 } } }
      const own = await driver.create()
      const both = [await boot(own.db, opts), await boot(own.db, opts)]
      try {
        const statuses = await parallelLogins(both, 50, (i) => `192.0.2.${i}`)
        expect(statuses.filter((s) => s !== 400)).toEqual([])
        const [row] = await own.db.query<{ count: number }>(sql`SELECT count FROM password_login_attempts WHERE key = ${'id:race@example.com'}`)
        expect(Number(row!.count)).toBe(50)
      } finally {
        for (const a of both) await a.kernel.stop()
        await own.drop()
      }
    })

    // OWASP Authentication Cheat Sheet ("Account lockout"): an attacker must not be able to lock the owner out.
    it("an attacker's 50 wrong guesses from one address do not stop the owner, from another address, logging in; the attacker is stopped", async () => {
      const own = await driver.create()
      const apps = await boot(own.db, { password: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false }, rateLimit: { perIp: 100, perIdentifier: 10, windowSeconds: 600, delayAfter: 5, delayMs: 1, maxDelayMs: 10 } } })
      try {
        const email = 'owner@example.com'
        const right = 'correct horse battery staple'
        const reg = await (await apps.public.handle(new Request('http://localhost/self-service/registration/api'))).json()
        expect((await post(apps, `/self-service/registration?flow=${reg.id}`, { method: 'password', password: right, traits: { email } }, '198.51.100.1')).status).toBe(200)
        const attacker: number[] = []
        for (let i = 0; i < 50; i++) attacker.push(await login(apps, email, `guess number ${i}`, '203.0.113.66'))
        expect(attacker.slice(0, 10)).toEqual(Array(10).fill(400))
        expect(attacker.slice(10)).toEqual(Array(40).fill(429))
        // The attacker's address is stopped even with the right password (it cannot tell a right guess).
        expect(await login(apps, email, right, '203.0.113.66')).toBe(429)
        // The owner, from an address that never failed for this account, gets in.
        expect(await login(apps, email, right, '198.51.100.1')).toBe(200)
        // And a typo of the owner's is an ordinary wrong password, not a lock-out.
        expect(await login(apps, email, 'correct horse battery stapel', '198.51.100.2')).toBe(400)
        expect(await login(apps, email, right, '198.51.100.2')).toBe(200)
      } finally {
        await apps.kernel.stop()
        await own.drop()
      }
    })

    it("the account's failures delay later logins from any address, progressively (no 429)", async () => {
      const own = await driver.create()
      const apps = await boot(own.db, { password: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false }, rateLimit: { perIp: 100, perIdentifier: 10, windowSeconds: 600, delayAfter: 2, delayMs: 300, maxDelayMs: 300 } } })
      try {
        for (let i = 0; i < 2; i++) expect(await login(apps, 'slow@example.com', 'wrong password here', `203.0.113.${i}`)).toBe(400)
        const started = performance.now()
        expect(await login(apps, 'slow@example.com', 'wrong password here', '198.51.100.9')).toBe(400)
        // A lower bound of an intended wait (a sleep never ends early), not a speed measurement.
        expect(performance.now() - started).toBeGreaterThanOrEqual(290)
      } finally {
        await apps.kernel.stop()
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

describe('password login throttling: the delay', () => {
  it('grows progressively with the account failures: none before delayAfter, then doubling up to maxDelayMs', () => {
    const limiter = new RateLimiter({ enabled: true, perIdentifier: 10, perIp: 100, windowSeconds: 300, delayAfter: 5, delayMs: 250, maxDelayMs: 5000, sweepIntervalSeconds: 300 })
    expect([0, 4, 5, 6, 7, 8, 9, 10, 50].map((n) => limiter.delayFor(n))).toEqual([0, 0, 250, 500, 1000, 2000, 4000, 5000, 5000])
  })
})

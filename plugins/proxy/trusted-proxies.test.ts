/**
 * One trusted-proxy setting (issue 11, "Lockout"): `serve.trustedProxies` decides whose X-Forwarded-* the proxy
 * believes and which client address its error handlers test, as it decides what the password limiter keys on.
 * The proxy's own `trusted_proxies` is a deprecated alias for one release.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { bootApps, captureLog, setPeer, type TestApps } from '../../test/helpers/app.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { quickstartSchema, testSelfservice } from '../../test/helpers/identity.ts'
import { identity } from '../identity/index.ts'
import { password } from '../password/index.ts'
import { proxy } from './index.ts'
import { bootProxy } from './test-helpers.ts'

const anon = { authenticators: [{ handler: 'anonymous' }], authorizer: { handler: 'allow' } }
const orders = { id: 'orders', match: { url: 'https://api.example.com/orders/<.*>', methods: ['DELETE'] }, ...anon, mutators: [{ handler: 'header', config: { headers: { 'X-User': '{{ print .Subject }}' } } }] }
const forwarded = { 'x-forwarded-method': 'DELETE', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': '/orders/7' }

/** The admin `/decisions` asked by `peer` (the socket's), with the given headers. */
const decide = (admin: { handle(r: Request): Promise<Response> }, peer: string, headers: Record<string, string>, path = '/decisions') => {
  const request = new Request(`http://admin.local${path}`, { headers: { host: 'localhost', ...headers } })
  setPeer(request, peer)
  return admin.handle(request)
}

const deprecation = (lines: Record<string, unknown>[]) => lines.filter((l) => l.level === 'warn' && String(l.msg).includes('plugins.proxy.options.trusted_proxies is deprecated'))

describe('proxy: one trusted-proxy setting', () => {
  it('reads serve.trustedProxies: X-Forwarded-* count from a listed peer only, with no warning', async () => {
    const log = captureLog('warn')
    const { kernel, admin } = await bootProxy({ rules: [orders] }, [], log.logger, { serve: { trustedProxies: ['10.0.0.0/8'] } })
    const ok = await decide(admin, '10.1.2.3', forwarded)
    expect([ok.status, ok.headers.get('x-user')]).toEqual([200, 'anonymous'])
    expect((await decide(admin, '192.0.2.1', forwarded)).status).toBe(404)
    expect(deprecation(log.lines)).toEqual([])
    await kernel.stop()
  })

  it('uses the deprecated trusted_proxies when it is the only one set, warning at boot with the core setting', async () => {
    const log = captureLog('warn')
    const { kernel, admin } = await bootProxy({ rules: [orders], trusted_proxies: ['10.0.0.0/8'] }, [], log.logger)
    expect(deprecation(log.lines).length).toBe(1)
    expect(String(deprecation(log.lines)[0]!.msg)).toContain('set serve.trustedProxies (env SERVE_TRUSTED_PROXIES) instead')
    expect((await decide(admin, '10.1.2.3', forwarded)).status).toBe(200)
    expect((await decide(admin, '192.0.2.1', forwarded)).status).toBe(404)
    await kernel.stop()
  })

  it('stops boot when trusted_proxies and serve.trustedProxies are both set and differ, naming both', async () => {
    const boot = bootProxy({ rules: [orders], trusted_proxies: ['192.168.0.0/16'] }, [], undefined, { serve: { trustedProxies: ['10.0.0.0/8'] } })
    await expect(boot).rejects.toThrow('plugins.proxy.options.trusted_proxies (deprecated) and serve.trustedProxies are both set and differ')
    // the same list (in another order) is no conflict, but still deprecated
    const log = captureLog('warn')
    const same = await bootProxy({ rules: [orders], trusted_proxies: ['::1', '10.0.0.0/8'] }, [], log.logger, { serve: { trustedProxies: ['10.0.0.0/8', '::1'] } })
    expect(log.lines.some((l) => l.level === 'warn' && String(l.msg).includes('repeats serve.trustedProxies'))).toBe(true)
    expect((await decide(same.admin, '::1', forwarded)).status).toBe(200)
    await same.kernel.stop()
    // a bad alias entry still stops boot naming it
    await expect(bootProxy({ rules: [orders], trusted_proxies: ['10.0.0.0/33'] })).rejects.toThrow('plugins.proxy.options.trusted_proxies: "10.0.0.0/33"')
  })
})

describe('proxy listener: a tenant the resolver refuses', () => {
  it('answers 400 in Ory\'s shape with a request id (issue 11)', async () => {
    const rule = { id: 'any', match: { url: 'http://127.0.0.1<.*>/<.*>', methods: ['GET'] }, ...anon }
    const { kernel, proxyUrl } = await bootProxy({ rules: [rule], serve: { enabled: true, host: '127.0.0.1', port: 0 } }, [], undefined, {
      tenancy: { default: 'default', resolve: (r: Request) => r.headers.get('x-tenant') },
    } as never)
    try {
      const res = await fetch(`${proxyUrl()}/x`, { headers: { 'x-tenant': 'not a tenant!' } })
      const body = await res.json()
      expect([res.status, body.error.message]).toEqual([400, 'The request names an invalid tenant'])
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
      expect(body.error.request).toBe(res.headers.get('x-request-id')!)
    } finally {
      await kernel.stop()
    }
  })
})

// The password limiter and the proxy's error handlers read the same client address, from the same list.
for (const driver of drivers('proxytrust')) {
  describe.skipIf(!driver.enabled)(`one list governs the password limiter and the proxy alike (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: TestApps
    beforeAll(async () => {
      scratch = await driver.create()
      const denied = {
        id: 'deny',
        match: { url: 'http://localhost/x', methods: ['GET'] },
        authenticators: [{ handler: 'unauthorized' }],
        authorizer: { handler: 'allow' },
        errors: [
          // the attacker's client address (192.0.2.66) is sent elsewhere; everyone else gets JSON
          { handler: 'redirect', config: { to: 'https://blocked.example.com/', when: [{ request: { remote_ip: { match: ['192.0.2.66/32'] } } }] } },
          { handler: 'www_authenticate', config: { realm: 'cidr', when: [{ request: { cidr: ['192.0.2.77/32'] } }] } },
          { handler: 'json' },
        ],
      }
      apps = await bootApps(
        [
          identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: testSelfservice }),
          password({ hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false }, rateLimit: { perIp: 2, perIdentifier: 100, windowSeconds: 600 } }),
          proxy({ serve: { enabled: false }, rules: [denied] }),
        ],
        { database: scratch.db, config: { serve: { trustedProxies: ['10.0.0.0/8'] } } as never },
      )
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    /** A wrong password for `identifier` from `peer`, X-Forwarded-For `xff`: the login's status. */
    const login = async (peer: string, xff: string, identifier: string) => {
      const flowReq = new Request('http://localhost/self-service/login/api')
      setPeer(flowReq, peer)
      const flow = await (await apps.public.handle(flowReq)).json()
      const req = new Request(`http://localhost/self-service/login?flow=${flow.id}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': xff },
        body: JSON.stringify({ method: 'password', identifier, password: 'wrong password here' }),
      })
      setPeer(req, peer)
      return (await apps.public.handle(req)).status
    }
    /** The proxy's answer to a denied request from `peer`, X-Forwarded-For `xff`: which error handler ran. */
    const denial = async (peer: string, xff: string) => {
      const res = await decide(apps.admin, peer, { 'x-forwarded-for': xff }, '/decisions/x')
      return res.status === 302 ? 'redirect' : res.headers.get('www-authenticate') ? 'www_authenticate' : `json ${res.status}`
    }

    it('through the trusted balancer both key on the client X-Forwarded-For names (hops it invents to the left do not count)', async () => {
      expect(await denial('10.1.1.1', '1.1.1.1, 192.0.2.66')).toBe('redirect')
      expect(await denial('10.1.1.1', '192.0.2.77')).toBe('www_authenticate')
      expect(await denial('10.1.1.1', '192.0.2.66, 203.0.113.5')).toBe('json 401')

      expect(await login('10.1.1.1', '1.1.1.1, 192.0.2.66', 'a1@example.com')).toBe(400)
      expect(await login('10.1.1.1', '8.8.8.8, 192.0.2.66', 'a2@example.com')).toBe(400)
      expect(await login('10.1.1.1', '9.9.9.9, 192.0.2.66', 'a3@example.com')).toBe(429)
      // another client behind the same balancer is not locked out
      expect(await login('10.1.1.1', '192.0.2.77', 'a4@example.com')).toBe(400)
    })

    it("from an untrusted peer both ignore X-Forwarded-For: the peer is the client", async () => {
      expect(await denial('198.18.0.5', '192.0.2.66')).toBe('json 401')
      expect(await denial('198.18.0.5', '192.0.2.77')).toBe('json 401')
      expect(await denial('192.0.2.66', '10.1.1.1')).toBe('redirect')

      expect(await login('198.18.0.5', '192.0.2.1', 'b1@example.com')).toBe(400)
      expect(await login('198.18.0.5', '192.0.2.2', 'b2@example.com')).toBe(400)
      expect(await login('198.18.0.5', '192.0.2.3', 'b3@example.com')).toBe(429)
    })
  })
}

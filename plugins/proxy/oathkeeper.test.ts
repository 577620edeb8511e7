/**
 * Oathkeeper's semantics, checked against its handlers and tests (ory/oathkeeper `rule/`, `api/decision.go`,
 * `proxy/proxy.go`, `pipeline/errors/when.go`, `pipeline/mutate/mutator_noop.go`, `credentials/verifier_default.go`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { connect } from 'node:net'
import { type JWK, SignJWT, exportJWK, generateKeyPair } from 'jose'
import { call, setPeer } from '../../test/helpers/app.ts'
import { type TestServer, bootProxy, startServer } from './test-helpers.ts'

const anon = { authenticators: [{ handler: 'anonymous' }], authorizer: { handler: 'allow' } }
const header = (headers: Record<string, string>) => ({ handler: 'header', config: { headers } })

describe('Oathkeeper: rule matching', () => {
  it('captures every <…> part, as Oathkeeper compiles each as a group (the example in docs/plugins/proxy.md)', async () => {
    const rule = {
      id: 'orders',
      match: { url: 'http://localhost/orders/<[0-9]+>/<(a|b)c>', methods: ['GET'] },
      ...anon,
      mutators: [header({ 'X-Id': '{{ index .MatchContext.RegexpCaptureGroups 0 }}', 'X-Rest': '{{ printIndex .MatchContext.RegexpCaptureGroups 1 }}/{{ index .MatchContext.RegexpCaptureGroups 2 }}' })],
    }
    const { kernel, admin } = await bootProxy({ rules: [rule] })
    const r = await call(admin, 'GET', '/decisions/orders/42/bc', { headers: { host: 'localhost' } })
    expect([r.status, r.headers.get('x-id'), r.headers.get('x-rest')]).toEqual([200, '42', 'bc/b'])
    await kernel.stop()
  })

  it('matches a rule whose URL has no path on /decisions with nothing after it, as Oathkeeper does', async () => {
    const bare = { id: 'bare', match: { url: 'http://localhost', methods: ['GET'] }, ...anon }
    const slash = { id: 'slash', match: { url: 'http://localhost/', methods: ['GET'] }, ...anon, mutators: [header({ 'X-Rule': 'slash' })] }
    const { kernel, admin } = await bootProxy({ rules: [bare, slash] })
    const r = await call(admin, 'GET', '/decisions', { headers: { host: 'localhost' } })
    expect([r.status, r.headers.get('x-rule')]).toEqual([200, null])
    const s = await call(admin, 'GET', '/decisions/', { headers: { host: 'localhost' } })
    expect([s.status, s.headers.get('x-rule')]).toEqual([200, 'slash'])
    await kernel.stop()
  })

  it('accepts a custom method such as PURGE in match.methods', async () => {
    const rule = { id: 'purge', match: { url: 'http://localhost/cache/<.*>', methods: ['PURGE'] }, ...anon }
    const { kernel, admin } = await bootProxy({ rules: [rule] })
    expect((await call(admin, 'PURGE', '/decisions/cache/x', { headers: { host: 'localhost' } })).status).toBe(200)
    expect((await call(admin, 'GET', '/decisions/cache/x', { headers: { host: 'localhost' } })).status).toBe(404)
    await kernel.stop()
  })
})

describe('Oathkeeper: forwarded headers', () => {
  let upstream: TestServer
  beforeAll(() => {
    upstream = startServer((req) => {
      const headers: Record<string, string> = {}
      req.headers.forEach((v, k) => (headers[k] = v))
      return Response.json({ method: req.method, path: new URL(req.url).pathname, headers })
    })
  })
  afterAll(() => upstream.stop())

  const getOnly = (url: string) => ({ id: 'get', match: { url, methods: ['GET'] }, ...anon, upstream: { url: upstream.url } })

  /** A raw HTTP/1.1 request to the reverse proxy, so that Host and method are exactly what is sent. */
  function raw(port: number, method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const sock = connect(port, '127.0.0.1', () => {
        const lines = [`${method} ${path} HTTP/1.1`, 'Connection: close', ...Object.entries({ Host: '127.0.0.1', ...headers }).map(([k, v]) => `${k}: ${v}`), '', '']
        sock.write(lines.join('\r\n'))
      })
      let data = ''
      sock.on('data', (d) => (data += d.toString()))
      sock.on('end', () => {
        let body = data.slice(data.indexOf('\r\n\r\n') + 4)
        if (/transfer-encoding: chunked/i.test(data)) body = body.replace(/^[0-9a-f]+\r\n/, '').replace(/\r\n0\r\n\r\n$/, '')
        resolve({ status: Number(data.split(' ')[1]), body })
      })
      sock.on('error', reject)
    })
  }

  it('the reverse proxy matches the request it forwards: X-Forwarded-Method, -Host and -Uri from a trusted peer change nothing', async () => {
    const rules = [
      getOnly('http://127.0.0.1/public/<.*>'),
      { id: 'host', match: { url: 'http://api.example.com/public/<.*>', methods: ['GET'] }, ...anon, upstream: { url: upstream.url } },
    ]
    const { kernel, state } = await bootProxy({ rules, trusted_proxies: ['127.0.0.0/8'], serve: { enabled: true, host: '127.0.0.1', port: 0 } })
    const port = state.server!.port
    // a DELETE dressed up as a GET is a DELETE: no rule allows it, and nothing reaches the upstream as a DELETE
    const before = upstream.hits.length
    expect((await raw(port, 'DELETE', '/public/x', { 'X-Forwarded-Method': 'GET' })).status).toBe(404)
    expect(upstream.hits.slice(before).some((h) => h.method === 'DELETE')).toBe(false)
    // a request for /private dressed up as /public/x is matched (and forwarded) as /private
    expect((await raw(port, 'GET', '/private', { 'X-Forwarded-Uri': '/public/x' })).status).toBe(404)
    // the Host matched is the request's own: X-Forwarded-Host does not pick the api.example.com rule
    expect((await raw(port, 'GET', '/elsewhere', { Host: '127.0.0.1', 'X-Forwarded-Host': 'api.example.com', 'X-Forwarded-Uri': '/public/x' })).status).toBe(404)
    const viaHost = await raw(port, 'GET', '/public/y', { Host: 'api.example.com' })
    expect(viaHost.status).toBe(200)
    // X-Forwarded-Proto from a trusted peer does count (Oathkeeper's EnrichRequestedURL)
    expect((await raw(port, 'GET', '/public/x', { 'X-Forwarded-Proto': 'https' })).status).toBe(404)
    const ok = await raw(port, 'GET', '/public/x', { 'X-Forwarded-Method': 'GET' })
    expect([ok.status, JSON.parse(ok.body).method, JSON.parse(ok.body).path]).toEqual([200, 'GET', '/public/x'])
    await kernel.stop()
  })

  it('/decisions honours each of X-Forwarded-Method, -Proto, -Host and -Uri from a trusted peer, and none from another', async () => {
    const rule = { id: 'fw', match: { url: 'https://api.example.com/orders/<.*>', methods: ['DELETE'] }, ...anon }
    const { kernel, admin } = await bootProxy({ rules: [rule], trusted_proxies: ['10.0.0.0/8'] })
    const all = { 'x-forwarded-method': 'DELETE', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': '/orders/1?x=1' }
    const decide = (peer: string, headers: Record<string, string>) => {
      const request = new Request('http://admin.local/decisions/orders/1', { headers: { host: 'api.example.com', ...headers } })
      setPeer(request, peer)
      return admin.handle(request).then((r) => r.status)
    }
    expect(await decide('10.0.0.1', all)).toBe(200)
    expect(await decide('192.0.2.1', all)).toBe(404)
    // without any one of them the request is what arrived, and no rule matches
    for (const missing of Object.keys(all)) {
      const headers: Record<string, string> = { ...all }
      delete headers[missing]
      const request = new Request(missing === 'x-forwarded-uri' ? 'http://admin.local/decisions/nowhere' : 'http://admin.local/decisions/orders/1', { method: 'GET', headers: { host: missing === 'x-forwarded-host' ? 'other.example.com' : 'api.example.com', ...headers } })
      setPeer(request, '10.0.0.1')
      expect({ missing, status: (await admin.handle(request)).status }).toEqual({ missing, status: 404 })
    }
    await kernel.stop()
  })

  it('CVE-2026-33495: from an untrusted peer every X-Forwarded-* header and Forwarded are removed before the upstream', async () => {
    const { kernel, state } = await bootProxy({ rules: [getOnly('http://127.0.0.1/public/<.*>')], serve: { enabled: true, host: '127.0.0.1', port: 0 } })
    const spoof = {
      'X-Forwarded-Prefix': '/admin',
      'X-Forwarded-Ssl': 'on',
      'X-Forwarded-Server': 'evil',
      'X-Forwarded-Scheme': 'https',
      'X-Forwarded-Port': '443',
      'X-Forwarded-Method': 'GET',
      'X-Forwarded-Uri': '/public/x',
      'X-Forwarded-User': 'admin',
      'X-Forwarded': 'for=1.2.3.4',
      Forwarded: 'for=1.2.3.4;proto=https',
      'X-Forwarded-For': '1.2.3.4',
      'X-Forwarded-Host': 'evil.example.com',
      'X-Forwarded-Proto': 'https',
    }
    const r = await raw(state.server!.port, 'GET', '/public/x', spoof)
    expect(r.status).toBe(200)
    const got = JSON.parse(r.body).headers as Record<string, string>
    const forwarded = Object.fromEntries(Object.entries(got).filter(([k]) => k.startsWith('x-forwarded') || k === 'forwarded'))
    // only what the proxy itself sets: the peer, the scheme and Host it received
    expect(forwarded).toEqual({ 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': '127.0.0.1' })
    await kernel.stop()
  })
})

describe('Oathkeeper: error handlers', () => {
  const failing = (errors: unknown[]) => ({ id: 'deny', match: { url: 'http://localhost/x', methods: ['GET'] }, authenticators: [{ handler: 'unauthorized' }], authorizer: { handler: 'allow' }, errors })
  const from = async (admin: { handle(r: Request): Promise<Response> }, peer: string, headers: Record<string, string> = {}) => {
    const request = new Request('http://admin.local/decisions/x', { headers: { host: 'localhost', ...headers } })
    setPeer(request, peer)
    return admin.handle(request)
  }

  it('chooses by when.request.remote_ip.match inside the handler config, X-Forwarded-For only when asked to', async () => {
    const { kernel, admin } = await bootProxy({
      rules: [
        failing([
          { handler: 'redirect', config: { to: 'https://intranet.example.com/', when: [{ request: { remote_ip: { match: ['192.0.2.0/24'] } } }] } },
          { handler: 'www_authenticate', config: { realm: 'xff', when: [{ request: { remote_ip: { match: ['198.51.100.0/24'], respect_forwarded_for_header: true } } }] } },
          { handler: 'json' },
        ]),
      ],
    })
    expect((await from(admin, '192.0.2.7')).status).toBe(302)
    expect((await from(admin, '203.0.113.1')).status).toBe(401)
    expect((await from(admin, '203.0.113.1')).headers.get('www-authenticate')).toBeNull()
    // X-Forwarded-For is not looked at by the first handler; the second asks for it
    expect((await from(admin, '203.0.113.1', { 'x-forwarded-for': '192.0.2.7' })).status).toBe(401)
    const xff = await from(admin, '203.0.113.1', { 'x-forwarded-for': '10.0.0.1, 198.51.100.4' })
    expect(xff.headers.get('www-authenticate')).toBe('Basic realm="xff"')
    await kernel.stop()
  })

  it("falls back to the json handler with its global config when no rule handler matches (Oathkeeper's errors.fallback default)", async () => {
    const rules = [failing([{ handler: 'redirect', config: { to: 'https://login.example.com/', when: [{ request: { header: { accept: ['text/html'] } } }] } }]), { ...failing([]), id: 'bare', match: { url: 'http://localhost/y', methods: ['GET'] } }]
    const plain = await bootProxy({ rules })
    for (const path of ['/decisions/x', '/decisions/y']) {
      const request = new Request(`http://admin.local${path}`, { headers: { host: 'localhost', accept: 'application/json' } })
      const res = await plain.admin.handle(request)
      expect([path, res.status, await res.json()]).toEqual([path, 401, { error: { code: 401, status: 'Unauthorized', message: 'Access credentials are invalid' } }])
    }
    await plain.kernel.stop()
    // the global json config applies to the fallback, as in Oathkeeper
    const verbose = await bootProxy({ rules, errors: { json: { config: { verbose: true } } } })
    const res = await verbose.admin.handle(new Request('http://admin.local/decisions/y', { headers: { host: 'localhost' } }))
    expect((await res.json()).error.reason).toBeString()
    await verbose.kernel.stop()
  })

  it('matches when.request.header.accept as media types with wildcards, and the error kind by status', async () => {
    const { kernel, admin } = await bootProxy({
      rules: [failing([{ handler: 'redirect', config: { to: 'https://login.example.com/', when: [{ error: ['unauthorized'], request: { header: { accept: ['text/*'] } } }] } }, { handler: 'json' }])],
    })
    expect((await from(admin, '192.0.2.1', { accept: 'text/html;q=0.9, */*;q=0.1' })).status).toBe(302)
    expect((await from(admin, '192.0.2.1', { accept: 'application/json' })).status).toBe(401)
    await kernel.stop()
  })

  it('refuses `when` given both inside config and beside it, and a bad remote_ip range, naming where', async () => {
    const twice = failing([{ handler: 'json', when: [{ error: ['unauthorized'] }], config: { when: [{ error: ['forbidden'] }] } }])
    await expect(bootProxy({ rules: [twice] })).rejects.toThrow('rules.deny.errors[0]: give `when` once')
    const bad = failing([{ handler: 'json', config: { when: [{ request: { remote_ip: { match: ['10.0.0.0/99'] } } }] } }])
    await expect(bootProxy({ rules: [bad] })).rejects.toThrow('rules.deny.errors[0].when[0].request.remote_ip.match: "10.0.0.0/99"')
  })

  it('redirects to a relative target, as Oathkeeper allows (uri-reference)', async () => {
    const { kernel, admin } = await bootProxy({ rules: [failing([{ handler: 'redirect', config: { to: '/login', return_to_query_param: 'return_to' } }])] })
    const r = await from(admin, '192.0.2.1')
    expect(r.status).toBe(302)
    expect(r.headers.get('location')).toBe(`/login?return_to=${encodeURIComponent('http://localhost/x')}`)
    await kernel.stop()
  })
})

describe('Oathkeeper: templates', () => {
  it('accepts the common sprig functions in templates (upper, default, pipelines)', async () => {
    const rule = {
      id: 'sprig',
      match: { url: 'http://localhost/s', methods: ['GET'] },
      authenticators: [{ handler: 'anonymous', config: { subject: 'alice' } }],
      authorizer: { handler: 'allow' },
      mutators: [
        header({
          'X-Upper': '{{ .Subject | upper }}',
          'X-Default': '{{ default "guest" .Extra.name }}',
          'X-Chain': '{{ .MatchContext.Method | lower | printf "m=%s" }}',
          'X-Quote': '{{ quote .Subject }}',
          'X-B64': '{{ b64enc .Subject }}',
          'X-Json': '{{ toJson .Extra }}',
          'X-Trim': '{{ "  x " | trim | replace "x" "y" }}',
        }),
      ],
    }
    const { kernel, admin } = await bootProxy({ rules: [rule] })
    const r = await call(admin, 'GET', '/decisions/s', { headers: { host: 'localhost' } })
    expect(r.status).toBe(200)
    expect(Object.fromEntries(['x-upper', 'x-default', 'x-chain', 'x-quote', 'x-b64', 'x-json', 'x-trim'].map((h) => [h, r.headers.get(h)]))).toEqual({
      'x-upper': 'ALICE',
      'x-default': 'guest',
      'x-chain': 'm=get',
      'x-quote': '"alice"',
      'x-b64': btoa('alice'),
      'x-json': '{}',
      'x-trim': 'y',
    })
    await kernel.stop()
  })

  it('still refuses an unknown function when the rules load', async () => {
    const rule = { id: 'bad', match: { url: 'http://localhost/s', methods: ['GET'] }, ...anon, mutators: [header({ 'X-A': '{{ env "HOME" }}' })] }
    await expect(bootProxy({ rules: [rule] })).rejects.toThrow('env')
  })
})

describe('Oathkeeper: the noop mutator', () => {
  it('answers /decisions with the request headers, as Oathkeeper\'s noop copies them into the session (Content-Length excepted)', async () => {
    const rule = { id: 'noop', match: { url: 'http://localhost/n', methods: ['GET', 'POST'] }, authenticators: [{ handler: 'noop' }], authorizer: { handler: 'allow' }, mutators: [{ handler: 'noop' }] }
    const { kernel, admin } = await bootProxy({ rules: [rule] })
    const r = await call(admin, 'POST', '/decisions/n', { headers: { host: 'localhost', authorization: 'Bearer abc', 'x-tenant': 't1', 'content-type': 'text/plain' }, body: 'hello' })
    expect([r.status, r.headers.get('authorization'), r.headers.get('x-tenant'), r.headers.get('content-length')]).toEqual([200, 'Bearer abc', 't1', null])
    await kernel.stop()
  })
})

describe('Oathkeeper: jwt', () => {
  let rsa: CryptoKeyPair
  let jwks: TestServer
  const secret = new TextEncoder().encode('a-shared-secret-of-at-least-32-bytes!')
  beforeAll(async () => {
    rsa = await generateKeyPair('RS256', { extractable: true })
    const pub: JWK = { ...(await exportJWK(rsa.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
    const oct: JWK = { kty: 'oct', k: Buffer.from(secret).toString('base64url'), kid: 'h1', alg: 'HS256', use: 'sig' }
    jwks = startServer(() => Response.json({ keys: [pub, oct] }))
  })
  afterAll(() => jwks.stop())

  const rule = (config: Record<string, unknown> = {}) => ({
    id: 'jwt',
    match: { url: 'http://localhost/api', methods: ['GET'] },
    authenticators: [{ handler: 'jwt', config: { jwks_urls: [jwks.url], ...config } }],
    authorizer: { handler: 'allow' },
    mutators: [header({ 'X-User': '{{ print .Subject }}' })],
  })
  const now = () => Math.floor(Date.now() / 1000)
  const decide = async (admin: { handle(r: Request): Promise<Response> }, token: string) =>
    (await call(admin as never, 'GET', '/decisions/api', { headers: { host: 'localhost', authorization: `Bearer ${token}` } })).status

  it('refuses a token issued in the future, and one without kid', async () => {
    const { kernel, admin } = await bootProxy({ rules: [rule()] })
    const ok = await new SignJWT({ sub: 'alice', iat: now(), exp: now() + 300 }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(rsa.privateKey)
    expect(await decide(admin, ok)).toBe(200)
    const future = await new SignJWT({ sub: 'alice', iat: now() + 3600, exp: now() + 7200 }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(rsa.privateKey)
    expect(await decide(admin, future)).toBe(401)
    const noKid = await new SignJWT({ sub: 'alice', iat: now(), exp: now() + 300 }).setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey)
    expect(await decide(admin, noKid)).toBe(401)
    await kernel.stop()
  })

  it('answers a missing required scope with 401, as Oathkeeper\'s jwt authenticator does', async () => {
    const { kernel, admin } = await bootProxy({ rules: [rule({ required_scope: ['write'], scope_strategy: 'exact' })] })
    const token = await new SignJWT({ sub: 'alice', scp: ['read'], exp: now() + 300 }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(rsa.privateKey)
    expect(await decide(admin, token)).toBe(401)
    await kernel.stop()
  })

  it('verifies HS256 with an oct key from the JWKS when HS256 is allowed, and never with an RSA key', async () => {
    const { kernel, admin } = await bootProxy({ rules: [rule({ allowed_algorithms: ['HS256'] })] })
    const token = await new SignJWT({ sub: 'carol', exp: now() + 300 }).setProtectedHeader({ alg: 'HS256', kid: 'h1' }).sign(secret)
    expect(await decide(admin, token)).toBe(200)
    const wrongKey = await new SignJWT({ sub: 'carol', exp: now() + 300 }).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(secret)
    expect(await decide(admin, wrongKey)).toBe(401)
    await kernel.stop()
  })
})

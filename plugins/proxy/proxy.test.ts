/**
 * The proxy end to end: /decisions and the rules API on the admin listener, the reverse-proxy
 * listener in front of a real upstream, reload of rule files and URLs, and the rules CLI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bootKernel, bootedKernel, call, captureLog, setPeer } from '../../test/helpers/app.ts'
import { proxy, refresh } from './index.ts'
import { type TestServer, bootProxy, startServer } from './test-helpers.ts'

const headerAs = (name: string) => ({ handler: 'header', config: { headers: { [name]: '{{ print .Subject }}' } } })

const rules = (upstream = 'http://127.0.0.1:9') => [
  { id: 'public', match: { url: '<http|https>://<[^/]+>/public/<.*>', methods: ['GET', 'POST'] }, authenticators: [{ handler: 'anonymous' }], authorizer: { handler: 'allow' }, mutators: [headerAs('X-User')], upstream: { url: upstream } },
  { id: 'admin', match: { url: '<http|https>://<[^/]+>/admin<.*>', methods: ['GET', 'POST'] }, authenticators: [{ handler: 'anonymous' }], authorizer: { handler: 'deny' }, upstream: { url: upstream } },
]

/** Send a request with a raw, unnormalised path over a socket (fetch would normalise it first). */
function rawRequest(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => {
      const lines = [`GET ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', '']
      sock.write(lines.join('\r\n'))
    })
    let data = ''
    sock.on('data', (d) => (data += d.toString()))
    sock.on('end', () => resolve({ status: Number(data.split(' ')[1]), text: data }))
    sock.on('error', reject)
  })
}

describe('proxy /decisions', () => {
  it('denies by default: a request no rule matches is a 404, never a pass', async () => {
    const { kernel, admin } = await bootProxy({ rules: rules() })
    const r = await call(admin, 'GET', '/decisions/elsewhere')
    expect(r.status).toBe(404)
    expect(r.json.error).toMatchObject({ code: 404, status: 'Not Found', reason: 'Requested url does not match any rules' })
    // method not in the rule: no match either
    expect((await call(admin, 'DELETE', '/decisions/public/x')).status).toBe(404)
    await kernel.stop()
  })

  it('answers 200 with the mutated headers, for any method, with the path after /decisions', async () => {
    const { kernel, admin } = await bootProxy({ rules: rules() })
    for (const method of ['GET', 'POST']) {
      const r = await call(admin, method, '/decisions/public/hello?x=1', { headers: { 'x-request-id': `req-${method}` } })
      expect([r.status, r.headers.get('x-user'), r.headers.get('x-request-id')]).toEqual([200, 'anonymous', `req-${method}`])
    }
    const denied = await call(admin, 'GET', '/decisions/admin', { headers: { 'x-request-id': 'req-denied' } })
    expect([denied.status, denied.headers.get('x-request-id')]).toEqual([403, 'req-denied'])
    await kernel.stop()
  })

  it('Oathkeeper CVE-2026-33494: ../, %2e%2e, ..%2f, // and /./ variants decide exactly as the canonical path', async () => {
    const { kernel, admin } = await bootProxy({ rules: rules() })
    for (const p of ['/public/../admin/secrets', '/public/%2e%2e/admin/secrets', '/public/..%2fadmin/secrets', '/public/..%2Fadmin/secrets', '//admin/secrets', '/./admin/secrets', '/public/./../admin/secrets']) {
      const r = await call(admin, 'GET', `/decisions${p}`)
      expect({ p, status: r.status }).toEqual({ p, status: 403 })
    }
    expect((await call(admin, 'GET', '/decisions/public//x')).status).toBe(200)
    expect((await call(admin, 'GET', '/decisions/public/%zz')).status).toBe(400)
    expect((await call(admin, 'GET', '/decisions/public/..;/admin')).status).toBe(400) // ..;/ is refused, never passed as /public
    await kernel.stop()
  })

  it('gives templates the URL that was matched (built on first use), and answers a Host no URL can carry with 400', async () => {
    const rule = {
      id: 'url',
      match: { url: 'http://<[^/]+>/api/<.*>', methods: ['GET'] },
      authenticators: [{ handler: 'anonymous' }],
      authorizer: { handler: 'allow' },
      mutators: [{ handler: 'header', config: { headers: { 'X-Url': '{{ .MatchContext.URL.Host }}{{ .MatchContext.URL.Path }}?{{ .MatchContext.URL.RawQuery }}' } } }],
    }
    const { kernel, admin } = await bootProxy({ rules: [rule] })
    const ok = await admin.handle(new Request('http://admin.local/decisions/api/./a/../b?x=1', { headers: { host: 'api.example.com:8080' } }))
    expect([ok.status, ok.headers.get('x-url')]).toEqual([200, 'api.example.com:8080/api/b?x=1'])
    const bad = await admin.handle(new Request('http://admin.local/decisions/api/b', { headers: { host: 'api example.com' } }))
    expect(bad.status).toBe(400)
    await kernel.stop()
  })

  it('answers 500 when two rules match, as Oathkeeper does', async () => {
    const { kernel, admin } = await bootProxy({ rules: [...rules(), { ...rules()[0], id: 'public-2' }] })
    const r = await call(admin, 'GET', '/decisions/public/x')
    expect(r.status).toBe(500)
    expect(r.json.error.reason).toContain('public, public-2')
    await kernel.stop()
  })

  it('lists rules at GET /rules and one at GET /rules/{id}; an unknown id is 404', async () => {
    const { kernel, admin } = await bootProxy({ rules: rules() })
    expect((await call(admin, 'GET', '/rules')).json.map((r: { id: string }) => r.id)).toEqual(['public', 'admin'])
    expect((await call(admin, 'GET', '/rules/admin')).json.authorizer).toEqual({ handler: 'deny' })
    expect((await call(admin, 'GET', '/rules/nope')).status).toBe(404)
    expect((await call(admin, 'GET', '/rules?limit=1&offset=1')).json.map((r: { id: string }) => r.id)).toEqual(['admin'])
    const bad = await call(admin, 'GET', '/rules?limit=-1')
    expect([bad.status, bad.json.error.code]).toEqual([400, 400])
    expect((await call(admin, 'GET', '/rules?limit=501')).status).toBe(400)
    await kernel.stop()
  })

  it('refuses to boot with an invalid rule, naming its path; handler config is validated when rules load', async () => {
    await expect(bootProxy({ rules: [{ id: 'x', match: { url: 'http://h/', methods: ['get'] }, authenticators: [], authorizer: { handler: 'allow' } }] })).rejects.toThrow(
      'plugins.proxy.options.rules[0].match.methods[0]: expected an HTTP method in capitals',
    )
    await expect(bootProxy({ rules: [{ id: 'x', match: { url: 'http://h/', methods: ['GET'] }, authenticators: [{ handler: 'jwt', config: {} }], authorizer: { handler: 'allow' } }] })).rejects.toThrow(
      'rules.x.authenticators[0].config.jwks_urls',
    )
    await expect(bootProxy({ rules: [{ id: 'x', match: { url: 'http://h/', methods: ['GET'] }, authenticators: [{ handler: 'noop' }], authorizer: { handler: 'allow' }, mutators: [{ handler: 'header', config: { headers: { 'X-A': '{{ exec "rm" }}' } } }] }] })).rejects.toThrow(
      'expected a template',
    )
    await expect(bootProxy({ rules: [{ id: 'x', match: { url: 'http://h/', methods: ['GET'] }, authenticators: [{ handler: 'nope' }], authorizer: { handler: 'allow' } }] })).rejects.toThrow(
      'the authenticator `nope`, which no plugin registered',
    )
    await expect(bootProxy({ rules: rules(), authenticators: { anonymous: { enabled: false } } })).rejects.toThrow('the authenticator `anonymous` is disabled')
    // when.request.cidr is evaluated by the core pipeline against the socket's peer address; a bad range is refused at load
    await expect(bootProxy({ rules: [{ ...rules()[0], errors: [{ handler: 'json', when: [{ request: { cidr: ['10.0.0.0/99'] } }] }] }] })).rejects.toThrow('is not an IP address or CIDR range')
  })
})

describe('proxy decisions listener (Traefik forwardAuth style)', () => {
  it('CVE-2026-33495: X-Forwarded-Method/-Uri/-Host/-Proto count only from trusted proxies; the admin /decisions ignores them', async () => {
    const secure = [{ id: 'secure', match: { url: 'https://api.example.com/orders/<.*>', methods: ['DELETE'] }, authenticators: [{ handler: 'anonymous' }], authorizer: { handler: 'allow' }, mutators: [headerAs('X-User')] }]
    const forwarded = { 'x-forwarded-method': 'DELETE', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': '/orders/../orders/7?force=1' }
    const trusted = await bootProxy({ rules: secure, trusted_proxies: ['127.0.0.1', '::1'], decisions_listener: { enabled: true, port: 0 } })
    const port = trusted.state.decisions?.port
    const ok = await fetch(`http://127.0.0.1:${port}/decisions`, { headers: forwarded })
    expect([ok.status, ok.headers.get('x-user')]).toEqual([200, 'anonymous'])
    expect((await fetch(`http://127.0.0.1:${port}/elsewhere`)).status).toBe(404)
    // the admin listener without a peer address (embedded): the same headers change nothing there
    expect((await call(trusted.admin, 'GET', '/decisions', { headers: forwarded })).status).toBe(404)
    await trusted.kernel.stop()

    const untrusted = await bootProxy({ rules: secure, trusted_proxies: ['10.0.0.0/8'], decisions_listener: { enabled: true, port: 0 } })
    expect((await fetch(`http://127.0.0.1:${untrusted.state.decisions?.port}/decisions`, { headers: forwarded })).status).toBe(404)
    await untrusted.kernel.stop()
  })
})

describe('proxy admin /decisions and the peer address', () => {
  it('CVE-2026-33495: on the admin /decisions, X-Forwarded-* from an untrusted peer change nothing; from a trusted peer they count', async () => {
    const secure = [{ id: 'secure', match: { url: 'https://api.example.com/orders/<.*>', methods: ['DELETE'] }, authenticators: [{ handler: 'anonymous' }], authorizer: { handler: 'allow' }, mutators: [headerAs('X-User')] }]
    const forwarded = { 'x-forwarded-method': 'DELETE', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': '/orders/../orders/7?force=1' }
    const booted = await bootProxy({ rules: secure, trusted_proxies: ['10.0.0.0/8', '::1'] })
    const decide = async (peer: string | undefined) => {
      const request = new Request('http://admin.local/decisions', { headers: forwarded })
      setPeer(request, peer)
      return booted.admin.handle(request)
    }
    // untrusted peers, and no peer at all: the request is what arrived (GET http://admin.local/), no rule matches
    for (const peer of ['203.0.113.9', '127.0.0.1', '::ffff:192.0.2.1', undefined]) expect((await decide(peer)).status).toBe(404)
    // trusted peers (IPv4 in the range, IPv4-mapped IPv6, IPv6): the forwarded method, scheme, host and (normalised) path count
    for (const peer of ['10.1.2.3', '::ffff:10.9.9.9', '::1']) {
      const res = await decide(peer)
      expect([res.status, res.headers.get('x-user')]).toEqual([200, 'anonymous'])
    }
    await booted.kernel.stop()
  })

  it('when.request.cidr on the admin /decisions is evaluated against the peer address', async () => {
    const rule = {
      id: 'deny',
      match: { url: 'http://admin.local/x', methods: ['GET'] },
      authenticators: [{ handler: 'unauthorized' }],
      authorizer: { handler: 'allow' },
      errors: [{ handler: 'redirect', config: { to: 'https://login.example.com/' }, when: [{ request: { cidr: ['192.0.2.0/24'] } }] }, { handler: 'json' }],
    }
    const booted = await bootProxy({ rules: [rule] })
    const status = async (peer: string) => {
      const request = new Request('http://admin.local/decisions/x')
      setPeer(request, peer)
      return (await booted.admin.handle(request)).status
    }
    expect(await status('192.0.2.7')).toBe(302)
    expect(await status('198.51.100.7')).toBe(401)
    await booted.kernel.stop()
  })
})

describe('proxy reverse-proxy listener', () => {
  let upstream: TestServer
  beforeAll(() => {
    upstream = startServer(async (req) => {
      const headers: Record<string, string> = {}
      req.headers.forEach((v, k) => (headers[k] = v))
      const body = req.body ? await req.text() : ''
      return Response.json({ method: req.method, path: new URL(req.url).pathname + new URL(req.url).search, headers, body }, { headers: { connection: 'keep-alive', 'keep-alive': 'timeout=5', 'x-upstream': 'yes' } })
    })
  })
  afterAll(() => upstream.stop())

  const boot = (extra: Record<string, unknown> = {}) => bootProxy({ rules: rules(upstream.url), serve: { enabled: true, host: '127.0.0.1', port: 0 }, ...extra })

  it('forwards an allowed request with the mutated headers and streams the body both ways', async () => {
    const { kernel, proxyUrl } = await boot()
    const res = await fetch(`${proxyUrl()}/public/upload?x=1`, { method: 'POST', body: 'a'.repeat(100_000), headers: { 'content-type': 'text/plain' } })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-upstream')).toBe('yes')
    expect(res.headers.get('keep-alive')).toBeNull()
    const got = (await res.json()) as { path: string; headers: Record<string, string>; body: string }
    expect(got.path).toBe('/public/upload?x=1')
    expect(got.headers['x-user']).toBe('anonymous')
    expect(got.body.length).toBe(100_000)
    expect((await fetch(`${proxyUrl()}/admin`)).status).toBe(403)
    expect((await fetch(`${proxyUrl()}/nowhere`)).status).toBe(404)
    await kernel.stop()
  })

  it('drops client-sent copies of mutator headers; a Connection: header cannot remove them (GHSA-w9mr-28mw-j8hg)', async () => {
    const { kernel, proxyUrl } = await boot()
    const port = Number(new URL(proxyUrl()).port)
    const r = await rawRequest(port, '/public/x', { 'X-User': 'admin', Connection: 'close, X-User, X-Upstream-Secret', 'X-Upstream-Secret': 'kept-out' })
    const body = JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4).replace(/^[0-9a-f]+\r\n/, '').replace(/\r\n0\r\n\r\n$/, ''))
    expect(body.headers['x-user']).toBe('anonymous')
    expect(body.headers['x-upstream-secret']).toBeUndefined()
    await kernel.stop()
  })

  it('Oathkeeper CVE-2026-33494: raw ../, %2e%2e, ..%2f, // and /./ paths are denied like /admin, and the forwarded path is the matched one', async () => {
    const { kernel, proxyUrl } = await boot()
    const port = Number(new URL(proxyUrl()).port)
    for (const p of ['/public/../admin', '/public/%2e%2e/admin', '/public/..%2fadmin', '//admin', '/./admin']) {
      const r = await rawRequest(port, p)
      expect({ p, status: r.status }).toEqual({ p, status: 403 })
    }
    const before = upstream.hits.length
    const ok = await rawRequest(port, '/public/a/./b/../c//d')
    expect(ok.status).toBe(200)
    expect(new URL(upstream.hits[before]?.url ?? '').pathname).toBe('/public/a/c/d')
    await kernel.stop()
  })

  it('CVE-2026-33495: X-Forwarded-* from an untrusted peer change nothing; from a trusted proxy -Proto and -For count', async () => {
    const httpsOnly = [{ ...rules(upstream.url)[0], id: 'secure', match: { url: 'https://<[^/]+>/public/<.*>', methods: ['GET'] } }]
    const untrusted = await bootProxy({ rules: httpsOnly, serve: { enabled: true, host: '127.0.0.1', port: 0 } })
    const spoof = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com', 'x-forwarded-for': '203.0.113.7' }
    expect((await fetch(`${untrusted.proxyUrl()}/public/x`, { headers: spoof })).status).toBe(404)
    // the upstream learns the socket's peer, never a client's X-Forwarded-For, from an untrusted peer
    await untrusted.kernel.stop()
    const open = await boot()
    const plain = (await (await fetch(`${open.proxyUrl()}/public/x`, { headers: { 'x-forwarded-for': '203.0.113.7' } })).json()) as { headers: Record<string, string> }
    expect(plain.headers['x-forwarded-for']).toBe('127.0.0.1')
    await open.kernel.stop()
    const trusted = await bootProxy({ rules: httpsOnly, trusted_proxies: ['127.0.0.0/8'], serve: { enabled: true, host: '127.0.0.1', port: 0 } })
    const res = await fetch(`${trusted.proxyUrl()}/public/x`, { headers: spoof })
    expect(res.status).toBe(200)
    const got = (await res.json()) as { headers: Record<string, string> }
    expect(got.headers['x-forwarded-proto']).toBe('https')
    // a trusted proxy's X-Forwarded-For is kept, and the peer appended
    expect(got.headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1')
    await trusted.kernel.stop()
  })

  it('streams the upstream response as it comes, and answers 502 when the upstream is down or the rule has none', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const slow = startServer(() => new Response(new ReadableStream({
      async start(c) {
        c.enqueue(new TextEncoder().encode('first;'))
        await gate
        c.enqueue(new TextEncoder().encode('second'))
        c.close()
      },
    })))
    const r = [
      { ...rules(slow.url)[0], id: 'slow' },
      { ...rules('http://127.0.0.1:9')[0], id: 'down', match: { url: 'http://<[^/]+>/down', methods: ['GET'] } },
      { ...rules()[0], id: 'none', match: { url: 'http://<[^/]+>/none', methods: ['GET'] }, upstream: undefined },
    ]
    const { kernel, proxyUrl } = await bootProxy({ rules: r, serve: { enabled: true, host: '127.0.0.1', port: 0 } })
    const res = await fetch(`${proxyUrl()}/public/stream`)
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('first;') // before the upstream finished
    release()
    let rest = ''
    for (let c = await reader.read(); !c.done; c = await reader.read()) rest += new TextDecoder().decode(c.value)
    expect(rest).toBe('second')
    expect((await fetch(`${proxyUrl()}/down`)).status).toBe(502)
    expect((await fetch(`${proxyUrl()}/none`)).status).toBe(502)
    await kernel.stop()
    await slow.stop()
  })

  it('strips the path prefix and can preserve the host', async () => {
    const r = [{ ...rules(upstream.url)[0], upstream: { url: `${upstream.url}/base`, strip_path: '/public', preserve_host: true } }]
    const { kernel, proxyUrl } = await bootProxy({ rules: r, serve: { enabled: true, host: '127.0.0.1', port: 0 } })
    const got = (await (await fetch(`${proxyUrl()}/public/items`)).json()) as { path: string; headers: Record<string, string> }
    expect(got.path).toBe('/base/items')
    expect(got.headers.host).toBe(new URL(proxyUrl()).host)
    await kernel.stop()
  })
})

describe('proxy rule sources', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-proxy-'))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('reloads a changed rule file; a broken file keeps the last good rules and logs why', async () => {
    const file = join(dir, 'rules.json')
    writeFileSync(file, JSON.stringify([rules()[0]]))
    const log = captureLog('debug')
    const { kernel, admin } = await bootProxy({ rule_files: [file], refresh_interval_ms: 20 }, [], log.logger)
    expect((await call(admin, 'GET', '/decisions/public/x')).status).toBe(200)
    expect((await call(admin, 'GET', '/decisions/admin')).status).toBe(404)

    writeFileSync(file, JSON.stringify(rules()))
    await waitFor(async () => (await call(admin, 'GET', '/decisions/admin')).status === 403)

    writeFileSync(file, '[{"id": "broken",')
    await waitFor(() => log.lines.some((l) => String(l.msg).includes('keeping the last good rules')))
    expect((await call(admin, 'GET', '/decisions/admin')).status).toBe(403)
    const warn = log.lines.find((l) => String(l.msg).includes('keeping the last good rules'))
    expect(String(warn?.reason)).toContain('not valid JSON')

    writeFileSync(file, JSON.stringify([{ ...rules()[0], authenticators: [{ handler: 'jwt', config: {} }] }]))
    await waitFor(() => log.lines.some((l) => String(l.reason ?? '').includes('jwks_urls')))
    expect((await call(admin, 'GET', '/decisions/admin')).status).toBe(403)
    // reported once, not on every refresh
    await Bun.sleep(150)
    expect(log.lines.filter((l) => String(l.reason ?? '').includes('jwks_urls')).length).toBe(1)
    expect(log.lines.filter((l) => String(l.reason ?? '').includes('not valid JSON')).length).toBe(1)

    // a good file after broken ones is picked up again
    writeFileSync(file, JSON.stringify([rules()[1]]))
    await waitFor(async () => (await call(admin, 'GET', '/decisions/public/x')).status === 404)
    expect((await call(admin, 'GET', '/decisions/admin')).status).toBe(403)
    await kernel.stop()
  })

  it('reports a rule URL that keeps failing once, not on every refresh, and again after it recovered and broke', async () => {
    let body: unknown = [{ id: 'remote', match: { url: 'http://localhost/r', methods: ['GET'] }, authenticators: [{ handler: 'noop' }], authorizer: { handler: 'allow' } }]
    const served = startServer(() => (body === 'down' ? new Response('nope', { status: 503 }) : Response.json(body)))
    const log = captureLog('debug')
    const { kernel, admin, ctx } = await bootProxy({ rule_urls: [`${served.url}/rules.json`], refresh_interval_ms: 60_000 }, [], log.logger)
    const warnings = () => log.lines.filter((l) => String(l.msg).includes('keeping the last good rules')).length
    body = 'down'
    for (let i = 0; i < 3; i++) await refresh(ctx as never)
    expect(warnings()).toBe(1)
    body = [{ id: 'remote', match: { url: 'http://localhost/r', methods: ['GET'] }, authenticators: [{ handler: 'jwt', config: {} }], authorizer: { handler: 'allow' } }] // fetched, refused when compiled
    for (let i = 0; i < 3; i++) await refresh(ctx as never)
    expect(warnings()).toBe(2)
    expect((await call(admin, 'GET', '/decisions/r')).status).toBe(200) // the last good rules still answer
    body = [{ id: 'remote2', match: { url: 'http://localhost/r2', methods: ['GET'] }, authenticators: [{ handler: 'noop' }], authorizer: { handler: 'allow' } }]
    expect(await refresh(ctx as never)).toBe(true)
    body = 'down'
    await refresh(ctx as never)
    expect(warnings()).toBe(3) // a new failure after a good reload is reported again
    await kernel.stop()
    await served.stop()
  })

  it('loads rules in YAML and from an HTTP URL', async () => {
    const file = join(dir, 'rules.yaml')
    writeFileSync(file, `- id: yaml\n  match: { url: "http://localhost/y", methods: [GET] }\n  authenticators: [{ handler: noop }]\n  authorizer: { handler: allow }\n`)
    const served = startServer(() => Response.json([{ id: 'remote', match: { url: 'http://localhost/r', methods: ['GET'] }, authenticators: [{ handler: 'noop' }], authorizer: { handler: 'allow' } }]))
    const { kernel, admin } = await bootProxy({ rule_files: [file], rule_urls: [`${served.url}/rules.json`], refresh_interval_ms: 60_000 })
    expect((await call(admin, 'GET', '/decisions/y')).status).toBe(200)
    expect((await call(admin, 'GET', '/decisions/r')).status).toBe(200)
    await kernel.stop()
    await served.stop()
  })
})

describe('tessera rules', () => {
  it('is a command of the real CLI through the plugin catalog', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-rules-bin-'))
    writeFileSync(join(dir, 'rules.json'), JSON.stringify(rules()))
    const p = Bun.spawnSync(['bun', join(import.meta.dir, '../../bin/tessera.ts'), 'rules', 'validate', 'rules.json'], { cwd: dir, stdout: 'pipe', stderr: 'pipe' })
    expect([p.exitCode, p.stdout.toString().trim()]).toEqual([0, 'rules.json: 2 rules OK'])
    rmSync(dir, { recursive: true, force: true })
  })


  it('validate reports each problem with its file and path; test runs fixtures against a booted kernel', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-rules-cli-'))
    writeFileSync(join(dir, 'good.json'), JSON.stringify(rules()))
    writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ id: 'b', match: { url: 'http://h/<(', methods: ['GET'] }, authenticators: [{ handler: 'noop' }], authorizer: { handler: 'allow' } }, { id: 'c' }]))
    writeFileSync(
      join(dir, 'fixture.yaml'),
      `rules: [good.json]\ncases:\n  - name: public is open\n    request: { method: GET, url: "http://localhost/public/x" }\n    expect: { status: 200, headers: { x-user: anonymous, x-global: from-config } }\n  - name: admin is closed\n    request: { url: "http://localhost/public/../admin" }\n    expect: { status: 403 }\n  - name: wrong on purpose\n    request: { url: "http://localhost/admin" }\n    expect: { status: 200 }\n`,
    )
    const out: string[] = []
    const err: string[] = []
    const io = { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s), env: {}, cwd: dir, boot: async () => bootedKernel(await bootKernel([proxy({ serve: { enabled: false }, mutators: { header: { config: { headers: { 'X-Global': 'from-config' } } } } })])) }
    const cmd = proxy.definition.commands?.rules
    expect(await cmd?.run(['validate', 'good.json'], io)).toBe(0)
    expect(out).toEqual(['good.json: 2 rules OK'])
    // glob patterns are read as globs when asked to: as regexps `<**>` would not compile
    writeFileSync(join(dir, 'glob.json'), JSON.stringify([{ ...rules()[0], id: 'g', match: { url: 'http://localhost/files/<**>', methods: ['GET'] } }]))
    expect(await cmd?.run(['validate', 'glob.json'], io)).toBe(1)
    out.length = 0
    expect(await cmd?.run(['validate', '--strategy', 'glob', 'glob.json'], io)).toBe(0)
    expect(out).toEqual(['glob.json: 1 rule OK'])
    err.length = 0
    expect(await cmd?.run(['validate', 'bad.json'], io)).toBe(1)
    expect(err.join('\n')).toContain('bad.json[1].match')
    err.length = 0
    out.length = 0
    expect(await cmd?.run(['test', 'fixture.yaml'], io)).toBe(1)
    expect(out).toEqual(['ok   fixture.yaml: public is open', 'ok   fixture.yaml: admin is closed'])
    expect(err).toEqual(['FAIL fixture.yaml: wrong on purpose: status 403, expected 200'])
    rmSync(dir, { recursive: true, force: true })
  })
})

async function waitFor(cond: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (await cond()) return
    await Bun.sleep(20)
  }
  throw new Error('condition not met in time')
}

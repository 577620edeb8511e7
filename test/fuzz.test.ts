/**
 * Bad input never gives a 5xx (issue 11, "Bad input must never give a 5xx"; DEVELOPERS.md: "never a 500 for bad
 * input"). Every first-party plugin is installed and served by the real standalone server on each driver; the
 * routes come from each listener's OpenAPI document (so a new route is fuzzed without touching this file), and
 * each gets malformed path ids, query parameters, bodies (NUL, lone surrogates, invalid UTF-8, deep nesting, wrong
 * content types, oversize) and headers (Host, cookies, tokens). Seeded fast-check keeps a failure reproducible.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'bun:test'
import { connect } from 'node:net'
import fc from 'fast-check'
import type { Kernel } from '../core/kernel/kernel.ts'
import { identity } from '../plugins/identity/index.ts'
import { password } from '../plugins/password/index.ts'
import { permissions } from '../plugins/permissions/index.ts'
import { proxy } from '../plugins/proxy/index.ts'
import { catalog } from '../plugins/catalog.ts'
import { code } from '../plugins/code/index.ts'
import { courier } from '../plugins/courier/index.ts'
import { oauth2 } from '../plugins/oauth2/index.ts'
import { webauthn } from '../plugins/webauthn/index.ts'
import { totp } from '../plugins/totp/index.ts'
import { lookupSecret } from '../plugins/lookup-secret/index.ts'
import { ui } from '../plugins/ui/index.ts'
import { type RunningServer, serve } from '../server/index.ts'
import { type CapturedLog, bootKernel, captureLog } from './helpers/app.ts'
import { type ScratchDatabase, drivers } from './helpers/databases.ts'
import { quickstartSchema } from './helpers/identity.ts'

const SEED = Number(process.env.FUZZ_SEED ?? 20261126)
const RUNS = Number(process.env.FUZZ_RUNS ?? 12)

const plugins = () => [
  identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: { uiUrl: 'http://ui.test', defaultReturnUrl: 'https://app.example.com/', allowedReturnUrls: ['https://app.example.com/'] } }),
  password({ hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } }),
  permissions({ namespaces: 'class User implements Namespace {}\nclass Doc implements Namespace { related: { viewers: User[] } }' }),
  proxy({ serve: { enabled: false } }),
  courier({ worker: { enabled: false } }),
  code(),
  oauth2(),
  webauthn({ rp: { id: 'localhost', name: 'Tessera', origins: ['http://localhost'] } }),
  totp(),
  lookupSecret(),
  ui(),
]

it('installs every first-party plugin (a new plugin in plugins/catalog.ts must be added above)', () => {
  expect(plugins().map((p) => p.id).sort()).toEqual(Object.keys(catalog).sort())
})

/** Strings no store can hold, or that have bitten parsers before. */
const NASTY = ['\0', 'a\u0000b', '\ud800', 'x\udfffy', '\ud83d', '__proto__', 'constructor', 'toString', '', ' ', '../../etc/passwd', "'; DROP TABLE x; --", 'a\r\nSet-Cookie: x=y', 'https://app.example.com/\r\nx', '😀', 'x'.repeat(5000), '-1', '1e309', 'null', '[]', '{}', '%00', 'ʼ'] as const
/** Path segments as they go on the wire (percent-encoded), including encodings that decode to nothing valid. */
const NASTY_SEGMENTS = ['%00', 'a%00b', '%ED%A0%80', '%FF', '%C0%AF', '%E2%82', '%', '%25', '..%2F..', '__proto__', 'constructor', 'x'.repeat(300), '%F0%9F%98%80', '-1', '00000000-0000-0000-0000-000000000000'] as const
/** Query values as they go on the wire. */
const NASTY_QUERY = ['%00', 'a%00b', '%ED%A0%80', '%FF', '%', '__proto__', 'constructor', 'toString', '-1', '99999999999999999999', '1.5', 'https://app.example.com/%0D%0Ax', 'https://evil.example/', '%0D%0A', 'x'.repeat(3000), ''] as const
const HOSTS = ['evil.com:99999', '[::1', 'evil.com:abc', '', '%', 'a b', '[zz]:1'] as const
const CONTENT_TYPES = ['application/json', 'application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x', 'application/xml', 'application/json; charset=latin1', ''] as const

const nastyString = fc.oneof(fc.constantFrom(...NASTY), fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 8 }))
const nastyJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, nastyString, fc.integer(), fc.double(), fc.boolean(), fc.constant(null), tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 3 }),
  object: fc.dictionary(nastyString, tie('value'), { maxKeys: 3 }),
})).value

type Op = { listener: 'public' | 'admin'; method: string; path: string; pathParams: string[]; query: string[]; bodyTypes: string[]; bodyKeys: string[] }

/** Every operation of a listener's OpenAPI document, with the names a request can fill in. */
function operationsOf(listener: 'public' | 'admin', doc: any): Op[] {
  const ops: Op[] = []
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue
      const params: any[] = op.parameters ?? []
      const content = op.requestBody?.content ?? {}
      const keys = new Set<string>()
      collectKeys(Object.values<any>(content).map((c) => c.schema), doc, keys, 0)
      ops.push({
        listener,
        method: method.toUpperCase(),
        path,
        pathParams: params.filter((p) => p.in === 'path').map((p) => p.name),
        query: params.filter((p) => p.in === 'query').map((p) => p.name),
        bodyTypes: Object.keys(content),
        bodyKeys: [...keys],
      })
    }
  }
  return ops
}

function collectKeys(schemas: any[], doc: any, into: Set<string>, depth: number) {
  if (depth > 6) return
  for (const s of schemas) {
    if (!s || typeof s !== 'object') continue
    if (typeof s.$ref === 'string') {
      collectKeys([doc.components?.schemas?.[s.$ref.split('/').pop()]], doc, into, depth + 1)
      continue
    }
    for (const k of Object.keys(s.properties ?? {})) into.add(k)
    collectKeys([...Object.values<any>(s.properties ?? {}), ...(s.anyOf ?? []), ...(s.oneOf ?? []), ...(s.allOf ?? []), s.items].filter(Boolean), doc, into, depth + 1)
  }
}

interface Fixture {
  /** A live session token, a session cookie and ids that exist, so that requests reach past authentication. */
  token: string
  cookie: string
  identityId: string
  flows: Record<string, string>
}

/** A request as raw HTTP/1.1 on a socket: any Host header and any bytes, as an attacker sends them. */
function rawRequest(port: number, head: string, body: Uint8Array = new Uint8Array()): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(head)
      socket.write(body)
    })
    const chunks: Buffer[] = []
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', reject)
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1')
      const [h = '', ...rest] = text.split('\r\n\r\n')
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(h)?.[1] ?? 0), head: h, body: rest.join('\r\n\r\n') })
    })
  })
}

const encoder = new TextEncoder()

for (const d of drivers('fuzz')) {
  describe.if(d.enabled)(`fuzz: no 5xx for any input (${d.name})`, () => {
    let scratch: ScratchDatabase
    let kernel: Kernel
    let server: RunningServer
    let ops: Op[]
    let fx: Fixture
    let log: CapturedLog
    const base = (listener: 'public' | 'admin') => (listener === 'public' ? server.publicUrl : server.adminUrl!)
    const failures: string[] = []
    beforeEach(() => {
      failures.length = 0
    })

    /** Send one request; remember it when the answer is a 5xx (or no HTTP answer at all). */
    async function send(listener: 'public' | 'admin', method: string, target: string, init: { headers?: Record<string, string>; body?: BodyInit } = {}) {
      const res = await fetch(`${base(listener)}${target}`, { method, headers: init.headers, body: init.body, redirect: 'manual' })
      const text = await res.text()
      if (res.status >= 500) failures.push(`${res.status} ${listener} ${method} ${target.slice(0, 200)} ${JSON.stringify(init.headers ?? {}).slice(0, 200)} body=${String(init.body ?? '').slice(0, 120)} → ${text.slice(0, 300)}`)
      return res
    }

    beforeAll(async () => {
      scratch = await d.create()
      log = captureLog('info')
      kernel = await bootKernel(plugins(), {
        log: log.logger,
        database: scratch.db,
        start: false,
        config: { serve: { public: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, maxRequestBodySize: 64 * 1024 } },
      })
      server = await serve(kernel, { migrate: true })
      ops = [
        ...operationsOf('public', await (await fetch(`${server.publicUrl}/openapi.json`)).json()),
        ...operationsOf('admin', await (await fetch(`${server.adminUrl}/openapi.json`)).json()),
      ]
      // a registered identity with a session, and one flow of each kind
      const reg = (await (await fetch(`${server.publicUrl}/self-service/registration/api`)).json()) as { id: string }
      const done = (await (
        await fetch(`${server.publicUrl}/self-service/registration?flow=${reg.id}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ method: 'password', traits: { email: 'fuzz@example.com' }, password: 'a fuzzing passphrase that is long' }),
        })
      ).json()) as { session_token: string; identity: { id: string } }
      const login = (await (await fetch(`${server.publicUrl}/self-service/login/api`)).json()) as { id: string }
      fx = { token: done.session_token, cookie: `ory_kratos_session=${done.session_token}`, identityId: done.identity.id, flows: { login: login.id, registration: reg.id } }
    })

    afterAll(async () => {
      await server?.stop()
      await scratch?.drop()
    })

    it('enumerates the routes of every plugin from the OpenAPI documents', () => {
      const paths = new Set(ops.map((o) => o.path))
      for (const p of ['/self-service/login', '/admin/identities/{id}', '/relation-tuples/check', '/decisions/{path}', '/sessions/whoami']) expect(paths).toContain(p)
    })

    it('malformed path ids, query parameters and JSON bodies on every route', async () => {
      const bodyArb = (op: Op) => (op.bodyKeys.length ? fc.dictionary(fc.constantFrom(...op.bodyKeys, 'method', 'traits', 'csrf_token'), nastyJson, { maxKeys: 5 }) : nastyJson)
      for (const op of ops) {
        const sample = fc.sample(
          fc.record({
            segments: fc.array(fc.oneof(fc.constantFrom(...NASTY_SEGMENTS), fc.constant(fx.identityId)), { minLength: op.pathParams.length, maxLength: op.pathParams.length }),
            query: fc.dictionary(fc.constantFrom(...op.query, 'flow', 'id', 'page_token', 'return_to', 'tokenize_as'), fc.oneof(fc.constantFrom(...NASTY_QUERY), fc.constantFrom(fx.flows.login!, fx.flows.registration!)), { maxKeys: 4 }),
            body: bodyArb(op),
            authenticated: fc.boolean(),
          }),
          { seed: SEED, numRuns: RUNS },
        )
        for (const s of sample) {
          let i = 0
          const path = op.path.replace(/\{[^}]+\}/g, () => s.segments[i++] ?? 'x')
          const qs = Object.entries(s.query).map(([k, v]) => `${encodeURIComponent(k)}=${v}`).join('&')
          const headers: Record<string, string> = { accept: 'application/json' }
          if (s.authenticated) Object.assign(headers, { 'x-session-token': fx.token, cookie: fx.cookie, authorization: `Bearer ${fx.token}` })
          const init: { headers: Record<string, string>; body?: string } = { headers }
          if (op.method !== 'GET') {
            headers['content-type'] = 'application/json'
            init.body = JSON.stringify(s.body)
          }
          await send(op.listener, op.method, qs ? `${path}?${qs}` : path, init)
        }
      }
      expect(failures).toEqual([])
    }, 60_000)

    it('bodies in every encoding, nesting and content type', async () => {
      const bodies: Uint8Array<ArrayBuffer>[] = [
        encoder.encode('{"a":"\\u0000"}'),
        encoder.encode('{"traits":{"email":"\\ud800@example.com"},"method":"password","password":"x","identifier":"\\udc00"}'),
        encoder.encode('{"\\u0000":1}'),
        new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc0, 0xaf, 0x22, 0x7d]),
        encoder.encode(`${'['.repeat(20000)}${']'.repeat(20000)}`),
        encoder.encode(`${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`),
        encoder.encode('method=password&identifier=%00&password=%ED%A0%80&traits.email=a%00b&csrf_token=%FF'),
        encoder.encode('--x\r\nContent-Disposition: form-data; name="identifier"\r\n\r\na\u0000b\r\n--x--\r\n'),
        encoder.encode('<xml/>'),
        encoder.encode('{"a":'),
        new Uint8Array([0, 0, 0]),
        encoder.encode(''),
      ]
      for (const op of ops.filter((o) => o.method !== 'GET')) {
        const path = op.path.replace(/\{[^}]+\}/g, fx.identityId)
        const query = op.query.includes('flow') ? `?flow=${op.path.includes('login') ? fx.flows.login : fx.flows.registration}` : ''
        for (const body of bodies) {
          for (const type of CONTENT_TYPES) {
            const headers: Record<string, string> = { accept: 'application/json', 'x-session-token': fx.token }
            if (type) headers['content-type'] = type
            await send(op.listener, op.method, `${path}${query}`, { headers, body })
          }
        }
      }
      expect(failures).toEqual([])
    }, 60_000)

    it('hostile headers: Host, cookies, tokens and request ids', async () => {
      const headerSets: Record<string, string>[] = [
        { cookie: 'tessera_csrf_token=a;b' },
        { cookie: 'tessera_csrf_token=' },
        { cookie: 'tessera_csrf_token=%00; ory_kratos_session=%00' },
        { cookie: `ory_kratos_session=${'x'.repeat(4000)}` },
        { 'x-session-token': '\u00ff\u00fe' },
        { authorization: 'Bearer ' },
        { authorization: 'Basic %%%' },
        { 'x-request-id': '\u00ff' },
        { 'x-forwarded-for': 'not an address, ::ffff:zz' },
        { 'content-length': '5', 'content-type': 'application/json' },
      ]
      for (const op of ops) {
        const path = op.path.replace(/\{[^}]+\}/g, fx.identityId)
        for (const headers of headerSets) {
          const body = op.method === 'GET' || headers['content-length'] ? undefined : '{}'
          if (headers['content-length']) continue
          await send(op.listener, op.method, path, { headers: { accept: 'application/json', 'content-type': 'application/json', ...headers }, body })
        }
      }
      // a Host no URL can hold, on every route of both listeners (the URL Bun builds from it cannot be parsed)
      for (const op of ops) {
        const port = Number(new URL(base(op.listener)).port)
        const path = op.path.replace(/\{[^}]+\}/g, fx.identityId)
        for (const host of HOSTS) {
          const r = await rawRequest(port, `${op.method} ${path} HTTP/1.1\r\nHost: ${host}\r\nAccept: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`)
          if (!(r.status >= 400 && r.status < 500)) failures.push(`${r.status} ${op.listener} ${op.method} ${path} Host: ${JSON.stringify(host)} → ${r.body.slice(0, 200)}`)
        }
      }
      expect(failures).toEqual([])
    }, 60_000)

    it('an unparseable Host is a 400 in Ory\'s shape, even on /health/alive', async () => {
      const port = Number(new URL(server.publicUrl).port)
      for (const host of ['%', 'evil.com:99999', '']) {
        const r = await rawRequest(port, `GET /health/alive HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
        expect({ host, status: r.status }).toEqual({ host, status: 400 })
        expect(JSON.parse(r.body).error.code).toBe(400)
        expect(r.head.toLowerCase()).toContain('x-request-id:')
        const id = /x-request-id: *([^\r\n]+)/i.exec(r.head)![1]!.trim()
        expect(log.lines.find((l) => l.msg === 'request' && l.request_id === id)?.status).toBe(400)
      }
    })

    it('an oversize body is a 413 in Ory\'s shape with a request id', async () => {
      const r = await fetch(`${server.adminUrl}/admin/identities`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ traits: { email: 'x'.repeat(70 * 1024) } }) })
      expect(r.status).toBe(413)
      const id = r.headers.get('x-request-id')
      expect(id).toBeTruthy()
      expect(((await r.json()) as any).error).toMatchObject({ code: 413, request: id })
      // and the access log has its line
      expect(log.lines.find((l) => l.msg === 'request' && l.request_id === id)?.status).toBe(413)
    })
  })
}

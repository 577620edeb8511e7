/**
 * The proxy's handlers through /decisions on the admin listener, with real servers
 * (JWKS, introspection, session check, remote authorizer, hydrator) on 127.0.0.1 and real JWTs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { type JWK, SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose'
import { definePlugin } from 'tessera'
import { call } from '../../test/helpers/app.ts'
import { type TestServer, bootProxy, startServer } from './test-helpers.ts'

const ISS = 'https://issuer.example.com/'
let rsa: CryptoKeyPair
let other: CryptoKeyPair
let jwks: TestServer
let attacker: TestServer
let publicJwk: JWK

beforeAll(async () => {
  rsa = await generateKeyPair('RS256', { extractable: true })
  other = await generateKeyPair('RS256', { extractable: true })
  publicJwk = { ...(await exportJWK(rsa.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
  jwks = startServer(() => Response.json({ keys: [publicJwk] }))
  attacker = startServer(async () => Response.json({ keys: [{ ...(await exportJWK(other.publicKey)), kid: 'evil', alg: 'RS256' }] }))
})
afterAll(async () => {
  await jwks.stop()
  await attacker.stop()
})

const sign = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key: CryptoKey = rsa.privateKey) =>
  new SignJWT({ sub: 'alice', iss: ISS, aud: 'api', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 300, scp: ['read'], ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1', ...header })
    .sign(key)

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')

const jwtRule = (config: Record<string, unknown> = {}) => ({
  id: 'api',
  match: { url: 'http://localhost/api/<.*>', methods: ['GET', 'POST'] },
  authenticators: [{ handler: 'jwt', config: { jwks_urls: [`${jwks.url}/.well-known/jwks.json`], trusted_issuers: [ISS], target_audience: ['api'], ...config } }],
  authorizer: { handler: 'allow' },
  mutators: [{ handler: 'header', config: { headers: { 'X-User': '{{ print .Subject }}', 'X-Scopes': '{{ .Extra.scp }}' } } }],
})

describe('proxy jwt authenticator', () => {
  it('accepts a valid token and gives the decision its mutated headers', async () => {
    const { kernel, admin } = await bootProxy({ rules: [jwtRule()] })
    const r = await call(admin, 'GET', '/decisions/api/orders', { headers: { authorization: `Bearer ${await sign()}` } })
    expect(r.status).toBe(200)
    expect(r.headers.get('x-user')).toBe('alice')
    expect(r.headers.get('x-scopes')).toBe('["read"]')
    await kernel.stop()
  })

  it('rejects alg none in any casing, HS256 signed with the RSA public key, an unknown kid, and a jku/x5u it never fetches (security checklist: JWT)', async () => {
    const { kernel, admin } = await bootProxy({ rules: [jwtRule()] })
    const payload = { sub: 'alice', iss: ISS, aud: 'api', exp: Math.floor(Date.now() / 1000) + 300 }
    const tokens: Record<string, string> = {}
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) tokens[`alg ${alg}`] = `${b64({ alg, kid: 'k1' })}.${b64(payload)}.`
    // HS256 with the RSA public key (PEM/JWK bytes) as the HMAC secret
    const pubBytes = new TextEncoder().encode(JSON.stringify(publicJwk))
    tokens['HS256 with the public key'] = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(pubBytes)
    tokens['unknown kid'] = await sign({}, { kid: 'nope' })
    tokens['jku to an attacker'] = await sign({}, { kid: 'evil', jku: `${attacker.url}/jwks.json` }, other.privateKey)
    tokens['x5u to an attacker'] = await sign({}, { kid: 'evil', x5u: `${attacker.url}/cert.pem` }, other.privateKey)
    tokens['kid with ../'] = await sign({}, { kid: '../../etc/passwd' })
    for (const [name, token] of Object.entries(tokens)) {
      const r = await call(admin, 'GET', '/decisions/api/x', { headers: { authorization: `Bearer ${token}` } })
      expect({ name, status: r.status }).toEqual({ name, status: 401 })
    }
    expect(attacker.hits.length).toBe(0)
    await kernel.stop()
  })

  it('rejects expired and not-yet-valid tokens, a wrong issuer or audience, and a missing scope', async () => {
    const { kernel, admin } = await bootProxy({ rules: [jwtRule({ required_scope: ['read'], scope_strategy: 'exact' })] })
    const now = Math.floor(Date.now() / 1000)
    const cases: Record<string, [string, number]> = {
      expired: [await new SignJWT({ scp: ['read'] }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('a').setIssuer(ISS).setAudience('api').setExpirationTime(now - 10).sign(rsa.privateKey), 401],
      'not yet valid': [await sign({ nbf: now + 600 }), 401],
      'wrong issuer': [await sign({ iss: 'https://evil.example.com/' }), 401],
      'wrong audience': [await sign({ aud: 'other' }), 401],
      'missing scope': [await sign({ scp: ['write'] }), 401], // Oathkeeper's jwt authenticator: 401 (introspection: 403)
    }
    for (const [name, [token, status]] of Object.entries(cases)) {
      const r = await call(admin, 'GET', '/decisions/api/x', { headers: { authorization: `Bearer ${token}` } })
      expect({ name, status: r.status }).toEqual({ name, status })
    }
    await kernel.stop()
  })

  it('answers a token larger than 8 KiB with a fast 400 (security checklist: JWT size)', async () => {
    const { kernel, admin } = await bootProxy({ rules: [jwtRule()] })
    const before = jwks.hits.length
    const r = await call(admin, 'GET', '/decisions/api/x', { headers: { authorization: `Bearer ${'a'.repeat(4000)}.${'b'.repeat(4200)}.c` } })
    expect(r.status).toBe(400)
    expect(jwks.hits.length).toBe(before)
    await kernel.stop()
  })

  it('CVE-2026-33496 class: a token verified for one rule is not accepted by a rule with another config', async () => {
    const strict = { ...jwtRule({ target_audience: ['billing'] }), id: 'billing', match: { url: 'http://localhost/billing', methods: ['GET'] } }
    const { kernel, admin } = await bootProxy({ rules: [jwtRule(), strict] })
    const token = await sign()
    expect((await call(admin, 'GET', '/decisions/api/x', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200)
    expect((await call(admin, 'GET', '/decisions/billing', { headers: { authorization: `Bearer ${token}` } })).status).toBe(401)
    await kernel.stop()
  })
})

describe('proxy oauth2_introspection authenticator', () => {
  it('CVE-2026-33496: a token cached by authenticator A (introspection URL A) is rejected by B', async () => {
    const a = startServer(() => Response.json({ active: true, sub: 'alice', scope: 'foo', token_type: 'access_token' }))
    const b = startServer(() => Response.json({ active: false }))
    const rule = (id: string, url: string) => ({
      id,
      match: { url: `http://localhost/${id}`, methods: ['GET'] },
      authenticators: [{ handler: 'oauth2_introspection', config: { introspection_url: url, cache: { enabled: true, ttl: '1m' } } }],
      authorizer: { handler: 'allow' },
    })
    const { kernel, admin } = await bootProxy({ rules: [rule('a', a.url), rule('b', b.url)] })
    const h = { authorization: 'Bearer opaque-token-1' }
    expect((await call(admin, 'GET', '/decisions/a', { headers: h })).status).toBe(200)
    expect((await call(admin, 'GET', '/decisions/a', { headers: h })).status).toBe(200)
    expect(a.hits.length).toBe(1) // cached
    expect((await call(admin, 'GET', '/decisions/b', { headers: h })).status).toBe(401)
    expect(b.hits.length).toBe(1)
    await kernel.stop()
    await a.stop()
    await b.stop()
  })

  it('CVE-2021-32701: a cache warmed with scope foo still denies a rule that requires bar', async () => {
    const a = startServer(() => Response.json({ active: true, sub: 'alice', scope: 'foo' }))
    const rule = (id: string, scope: string) => ({
      id,
      match: { url: `http://localhost/${id}`, methods: ['GET'] },
      authenticators: [{ handler: 'oauth2_introspection', config: { introspection_url: a.url, required_scope: [scope], scope_strategy: 'exact', cache: { enabled: true } } }],
      authorizer: { handler: 'allow' },
    })
    const { kernel, admin } = await bootProxy({ rules: [rule('foo', 'foo'), rule('bar', 'bar')] })
    const h = { authorization: 'Bearer opaque-token-2' }
    expect((await call(admin, 'GET', '/decisions/foo', { headers: h })).status).toBe(200)
    expect((await call(admin, 'GET', '/decisions/bar', { headers: h })).status).toBe(403)
    await kernel.stop()
    // scope_strategy none: an endpoint that ignores the requested scope but lists the token's still cannot widen access
    const none = await bootProxy({ rules: [{ ...rule('bar', 'bar'), authenticators: [{ handler: 'oauth2_introspection', config: { introspection_url: a.url, required_scope: ['bar'] } }] }] })
    expect((await call(none.admin, 'GET', '/decisions/bar', { headers: h })).status).toBe(403)
    await none.kernel.stop()
    await a.stop()
  })

  it('sends the token as a form and denies an inactive one', async () => {
    let seen = ''
    const a = startServer(async (req) => {
      seen = (await req.formData()).get('token') as string
      return Response.json({ active: seen === 'good', sub: 'bob' })
    })
    const { kernel, admin } = await bootProxy({
      rules: [{ id: 'r', match: { url: 'http://localhost/r', methods: ['GET'] }, authenticators: [{ handler: 'oauth2_introspection', config: { introspection_url: a.url } }], authorizer: { handler: 'allow' }, mutators: [{ handler: 'header', config: { headers: { 'X-User': '{{ print .Subject }}' } } }] }],
    })
    const ok = await call(admin, 'GET', '/decisions/r', { headers: { authorization: 'Bearer good' } })
    expect([ok.status, ok.headers.get('x-user'), seen]).toEqual([200, 'bob', 'good'])
    expect((await call(admin, 'GET', '/decisions/r', { headers: { authorization: 'Bearer bad' } })).status).toBe(401)
    await kernel.stop()
    await a.stop()
  })
})

describe('proxy session authenticators', () => {
  const sessionRule = (handler: string, config: Record<string, unknown> = {}) => ({
    id: 's',
    match: { url: 'http://localhost/app/<.*>', methods: ['GET'] },
    authenticators: [{ handler, config }, { handler: 'anonymous' }],
    authorizer: { handler: 'allow' },
    mutators: [{ handler: 'header', config: { headers: { 'X-User': '{{ print .Subject }}' } } }],
  })

  it('cookie_session uses the identity plugin in-process when it is installed', async () => {
    const identity = definePlugin({
      id: 'fake-identity',
      setup(ctx) {
        ctx.services.provide(
          'identity.sessions',
          {
            cookieName: 'ory_kratos_session',
            async fromToken(token) {
              if (token !== 'sess-1') return null
              const identity = { id: 'id-1', traits: { email: 'a@example.com' } }
              return { id: 's1', identityId: 'id-1', aal: 'aal1', expiresAt: new Date(Date.now() + 60_000), identity, session: { id: 's1', active: true, identity } }
            },
            async fromRequest() {
              return null
            },
          },
          ctx.id,
        )
      },
    })
    const { kernel, admin } = await bootProxy({ rules: [sessionRule('cookie_session')] }, [identity()])
    const ok = await call(admin, 'GET', '/decisions/app/x', { headers: { cookie: 'ory_kratos_session=sess-1' } })
    expect([ok.status, ok.headers.get('x-user')]).toEqual([200, 'id-1'])
    expect((await call(admin, 'GET', '/decisions/app/x', { headers: { cookie: 'ory_kratos_session=stolen' } })).status).toBe(401)
    const anon = await call(admin, 'GET', '/decisions/app/x')
    expect([anon.status, anon.headers.get('x-user')]).toEqual([200, 'anonymous'])
    await kernel.stop()
  })

  it('cookie_session and bearer_token call check_session_url without the identity plugin', async () => {
    const whoami = startServer((req) => {
      const ok = req.headers.get('cookie') === 'sid=good' || req.headers.get('authorization') === 'Bearer good'
      return ok ? Response.json({ subject: 'carol', extra: { role: 'admin' } }) : new Response(null, { status: 401 })
    })
    for (const handler of ['cookie_session', 'bearer_token']) {
      const { kernel, admin } = await bootProxy({ rules: [sessionRule(handler, { check_session_url: `${whoami.url}/sessions/whoami`, preserve_path: true })] })
      const headers: Record<string, string> = handler === 'cookie_session' ? { cookie: 'sid=good' } : { authorization: 'Bearer good' }
      const ok = await call(admin, 'GET', '/decisions/app/x', { headers })
      expect({ handler, status: ok.status, user: ok.headers.get('x-user') }).toEqual({ handler, status: 200, user: 'carol' })
      const bad: Record<string, string> = handler === 'cookie_session' ? { cookie: 'sid=bad' } : { authorization: 'Bearer bad' }
      expect((await call(admin, 'GET', '/decisions/app/x', { headers: bad })).status).toBe(401)
      await kernel.stop()
    }
    expect(new URL(whoami.hits[0]?.url ?? '').pathname).toBe('/sessions/whoami')
    await whoami.stop()
  })
})

describe('proxy authorizers', () => {
  it('remote_json posts the payload (values JSON-escaped) and follows 200 / 403; deny denies', async () => {
    const bodies: unknown[] = []
    const remote = startServer(async (req) => {
      const b = (await req.json()) as { subject: string }
      bodies.push(b)
      return new Response(null, { status: b.subject === 'ann' ? 200 : 403 })
    })
    const { kernel, admin } = await bootProxy({
      rules: [
        { id: 'r', match: { url: 'http://localhost/r', methods: ['GET'] }, authenticators: [{ handler: 'bearer_token', config: { check_session_url: 'http://127.0.0.1:9/' } }, { handler: 'anonymous' }], authorizer: { handler: 'remote_json', config: { remote: remote.url, payload: '{"subject":"{{ print .Subject }}","resource":"r"}' } } },
        { id: 'd', match: { url: 'http://localhost/d', methods: ['GET'] }, authenticators: [{ handler: 'noop' }], authorizer: { handler: 'deny' } },
      ],
      authenticators: { anonymous: { config: { subject: 'ann' } } },
    })
    expect((await call(admin, 'GET', '/decisions/r')).status).toBe(200)
    expect(bodies[0]).toEqual({ subject: 'ann', resource: 'r' })
    expect((await call(admin, 'GET', '/decisions/d')).status).toBe(403)
    await kernel.stop()
    await remote.stop()
  })
})

describe('proxy mutators and error handlers', () => {
  it('id_token signs a JWT that verifies against /.well-known/jwks.json, which holds no private parts', async () => {
    const { kernel, admin } = await bootProxy({
      rules: [{ id: 'r', match: { url: 'http://localhost/r', methods: ['GET'] }, authenticators: [{ handler: 'anonymous' }], authorizer: { handler: 'allow' }, mutators: [{ handler: 'id_token', config: { issuer_url: 'https://proxy.example.com/', claims: '{"aud":["upstream"],"via":"{{ .MatchContext.Method }}"}' } }] }],
    })
    const r = await call(admin, 'GET', '/decisions/r')
    const token = (r.headers.get('authorization') ?? '').replace('Bearer ', '')
    const set = (await call(admin, 'GET', '/.well-known/jwks.json')).json
    for (const k of set.keys) for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(k[priv]).toBeUndefined()
    const { payload } = await jwtVerify(token, createLocalJWKSet(set), { issuer: 'https://proxy.example.com/', audience: 'upstream' })
    expect([payload.sub, payload.via]).toEqual(['anonymous', 'GET'])
    await kernel.stop()
  })

  it('id_token with a configured private JWK publishes only its public half, under its kid', async () => {
    const pair = await generateKeyPair('ES256', { extractable: true })
    const jwk = { ...(await exportJWK(pair.privateKey)), kid: 'configured-1', alg: 'ES256' }
    expect(jwk.d).toBeString() // the configured key carries its private part
    const { kernel, admin } = await bootProxy({
      id_token_jwk: jwk,
      rules: [{ id: 'r', match: { url: 'http://localhost/r', methods: ['GET'] }, authenticators: [{ handler: 'anonymous' }], authorizer: { handler: 'allow' }, mutators: [{ handler: 'id_token', config: { issuer_url: 'https://proxy.example.com/' } }] }],
    })
    const set = (await call(admin, 'GET', '/.well-known/jwks.json')).json
    expect(set.keys.map((k: { kid: string }) => k.kid)).toEqual(['configured-1'])
    for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(set.keys[0][priv]).toBeUndefined()
    const token = ((await call(admin, 'GET', '/decisions/r')).headers.get('authorization') ?? '').replace('Bearer ', '')
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(set), { issuer: 'https://proxy.example.com/' })
    expect([payload.sub, protectedHeader.kid, protectedHeader.alg]).toEqual(['anonymous', 'configured-1', 'ES256'])
    await kernel.stop()
  })

  it('cookie and hydrator mutators set cookies and take extra and headers from the hydrator API', async () => {
    const hyd = startServer(async (req) => {
      const s = (await req.json()) as { subject: string; extra: Record<string, unknown> }
      return Response.json({ subject: s.subject, extra: { ...s.extra, plan: 'pro' }, header: { 'X-Plan': ['pro'] } })
    })
    const { kernel, admin } = await bootProxy({
      rules: [{
        id: 'r',
        match: { url: 'http://localhost/r', methods: ['GET'] },
        authenticators: [{ handler: 'anonymous' }],
        authorizer: { handler: 'allow' },
        mutators: [{ handler: 'hydrator', config: { api: { url: hyd.url } } }, { handler: 'cookie', config: { cookies: { user: '{{ print .Subject }}', plan: '{{ .Extra.plan }}' } } }],
      }],
    })
    const r = await call(admin, 'GET', '/decisions/r', { headers: { cookie: 'theme=dark; user=mallory' } })
    expect(r.status).toBe(200)
    expect(r.headers.get('x-plan')).toBe('pro')
    expect(r.headers.get('cookie')).toBe('theme=dark; user=anonymous; plan=pro')
    await kernel.stop()
    await hyd.stop()
  })

  it('chooses redirect for browsers, www_authenticate for others, and json by default', async () => {
    const { kernel, admin } = await bootProxy({
      rules: [{
        id: 'r',
        match: { url: 'http://localhost/r', methods: ['GET'] },
        authenticators: [{ handler: 'unauthorized' }],
        authorizer: { handler: 'allow' },
        errors: [
          { handler: 'redirect', config: { to: 'https://login.example.com/', return_to_query_param: 'return_to' }, when: [{ error: ['unauthorized'], request: { header: { accept: ['text/html'] } } }] },
          { handler: 'www_authenticate', config: { realm: 'api' }, when: [{ error: ['unauthorized'], request: { header: { accept: ['application/x-basic'] } } }] },
          { handler: 'json', config: { verbose: true } },
        ],
      }],
    })
    const browser = await call(admin, 'GET', '/decisions/r', { headers: { accept: 'text/html' } })
    expect([browser.status, browser.headers.get('location')]).toEqual([302, 'https://login.example.com/?return_to=http%3A%2F%2Flocalhost%2Fr'])
    const basic = await call(admin, 'GET', '/decisions/r', { headers: { accept: 'application/x-basic' } })
    expect([basic.status, basic.headers.get('www-authenticate')]).toEqual([401, 'Basic realm="api"'])
    const api = await call(admin, 'GET', '/decisions/r')
    expect(api.status).toBe(401)
    expect(api.json.error).toMatchObject({ code: 401, status: 'Unauthorized', reason: 'unauthorized_authenticator' })
    await kernel.stop()
  })
})

/** More handlers through /decisions: remote, oauth2_client_credentials, bearer_token in-process, and logs. */
import { describe, expect, it } from 'bun:test'
import { SignJWT, exportJWK, generateKeyPair } from 'jose'
import { definePlugin } from 'tessera'
import { call, captureLog } from '../../test/helpers/app.ts'
import { bootProxy, startServer } from './test-helpers.ts'

const base = { match: { url: 'http://localhost/r', methods: ['GET', 'POST'] } }

describe('proxy: more handlers', () => {
  it('remote posts the original body to the authorizer and forwards the response headers it names', async () => {
    const remote = startServer(async (req) => {
      const body = await req.text()
      return new Response(null, { status: body === 'let me in' ? 200 : 403, headers: { 'x-tenant-plan': 'gold' } })
    })
    const { kernel, admin } = await bootProxy({
      rules: [{ id: 'r', ...base, authenticators: [{ handler: 'noop' }], authorizer: { handler: 'remote', config: { remote: remote.url, forward_response_headers_to_upstream: ['X-Tenant-Plan'] } } }],
    })
    const ok = await call(admin, 'POST', '/decisions/r', { body: 'let me in', headers: { 'content-type': 'text/plain' } })
    expect([ok.status, ok.headers.get('x-tenant-plan')]).toEqual([200, 'gold'])
    expect((await call(admin, 'POST', '/decisions/r', { body: 'no', headers: { 'content-type': 'text/plain' } })).status).toBe(403)
    await kernel.stop()
    await remote.stop()
  })

  it('oauth2_client_credentials exchanges the Basic credentials at the token URL', async () => {
    const tokenEndpoint = startServer((req) => new Response(null, { status: req.headers.get('authorization') === `Basic ${btoa('svc:secret')}` ? 200 : 401 }))
    const { kernel, admin } = await bootProxy({
      rules: [{ id: 'r', ...base, authenticators: [{ handler: 'oauth2_client_credentials', config: { token_url: tokenEndpoint.url } }], authorizer: { handler: 'allow' }, mutators: [{ handler: 'header', config: { headers: { 'X-Client': '{{ print .Subject }}' } } }] }],
    })
    const ok = await call(admin, 'GET', '/decisions/r', { headers: { authorization: `Basic ${btoa('svc:secret')}` } })
    expect([ok.status, ok.headers.get('x-client')]).toEqual([200, 'svc'])
    expect((await call(admin, 'GET', '/decisions/r', { headers: { authorization: `Basic ${btoa('svc:wrong')}` } })).status).toBe(401)
    expect((await call(admin, 'GET', '/decisions/r')).status).toBe(401)
    await kernel.stop()
    await tokenEndpoint.stop()
  })

  it('bearer_token uses the identity plugin in-process when installed', async () => {
    const identity = definePlugin({
      id: 'fake-identity',
      setup(ctx) {
        ctx.services.provide('identity.sessions', {
          cookieName: 'ory_kratos_session',
          async fromToken(token) {
            if (token !== 'ory_st_good') return null
            const identity = { id: 'id-9' }
            return { id: 's', identityId: 'id-9', aal: 'aal1', expiresAt: new Date(Date.now() + 60_000), identity, session: { id: 's', active: true, identity } }
          },
          async fromRequest() {
            return null
          },
        }, ctx.id)
      },
    })
    const { kernel, admin } = await bootProxy({ rules: [{ id: 'r', ...base, authenticators: [{ handler: 'bearer_token' }], authorizer: { handler: 'allow' }, mutators: [{ handler: 'header', config: { headers: { 'X-User': '{{ print .Subject }}' } } }] }] }, [identity()])
    const ok = await call(admin, 'GET', '/decisions/r', { headers: { authorization: 'Bearer ory_st_good' } })
    expect([ok.status, ok.headers.get('x-user')]).toEqual([200, 'id-9'])
    expect((await call(admin, 'GET', '/decisions/r', { headers: { authorization: 'Bearer ory_st_bad' } })).status).toBe(401)
    await kernel.stop()
  })

  it('rejects a JWT with an unknown crit header or a kid with quotes or SQL, and never logs the token', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true })
    const jwks = startServer(async () => Response.json({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' }] }))
    const log = captureLog('debug')
    const { kernel, admin } = await bootProxy(
      { rules: [{ id: 'r', ...base, authenticators: [{ handler: 'jwt', config: { jwks_urls: [jwks.url] } }], authorizer: { handler: 'allow' } }] },
      [],
      log.logger,
    )
    const sign = (header: Record<string, unknown>) => new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'RS256', kid: 'k1', ...header } as never).setExpirationTime('5m').sign(privateKey)
    // jose refuses to sign an unknown crit, so this one is signed with WebCrypto directly
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url')
    const input = `${enc({ alg: 'RS256', kid: 'k1', crit: ['x-unknown'], 'x-unknown': 1 })}.${enc({ sub: 'a', exp: Math.floor(Date.now() / 1000) + 300 })}`
    const sig = Buffer.from(await crypto.subtle.sign('RSASSA-PKCS1-v1_5', privateKey, new TextEncoder().encode(input))).toString('base64url')
    const tokens = [`${input}.${sig}`, await sign({ kid: `k1' OR '1'='1` }), await sign({ kid: 'k1"' })]
    for (const t of tokens) expect((await call(admin, 'GET', '/decisions/r', { headers: { authorization: `Bearer ${t}` } })).status).toBe(401)
    expect((await call(admin, 'GET', '/decisions/r', { headers: { authorization: `Bearer ${await sign({})}` } })).status).toBe(200)
    const all = JSON.stringify(log.lines)
    // each denial is logged (with its reason), and no line carries a token's signature
    expect(log.lines.filter((l) => (l as { msg?: string }).msg === 'access denied').length).toBe(tokens.length)
    for (const t of tokens) expect(all.includes(t.split('.')[2] as string)).toBe(false)
    await kernel.stop()
    await jwks.stop()
  })
})

/**
 * Bad input at every route of the oauth2 plugin: a 400 in the right shape (Ory's on the admin API, RFC 6749's
 * on the OAuth2 endpoints), never a 500 or a stack trace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { type TestApps, bootApps } from '../../test/helpers/app.ts'
import { oauth2 } from './index.ts'

let apps: TestApps
let clientId: string
beforeAll(async () => {
  apps = await bootApps([oauth2()])
  const res = await apps.admin.handle(new Request('http://localhost/admin/clients', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_types: ['client_credentials'], response_types: [] }) }))
  clientId = (await res.json()).client_id
})
afterAll(() => apps.kernel.stop())

const J = { 'content-type': 'application/json' }
const F = { 'content-type': 'application/x-www-form-urlencoded' }

describe('oauth2 admin API: bad input is a 400 in Ory\'s shape', () => {
  const cases: [string, string, unknown, number?][] = [
    ['POST', '/admin/clients', '{not json'],
    ['POST', '/admin/clients', '[]'],
    ['POST', '/admin/clients', { redirect_uris: ['https://app.example.com/cb#frag'] }],
    ['POST', '/admin/clients', { redirect_uris: ['not a uri'] }],
    ['POST', '/admin/clients', { grant_types: ['password'] }],
    ['POST', '/admin/clients', { response_types: ['bogus'] }],
    ['POST', '/admin/clients', { token_endpoint_auth_method: 'client_secret_jwt' }],
    ['POST', '/admin/clients', { token_endpoint_auth_method: 'private_key_jwt' }],
    ['POST', '/admin/clients', { token_endpoint_auth_method: 'none', grant_types: ['client_credentials'], response_types: [] }],
    ['POST', '/admin/clients', { token_endpoint_auth_method: 'none', client_secret: 'abcdefghij' }],
    ['POST', '/admin/clients', { scope: 'a "b' }],
    ['POST', '/admin/clients', { scope: 42 }],
    ['POST', '/admin/clients', { audience: 'not-a-list' }],
    ['POST', '/admin/clients', { allowed_cors_origins: ['https://a.example.com/path'] }],
    ['POST', '/admin/clients', { client_id: 'bad id\u0000' }],
    ['POST', '/admin/clients', { client_credentials_grant_access_token_lifespan: 'forever' }],
    ['POST', '/admin/clients', { subject_type: 'pairwise' }],
    ['GET', '/admin/clients?page_size=0', undefined],
    ['GET', '/admin/clients?page_size=abc', undefined],
    ['GET', '/admin/clients?page_size=100000', undefined],
    ['GET', '/admin/clients?page_token=%00%ff', undefined],
    ['GET', '/admin/clients/%00', undefined],
    ['PATCH', '/admin/clients/CID', [{ op: 'replace', path: '/client_id', value: 'x' }]],
    ['PATCH', '/admin/clients/CID', [{ op: 'add', path: '/__proto__/x', value: 1 }]],
    ['PATCH', '/admin/clients/CID', [{ op: 'remove', path: '/nope/deeper' }]],
    ['PATCH', '/admin/clients/CID', [{ op: 'jump', path: '/client_name' }]],
    ['PATCH', '/admin/clients/CID', { op: 'replace' }],
    ['PUT', '/admin/clients/CID', { grant_types: 'x' }],
    ['PUT', '/admin/clients/CID/lifespans', { refresh_token_grant_refresh_token_lifespan: 12 }],
    ['DELETE', '/admin/oauth2/tokens', undefined],
    ['POST', '/admin/keys/set-1', { alg: 'HS256', use: 'sig', kid: 'a' }],
    ['POST', '/admin/keys/set-1', { alg: 'RS256', use: 'wat', kid: 'a' }],
    ['POST', '/admin/keys/set%20with%20space', { alg: 'RS256', use: 'sig', kid: 'a' }],
    ['PUT', '/admin/keys/set-1', { keys: [{ kty: 'oct', k: 'AAAA', kid: 'x', alg: 'HS256' }] }],
    ['PUT', '/admin/keys/set-1', { keys: [{ kty: 'RSA', kid: 'x', alg: 'RS256', n: 'AAAA', e: 'AQAB' }] }],
    ['PUT', '/admin/keys/set-1', { keys: 'no' }],
    ['PUT', '/admin/keys/set-1/kid-1', { kty: 'EC', kid: 'other', alg: 'ES256', crv: 'P-256', x: 'AAAA', y: 'AAAA' }],
  ]
  for (const [method, path, body] of cases) {
    it(`${method} ${path} ${typeof body === 'string' ? body : JSON.stringify(body)?.slice(0, 80) ?? ''}`, async () => {
      const res = await apps.admin.handle(new Request(`http://localhost${path.replace('CID', clientId)}`, { method, headers: J, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) }))
      expect(res.status).toBe(400)
      const b = await res.json()
      expect(b.error.code).toBe(400)
      expect(typeof b.error.message).toBe('string')
      expect(JSON.stringify(b)).not.toContain('    at ')
    })
  }
})

describe('oauth2 endpoints: bad input is a 400 in RFC 6749\'s shape', () => {
  const cases: [string, string, string | undefined, Record<string, string>][] = [
    ['/oauth2/token', 'grant_type=client_credentials', undefined, J],
    ['/oauth2/token', '', undefined, F],
    ['/oauth2/token', 'grant_type=client_credentials&grant_type=refresh_token', undefined, F],
    ['/oauth2/token', 'grant_type=client_credentials&client_id=a%00b', undefined, F],
    ['/oauth2/token', 'grant_type=client_credentials&client_assertion=x&client_assertion_type=other', undefined, F],
    ['/oauth2/token', 'grant_type=client_credentials&client_id=a&client_secret=b', 'Basic Zm9vOmJhcg==', F],
    ['/oauth2/revoke', 'token_type_hint=access_token', undefined, F],
    ['/oauth2/revoke', '%%%', undefined, F],
    ['/admin/oauth2/introspect', '', undefined, F],
    ['/admin/oauth2/introspect', '{"token":"x"}', undefined, J],
  ]
  for (const [path, body, auth, headers] of cases) {
    it(`POST ${path} ${body.slice(0, 60)}`, async () => {
      const app = path.startsWith('/admin') ? apps.admin : apps.public
      const res = await app.handle(new Request(`http://localhost${path}`, { method: 'POST', headers: { ...headers, ...(auth ? { authorization: auth } : {}) }, body }))
      expect(res.status).toBe(400)
      const b = await res.json()
      expect(b.error).toBe('invalid_request')
      expect(res.headers.get('cache-control')).toBe('no-store')
    })
  }

  it('a GET on the token endpoint is 405 in the same shape', async () => {
    const res = await apps.public.handle(new Request('http://localhost/oauth2/token'))
    expect(res.status).toBe(405)
    expect((await res.json()).error).toBe('invalid_request')
  })

  it('a malformed Basic credential is invalid_client (401)', async () => {
    const res = await apps.public.handle(new Request('http://localhost/oauth2/token', { method: 'POST', headers: { ...F, authorization: 'Basic %%%' }, body: 'grant_type=client_credentials' }))
    expect(res.status).toBe(401)
    expect((await res.json()).error).toBe('invalid_client')
  })
})

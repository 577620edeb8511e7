/**
 * The oauth2 plugin, driven by Hydra's SDK (@ory/client-fetch: OAuth2Api, JwkApi, WellknownApi) and by plain
 * form requests where the SDK has no call (the token and revocation endpoints). SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { Configuration, JwkApi, OAuth2Api, OidcApi, ResponseError, WellknownApi } from '@ory/client-fetch'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { bootApps, captureLog, type TestApps } from '../../test/helpers/app.ts'
import { oauth2 } from './index.ts'

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`

for (const driver of drivers('oauth2')) {
  describe.skipIf(!driver.enabled)(`oauth2 (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: TestApps
    let api: OAuth2Api
    let jwk: JwkApi
    let wellknown: WellknownApi
    let oidc: OidcApi
    const log = captureLog('debug')
    const events: { name: string; payload: unknown }[] = []
    const secrets: string[] = []

    async function form(listener: 'public' | 'admin', path: string, params: Record<string, string | string[]>, headers: Record<string, string> = {}) {
      const body = new URLSearchParams()
      for (const [k, v] of Object.entries(params)) for (const x of [v].flat()) body.append(k, x)
      const res = await apps[listener].handle(new Request(`http://localhost${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body }))
      const text = await res.text()
      return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined }
    }
    const token = (id: string, secret: string, params: Record<string, string | string[]> = {}) => form('public', '/oauth2/token', { grant_type: 'client_credentials', ...params }, { authorization: basic(id, secret) })
    const introspect = (t: string, extra: Record<string, string> = {}) => form('admin', '/admin/oauth2/introspect', { token: t, ...extra })

    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps([oauth2({ rateLimit: { perSecond: 1000, burst: 1000 } })], { database: scratch.db, log: log.logger, config: { serve: { public: { baseUrl: 'https://auth.example.com' } } as never } })
      for (const name of ['oauth2.client.created', 'oauth2.token.issued', 'oauth2.token.revoked', 'oauth2.key.rotated'] as const) {
        apps.kernel.events.on(name, (payload) => {
          events.push({ name, payload })
        })
      }
      const conf = (l: 'public' | 'admin') => new Configuration({ basePath: 'http://localhost', fetchApi: (input, init) => apps[l].handle(new Request(input as string, init)) })
      api = new OAuth2Api(conf('admin'))
      jwk = new JwkApi(conf('admin'))
      wellknown = new WellknownApi(conf('public'))
      oidc = new OidcApi(conf('public'))
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    it('creates, gets, lists, replaces, patches and deletes clients with the SDK', async () => {
      const c = await api.createOAuth2Client({ oAuth2Client: { client_name: 'backend', grant_types: ['client_credentials'], response_types: [], scope: 'read write', audience: ['https://api.example.com'] } })
      expect(c.client_id).toBeTruthy()
      expect(c.client_secret!.length).toBeGreaterThanOrEqual(43)
      secrets.push(c.client_secret!)
      expect(c.token_endpoint_auth_method).toBe('client_secret_basic')
      const got = await api.getOAuth2Client({ id: c.client_id! })
      expect(got.client_secret).toBeUndefined()
      expect(got.scope).toBe('read write')
      const listed = await api.listOAuth2Clients({ clientName: 'backend' })
      expect(listed.map((x) => x.client_id)).toEqual([c.client_id!])
      const put = await api.setOAuth2Client({ id: c.client_id!, oAuth2Client: { ...got, client_name: 'backend 2' } })
      expect(put.client_name).toBe('backend 2')
      expect(put.client_secret).toBeUndefined()
      const patched = await api.patchOAuth2Client({ id: c.client_id!, jsonPatch: [{ op: 'replace', path: '/client_name', value: 'patched' }, { op: 'add', path: '/audience/-', value: 'https://other.example.com' }] })
      expect(patched.client_name).toBe('patched')
      expect(patched.audience).toEqual(['https://api.example.com', 'https://other.example.com'])
      const spans = await api.setOAuth2ClientLifespans({ id: c.client_id!, oAuth2ClientTokenLifespans: { client_credentials_grant_access_token_lifespan: '1h' } })
      expect(spans.client_credentials_grant_access_token_lifespan).toBe('1h')
      const r = await token(c.client_id!, c.client_secret!)
      expect(r.status).toBe(200)
      expect(r.json.expires_in).toBe(3600)
      await api.deleteOAuth2Client({ id: c.client_id! })
      const gone = (await api.getOAuth2Client({ id: c.client_id! }).catch((e) => e)) as ResponseError
      expect(gone.response.status).toBe(404)
      expect(events.some((e) => e.name === 'oauth2.client.created' && (e.payload as { clientId: string }).clientId === c.client_id)).toBe(true)
    })

    it('pages the client list with Ory Link headers', async () => {
      for (let i = 0; i < 3; i++) await api.createOAuth2Client({ oAuth2Client: { client_name: 'paged', owner: 'pager', grant_types: ['client_credentials'], response_types: [] } })
      const first = await api.listOAuth2ClientsRaw({ owner: 'pager', pageSize: 2 })
      expect((await first.value()).length).toBe(2)
      const link = first.raw.headers.get('link')!
      const next = /<([^>]+)>; rel="next"/.exec(link)![1]!
      const res = await apps.admin.handle(new Request(`http://localhost${next}`))
      expect((await res.json()).length).toBe(1)
      expect(res.headers.get('link')).not.toContain('rel="next"')
      const bad = await apps.admin.handle(new Request('http://localhost/admin/clients?page_token=forged'))
      expect(bad.status).toBe(400)
    })

    it('issues client_credentials tokens within the scope and audience whitelists, and introspects them', async () => {
      const c = await api.createOAuth2Client({ oAuth2Client: { grant_types: ['client_credentials'], response_types: [], scope: 'read write', audience: ['https://api.example.com'] } })
      secrets.push(c.client_secret!)
      const ok = await token(c.client_id!, c.client_secret!, { scope: 'read', audience: 'https://api.example.com' })
      expect(ok.status).toBe(200)
      expect(ok.headers.get('cache-control')).toBe('no-store')
      expect(ok.json.token_type).toBe('bearer')
      expect(ok.json.access_token).toStartWith('ory_at_')
      expect(ok.json.expires_in).toBe(900)
      const i = await api.introspectOAuth2Token({ token: ok.json.access_token })
      expect(i.active).toBe(true)
      expect(i.client_id).toBe(c.client_id)
      expect(i.sub).toBe(c.client_id)
      expect(i.scope).toBe('read')
      expect(i.aud).toEqual(['https://api.example.com'])
      expect(i.iss).toBe('https://auth.example.com')
      expect(i.token_use).toBe('access_token')
      expect((await introspect(ok.json.access_token, { scope: 'write' })).json).toEqual({ active: false })
      const wide = await token(c.client_id!, c.client_secret!, { scope: 'admin' })
      expect(wide.status).toBe(400)
      expect(wide.json.error).toBe('invalid_scope')
      const aud = await token(c.client_id!, c.client_secret!, { audience: 'https://evil.example.com' })
      expect(aud.status).toBe(400)
      expect(aud.json.error).toBe('invalid_request')
      const post = await form('public', '/oauth2/token', { grant_type: 'client_credentials', client_id: c.client_id!, client_secret: c.client_secret! })
      expect(post.status).toBe(401)
      expect(post.json.error).toBe('invalid_client')
      expect(events.some((e) => e.name === 'oauth2.token.issued' && (e.payload as { grantType: string }).grantType === 'client_credentials')).toBe(true)
    })

    it('issues RFC 9068 JWT access tokens that verify through the published JWKS', async () => {
      const c = await api.createOAuth2Client({ oAuth2Client: { grant_types: ['client_credentials'], response_types: [], scope: 'read', access_token_strategy: 'jwt', token_endpoint_auth_method: 'client_secret_post' } })
      secrets.push(c.client_secret!)
      const r = await form('public', '/oauth2/token', { grant_type: 'client_credentials', client_id: c.client_id!, client_secret: c.client_secret!, scope: 'read' })
      expect(r.status).toBe(200)
      const jwks = await (await apps.public.handle(new Request('http://localhost/.well-known/jwks.json'))).json()
      expect(jwks.keys.length).toBeGreaterThanOrEqual(2)
      for (const k of jwks.keys) for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(k).not.toHaveProperty(m)
      expect((await wellknown.discoverJsonWebKeys()).keys!.map((k) => k.kid)).toEqual(jwks.keys.map((k: { kid: string }) => k.kid))
      const { payload, protectedHeader } = await jwtVerify(r.json.access_token, createLocalJWKSet(jwks as never), { issuer: 'https://auth.example.com', typ: 'at+jwt' })
      expect(protectedHeader.alg).toBe('RS256')
      expect(payload.client_id).toBe(c.client_id)
      expect(payload.sub).toBe(c.client_id)
      expect(payload.scope).toBe('read')
      expect((await api.introspectOAuth2Token({ token: r.json.access_token })).active).toBe(true)
    })

    it('serves discovery with every URL under the issuer', async () => {
      const d = await oidc.discoverOidcConfiguration()
      expect(d.issuer).toBe('https://auth.example.com')
      for (const k of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint', 'revocation_endpoint', 'end_session_endpoint'] as const) expect(String(d[k])).toStartWith('https://auth.example.com/')
      expect(d.grant_types_supported).toContain('client_credentials')
      expect(d.token_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'])
    })

    it('manages JSON Web Key sets with the SDK, never showing private halves', async () => {
      const created = await jwk.createJsonWebKeySet({ set: 'my-set', createJsonWebKeySet: { alg: 'ES256', kid: 'k1', use: 'sig' } })
      expect(created.keys![0]!.kid).toBe('k1')
      expect(created.keys![0]!.d).toBeUndefined()
      await jwk.createJsonWebKeySet({ set: 'my-set', createJsonWebKeySet: { alg: 'RS256', kid: 'k2', use: 'sig' } })
      const set = await jwk.getJsonWebKeySet({ set: 'my-set' })
      expect(set.keys!.map((k) => k.kid).sort()).toEqual(['k1', 'k2'])
      for (const k of set.keys!) expect(k.d).toBeUndefined()
      const one = await jwk.getJsonWebKey({ set: 'my-set', kid: 'k2' })
      expect(one.keys![0]!.kty).toBe('RSA')
      const dup = (await jwk.createJsonWebKeySet({ set: 'my-set', createJsonWebKeySet: { alg: 'RS256', kid: 'k2', use: 'sig' } }).catch((e) => e)) as ResponseError
      expect(dup.response.status).toBe(409)
      // import a public key, and a full key pair
      const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair
      const priv = { ...(await crypto.subtle.exportKey('jwk', pair.privateKey)), kid: 'imported', alg: 'ES256', use: 'sig' }
      delete (priv as Record<string, unknown>).key_ops
      const put = await jwk.setJsonWebKey({ set: 'my-set', kid: 'imported', jsonWebKey: priv as never })
      expect(put.d).toBeUndefined()
      const bad = (await jwk.setJsonWebKey({ set: 'my-set', kid: 'imported', jsonWebKey: { ...priv, x: 'AAAA' } as never }).catch((e) => e)) as ResponseError
      expect(bad.response.status).toBe(400)
      await jwk.deleteJsonWebKey({ set: 'my-set', kid: 'k1' })
      expect((await jwk.getJsonWebKeySet({ set: 'my-set' })).keys!.map((k) => k.kid).sort()).toEqual(['imported', 'k2'])
      await jwk.deleteJsonWebKeySet({ set: 'my-set' })
      const gone = (await jwk.getJsonWebKeySet({ set: 'my-set' }).catch((e) => e)) as ResponseError
      expect(gone.response.status).toBe(404)
    })

    it('never writes a token or a secret into a log line', async () => {
      const text = log.lines.map((l) => JSON.stringify(l)).join('\n')
      expect(log.lines.length).toBeGreaterThan(0)
      for (const s of secrets) expect(text).not.toContain(s)
      expect(text).not.toContain('ory_at_')
      expect(text).not.toContain('ory_rt_')
    })
  })
}

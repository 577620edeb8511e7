/**
 * The jwt-bearer grant (RFC 7523 §2.1, §3) and Hydra's trusted-issuer admin API
 * (`/admin/trust/grants/jwt-bearer/issuers`), on SQLite and PostgreSQL. Each refusal names its source:
 * RFC 7523 §3, RFC 8725 (alg confusion), fosite `handler/rfc7523`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { SignJWT, exportJWK, generateKeyPair } from 'jose'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { type TestApps, bootApps } from '../../test/helpers/app.ts'
import { oauth2 } from './index.ts'

const ISSUER = 'https://auth.example.com'
const TOKEN_URL = `${ISSUER}/oauth2/token`
const GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
const IDP = 'https://idp.example.org'
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`
const b64u = (s: string) => Buffer.from(s).toString('base64url')
const inAnHour = () => new Date(Date.now() + 3600_000).toISOString()

for (const driver of drivers('oauth2jwtbearer')) {
  describe.skipIf(!driver.enabled)(`oauth2 jwt-bearer grant and trusted issuers (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: TestApps
    let keys: CryptoKeyPair
    let jwk: Record<string, unknown>
    let app: { id: string; secret: string }

    async function admin(method: string, path: string, body?: unknown) {
      const res = await apps.admin.handle(new Request(`http://localhost${path}`, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }))
      const text = await res.text()
      return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined }
    }
    async function token(params: Record<string, string>, c = app) {
      const res = await apps.public.handle(new Request('http://localhost/oauth2/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(c.id, c.secret) }, body: new URLSearchParams({ grant_type: GRANT, ...params }) }))
      return { status: res.status, json: await res.json() }
    }
    const assertion = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key: CryptoKey = keys.privateKey) =>
      new SignJWT({ iss: IDP, sub: 'alice@example.org', aud: TOKEN_URL, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 300, jti: crypto.randomUUID(), ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: 'idp-key-1', ...header } as never)
        .sign(key)

    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps([oauth2()], { database: scratch.db, config: { serve: { public: { baseUrl: ISSUER } } as never } })
      keys = await generateKeyPair('RS256', { extractable: true })
      jwk = { ...(await exportJWK(keys.publicKey)), kid: 'idp-key-1', alg: 'RS256', use: 'sig' }
      const c = await admin('POST', '/admin/clients', { grant_types: [GRANT], response_types: [], scope: 'read write admin', audience: ['https://api.example.org'] })
      app = { id: c.json.client_id, secret: c.json.client_secret }
      const t = await admin('POST', '/admin/trust/grants/jwt-bearer/issuers', { issuer: IDP, subject: 'alice@example.org', scope: ['read', 'write'], jwk, expires_at: inAnHour() })
      expect(t.status).toBe(201)
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    describe('trusted issuers admin API (Hydra trustOAuth2JwtGrantIssuer)', () => {
      it('creates, gets, lists and deletes a trust relationship in Hydra\'s JSON', async () => {
        const created = await admin('POST', '/admin/trust/grants/jwt-bearer/issuers', { issuer: 'https://other.example', allow_any_subject: true, scope: ['read'], jwk: { ...jwk, kid: 'other-1' }, expires_at: inAnHour() })
        expect(created.status).toBe(201)
        expect(created.json).toMatchObject({ issuer: 'https://other.example', subject: '', allow_any_subject: true, scope: ['read'], public_key: { set: 'https://other.example', kid: 'other-1' } })
        expect(typeof created.json.id).toBe('string')
        expect((await admin('GET', `/admin/trust/grants/jwt-bearer/issuers/${created.json.id}`)).json).toEqual(created.json)
        const list = await admin('GET', '/admin/trust/grants/jwt-bearer/issuers?issuer=https%3A%2F%2Fother.example')
        expect(list.json.map((t: { id: string }) => t.id)).toEqual([created.json.id])
        expect(list.headers.get('link')).toContain('rel="first"')
        expect((await admin('DELETE', `/admin/trust/grants/jwt-bearer/issuers/${created.json.id}`)).status).toBe(204)
        expect((await admin('GET', `/admin/trust/grants/jwt-bearer/issuers/${created.json.id}`)).status).toBe(404)
        expect((await admin('DELETE', `/admin/trust/grants/jwt-bearer/issuers/${created.json.id}`)).status).toBe(404)
      })

      it('pages with a Link header', async () => {
        for (const i of [1, 2, 3]) await admin('POST', '/admin/trust/grants/jwt-bearer/issuers', { issuer: 'https://paged.example', subject: `s${i}`, scope: [], jwk: { ...jwk, kid: `p${i}` }, expires_at: inAnHour() })
        const first = await admin('GET', '/admin/trust/grants/jwt-bearer/issuers?issuer=https%3A%2F%2Fpaged.example&page_size=2')
        expect(first.json).toHaveLength(2)
        const next = /<([^>]+)>; rel="next"/.exec(first.headers.get('link')!)![1]!
        const second = await admin('GET', next)
        expect(second.json).toHaveLength(1)
        expect(second.headers.get('link')).not.toContain('rel="next"')
      })

      it('refuses what Hydra\'s validator refuses, with Ory 400s', async () => {
        const base = { issuer: IDP, subject: 'bob', scope: ['read'], jwk: { ...jwk, kid: 'v1' }, expires_at: inAnHour() }
        const bad = [
          { ...base, issuer: '' },
          { ...base, subject: '' },
          { ...base, allow_any_subject: true },
          { ...base, expires_at: new Date(Date.now() - 1000).toISOString() },
          { ...base, expires_at: 'tomorrow' },
          { ...base, jwk: { ...jwk, kid: undefined } },
          { ...base, scope: ['has space'] },
        ]
        for (const b of bad) {
          const r = await admin('POST', '/admin/trust/grants/jwt-bearer/issuers', b)
          expect(r.status).toBe(400)
          expect(r.json.error.code).toBe(400)
        }
      })

      it('refuses a private key, a symmetric key and alg none as the trusted key (RFC 8725 §2.1)', async () => {
        const priv = { ...(await exportJWK(keys.privateKey)), kid: 'priv', alg: 'RS256' }
        const base = { issuer: IDP, subject: 'carol', scope: ['read'], expires_at: inAnHour() }
        for (const k of [priv, { kty: 'oct', k: b64u('a shared secret of some length'), kid: 'hs', alg: 'HS256' }, { ...jwk, kid: 'none', alg: 'none' }]) {
          const r = await admin('POST', '/admin/trust/grants/jwt-bearer/issuers', { ...base, jwk: k })
          expect(r.status).toBe(400)
        }
      })

      it('refuses a second relationship for the same issuer, subject and key id (409)', async () => {
        const r = await admin('POST', '/admin/trust/grants/jwt-bearer/issuers', { issuer: IDP, subject: 'alice@example.org', scope: ['read'], jwk, expires_at: inAnHour() })
        expect(r.status).toBe(409)
      })
    })

    describe('the grant (RFC 7523)', () => {
      it('trades a trusted assertion for an access token whose subject is the assertion\'s sub', async () => {
        const r = await token({ assertion: await assertion(), scope: 'read' })
        expect(r.status).toBe(200)
        expect(r.json.token_type).toBe('bearer')
        expect(r.json.refresh_token).toBeUndefined()
        const intro = await apps.admin.handle(new Request('http://localhost/admin/oauth2/introspect', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: r.json.access_token }) }))
        expect(await intro.json()).toMatchObject({ active: true, sub: 'alice@example.org', client_id: app.id, scope: 'read' })
      })

      it('an allow_any_subject issuer vouches for any subject', async () => {
        const k2 = await generateKeyPair('ES256', { extractable: true })
        await admin('POST', '/admin/trust/grants/jwt-bearer/issuers', { issuer: 'https://any.example', allow_any_subject: true, scope: ['read'], jwk: { ...(await exportJWK(k2.publicKey)), kid: 'any-1', alg: 'ES256' }, expires_at: inAnHour() })
        const a = await new SignJWT({ jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: 'any-1' }).setIssuer('https://any.example').setSubject('whoever').setAudience(TOKEN_URL).setIssuedAt().setExpirationTime('5m').sign(k2.privateKey)
        const r = await token({ assertion: a })
        expect(r.status).toBe(200)
      })

      it('refuses a replayed assertion (RFC 7523 §3 item 7: jti single use)', async () => {
        const a = await assertion()
        expect((await token({ assertion: a })).status).toBe(200)
        const again = await token({ assertion: a })
        expect(again.status).toBe(400)
        expect(again.json.error).toBe('jti_known')
      })

      it('refuses alg none (RFC 8725 §3.1)', async () => {
        const claims = { iss: IDP, sub: 'alice@example.org', aud: TOKEN_URL, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 300, jti: crypto.randomUUID() }
        const none = `${b64u(JSON.stringify({ alg: 'none', kid: 'idp-key-1' }))}.${b64u(JSON.stringify(claims))}.`
        const r = await token({ assertion: none })
        expect(r.status).toBe(400)
        expect(r.json.error).toBe('invalid_grant')
      })

      it('refuses HS256 signed with the trusted public key as the secret (RFC 8725 §2.1, alg confusion)', async () => {
        const secret = new TextEncoder().encode(JSON.stringify(jwk))
        const a = await new SignJWT({ jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'HS256', kid: 'idp-key-1' }).setIssuer(IDP).setSubject('alice@example.org').setAudience(TOKEN_URL).setIssuedAt().setExpirationTime('5m').sign(secret)
        const r = await token({ assertion: a })
        expect(r.status).toBe(400)
        expect(r.json.error).toBe('invalid_grant')
      })

      it('refuses an assertion signed by another key (RFC 7523 §3 item 9)', async () => {
        const other = await generateKeyPair('RS256')
        const r = await token({ assertion: await assertion({}, {}, other.privateKey) })
        expect(r.status).toBe(400)
        expect(r.json.error).toBe('invalid_grant')
      })

      it('refuses an unknown issuer, and a subject the issuer is not trusted for (RFC 7523 §3 items 1, 2)', async () => {
        expect((await token({ assertion: await assertion({ iss: 'https://evil.example' }) })).json.error).toBe('invalid_grant')
        expect((await token({ assertion: await assertion({ sub: 'mallory' }) })).json.error).toBe('invalid_grant')
      })

      it('refuses an audience other than the token endpoint (RFC 7523 §3 item 3)', async () => {
        const r = await token({ assertion: await assertion({ aud: 'https://elsewhere.example/token' }) })
        expect(r.json.error).toBe('invalid_grant')
        expect(r.json.error_description).toContain(TOKEN_URL)
      })

      it('refuses an expired assertion, and one whose exp is too far after iat (RFC 7523 §3 item 4, fosite max_ttl)', async () => {
        const now = Math.floor(Date.now() / 1000)
        expect((await token({ assertion: await assertion({ exp: now - 60, iat: now - 120 }) })).json.error).toBe('invalid_grant')
        const far = await token({ assertion: await assertion({ exp: now + 721 * 3600, iat: now }) })
        expect(far.json.error).toBe('invalid_grant')
        expect(far.json.error_description).toContain('unreasonably far in the future')
      })

      it('refuses an assertion without jti or iat (Hydra: jti_optional and iat_optional are false)', async () => {
        expect((await token({ assertion: await assertion({ jti: undefined }) })).json.error_description).toContain('"jti"')
        const now = Math.floor(Date.now() / 1000)
        const noIat = await new SignJWT({ jti: crypto.randomUUID(), exp: now + 300 }).setProtectedHeader({ alg: 'RS256', kid: 'idp-key-1' }).setIssuer(IDP).setSubject('alice@example.org').setAudience(TOKEN_URL).sign(keys.privateKey)
        expect((await token({ assertion: noIat })).json.error_description).toContain('"iat"')
      })

      it('refuses scopes outside the trust relationship\'s whitelist (fosite rfc7523)', async () => {
        const r = await token({ assertion: await assertion(), scope: 'read admin' })
        expect(r.status).toBe(400)
        expect(r.json.error).toBe('invalid_scope')
      })

      it('refuses after the trust relationship expired or was deleted', async () => {
        const k3 = await generateKeyPair('RS256', { extractable: true })
        const t = await admin('POST', '/admin/trust/grants/jwt-bearer/issuers', { issuer: 'https://gone.example', subject: 'dave', scope: [], jwk: { ...(await exportJWK(k3.publicKey)), kid: 'gone-1', alg: 'RS256' }, expires_at: inAnHour() })
        const mk = () => new SignJWT({ jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'RS256', kid: 'gone-1' }).setIssuer('https://gone.example').setSubject('dave').setAudience(TOKEN_URL).setIssuedAt().setExpirationTime('5m').sign(k3.privateKey)
        expect((await token({ assertion: await mk() })).status).toBe(200)
        await admin('DELETE', `/admin/trust/grants/jwt-bearer/issuers/${t.json.id}`)
        expect((await token({ assertion: await mk() })).json.error).toBe('invalid_grant')
      })

      it('needs the assertion parameter, and a client allowed the grant', async () => {
        expect((await token({})).json.error).toBe('invalid_request')
        const cc = await admin('POST', '/admin/clients', { grant_types: ['client_credentials'], response_types: [], scope: 'read' })
        const r = await token({ assertion: await assertion() }, { id: cc.json.client_id, secret: cc.json.client_secret })
        expect(r.json.error).toBe('unauthorized_client')
      })
    })
  })
}

/**
 * Security regressions, each named by its source (../shared/reference/security-checklist.md, RFC 9700, RFC
 * 7009, RFC 7662, RFC 7523), and refresh-token rotation with reuse detection. Refresh tokens are seeded
 * through the token module (`Tokens.issue`), the one the authorization_code grant will issue through.
 * SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { SignJWT, exportJWK, generateKeyPair } from 'jose'
import { sql } from 'tessera'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { type TestApps, bootApps } from '../../test/helpers/app.ts'
import type { Client } from './clients.ts'
import { oauth2 } from './index.ts'
import type { OAuth2 } from './oauth2.ts'

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`
const ISSUER = 'https://auth.example.com'

for (const driver of drivers('oauth2sec')) {
  describe.skipIf(!driver.enabled)(`oauth2 security (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: TestApps
    let o: OAuth2

    async function form(listener: 'public' | 'admin', path: string, params: Record<string, string>, headers: Record<string, string> = {}) {
      const res = await apps[listener].handle(new Request(`http://localhost${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(params) }))
      const text = await res.text()
      return { status: res.status, headers: res.headers, text, json: text ? JSON.parse(text) : undefined }
    }
    async function client(body: Record<string, unknown>): Promise<{ id: string; secret: string; client: Client }> {
      const res = await apps.admin.handle(new Request('http://localhost/admin/clients', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_types: ['client_credentials', 'refresh_token'], response_types: [], scope: 'read write offline_access', ...body }) }))
      const c = await res.json()
      expect(res.status).toBe(201)
      return { id: c.client_id, secret: c.client_secret, client: c }
    }
    const cc = (c: { id: string; secret: string }, extra: Record<string, string> = {}) => form('public', '/oauth2/token', { grant_type: 'client_credentials', ...extra }, { authorization: basic(c.id, c.secret) })
    const introspect = (token: string) => form('admin', '/admin/oauth2/introspect', { token })
    const revoke = (c: { id: string; secret: string }, token: string) => form('public', '/oauth2/revoke', { token }, { authorization: basic(c.id, c.secret) })
    const refresh = (c: { id: string; secret: string }, token: string) => form('public', '/oauth2/token', { grant_type: 'refresh_token', refresh_token: token }, { authorization: basic(c.id, c.secret) })
    /** A user's grant as the authorization_code grant will make it: access + refresh in a new chain. */
    const seed = (c: Client, tenant = 'default') => o.tokens.issue(o.ctx.storage.scoped(tenant), { client: c, subject: 'user-1', grantType: 'authorization_code', scope: ['read', 'offline_access'], audience: [], refresh: true, issuer: ISSUER })

    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps([oauth2({ rateLimit: { perSecond: 1, burst: 200 } })], { database: scratch.db, config: { serve: { public: { baseUrl: ISSUER } } as never } })
      o = apps.kernel.plugins.find((p) => p.id === 'oauth2')!.ctx.state as OAuth2
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    describe('refresh tokens (checklist 7, RFC 9700 §4.14.2)', () => {
      it('rotates: the new pair works, the old refresh token and access token do not', async () => {
        const c = await client({})
        const first = await seed(c.client)
        const r = await refresh(c, first.refresh_token!)
        expect(r.status).toBe(200)
        expect(r.json.refresh_token).toStartWith('ory_rt_')
        expect(r.json.refresh_token).not.toBe(first.refresh_token)
        expect((await introspect(r.json.access_token)).json.active).toBe(true)
        expect((await introspect(first.access_token)).json).toEqual({ active: false })
        expect((await introspect(first.refresh_token!)).json).toEqual({ active: false })
      })

      it('a replayed refresh token revokes the whole chain', async () => {
        const c = await client({})
        const first = await seed(c.client)
        const second = (await refresh(c, first.refresh_token!)).json
        const replay = await refresh(c, first.refresh_token!)
        expect(replay.status).toBe(400)
        expect(replay.json.error).toBe('invalid_grant')
        expect((await introspect(second.access_token)).json).toEqual({ active: false })
        expect((await introspect(second.refresh_token)).json).toEqual({ active: false })
        expect((await refresh(c, second.refresh_token)).json.error).toBe('invalid_grant')
      })

      it('20 parallel refreshes of one token yield at most one winner', async () => {
        const c = await client({})
        const first = await seed(c.client)
        const results = await Promise.all(Array.from({ length: 20 }, () => refresh(c, first.refresh_token!)))
        expect(results.filter((r) => r.status === 200).length).toBeLessThanOrEqual(1)
        for (const r of results) if (r.status !== 200) expect(r.json.error).toBe('invalid_grant')
      })

      it("refuses another client's refresh token and a wider scope", async () => {
        const a = await client({})
        const b = await client({})
        const t = await seed(a.client)
        expect((await refresh(b, t.refresh_token!)).json.error).toBe('invalid_grant')
        const wider = await form('public', '/oauth2/token', { grant_type: 'refresh_token', refresh_token: t.refresh_token!, scope: 'read write' }, { authorization: basic(a.id, a.secret) })
        expect(wider.json.error).toBe('invalid_scope')
        // the refused attempts did not use it up
        expect((await refresh(a, t.refresh_token!)).status).toBe(200)
      })
    })

    describe('revocation (checklist 8, RFC 7009; fosite CVE-2020-15223)', () => {
      it("a foreign client gets unauthorized_client and the token stays active", async () => {
        const a = await client({})
        const b = await client({})
        const t = (await cc(a)).json.access_token
        const r = await revoke(b, t)
        expect(r.status).toBe(400)
        expect(r.json.error).toBe('unauthorized_client')
        expect((await introspect(t)).json.active).toBe(true)
      })

      it('an unknown token is 200', async () => {
        const a = await client({})
        expect((await revoke(a, 'ory_at_nothing')).status).toBe(200)
      })

      it('revoking an access token ends it; revoking a refresh token ends its access tokens', async () => {
        const a = await client({})
        const t = (await cc(a)).json.access_token
        expect((await revoke(a, t)).status).toBe(200)
        expect((await introspect(t)).json).toEqual({ active: false })
        const pair = await seed(a.client)
        expect((await revoke(a, pair.refresh_token!)).status).toBe(200)
        expect((await introspect(pair.access_token)).json).toEqual({ active: false })
        expect((await refresh(a, pair.refresh_token!)).json.error).toBe('invalid_grant')
      })

      it('a wrong client secret is invalid_client and revokes nothing', async () => {
        const a = await client({})
        const t = (await cc(a)).json.access_token
        const r = await revoke({ id: a.id, secret: 'wrong-secret' }, t)
        expect(r.status).toBe(401)
        expect(r.json.error).toBe('invalid_client')
        expect((await introspect(t)).json.active).toBe(true)
      })

      it('DELETE /admin/oauth2/tokens?client_id= ends every token of the client', async () => {
        const a = await client({})
        const t = (await cc(a)).json.access_token
        const pair = await seed(a.client)
        const res = await apps.admin.handle(new Request(`http://localhost/admin/oauth2/tokens?client_id=${a.id}`, { method: 'DELETE' }))
        expect(res.status).toBe(204)
        for (const x of [t, pair.access_token, pair.refresh_token!]) expect((await introspect(x)).json).toEqual({ active: false })
      })
    })

    describe('introspection (checklist 9, RFC 7662)', () => {
      it('expired, revoked, foreign and junk tokens all give exactly {"active":false}', async () => {
        const a = await client({})
        const expired = (await cc(a)).json.access_token
        const db = o.ctx.storage.scoped('default')
        await db.exec(sql`UPDATE oauth2_access_tokens SET expires_at = ${new Date(Date.now() - 1000)} WHERE nid = ${db.nid} AND client_id = ${a.id}`)
        const revoked = (await cc(a)).json.access_token
        await revoke(a, revoked)
        const foreign = (await seed(a.client, 'tenant-b')).access_token
        for (const t of [expired, revoked, foreign, 'junk', 'ory_at_', 'ory_rt_x', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.']) {
          const r = await introspect(t)
          expect(r.status).toBe(200)
          expect(r.text).toBe('{"active":false}')
        }
        // larger than 8 KiB: a fast 400 before any lookup (checklist, JWT and JWKS)
        expect((await introspect('x'.repeat(9000))).status).toBe(400)
      })

      it('stores access tokens only hashed, in issue order; a token issued before that order (hash only) still works', async () => {
        const a = await client({})
        const db = o.ctx.storage.scoped('default')
        const issued = [(await cc(a)).json.access_token as string, (await cc(a)).json.access_token as string]
        const rows = await db.query<{ signature: string }>(sql`SELECT signature FROM oauth2_access_tokens WHERE nid = ${db.nid} AND client_id = ${a.id} ORDER BY signature`)
        // the issue time the token carries, then SHA-256 of the whole token: never the token's random part
        const expected = issued.map((t) => t.slice(7, 19) + new Bun.CryptoHasher('sha256').update(t).digest('hex'))
        expect(rows.map((r) => r.signature).sort()).toEqual([...expected].sort())
        expect(issued[0]!.slice(7, 19) <= issued[1]!.slice(7, 19)).toBe(true)
        for (const t of issued) {
          expect(t).toMatch(/^ory_at_[0-9a-f]{12}[A-Za-z0-9_-]{43}$/)
          for (const r of rows) expect(r.signature).not.toContain(t.slice(19))
        }
        // the format before: ory_at_ and 43 random characters, stored as SHA-256 alone
        const old = `ory_at_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')}`
        const now = new Date()
        await db.exec(sql`INSERT INTO oauth2_access_tokens (nid, signature, chain_id, refresh_signature, client_id, subject, grant_type, scope, audience, ext, consent_id, active, issued_at, expires_at)
          VALUES (${db.nid}, ${new Bun.CryptoHasher('sha256').update(old).digest('hex')}, ${crypto.randomUUID()}, ${null}, ${a.id}, ${a.id}, ${'client_credentials'}, ${'read'}, ${sql.json([])}, ${sql.json({})}, ${null}, ${true}, ${now}, ${new Date(now.getTime() + 60_000)})`)
        expect((await introspect(old)).json).toMatchObject({ active: true, client_id: a.id })
        expect((await revoke(a, old)).status).toBe(200)
        expect((await introspect(old)).json).toEqual({ active: false })
        // a value of the new shape that was never issued is unknown, whatever time it claims
        expect((await introspect(`ory_at_${issued[0]!.slice(7, 19)}${'A'.repeat(43)}`)).json).toEqual({ active: false })
      })

      it('is served on the admin listener only (its authentication boundary), never the public one', async () => {
        const a = await client({})
        const t = (await cc(a)).json.access_token
        const r = await form('public', '/admin/oauth2/introspect', { token: t })
        expect(r.status).toBe(404)
      })

      it('an ID-token-shaped JWT that was never issued as an access token is inactive (RFC 9068 typ)', async () => {
        const { privateKey } = await generateKeyPair('RS256')
        const jwt = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'RS256', typ: 'JWT' }).setIssuer(ISSUER).setExpirationTime('1h').sign(privateKey)
        expect((await introspect(jwt)).text).toBe('{"active":false}')
      })
    })

    describe('private_key_jwt (checklist 10, RFC 7523; Hydra CVE-2020-5300, fosite GHSA-v3q9-2p3m-7g43)', () => {
      let keys: Awaited<ReturnType<typeof generateKeyPair>>
      let c: { id: string; secret: string }
      const assertion = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key: CryptoKey | Uint8Array = keys.privateKey) =>
        new SignJWT({ jti: crypto.randomUUID(), ...claims })
          .setProtectedHeader({ alg: 'RS256', kid: 'k1', ...header } as never)
          .setIssuer(c.id)
          .setSubject(c.id)
          .setAudience((claims.aud as string) ?? `${ISSUER}/oauth2/token`)
          .setExpirationTime((claims.exp as number) ?? Math.floor(Date.now() / 1000) + 60)
          .sign(key)
      const tokenWith = (jwt: string) => form('public', '/oauth2/token', { grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt })

      beforeAll(async () => {
        keys = await generateKeyPair('RS256', { extractable: true })
        const pub = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
        c = await client({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [pub] } })
      })

      it('accepts a valid assertion once; the same jti again is refused', async () => {
        const jwt = await assertion()
        expect((await tokenWith(jwt)).status).toBe(200)
        const again = await tokenWith(jwt)
        expect(again.status).toBe(401)
        expect(again.json.error).toBe('invalid_client')
      })

      it('refuses a wrong aud and a stale exp', async () => {
        expect((await tokenWith(await assertion({ aud: 'https://other.example.com/oauth2/token' }))).json.error).toBe('invalid_client')
        expect((await tokenWith(await assertion({ exp: Math.floor(Date.now() / 1000) - 120 }))).json.error).toBe('invalid_client')
        expect((await tokenWith(await assertion({ exp: Math.floor(Date.now() / 1000) + 7200 }))).json.error).toBe('invalid_client')
      })

      it('refuses alg none in any casing, HS256 keyed with the RSA public key, an unknown crit, an unknown or hostile kid, and a key in the jwk header', async () => {
        const claims = { iss: c.id, sub: c.id, aud: `${ISSUER}/oauth2/token`, exp: Math.floor(Date.now() / 1000) + 60, jti: crypto.randomUUID() }
        const b64 = (x: unknown) => Buffer.from(JSON.stringify(x)).toString('base64url')
        for (const alg of ['none', 'None', 'NONE']) expect((await tokenWith(`${b64({ alg })}.${b64(claims)}.`)).json.error).toBe('invalid_client')
        const pubJwk = await exportJWK(keys.publicKey)
        const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode(JSON.stringify(pubJwk)))
        expect((await tokenWith(hs)).json.error).toBe('invalid_client')
        // jose will not sign an unknown crit, so this one is signed by hand (WebCrypto) with the client's real key
        const input = `${b64({ alg: 'RS256', kid: 'k1', crit: ['x-unknown'], 'x-unknown': 1 })}.${b64({ ...claims, jti: crypto.randomUUID() })}`
        const sig = Buffer.from(await crypto.subtle.sign('RSASSA-PKCS1-v1_5', keys.privateKey as CryptoKey, new TextEncoder().encode(input))).toString('base64url')
        expect((await tokenWith(`${input}.${sig}`)).json.error).toBe('invalid_client')
        for (const kid of ['../../etc/passwd', "k1' OR '1'='1", 'nope']) expect((await tokenWith(await assertion({}, { kid }))).json.error).toBe('invalid_client')
        const other = await generateKeyPair('RS256', { extractable: true })
        const withJwk = await assertion({}, { kid: 'k9', jwk: await exportJWK(other.publicKey) }, other.privateKey)
        expect((await tokenWith(withJwk)).json.error).toBe('invalid_client')
      })

      it('refuses a token larger than 8 KiB quickly, with a 400', async () => {
        const r = await tokenWith('x'.repeat(9000))
        expect(r.status).toBe(400)
        expect(r.json.error).toBe('invalid_request')
      })
    })

    describe('the token endpoint', () => {
      it('answers RFC 6749 error JSON with Cache-Control: no-store', async () => {
        const r = await form('public', '/oauth2/token', { grant_type: 'client_credentials' })
        expect(r.status).toBe(401)
        expect(Object.keys(r.json).sort()).toEqual(['error', 'error_description'])
        expect(r.headers.get('cache-control')).toBe('no-store')
        const basicFail = await cc({ id: 'nobody', secret: 'whatever' })
        expect(basicFail.status).toBe(401)
        expect(basicFail.headers.get('www-authenticate')).toStartWith('Basic')
        const unsupported = await form('public', '/oauth2/token', { grant_type: 'password', username: 'a', password: 'b' }, { authorization: basic((await client({})).id, 'x') })
        expect(unsupported.json.error).toBe('invalid_client')
      })

      it('refuses grants the server or the client does not allow (no password or implicit grant, checklist 4)', async () => {
        const a = await client({ grant_types: ['client_credentials'] })
        const pw = await form('public', '/oauth2/token', { grant_type: 'password', username: 'a', password: 'b' }, { authorization: basic(a.id, a.secret) })
        expect(pw.json.error).toBe('unsupported_grant_type')
        const rt = await form('public', '/oauth2/token', { grant_type: 'refresh_token', refresh_token: 'ory_rt_x' }, { authorization: basic(a.id, a.secret) })
        expect(rt.json.error).toBe('unauthorized_client')
      })

      it('rate-limits per client (429, Retry-After, RFC 6749 shape); other clients are unaffected', async () => {
        const a = await client({})
        const b = await client({})
        let limited: Awaited<ReturnType<typeof cc>> | undefined
        for (let i = 0; i < 250 && !limited; i++) {
          const r = await cc(a)
          if (r.status === 429) limited = r
        }
        expect(limited).toBeDefined()
        expect(limited!.json.error).toBe('too_many_requests')
        expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
        expect((await cc(b)).status).toBe(200)
      })
    })

    describe('client secrets', () => {
      it('rotation keeps the old secret valid until the rotated secrets are deleted', async () => {
        const a = await client({})
        const rotated = await (await apps.admin.handle(new Request(`http://localhost/admin/clients/${a.id}/secrets/rotate`, { method: 'POST' }))).json()
        expect(rotated.client_secret).not.toBe(a.secret)
        expect((await cc(a)).status).toBe(200)
        expect((await cc({ id: a.id, secret: rotated.client_secret })).status).toBe(200)
        const del = await apps.admin.handle(new Request(`http://localhost/admin/clients/${a.id}/secrets/rotate`, { method: 'DELETE' }))
        expect(del.status).toBe(200)
        expect((await cc(a)).status).toBe(401)
        expect((await cc({ id: a.id, secret: rotated.client_secret })).status).toBe(200)
      })

      it('a short client-supplied secret is refused; a low-entropy one is slow-hashed, and both kinds work', async () => {
        const short = await apps.admin.handle(new Request('http://localhost/admin/clients', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_secret: 'abc', grant_types: ['client_credentials'], response_types: [] }) }))
        expect(short.status).toBe(400)
        const weak = await client({ client_secret: 'hunter2hunter2' })
        expect(weak.secret).toBe('hunter2hunter2')
        const db = o.ctx.storage.scoped('default')
        const row = await db.one<{ secret_hash: string }>(sql`SELECT secret_hash FROM oauth2_clients WHERE nid = ${db.nid} AND id = ${weak.id}`)
        expect(row!.secret_hash).toStartWith('argon2:')
        expect(row!.secret_hash).not.toContain('hunter2')
        expect((await cc(weak)).status).toBe(200)
        const strong = await client({})
        const srow = await db.one<{ secret_hash: string }>(sql`SELECT secret_hash FROM oauth2_clients WHERE nid = ${db.nid} AND id = ${strong.id}`)
        expect(srow!.secret_hash).toStartWith('hmac:')
      })
    })

    describe('keys', () => {
      it('a rotated-in key is published before it signs, and the old key keeps verifying', async () => {
        const before = (await (await apps.public.handle(new Request('http://localhost/.well-known/jwks.json'))).json()).keys.map((k: { kid: string }) => k.kid)
        const signing = await o.keys.signingKey('default', 'hydra.openid.id-token')
        const r = await o.rotate('default', 'hydra.openid.id-token')
        const after = (await (await apps.public.handle(new Request('http://localhost/.well-known/jwks.json'))).json()).keys.map((k: { kid: string }) => k.kid)
        expect(after).toContain(r.kid)
        for (const kid of before) expect(after).toContain(kid)
        expect(r.retired).toContain(signing.kid)
        // still inside the overlap window: the old key signs
        expect((await o.keys.signingKey('default', 'hydra.openid.id-token')).kid).toBe(signing.kid)
      })

      it('private halves are sealed at rest and open after the system secret rotates', async () => {
        const db = o.ctx.storage.scoped('default')
        const rows = await db.query<{ private_sealed: string; public_jwk: Record<string, unknown> }>(sql`SELECT private_sealed, public_jwk FROM oauth2_jwks WHERE nid = ${db.nid}`)
        expect(rows.length).toBeGreaterThan(0)
        for (const r of rows) {
          expect(r.private_sealed).not.toContain('"d"')
          expect(r.public_jwk.d).toBeUndefined()
        }
        const { DatabaseKeyStore } = await import('./keys.ts')
        const { Keyring } = await import('tessera')
        const rotatedRing = new DatabaseKeyStore(o.ctx.storage, { system: new Keyring(['a-brand-new-secret-0123456789', 'test-secret-0123456789abcdef']), cookie: o.ctx.secrets.cookie })
        const k = await rotatedRing.signingKey('default', 'hydra.jwt.access-token')
        expect((await k.sign(new Uint8Array([1, 2, 3]))).length).toBeGreaterThan(0)
      })
    })
  })
}

/**
 * Logout on SQLite and PostgreSQL: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), Hydra's logout
 * challenge API, front-channel (Front-Channel Logout 1.0) and back-channel logout (Back-Channel Logout 1.0, with
 * a real receiver that fails twice before it accepts, and a restart in between). Login sessions and consents are
 * seeded directly in their tables, as the login flow writes them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'tessera'
import { SqliteDatabase, postgresDriver } from '../../drivers/index.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { type TestApps, bootApps } from '../../test/helpers/app.ts'
import { type TestServer, startServer } from '../proxy/test-helpers.ts'
import { oauth2 } from './index.ts'
import { signJwt } from './keys.ts'
import type { OAuth2 } from './oauth2.ts'
import { ID_TOKEN_SET } from './options.ts'

const ISSUER = 'https://auth.example.com'
const APP = 'https://app.example.com'
const LOGOUT_APP = 'https://logout.example.com/logout'

for (const driver of drivers('oauth2logout')) {
  describe.skipIf(!driver.enabled)(`oauth2 logout (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: TestApps
    let withApp: TestApps
    let o: OAuth2
    let receiver: TestServer
    let failures = 0
    const received: string[] = []

    const stateOf = (a: TestApps) => a.kernel.plugins.find((p) => p.id === 'oauth2')!.ctx.state as OAuth2
    const get = (a: TestApps, listener: 'public' | 'admin', path: string, method = 'GET') => a[listener].handle(new Request(`http://localhost${path}`, { method }))

    async function client(body: Record<string, unknown>) {
      const res = await apps.admin.handle(new Request('http://localhost/admin/clients', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], redirect_uris: [`${APP}/cb`], scope: 'openid offline_access', ...body }) }))
      expect(res.status).toBe(201)
      return res.json()
    }

    /** A login session with a consent of `clientId` and tokens, as the login flow leaves them. */
    async function seedSession(clientId: string, subject = 'user-1') {
      const db = o.ctx.storage.scoped('default')
      const sid = crypto.randomUUID()
      const consent = crypto.randomUUID()
      const now = new Date()
      await db.exec(sql`INSERT INTO oauth2_login_sessions (nid, id, subject, identity_session_id, remember, acr, amr, authenticated_at, expires_at) VALUES (${db.nid}, ${sid}, ${subject}, ${null}, ${true}, ${'aal1'}, ${sql.json(['password'])}, ${now}, ${new Date(now.getTime() + 3600_000)})`)
      await db.exec(sql`INSERT INTO oauth2_consents (nid, id, subject, client_id, login_session_id, granted_scope, granted_audience, session, remember, remember_until, revoked, handled_at) VALUES (${db.nid}, ${consent}, ${subject}, ${clientId}, ${sid}, ${sql.json(['openid'])}, ${sql.json([])}, ${sql.json({})}, ${false}, ${null}, ${false}, ${now})`)
      const c = (await (await apps.admin.handle(new Request(`http://localhost/admin/clients/${clientId}`))).json())
      const online = await o.tokens.issue(db, { client: c, subject, grantType: 'authorization_code', scope: ['openid'], audience: [], refresh: true, consentId: consent, issuer: ISSUER })
      const offline = await o.tokens.issue(db, { client: c, subject, grantType: 'authorization_code', scope: ['openid', 'offline_access'], audience: [], refresh: true, consentId: consent, issuer: ISSUER })
      const now_s = Math.floor(Date.now() / 1000)
      const idToken = await signJwt(o.keys, 'default', ID_TOKEN_SET, { iss: ISSUER, sub: subject, aud: [clientId], iat: now_s, exp: now_s + 3600, sid })
      return { sid, online, offline, idToken }
    }
    const active = async (token: string) => (await (await apps.admin.handle(new Request('http://localhost/admin/oauth2/introspect', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }) }))).json()).active

    beforeAll(async () => {
      scratch = await driver.create()
      receiver = startServer(async (req) => {
        const body = new URLSearchParams(await req.text())
        if (failures < 2) {
          failures++
          return new Response('down', { status: 503 })
        }
        received.push(body.get('logout_token') ?? '')
        return new Response(null, { status: 200 })
      })
      const fast = { backchannel: { backoffSeconds: 0.1, intervalSeconds: 0.1, timeoutSeconds: 2 } }
      apps = await bootApps([oauth2({ logout: fast })], { database: scratch.db, config: { serve: { public: { baseUrl: ISSUER } } as never } })
      withApp = await bootApps([oauth2({ logout: { ...fast, url: LOGOUT_APP } })], { database: scratch.db, config: { serve: { public: { baseUrl: ISSUER } } as never } })
      o = stateOf(apps)
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await withApp.kernel.stop()
      await receiver.stop()
      await scratch.drop()
    })

    it('RP-initiated logout: front-channel iframes with iss and sid, the registered redirect with state, tokens and the login session revoked', async () => {
      const c = await client({ post_logout_redirect_uris: [`${APP}/bye`], frontchannel_logout_uri: `${APP}/fc`, frontchannel_logout_session_required: true })
      const s = await seedSession(c.client_id)
      const res = await get(apps, 'public', `/oauth2/sessions/logout?id_token_hint=${s.idToken}&post_logout_redirect_uri=${encodeURIComponent(`${APP}/bye`)}&state=st%26ate`)
      expect(res.status).toBe(200)
      const html = await res.text()
      const fc = new URL(`${APP}/fc`)
      fc.searchParams.set('iss', ISSUER)
      fc.searchParams.set('sid', s.sid)
      expect(html).toContain(`<iframe src="${fc.toString().replaceAll('&', '&#38;')}"`)
      expect(html).toContain(`url=${APP}/bye?state=st%26ate`)
      // Back-Channel Logout 1.0 §2.7: online tokens end, offline ones stay
      expect(await active(s.online.access_token)).toBe(false)
      expect(await active(s.online.refresh_token!)).toBe(false)
      expect(await active(s.offline.refresh_token!)).toBe(true)
      const db = o.ctx.storage.scoped('default')
      expect(await db.one(sql`SELECT id FROM oauth2_login_sessions WHERE nid = ${db.nid} AND id = ${s.sid}`)).toBeUndefined()
    })

    it('without front-channel clients it redirects (302) to the registered post_logout_redirect_uri', async () => {
      const c = await client({ post_logout_redirect_uris: [`${APP}/bye`] })
      const s = await seedSession(c.client_id)
      const res = await get(apps, 'public', `/oauth2/sessions/logout?id_token_hint=${s.idToken}&post_logout_redirect_uri=${encodeURIComponent(`${APP}/bye`)}&state=xyz`)
      expect(res.status).toBe(302)
      expect(res.headers.get('location')).toBe(`${APP}/bye?state=xyz`)
    })

    it('never redirects to an unregistered post_logout_redirect_uri (RP-Initiated Logout 1.0 §3.1, checklist: open redirect)', async () => {
      const c = await client({ post_logout_redirect_uris: [`${APP}/bye`] })
      const s = await seedSession(c.client_id)
      for (const uri of ['https://evil.example/bye', `${APP}/bye/extra`, `${APP}/BYE`]) {
        const res = await get(apps, 'public', `/oauth2/sessions/logout?id_token_hint=${s.idToken}&post_logout_redirect_uri=${encodeURIComponent(uri)}`)
        expect(res.status).toBe(400)
        expect(res.headers.get('location')).toBeNull()
        expect((await res.json()).error).toBe('invalid_request')
      }
      // and not without an id_token_hint naming the client (Hydra)
      const res = await get(apps, 'public', `/oauth2/sessions/logout?post_logout_redirect_uri=${encodeURIComponent(`${APP}/bye`)}&client_id=${c.client_id}`)
      expect(res.status).toBe(400)
      expect(res.headers.get('location')).toBeNull()
      // the session is still there
      expect(await active(s.online.access_token)).toBe(true)
    })

    it('refuses a forged id_token_hint (signed by another key)', async () => {
      const { generateKeyPair, SignJWT } = await import('jose')
      const k = await generateKeyPair('RS256')
      const forged = await new SignJWT({ sid: 'x' }).setProtectedHeader({ alg: 'RS256', kid: 'k' }).setIssuer(ISSUER).setSubject('user-1').setAudience('c').setIssuedAt().setExpirationTime('1h').sign(k.privateKey)
      const res = await get(apps, 'public', `/oauth2/sessions/logout?id_token_hint=${forged}`)
      expect(res.status).toBe(400)
    })

    it("Hydra's logout challenge API: the logout app reads, accepts, and the verifier finishes once", async () => {
      const c = await client({ post_logout_redirect_uris: [`${APP}/bye`] })
      const s = await seedSession(c.client_id, 'user-2')
      const start = await get(withApp, 'public', `/oauth2/sessions/logout?id_token_hint=${s.idToken}&post_logout_redirect_uri=${encodeURIComponent(`${APP}/bye`)}&state=s1`)
      expect(start.status).toBe(302)
      const to = new URL(start.headers.get('location')!)
      expect(`${to.origin}${to.pathname}`).toBe(LOGOUT_APP)
      const challenge = to.searchParams.get('logout_challenge')!
      const req = await get(withApp, 'admin', `/admin/oauth2/auth/requests/logout?logout_challenge=${challenge}`)
      expect(req.status).toBe(200)
      const body = await req.json()
      expect(body).toMatchObject({ challenge, subject: 'user-2', sid: s.sid, rp_initiated: true, client: { client_id: c.client_id } })
      expect(await active(s.online.access_token)).toBe(true)
      const accepted = await get(withApp, 'admin', `/admin/oauth2/auth/requests/logout/accept?logout_challenge=${challenge}`, 'PUT')
      const { redirect_to } = await accepted.json()
      expect(redirect_to).toStartWith(`${ISSUER}/oauth2/sessions/logout?logout_verifier=`)
      const path = redirect_to.slice(ISSUER.length)
      const done = await get(withApp, 'public', path)
      expect(done.status).toBe(302)
      expect(done.headers.get('location')).toBe(`${APP}/bye?state=s1`)
      expect(await active(s.online.access_token)).toBe(false)
      expect((await get(withApp, 'public', path)).status).toBe(400)
      expect((await get(withApp, 'admin', `/admin/oauth2/auth/requests/logout?logout_challenge=${challenge}`)).status).toBe(410)
    })

    it('a rejected logout request is gone and ends nothing', async () => {
      const c = await client({})
      const s = await seedSession(c.client_id, 'user-3')
      const start = await get(withApp, 'public', `/oauth2/sessions/logout?id_token_hint=${s.idToken}`)
      const challenge = new URL(start.headers.get('location')!).searchParams.get('logout_challenge')!
      expect((await get(withApp, 'admin', `/admin/oauth2/auth/requests/logout/reject?logout_challenge=${challenge}`, 'PUT')).status).toBe(204)
      expect((await get(withApp, 'admin', `/admin/oauth2/auth/requests/logout?logout_challenge=${challenge}`)).status).toBe(404)
      expect(await active(s.online.access_token)).toBe(true)
      expect((await get(withApp, 'admin', '/admin/oauth2/auth/requests/logout')).status).toBe(400)
      expect((await get(withApp, 'admin', '/admin/oauth2/auth/requests/logout?logout_challenge=nope')).status).toBe(404)
    })

    it('back-channel logout: a signed logout token, retried with backoff until the receiver accepts, across a restart', async () => {
      // its own database, reopened after every process stopped (a file for SQLite, the schema's DSN for PostgreSQL)
      const own = await driver.create()
      const dir = mkdtempSync(join(tmpdir(), 'tessera-logout-'))
      const open = async () => (driver.name === 'sqlite' ? new SqliteDatabase(join(dir, 'db.sqlite')) : postgresDriver.connect(own.dsn))
      const fast = { backchannel: { backoffSeconds: 0.1, intervalSeconds: 0.1, timeoutSeconds: 2 } }
      const boot = async (extra: Record<string, unknown> = {}) => bootApps([oauth2({ logout: { ...fast, ...extra } })], { database: await open(), config: { serve: { public: { baseUrl: ISSUER } } as never } })
      let first = await boot({ url: LOGOUT_APP })
      try {
        const fo = stateOf(first)
        const res0 = await first.admin.handle(new Request('http://localhost/admin/clients', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_types: ['authorization_code'], response_types: ['code'], redirect_uris: [`${APP}/cb`], scope: 'openid', backchannel_logout_uri: `${receiver.url}/bc`, backchannel_logout_session_required: true }) }))
        const c = await res0.json()
        const db = fo.ctx.storage.scoped('default')
        const sid = crypto.randomUUID()
        const now = new Date()
        await db.exec(sql`INSERT INTO oauth2_login_sessions (nid, id, subject, identity_session_id, remember, acr, amr, authenticated_at, expires_at) VALUES (${db.nid}, ${sid}, ${'user-4'}, ${null}, ${true}, ${null}, ${sql.json([])}, ${now}, ${new Date(now.getTime() + 3600_000)})`)
        await db.exec(sql`INSERT INTO oauth2_consents (nid, id, subject, client_id, login_session_id, granted_scope, granted_audience, session, remember, remember_until, revoked, handled_at) VALUES (${db.nid}, ${crypto.randomUUID()}, ${'user-4'}, ${c.client_id}, ${sid}, ${sql.json(['openid'])}, ${sql.json([])}, ${sql.json({})}, ${false}, ${null}, ${false}, ${now})`)
        const s = Math.floor(Date.now() / 1000)
        const idToken = await signJwt(fo.keys, 'default', ID_TOKEN_SET, { iss: ISSUER, sub: 'user-4', aud: [c.client_id], iat: s, exp: s + 3600, sid })
        const res = await get(first, 'public', `/oauth2/sessions/logout?id_token_hint=${idToken}`)
        const challenge = new URL(res.headers.get('location')!).searchParams.get('logout_challenge')!
        const { redirect_to } = await (await get(first, 'admin', `/admin/oauth2/auth/requests/logout/accept?logout_challenge=${challenge}`, 'PUT')).json()
        expect((await get(first, 'public', redirect_to.slice(ISSUER.length))).status).toBe(302)
        // the process stops right after the logout (the first attempt failed or is in flight): the delivery is a row
        await Bun.sleep(50)
        await first.kernel.stop()
        expect(received).toHaveLength(0)
        first = await boot()
        const deadline = Date.now() + 8000
        while (received.length === 0 && Date.now() < deadline) await Bun.sleep(50)
        expect(failures).toBe(2)
        expect(received).toHaveLength(1)
        const token = received[0]!
        expect(decodeProtectedHeader(token).typ).toBe('logout+jwt')
        const jwks = createLocalJWKSet({ keys: (await stateOf(first).keys.verificationKeys('default', ID_TOKEN_SET)) as never[] })
        const { payload } = await jwtVerify(token, jwks, { issuer: ISSUER, audience: c.client_id })
        expect(payload).toMatchObject({ sub: 'user-4', sid, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } })
        expect(typeof payload.iat).toBe('number')
        expect(typeof payload.jti).toBe('string')
        expect(payload.nonce).toBeUndefined()
        const db2 = stateOf(first).ctx.storage.scoped('default')
        await Bun.sleep(100)
        expect(await db2.query(sql`SELECT id FROM oauth2_logout_deliveries WHERE nid = ${db2.nid}`)).toHaveLength(0)
      } finally {
        await first.kernel.stop()
        await own.drop()
        rmSync(dir, { recursive: true, force: true })
      }
    })
  })
}

/**
 * The identity plugin with the password method, on SQLite and PostgreSQL:
 * Kratos' paths, shapes, status codes and message ids (kratos.openapi.json,
 * kratos/text/id.go), and the attacks of ../shared/reference/security-checklist.md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { call } from '../../test/helpers/app.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { boot } from '../../test/helpers/identity.ts'

type Apps = Awaited<ReturnType<typeof boot>>

const cookiesOf = (h: Headers) => Object.fromEntries(h.getSetCookie().map((c) => c.split(';')[0]!.split('=') as [string, string]))
const cookieHeader = (jar: Record<string, string>) => Object.entries(jar).map(([k, v]) => `${k}=${v}`).join('; ')

async function registerApi(apps: Apps, email: string, pw = 'correct horse battery staple') {
  const flow = (await call(apps.public, 'GET', '/self-service/registration/api')).json
  return call(apps.public, 'POST', `/self-service/registration?flow=${flow.id}`, { body: { method: 'password', password: pw, traits: { email, name: { first: 'Ada', last: 'Lovelace' } } } })
}

async function loginApi(apps: Apps, identifier: string, pw: string, headers: Record<string, string> = {}) {
  const flow = (await call(apps.public, 'GET', '/self-service/login/api')).json
  return call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'password', identifier, password: pw }, headers })
}

for (const driver of drivers('identity')) {
  describe.skipIf(!driver.enabled)(`identity plugin (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: Apps
    beforeAll(async () => {
      scratch = await driver.create()
      apps = await boot(scratch.db, { password: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false }, rateLimit: { perIdentifier: 3, windowSeconds: 600 } } })
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    it('serves the identity schemas (GET /schemas, /schemas/{id})', async () => {
      const list = await call(apps.public, 'GET', '/schemas')
      expect(list.status).toBe(200)
      expect(list.json[0].id).toBe('default')
      expect((await call(apps.public, 'GET', '/schemas/default')).json.properties.traits.properties.email.format).toBe('email')
      expect((await call(apps.public, 'GET', '/schemas/nope')).status).toBe(404)
    })

    it('registers through an API flow, logs in right away (session hook) and answers whoami', async () => {
      const flow = await call(apps.public, 'GET', '/self-service/registration/api')
      expect(flow.status).toBe(200)
      expect(flow.json.type).toBe('api')
      expect(flow.json.ui.method).toBe('POST')
      const names = flow.json.ui.nodes.map((n: any) => n.attributes.name)
      expect(names).toEqual(['csrf_token', 'traits.email', 'traits.name.first', 'traits.name.last', 'password', 'method'])

      const r = await registerApi(apps, 'Ada@Example.com')
      expect(r.status).toBe(200)
      expect(r.json.identity.traits.email).toBe('Ada@Example.com')
      expect(r.json.session_token).toMatch(/^ory_st_/)
      expect(r.json.session.identity.id).toBe(r.json.identity.id)

      const who = await call(apps.public, 'GET', '/sessions/whoami', { headers: { 'x-session-token': r.json.session_token } })
      expect(who.status).toBe(200)
      expect(who.json.active).toBe(true)
      expect(who.json.authenticator_assurance_level).toBe('aal1')
      expect(who.json.authentication_methods[0].method).toBe('password')
      expect(who.json.identity.traits.email).toBe('Ada@Example.com')
      const bearer = await call(apps.public, 'GET', '/sessions/whoami', { headers: { authorization: `Bearer ${r.json.session_token}` } })
      expect(bearer.json.id).toBe(who.json.id)
      const anon = await call(apps.public, 'GET', '/sessions/whoami')
      expect(anon.status).toBe(401)
      expect(anon.json.error.id).toBe('session_inactive')
    })

    it('refuses a duplicate identifier with message 4000007 and a missing trait with 4000002', async () => {
      await registerApi(apps, 'dup@example.com')
      const again = await registerApi(apps, 'DUP@example.com')
      expect(again.status).toBe(400)
      expect(again.json.ui.messages.map((m: any) => m.id)).toContain(4000007)

      const flow = (await call(apps.public, 'GET', '/self-service/registration/api')).json
      const missing = await call(apps.public, 'POST', `/self-service/registration?flow=${flow.id}`, { body: { method: 'password', password: 'correct horse battery staple', traits: {} } })
      expect(missing.status).toBe(400)
      const emailNode = missing.json.ui.nodes.find((n: any) => n.attributes.name === 'traits.email')
      expect(emailNode.messages[0].id).toBe(4000002)
    })

    it('enforces the NIST policy: min length, 64+ accepted, too similar to the identifier, common passwords', async () => {
      const short = await registerApi(apps, 'p1@example.com', 'short')
      expect(short.json.ui.nodes.find((n: any) => n.attributes.name === 'password').messages[0].id).toBe(4000032)
      const similar = await registerApi(apps, 'margaretthatcher@example.com', 'margaretthatcher1')
      expect(similar.json.ui.nodes.find((n: any) => n.attributes.name === 'password').messages[0].id).toBe(4000031)
      const common = await registerApi(apps, 'p2@example.com', 'password123')
      expect(common.json.ui.nodes.find((n: any) => n.attributes.name === 'password').messages[0].id).toBe(4000034)
      const long = Array.from({ length: 30 }, (_, i) => `x${i}!`).join('').slice(0, 90) // 90 characters, no repeated pattern: accepted and never truncated
      expect((await registerApi(apps, 'long@example.com', long)).status).toBe(200)
      expect((await loginApi(apps, 'long@example.com', long)).status).toBe(200)
      expect((await loginApi(apps, 'long@example.com', long.slice(0, 72))).status).toBe(400)
    })

    it('account enumeration (security checklist): an unknown identifier answers exactly like a wrong password', async () => {
      await registerApi(apps, 'enum@example.com')
      const wrong = await loginApi(apps, 'enum@example.com', 'not the password at all')
      const unknown = await loginApi(apps, 'nobody@example.com', 'not the password at all')
      expect(wrong.status).toBe(400)
      expect(unknown.status).toBe(400)
      expect(wrong.json.ui.messages).toEqual(unknown.json.ui.messages)
      expect(wrong.json.ui.messages[0].id).toBe(4000006)
      const strip = (f: any) => ({ ...f, id: '', expires_at: '', issued_at: '', created_at: '', updated_at: '', request_url: '', ui: { ...f.ui, action: '', nodes: f.ui.nodes.map((n: any) => (n.attributes.name === 'identifier' ? { ...n, attributes: { ...n.attributes, value: '' } } : n)) } })
      expect(strip(wrong.json)).toEqual(strip(unknown.json))
    })

    it('issues a new session token on every login (no fixation) and logs out via DELETE /self-service/logout/api', async () => {
      const reg = await registerApi(apps, 'fix@example.com')
      const a = await loginApi(apps, 'fix@example.com', 'correct horse battery staple')
      const b = await loginApi(apps, 'FIX@example.com', 'correct horse battery staple')
      expect(a.status).toBe(200)
      expect(new Set([reg.json.session_token, a.json.session_token, b.json.session_token]).size).toBe(3)
      const others = await call(apps.public, 'GET', '/sessions', { headers: { 'x-session-token': b.json.session_token } })
      expect(others.json.length).toBe(2)
      const revoked = await call(apps.public, 'DELETE', `/sessions/${a.json.session.id}`, { headers: { 'x-session-token': b.json.session_token } })
      expect(revoked.status).toBe(204)
      expect((await call(apps.public, 'GET', '/sessions/whoami', { headers: { 'x-session-token': a.json.session_token } })).status).toBe(401)
      const all = await call(apps.public, 'DELETE', '/sessions', { headers: { 'x-session-token': b.json.session_token } })
      expect(all.json.count).toBe(1)
      expect((await call(apps.public, 'DELETE', '/self-service/logout/api', { body: { session_token: b.json.session_token } })).status).toBe(204)
      expect((await call(apps.public, 'GET', '/sessions/whoami', { headers: { 'x-session-token': b.json.session_token } })).status).toBe(401)
    })

    it('rate-limits failed logins per identifier (429 with Retry-After), stored in the database', async () => {
      await registerApi(apps, 'rl@example.com')
      for (let i = 0; i < 3; i++) expect((await loginApi(apps, 'rl@example.com', `wrong password ${i}`)).status).toBe(400)
      const limited = await loginApi(apps, 'rl@example.com', 'correct horse battery staple')
      expect(limited.status).toBe(429)
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0)
    })

    it('browser flow: 303 to the UI with ?flow=, CSRF cookie, and a missing or wrong CSRF token is rejected', async () => {
      const start = await call(apps.public, 'GET', '/self-service/registration/browser')
      expect(start.status).toBe(303)
      const loc = new URL(start.headers.get('location')!)
      expect(`${loc.origin}${loc.pathname}`).toBe('http://ui.test/registration')
      const jar = cookiesOf(start.headers)
      expect(jar.tessera_csrf_token).toBeTruthy()
      const id = loc.searchParams.get('flow')!
      // Fetching a browser flow needs its CSRF cookie.
      expect((await call(apps.public, 'GET', `/self-service/registration/flows?id=${id}`)).status).toBe(403)
      const flow = await call(apps.public, 'GET', `/self-service/registration/flows?id=${id}`, { headers: { cookie: cookieHeader(jar) } })
      expect(flow.status).toBe(200)
      const csrf = flow.json.ui.nodes.find((n: any) => n.attributes.name === 'csrf_token').attributes.value
      expect(csrf).toBe(jar.tessera_csrf_token)
      const form = (token?: string) =>
        new URLSearchParams({ method: 'password', password: 'correct horse battery staple', 'traits.email': 'browser@example.com', ...(token === undefined ? {} : { csrf_token: token }) }).toString()
      const post = (token: string | undefined, cookie = cookieHeader(jar)) =>
        call(apps.public, 'POST', `/self-service/registration?flow=${id}`, { body: form(token), headers: { 'content-type': 'application/x-www-form-urlencoded', cookie } })
      expect((await post(undefined)).status).toBe(403)
      expect((await post('forged-token')).json.error.id).toBe('security_csrf_violation')
      expect((await post(csrf, '')).status).toBe(403)
      // Kratos 633076be0: with two CSRF cookies present (a stale one first), the right one is used
      const twoCookies = `tessera_csrf_token=stale-token-from-another-path; ${cookieHeader(jar)}`
      expect((await call(apps.public, 'GET', `/self-service/registration/flows?id=${id}`, { headers: { cookie: twoCookies } })).status).toBe(200)
      // a malformed %-escape in a cookie is bad input (403 here), never a server error
      expect((await call(apps.public, 'GET', `/self-service/registration/flows?id=${id}`, { headers: { cookie: 'tessera_csrf_token=%E0%A4%A' } })).status).toBe(403)
      const ok = await post(csrf, twoCookies)
      expect(ok.status).toBe(303)
      expect(ok.headers.get('location')).toBe('https://app.example.com/')
      const session = cookiesOf(ok.headers).tessera_session!
      expect(session).toBeTruthy()
      const who = await call(apps.public, 'GET', '/sessions/whoami', { headers: { cookie: `tessera_session=${session}` } })
      expect(who.json.identity.traits.email).toBe('browser@example.com')
      expect(ok.headers.getSetCookie().find((c) => c.startsWith('tessera_session='))).toContain('HttpOnly; SameSite=Lax')

      // Logout: the URL from /self-service/logout/browser, then /self-service/logout?token=.
      const lo = await call(apps.public, 'GET', '/self-service/logout/browser', { headers: { cookie: `tessera_session=${session}` } })
      expect(lo.json.logout_url).toContain('/self-service/logout?token=')
      expect((await call(apps.public, 'GET', `/self-service/logout?token=forged`, { headers: { cookie: `tessera_session=${session}` } })).status).toBe(403)
      const out = await call(apps.public, 'GET', `/self-service/logout?token=${lo.json.logout_token}`, { headers: { cookie: `tessera_session=${session}` } })
      expect(out.status).toBe(303)
      expect((await call(apps.public, 'GET', '/sessions/whoami', { headers: { cookie: `tessera_session=${session}` } })).status).toBe(401)
    })

    it('SPA mode: Accept: application/json answers the flow as JSON and the session with a cookie', async () => {
      await registerApi(apps, 'spa@example.com')
      const start = await call(apps.public, 'GET', '/self-service/login/browser', { headers: { accept: 'application/json' } })
      expect(start.status).toBe(200)
      expect(start.json.type).toBe('browser')
      const jar = cookiesOf(start.headers)
      const csrf = start.json.ui.nodes.find((n: any) => n.attributes.name === 'csrf_token').attributes.value
      const r = await call(apps.public, 'POST', `/self-service/login?flow=${start.json.id}`, {
        body: { method: 'password', identifier: 'spa@example.com', password: 'correct horse battery staple', csrf_token: csrf },
        headers: { accept: 'application/json', cookie: cookieHeader(jar) },
      })
      expect(r.status).toBe(200)
      expect(r.json.session.identity.traits.email).toBe('spa@example.com')
      expect(r.json.session_token).toBeUndefined()
      expect(cookiesOf(r.headers).tessera_session).toBeTruthy()
    })

    it('return_to allow-list (security checklist): DNS-label and path boundaries', async () => {
      const ok = await call(apps.public, 'GET', '/self-service/login/browser?return_to=https://a.example.com/x')
      expect(ok.status).toBe(303)
      for (const bad of ['https://evilexample.com/', 'https://example.com.evil.com/', 'https://shop.test/application', 'http://a.example.com/']) {
        const r = await call(apps.public, 'GET', `/self-service/login/browser?return_to=${encodeURIComponent(bad)}`, { headers: { accept: 'application/json' } })
        expect(r.status).toBe(400)
        expect(r.json.error.id).toBe('self_service_flow_return_to_forbidden')
      }
      expect((await call(apps.public, 'GET', `/self-service/login/browser?return_to=${encodeURIComponent('https://shop.test/app/cart')}`)).status).toBe(303)
    })

    it("a browser whose flow cannot be made is sent to the UI's error page; GET /self-service/errors shows the error (Kratos' errorx)", async () => {
      const evil = `return_to=${encodeURIComponent('https://evil.example.org/')}`
      const forbidden = { id: 'self_service_flow_return_to_forbidden', reason: 'Requested return_to URL "https://evil.example.org/" is not allowed.' }
      for (const [path, error] of [
        [`/self-service/login/browser?${evil}`, forbidden],
        [`/self-service/registration/browser?${evil}`, forbidden],
        // this kernel has no recovery method
        ['/self-service/recovery/browser', { id: 'self_service_flow_disabled' }],
      ] as const) {
        const r = await call(apps.public, 'GET', path, { headers: { accept: 'text/html' } })
        expect(r.status).toBe(303)
        const to = new URL(r.headers.get('location')!)
        expect(`${to.origin}${to.pathname}`).toBe('http://ui.test/error')
        const id = to.searchParams.get('id')!
        const e = await call(apps.public, 'GET', `/self-service/errors?id=${id}`)
        expect(e.status).toBe(200)
        expect(e.json).toMatchObject({ id, error: { code: 400, status: 'Bad Request', ...error } })
        expect(Date.parse(e.json.created_at)).toBeGreaterThan(Date.now() - 60_000)
        // Kratos also takes ?error=
        expect((await call(apps.public, 'GET', `/self-service/errors?error=${id}`)).json.id).toBe(id)
        // an SPA gets the error itself
        const spa = await call(apps.public, 'GET', path, { headers: { accept: 'application/json' } })
        expect(spa.status).toBe(400)
        expect(spa.json.error.id).toBe(error.id)
      }
      // an unknown or malformed id: 404 in Ory's shape; Kratos' stub for building an error page
      for (const id of [crypto.randomUUID(), 'not-an-id', '']) {
        const r = await call(apps.public, 'GET', `/self-service/errors?id=${encodeURIComponent(id)}`)
        expect(r.status).toBe(404)
        expect(r.json.error.code).toBe(404)
      }
      const stub = await call(apps.public, 'GET', '/self-service/errors?id=stub:500')
      expect(stub.json.error).toMatchObject({ code: 500, reason: 'This is a stub error.' })
    })

    it('an expired login flow answers 410 self_service_flow_expired and the new flow carries 4010001', async () => {
      const flow = (await call(apps.public, 'GET', '/self-service/login/api')).json
      await scratch.db.exec((await import('tessera')).sql`UPDATE selfservice_flows SET expires_at = ${new Date(Date.now() - 60_000)} WHERE nid = ${'default'} AND id = ${flow.id}`)
      const r = await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'password', identifier: 'x@example.com', password: 'whatever it is' } })
      expect(r.status).toBe(410)
      expect(r.json.error.id).toBe('self_service_flow_expired')
      const next = await call(apps.public, 'GET', `/self-service/login/flows?id=${r.json.use_flow_id}`)
      expect(next.json.ui.messages[0].id).toBe(4010001)

      // Browser: back to the UI with a new flow that says why.
      const start = await call(apps.public, 'GET', '/self-service/login/browser')
      const jar = cookieHeader(cookiesOf(start.headers))
      const id = new URL(start.headers.get('location')!).searchParams.get('flow')!
      await scratch.db.exec((await import('tessera')).sql`UPDATE selfservice_flows SET expires_at = ${new Date(Date.now() - 60_000)} WHERE nid = ${'default'} AND id = ${id}`)
      const csrf = cookiesOf(start.headers).tessera_csrf_token!
      const b = await call(apps.public, 'POST', `/self-service/login?flow=${id}`, { body: new URLSearchParams({ method: 'password', identifier: 'x@example.com', password: 'whatever it is', csrf_token: csrf }).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: jar } })
      expect(b.status).toBe(303)
      const newId = new URL(b.headers.get('location')!).searchParams.get('flow')!
      expect(newId).not.toBe(id)
      const fresh = await call(apps.public, 'GET', `/self-service/login/flows?id=${newId}`, { headers: { cookie: jar } })
      expect(fresh.json.ui.messages[0].id).toBe(4010001)
    })
  })
}

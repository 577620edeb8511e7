/**
 * The code plugin and the identity plugin's account flows, on SQLite and PostgreSQL: verification, recovery (code
 * and link), settings (profile, password, privileged sessions), passwordless login and registration by code with
 * the magic link, in API, SPA and browser variants. Messages are recorded by a test courier (test/helpers/courier.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { Configuration, FrontendApi } from '@ory/client-fetch'
import { sql } from 'tessera'
import { call } from '../../test/helpers/app.ts'
import { recordingCourier } from '../../test/helpers/courier.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { bootApps } from '../../test/helpers/app.ts'
import { quickstartSchema, testSelfservice } from '../../test/helpers/identity.ts'
import { identity } from '../identity/index.ts'
import { password } from '../password/index.ts'
import { code } from './index.ts'

const PW = 'correct horse battery staple'
const jarOf = (h: Headers) => h.getSetCookie().map((c) => c.split(';')[0]!).join('; ')
const mergeJar = (a: string, h: Headers) => {
  const m = new Map(a.split('; ').filter(Boolean).map((c) => [c.split('=')[0]!, c]))
  for (const c of h.getSetCookie().map((x) => x.split(';')[0]!)) m.set(c.split('=')[0]!, c)
  return [...m.values()].join('; ')
}
const JSONH = { accept: 'application/json', 'content-type': 'application/json' }
const csrfOf = (flow: any) => flow.ui.nodes.find((n: any) => n.attributes.name === 'csrf_token').attributes.value
const node = (flow: any, name: string) => flow.ui.nodes.find((n: any) => n.attributes.name === name)

for (const driver of drivers('code')) {
  describe.skipIf(!driver.enabled)(`account flows and the code method (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: Awaited<ReturnType<typeof bootApps>>
    const courier = recordingCourier()
    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps(
        [
          identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: { ...testSelfservice, privilegedSessionMaxAge: 600 } }),
          password({ hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } }),
          courier.plugin,
          code({ resend: { perAddress: 50 } }),
        ],
        { database: scratch.db },
      )
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    /** Register by password through the API; the session token. */
    async function registerApi(email: string) {
      const flow = (await call(apps.public, 'GET', '/self-service/registration/api')).json
      const r = await call(apps.public, 'POST', `/self-service/registration?flow=${flow.id}`, { body: { method: 'password', password: PW, traits: { email } } })
      expect(r.status).toBe(200)
      return r.json
    }

    describe('verification', () => {
      it('registration stores a pending address, sends a code, and shows the verification flow; the code verifies it (API)', async () => {
        const reg = await registerApi('verify-api@example.com')
        const show = reg.continue_with.find((c: any) => c.action === 'show_verification_ui')
        expect(show.flow.verifiable_address).toBe('verify-api@example.com')
        expect(reg.identity.verifiable_addresses[0]).toMatchObject({ value: 'verify-api@example.com', verified: false, status: 'sent', via: 'email' })
        const msg = courier.last('verify-api@example.com', 'verification_code.valid')!
        expect(msg.data.verification_code).toMatch(/^\d{6}$/)
        expect(String(msg.data.verification_url)).toContain(`/self-service/verification?flow=${show.flow.id}&code=`)
        const wrong = await call(apps.public, 'POST', `/self-service/verification?flow=${show.flow.id}`, { body: { method: 'code', code: '000000' === msg.data.verification_code ? '111111' : '000000' } })
        expect(wrong.status).toBe(400)
        expect(node(wrong.json, 'code').messages[0].id).toBe(4070006)
        const ok = await call(apps.public, 'POST', `/self-service/verification?flow=${show.flow.id}`, { body: { method: 'code', code: msg.data.verification_code } })
        expect(ok.status).toBe(200)
        expect(ok.json.state).toBe('passed_challenge')
        expect(ok.json.ui.messages[0].id).toBe(1080002)
        const me = await call(apps.public, 'GET', '/sessions/whoami', { headers: { 'x-session-token': reg.session_token } })
        expect(me.json.identity.verifiable_addresses[0]).toMatchObject({ verified: true, status: 'completed' })
        expect(me.json.identity.verifiable_addresses[0].verified_at).toBeString()
        // single use
        const again = await call(apps.public, 'POST', `/self-service/verification?flow=${show.flow.id}`, { body: { method: 'code', code: msg.data.verification_code } })
        expect(again.status).toBe(400)
      })

      it('a verification flow started by the user sends a code to a known address; the emailed link verifies too (browser)', async () => {
        await registerApi('verify-browser@example.com')
        const start = await call(apps.public, 'GET', '/self-service/verification/browser')
        expect(start.status).toBe(303)
        const jar = jarOf(start.headers)
        const id = new URL(start.headers.get('location')!).searchParams.get('flow')!
        const flow = (await call(apps.public, 'GET', `/self-service/verification/flows?id=${id}`, { headers: { cookie: jar } })).json
        const sent = await call(apps.public, 'POST', `/self-service/verification?flow=${id}`, { headers: { cookie: jar }, body: new URLSearchParams({ method: 'code', email: 'Verify-Browser@example.com', csrf_token: csrfOf(flow) }) })
        expect(sent.status).toBe(303)
        const msg = courier.last('verify-browser@example.com', 'verification_code.valid')!
        const link = await call(apps.public, 'GET', new URL(String(msg.data.verification_url)).pathname + new URL(String(msg.data.verification_url)).search)
        expect(link.status).toBe(303)
        const admin = await call(apps.admin, 'GET', `/admin/identities?credentials_identifier=verify-browser@example.com`)
        expect(admin.json[0].verifiable_addresses[0].verified).toBe(true)
      })

      it('require_verified_address refuses a login until the address is verified (4000010)', async () => {
        const strict = await bootApps(
          [identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: { ...testSelfservice, loginAfter: ['require_verified_address'] } }), password({ hasher: { memoryCost: 64, timeCost: 1 } }), recordingCourier().plugin, code()],
        )
        const reg = (await call(strict.public, 'GET', '/self-service/registration/api')).json
        await call(strict.public, 'POST', `/self-service/registration?flow=${reg.id}`, { body: { method: 'password', password: PW, traits: { email: 'strict@example.com' } } })
        const login = (await call(strict.public, 'GET', '/self-service/login/api')).json
        const r = await call(strict.public, 'POST', `/self-service/login?flow=${login.id}`, { body: { method: 'password', identifier: 'strict@example.com', password: PW } })
        expect(r.status).toBe(400)
        expect(r.json.ui.messages[0].id).toBe(4000010)
        await strict.kernel.stop()
      })
    })

    describe('recovery', () => {
      it('by code (API): same answer for a known and an unknown address; the code gives a privileged session and the settings flow', async () => {
        await registerApi('recover-me@example.com')
        const before = courier.sent.length
        const answers = []
        for (const email of ['recover-me@example.com', 'nobody-here@example.com']) {
          const flow = (await call(apps.public, 'GET', '/self-service/recovery/api')).json
          const r = await call(apps.public, 'POST', `/self-service/recovery?flow=${flow.id}`, { body: { method: 'code', email } })
          answers.push({ status: r.status, shape: shapeOf(r.json), flow: r.json })
        }
        expect(answers[0]!.status).toBe(200)
        expect(answers[1]!.status).toBe(answers[0]!.status)
        expect(answers[1]!.shape).toEqual(answers[0]!.shape)
        expect(answers[0]!.flow.ui.messages[0].id).toBe(1060003)
        // only the known address got a message (notify_unknown_recipients is off)
        expect(courier.sent.slice(before).map((m) => m.recipient)).toEqual(['recover-me@example.com'])
        const c = courier.last('recover-me@example.com', 'recovery_code.valid')!.data.recovery_code
        const done = await call(apps.public, 'POST', `/self-service/recovery?flow=${answers[0]!.flow.id}`, { body: { method: 'code', code: c } })
        expect(done.status).toBe(200)
        const token = done.json.continue_with.find((x: any) => x.action === 'set_ory_session_token').ory_session_token
        const settingsId = done.json.continue_with.find((x: any) => x.action === 'show_settings_ui').flow.id
        // the new password, without re-authenticating (the recovery session is privileged)
        const settings = (await call(apps.public, 'GET', `/self-service/settings/flows?id=${settingsId}`, { headers: { 'x-session-token': token } })).json
        expect(settings.ui.messages[0].id).toBe(1060001)
        const set = await call(apps.public, 'POST', `/self-service/settings?flow=${settingsId}`, { headers: { 'x-session-token': token }, body: { method: 'password', password: 'a brand new passphrase 42' } })
        expect(set.status).toBe(200)
        expect(set.json.state).toBe('success')
        const login = (await call(apps.public, 'GET', '/self-service/login/api')).json
        const old = await call(apps.public, 'POST', `/self-service/login?flow=${login.id}`, { body: { method: 'password', identifier: 'recover-me@example.com', password: PW } })
        expect(old.status).toBe(400)
        const login2 = (await call(apps.public, 'GET', '/self-service/login/api')).json
        const fresh = await call(apps.public, 'POST', `/self-service/login?flow=${login2.id}`, { body: { method: 'password', identifier: 'recover-me@example.com', password: 'a brand new passphrase 42' } })
        expect(fresh.status).toBe(200)
      })

      it('invalidates a code after 5 wrong tries, even under parallel submissions (Kratos #4251: 4060006)', async () => {
        await registerApi('brute@example.com')
        const flow = (await call(apps.public, 'GET', '/self-service/recovery/api')).json
        await call(apps.public, 'POST', `/self-service/recovery?flow=${flow.id}`, { body: { method: 'code', email: 'brute@example.com' } })
        const right = String(courier.last('brute@example.com', 'recovery_code.valid')!.data.recovery_code)
        const wrong = Array.from({ length: 20 }, (_, i) => String((Number(right) + 1 + i) % 1_000_000).padStart(6, '0'))
        const rs = await Promise.all(wrong.map((c) => call(apps.public, 'POST', `/self-service/recovery?flow=${flow.id}`, { body: { method: 'code', code: c } })))
        expect(rs.every((r) => r.status === 400)).toBe(true)
        expect(node(rs[0]!.json, 'code').messages[0].id).toBe(4060006)
        const row = await scratch.db.one<{ attempts: number | string }>(sql`SELECT attempts FROM code_codes WHERE flow_id = ${flow.id}`)
        expect(Number(row!.attempts)).toBe(5)
        // the right code no longer works
        const late = await call(apps.public, 'POST', `/self-service/recovery?flow=${flow.id}`, { body: { method: 'code', code: right } })
        expect(late.status).toBe(400)
      })

      it('a new code invalidates the old one; codes are stored hashed', async () => {
        await registerApi('resend@example.com')
        const flow = (await call(apps.public, 'GET', '/self-service/recovery/api')).json
        await call(apps.public, 'POST', `/self-service/recovery?flow=${flow.id}`, { body: { method: 'code', email: 'resend@example.com' } })
        const first = String(courier.last('resend@example.com')!.data.recovery_code)
        await call(apps.public, 'POST', `/self-service/recovery?flow=${flow.id}`, { body: { method: 'code', email: 'resend@example.com', resend: 'code' } })
        const second = String(courier.last('resend@example.com')!.data.recovery_code)
        const rows = await scratch.db.query<{ code_hash: string }>(sql`SELECT code_hash FROM code_codes WHERE flow_id = ${flow.id}`)
        expect(rows.length).toBe(1)
        expect(rows[0]!.code_hash).not.toContain(second)
        if (first !== second) expect((await call(apps.public, 'POST', `/self-service/recovery?flow=${flow.id}`, { body: { method: 'code', code: first } })).status).toBe(400)
        expect((await call(apps.public, 'POST', `/self-service/recovery?flow=${flow.id}`, { body: { method: 'code', code: second } })).status).toBe(200)
      })

      it('browser: the code sets the session cookie and sends the browser to the settings UI; SPA gets continue_with', async () => {
        await registerApi('recover-browser@example.com')
        const start = await call(apps.public, 'GET', '/self-service/recovery/browser', { headers: { accept: 'application/json' } })
        const jar = jarOf(start.headers)
        const csrf = csrfOf(start.json)
        await call(apps.public, 'POST', `/self-service/recovery?flow=${start.json.id}`, { headers: { ...JSONH, cookie: jar }, body: { method: 'code', email: 'recover-browser@example.com', csrf_token: csrf } })
        const c = courier.last('recover-browser@example.com')!.data.recovery_code
        const spa = await call(apps.public, 'POST', `/self-service/recovery?flow=${start.json.id}`, { headers: { ...JSONH, cookie: jar }, body: { method: 'code', code: c, csrf_token: csrf } })
        expect(spa.status).toBe(200)
        expect(spa.json.continue_with.map((x: any) => x.action)).toEqual(['show_settings_ui', 'redirect_browser_to'])
        expect(spa.headers.getSetCookie().some((x) => x.startsWith('tessera_session='))).toBe(true)
        // browser form
        const b = await call(apps.public, 'GET', '/self-service/recovery/browser')
        const bjar = jarOf(b.headers)
        const bid = new URL(b.headers.get('location')!).searchParams.get('flow')!
        const bflow = (await call(apps.public, 'GET', `/self-service/recovery/flows?id=${bid}`, { headers: { cookie: bjar } })).json
        await call(apps.public, 'POST', `/self-service/recovery?flow=${bid}`, { headers: { cookie: bjar }, body: new URLSearchParams({ method: 'code', email: 'recover-browser@example.com', csrf_token: csrfOf(bflow) }) })
        const bc = String(courier.last('recover-browser@example.com')!.data.recovery_code)
        const done = await call(apps.public, 'POST', `/self-service/recovery?flow=${bid}`, { headers: { cookie: bjar }, body: new URLSearchParams({ method: 'code', code: bc, csrf_token: csrfOf(bflow) }) })
        expect(done.status).toBe(303)
        expect(done.headers.get('location')).toStartWith('http://ui.test/settings?flow=')
        expect(done.headers.getSetCookie().some((x) => x.startsWith('tessera_session='))).toBe(true)
      })

      it('by link, and the admin API makes codes and links', async () => {
        const reg = await registerApi('linked@example.com')
        const adminCode = await call(apps.admin, 'POST', '/admin/recovery/code', { body: { identity_id: reg.identity.id, expires_in: '15m', flow_type: 'api' } })
        expect(adminCode.status).toBe(201)
        expect(adminCode.json.recovery_code).toMatch(/^\d{6}$/)
        const flowId = new URL(adminCode.json.recovery_link).searchParams.get('flow')!
        const used = await call(apps.public, 'POST', `/self-service/recovery?flow=${flowId}`, { body: { method: 'code', code: adminCode.json.recovery_code } })
        expect(used.status).toBe(200)
        expect(used.json.continue_with[0].action).toBe('set_ory_session_token')
        const adminLink = await call(apps.admin, 'POST', '/admin/recovery/link', { body: { identity_id: reg.identity.id } })
        expect(adminLink.status).toBe(201)
        const u = new URL(adminLink.json.recovery_link)
        const opened = await call(apps.public, 'GET', u.pathname + u.search)
        expect(opened.status).toBe(303)
        expect(opened.headers.get('location')).toStartWith('http://ui.test/settings?flow=')
        const bad = await call(apps.admin, 'POST', '/admin/recovery/code', { body: { identity_id: 'not-a-uuid' } })
        expect(bad.status).toBe(400)
        const unknown = await call(apps.admin, 'POST', '/admin/recovery/code', { body: { identity_id: crypto.randomUUID() } })
        expect(unknown.status).toBe(404)
      })
    })

    describe('settings', () => {
      it('profile: traits validated, a changed address re-verified; a stale session must re-authenticate (403 session_refresh_required)', async () => {
        const reg = await registerApi('profile@example.com')
        const token = reg.session_token
        const flow = (await call(apps.public, 'GET', '/self-service/settings/api', { headers: { 'x-session-token': token } })).json
        expect(node(flow, 'traits.email').attributes.value).toBe('profile@example.com')
        expect(node(flow, 'password').group).toBe('password')
        const invalid = await call(apps.public, 'POST', `/self-service/settings?flow=${flow.id}`, { headers: { 'x-session-token': token }, body: { method: 'profile', traits: { email: 'not an email' } } })
        expect(invalid.status).toBe(400)
        const name = await call(apps.public, 'POST', `/self-service/settings?flow=${flow.id}`, { headers: { 'x-session-token': token }, body: { method: 'profile', traits: { email: 'profile@example.com', name: { first: 'Grace' } } } })
        expect(name.status).toBe(200)
        expect(name.json.ui.messages[0].id).toBe(1050001)
        const changed = await call(apps.public, 'POST', `/self-service/settings?flow=${flow.id}`, { headers: { 'x-session-token': token }, body: { method: 'profile', traits: { email: 'profile2@example.com' } } })
        expect(changed.status).toBe(200)
        expect(changed.json.continue_with[0]).toMatchObject({ action: 'show_verification_ui', flow: { verifiable_address: 'profile2@example.com' } })
        expect(changed.json.identity.verifiable_addresses[0]).toMatchObject({ value: 'profile2@example.com', verified: false })
      })

      it('password change needs a privileged session; refused with the login refresh redirect, as Kratos', async () => {
        const reg = await registerApi('privileged@example.com')
        const token = reg.session_token
        const flow = (await call(apps.public, 'GET', '/self-service/settings/api', { headers: { 'x-session-token': token } })).json
        await scratch.db.exec(sql`UPDATE sessions SET authenticated_at = ${new Date(Date.now() - 3600_000)} WHERE identity_id = ${reg.identity.id}`)
        const r = await call(apps.public, 'POST', `/self-service/settings?flow=${flow.id}`, { headers: { 'x-session-token': token }, body: { method: 'password', password: 'another long passphrase 7' } })
        expect(r.status).toBe(403)
        expect(r.json.error.id).toBe('session_refresh_required')
        expect(r.json.redirect_browser_to).toContain('/self-service/login/browser?refresh=true')
        const email = await call(apps.public, 'POST', `/self-service/settings?flow=${flow.id}`, { headers: { 'x-session-token': token }, body: { method: 'profile', traits: { email: 'privileged2@example.com' } } })
        expect(email.status).toBe(403)
        // the name alone is not sensitive: saved without re-authentication
        const name = await call(apps.public, 'POST', `/self-service/settings?flow=${flow.id}`, { headers: { 'x-session-token': token }, body: { method: 'profile', traits: { email: 'privileged@example.com', name: { first: 'Ada' } } } })
        expect(name.status).toBe(200)
      })

      it('password policy applies in settings as at registration; a browser without a session is sent to log in', async () => {
        const reg = await registerApi('policy@example.com')
        const flow = (await call(apps.public, 'GET', '/self-service/settings/api', { headers: { 'x-session-token': reg.session_token } })).json
        const r = await call(apps.public, 'POST', `/self-service/settings?flow=${flow.id}`, { headers: { 'x-session-token': reg.session_token }, body: { method: 'password', password: 'policy@example.com' } })
        expect(r.status).toBe(400)
        expect(node(r.json, 'password').messages.length).toBeGreaterThan(0)
        const anon = await call(apps.public, 'GET', '/self-service/settings/browser')
        expect(anon.status).toBe(303)
        expect(anon.headers.get('location')).toContain('/self-service/login/browser')
        expect((await call(apps.public, 'GET', '/self-service/settings/api')).status).toBe(401)
      })
    })

    describe('@ory/client-fetch (FrontendApi)', () => {
      it('drives recovery by code, settings and verification API flows unchanged', async () => {
        const frontend = new FrontendApi(new Configuration({ basePath: 'http://localhost', fetchApi: (input, init) => apps.public.handle(new Request(input as string, init)) }))
        await registerApi('sdk-flows@example.com')
        const rec = await frontend.createNativeRecoveryFlow()
        const sent = await frontend.updateRecoveryFlow({ flow: rec.id, updateRecoveryFlowBody: { method: 'code', email: 'sdk-flows@example.com' } })
        expect(sent.state).toBe('sent_email')
        const c = String(courier.last('sdk-flows@example.com', 'recovery_code.valid')!.data.recovery_code)
        const done = await frontend.updateRecoveryFlow({ flow: rec.id, updateRecoveryFlowBody: { method: 'code', code: c } })
        const token = (done.continue_with ?? []).find((x) => x.action === 'set_ory_session_token') as { ory_session_token: string }
        const settingsFlow = await frontend.createNativeSettingsFlow({ xSessionToken: token.ory_session_token })
        const saved = await frontend.updateSettingsFlow({ flow: settingsFlow.id, xSessionToken: token.ory_session_token, updateSettingsFlowBody: { method: 'password', password: 'sdk chosen passphrase 99' } })
        expect(saved.state).toBe('success')
        const ver = await frontend.createNativeVerificationFlow()
        await frontend.updateVerificationFlow({ flow: ver.id, updateVerificationFlowBody: { method: 'code', email: 'sdk-flows@example.com' } })
        const vc = String(courier.last('sdk-flows@example.com', 'verification_code.valid')!.data.verification_code)
        const verified = await frontend.updateVerificationFlow({ flow: ver.id, updateVerificationFlowBody: { method: 'code', code: vc } })
        expect(verified.state).toBe('passed_challenge')
        const login = await frontend.createNativeLoginFlow()
        await frontend.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'code', csrf_token: '', identifier: 'sdk-flows@example.com' } }).catch(() => {})
        const lc = String(courier.last('sdk-flows@example.com', 'login_code.valid')!.data.login_code)
        const session = await frontend.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'code', csrf_token: '', code: lc, identifier: 'sdk-flows@example.com' } })
        expect(session.session.identity?.traits.email).toBe('sdk-flows@example.com')
      })
    })

    describe('passwordless code', () => {
      it('logs in by code (API); an unknown address gets the same answer and no message', async () => {
        await registerApi('passwordless@example.com')
        const before = courier.sent.length
        const answers = []
        for (const identifier of ['passwordless@example.com', 'ghost@example.com']) {
          const flow = (await call(apps.public, 'GET', '/self-service/login/api')).json
          const r = await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'code', identifier } })
          answers.push({ status: r.status, shape: shapeOf(r.json), flow: r.json })
        }
        expect(answers.map((a) => a.status)).toEqual([400, 400])
        expect(answers[1]!.shape).toEqual(answers[0]!.shape)
        expect(answers[0]!.flow.ui.messages[0].id).toBe(1010014)
        // Kratos marks the flow's active method once the code is sent (Ory Elements shows the code step by it)
        expect(answers.map((a) => a.flow.active)).toEqual(['code', 'code'])
        expect(courier.sent.slice(before).map((m) => m.template)).toEqual(['login_code.valid'])
        const c = courier.last('passwordless@example.com', 'login_code.valid')!.data.login_code
        const ok = await call(apps.public, 'POST', `/self-service/login?flow=${answers[0]!.flow.id}`, { body: { method: 'code', code: c } })
        expect(ok.status).toBe(200)
        expect(ok.json.session.identity.traits.email).toBe('passwordless@example.com')
        const ghost = await call(apps.public, 'POST', `/self-service/login?flow=${answers[1]!.flow.id}`, { body: { method: 'code', code: c } })
        expect(ghost.status).toBe(400)
        expect(node(ghost.json, 'code').messages[0].id).toBe(4010008)
      })

      it('registers by code: the code proves the address (verified at once)', async () => {
        const flow = (await call(apps.public, 'GET', '/self-service/registration/api')).json
        const traits = { email: 'code-signup@example.com' }
        const sent = await call(apps.public, 'POST', `/self-service/registration?flow=${flow.id}`, { body: { method: 'code', traits } })
        expect(sent.status).toBe(400) // Kratos: a sent code is a 400 with the flow
        expect(sent.json.state).toBe('sent_email')
        expect(sent.json.active).toBe('code')
        const c = courier.last('code-signup@example.com', 'registration_code.valid')!.data.registration_code
        const done = await call(apps.public, 'POST', `/self-service/registration?flow=${flow.id}`, { body: { method: 'code', traits, code: c } })
        expect(done.status).toBe(200)
        expect(done.json.identity.verifiable_addresses[0]).toMatchObject({ verified: true, status: 'completed' })
        const login = (await call(apps.public, 'GET', '/self-service/login/api')).json
        await call(apps.public, 'POST', `/self-service/login?flow=${login.id}`, { body: { method: 'code', identifier: 'code-signup@example.com' } })
        const lc = courier.last('code-signup@example.com', 'login_code.valid')!.data.login_code
        expect((await call(apps.public, 'POST', `/self-service/login?flow=${login.id}`, { body: { method: 'code', code: lc } })).status).toBe(200)
      })

      it('a code with an empty `resend` (as Ory Elements submits it) logs in and registers; only `resend: code` sends another', async () => {
        await registerApi('elements-resend@example.com')
        const flow = (await call(apps.public, 'GET', '/self-service/login/api')).json
        await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'code', identifier: 'elements-resend@example.com' } })
        const first = courier.last('elements-resend@example.com', 'login_code.valid')!.data.login_code
        // Kratos resends only for `resend` equal to "code" (any case); the new code replaces the first
        const resent = await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'code', identifier: 'elements-resend@example.com', code: first, resend: 'Code' } })
        expect(resent.status).toBe(400)
        expect(resent.json.ui.messages[0].id).toBe(1010014)
        const second = courier.last('elements-resend@example.com', 'login_code.valid')!.data.login_code
        expect(second).not.toBe(first)
        const ok = await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'code', identifier: 'elements-resend@example.com', code: second, resend: '' } })
        expect(ok.status).toBe(200)
        expect(ok.json.session.identity.traits.email).toBe('elements-resend@example.com')

        const reg = (await call(apps.public, 'GET', '/self-service/registration/api')).json
        const traits = { email: 'elements-signup@example.com' }
        await call(apps.public, 'POST', `/self-service/registration?flow=${reg.id}`, { body: { method: 'code', traits } })
        const rc = courier.last('elements-signup@example.com', 'registration_code.valid')!.data.registration_code
        const done = await call(apps.public, 'POST', `/self-service/registration?flow=${reg.id}`, { body: { method: 'code', traits, code: rc, resend: '' } })
        expect(done.status).toBe(200)
        expect(done.json.identity.traits.email).toBe('elements-signup@example.com')
      })

      it('the magic link logs in only the browser that started the flow; in another browser it shows the code', async () => {
        await registerApi('magic@example.com')
        const start = await call(apps.public, 'GET', '/self-service/login/browser')
        const jar = jarOf(start.headers)
        const id = new URL(start.headers.get('location')!).searchParams.get('flow')!
        const flow = (await call(apps.public, 'GET', `/self-service/login/flows?id=${id}`, { headers: { cookie: jar } })).json
        await call(apps.public, 'POST', `/self-service/login?flow=${id}`, { headers: { cookie: jar }, body: new URLSearchParams({ method: 'code', identifier: 'magic@example.com', csrf_token: csrfOf(flow) }) })
        const msg = courier.last('magic@example.com', 'login_code.valid')!
        const link = new URL(String(msg.data.login_url))
        // another browser (no cookies, or its own CSRF cookie): a page with the code, no session
        const elsewhere = await call(apps.public, 'GET', link.pathname + link.search, { headers: { cookie: 'tessera_csrf_token=someone-elses' } })
        expect(elsewhere.status).toBe(200)
        expect(elsewhere.headers.get('content-type')).toContain('text/html')
        expect(elsewhere.text).toContain(String(msg.data.login_code))
        expect(elsewhere.headers.getSetCookie().some((c) => c.startsWith('tessera_session='))).toBe(false)
        // the flow's own browser: logged in
        const here = await call(apps.public, 'GET', link.pathname + link.search, { headers: { cookie: jar } })
        expect(here.status).toBe(303)
        expect(here.headers.getSetCookie().some((c) => c.startsWith('tessera_session='))).toBe(true)
        // a forged token shows nothing useful
        const forged = await call(apps.public, 'GET', `/self-service/login?flow=${id}&method=code&token=AAAA`, { headers: { cookie: jar } })
        expect(forged.text).not.toContain(String(msg.data.login_code))
      })

      it('sending is rate-limited per address', async () => {
        const limited = await bootApps([identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: testSelfservice }), recordingCourier().plugin, code({ resend: { perAddress: 2, windowSeconds: 60 } })])
        const statuses = []
        for (let i = 0; i < 3; i++) {
          const flow = (await call(limited.public, 'GET', '/self-service/login/api')).json
          statuses.push((await call(limited.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'code', identifier: 'spam@example.com' } })).status)
        }
        expect(statuses).toEqual([400, 400, 429])
        await limited.kernel.stop()
      })
    })
  })
}

describe('code plugin without a courier', () => {
  it('refuses to start, naming the missing courier', async () => {
    await expect(bootApps([identity({ schemas: [{ id: 'default', schema: quickstartSchema }] }), code()])).rejects.toThrow(/courier/)
  })
})

/** The keys and types of a JSON value, ignoring values (ids, timestamps, addresses). */
function shapeOf(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(shapeOf)
  if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).sort().map(([k, v]) => [k, k === 'value' ? typeof v : shapeOf(v)]))
  return typeof x
}

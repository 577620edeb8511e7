/**
 * The totp plugin and the identity plugin's authenticator assurance, on SQLite and PostgreSQL: enrolment in
 * settings (QR code, secret), step-up to aal2 on the same session, whoami and settings with `highest_available`,
 * replayed codes refused, brute force limited, removal rules, admin import and removal. Codes are computed by
 * `otpauth` in the test from the secret the flow shows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import * as OTPAuth from 'otpauth'
import { sql } from 'tessera'
import { bootApps, call } from '../../test/helpers/app.ts'
import { recordingCourier } from '../../test/helpers/courier.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { quickstartSchema, testSelfservice } from '../../test/helpers/identity.ts'
import { code } from '../code/index.ts'
import { identity } from '../identity/index.ts'
import { password } from '../password/index.ts'
import { totp, totpOf } from './index.ts'

const PW = 'correct horse battery staple'
const node = (flow: any, name: string) => flow.ui.nodes.find((n: any) => n.attributes.name === name || n.attributes.id === name)
const tokenHeaders = (t: string) => ({ 'x-session-token': t })

describe('RFC 6238 Appendix B test vectors (otpauth, as the totp plugin uses it)', () => {
  // RFC 6238 Appendix B: seeds "12345678901234567890" (SHA-1), 32 bytes (SHA-256), 64 bytes (SHA-512); 8 digits, 30 s.
  const seed = (n: number) => OTPAuth.Secret.fromUTF8('1234567890'.repeat(7).slice(0, n))
  const vectors: [number, string, string, string][] = [
    [59, '94287082', '46119246', '90693936'],
    [1111111109, '07081804', '68084774', '25091201'],
    [1111111111, '14050471', '67062674', '99943326'],
    [1234567890, '89005924', '91819424', '93441116'],
    [2000000000, '69279037', '90698825', '38618901'],
    [20000000000, '65353130', '77737706', '47863826'],
  ]
  for (const [t, sha1, sha256, sha512] of vectors) {
    it(`T = ${t}`, () => {
      const at = (algorithm: string, s: OTPAuth.Secret) => new OTPAuth.TOTP({ algorithm, digits: 8, period: 30, secret: s }).generate({ timestamp: t * 1000 })
      expect(at('SHA1', seed(20))).toBe(sha1)
      expect(at('SHA256', seed(32))).toBe(sha256)
      expect(at('SHA512', seed(64))).toBe(sha512)
    })
  }
})

for (const driver of drivers('totp')) {
  describe.skipIf(!driver.enabled)(`totp and authenticator assurance (${driver.name})`, () => {
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
          totp({ issuer: 'Example', rateLimit: { maxAttempts: 6 } }),
        ],
        { database: scratch.db },
      )
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    async function register(email: string) {
      const flow = (await call(apps.public, 'GET', '/self-service/registration/api')).json as any
      const r = await call(apps.public, 'POST', `/self-service/registration?flow=${flow.id}`, { body: { method: 'password', password: PW, traits: { email } } })
      expect(r.status).toBe(200)
      return r.json as any
    }
    async function loginPassword(email: string) {
      const flow = (await call(apps.public, 'GET', '/self-service/login/api')).json as any
      const r = await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'password', identifier: email, password: PW } })
      expect(r.status).toBe(200)
      return r.json as any
    }
    /** Enrol TOTP through a settings API flow; the secret shown. */
    async function enrol(token: string) {
      const flow = (await call(apps.public, 'GET', '/self-service/settings/api', { headers: tokenHeaders(token) })).json as any
      const secret = node(flow, 'totp_secret_key').attributes.text.context.secret as string
      const r = await call(apps.public, 'POST', `/self-service/settings?flow=${flow.id}`, { headers: tokenHeaders(token), body: { method: 'totp', totp_code: totpOf(secret, 'x', 'Example').generate() } })
      expect(r.status).toBe(200)
      return { secret, flow, result: r.json as any }
    }
    const codeAt = (secret: string, offsetSteps = 0) => totpOf(secret, 'x', 'Example').generate({ timestamp: Date.now() + offsetSteps * 30_000 })
    async function stepUp(token: string, totpCode: string) {
      const flow = await call(apps.public, 'GET', '/self-service/login/api?aal=aal2', { headers: tokenHeaders(token) })
      expect(flow.status).toBe(200)
      return call(apps.public, 'POST', `/self-service/login?flow=${(flow.json as any).id}`, { headers: tokenHeaders(token), body: { method: 'totp', totp_code: totpCode } })
    }

    it('enrols in settings with a QR code and the secret, then whoami asks for aal2 until the session steps up with a code', async () => {
      const reg = await register('totp-1@example.com')
      const { secret, flow, result } = await enrol(reg.session_token)
      const qr = node(flow, 'totp_qr')
      expect(qr.type).toBe('img')
      expect(qr.attributes.src).toStartWith('data:image/png;base64,')
      expect(secret).toMatch(/^[A-Z2-7]{32}$/)
      expect(node(result, 'totp_unlink')).toBeDefined()
      // The stored config is sealed: the secret is nowhere in the database.
      const rows = await apps.kernel.storage.db.query<{ config: unknown }>(sql`SELECT config FROM identity_credentials WHERE type = ${'totp'}`)
      expect(JSON.stringify(rows)).not.toContain(secret)

      const who = await call(apps.public, 'GET', '/sessions/whoami', { headers: tokenHeaders(reg.session_token) })
      expect(who.status).toBe(403)
      expect((who.json as any).error.id).toBe('session_aal2_required')
      expect((who.json as any).redirect_browser_to).toBe('http://localhost:4433/self-service/login/browser?aal=aal2')

      const flow2 = (await call(apps.public, 'GET', '/self-service/login/api?aal=aal2', { headers: tokenHeaders(reg.session_token) })).json as any
      expect(flow2.requested_aal).toBe('aal2')
      expect(node(flow2, 'totp_code')).toBeDefined()
      expect(node(flow2, 'password')).toBeUndefined()
      const wrong = await call(apps.public, 'POST', `/self-service/login?flow=${flow2.id}`, { headers: tokenHeaders(reg.session_token), body: { method: 'totp', totp_code: codeAt(secret, 5) } })
      expect(wrong.status).toBe(400)
      expect(node(wrong.json, 'totp_code').messages[0].id).toBe(4000008)
      // The code of the next step is within the ±1 window.
      const ok = await call(apps.public, 'POST', `/self-service/login?flow=${flow2.id}`, { headers: tokenHeaders(reg.session_token), body: { method: 'totp', totp_code: codeAt(secret, 1) } })
      expect(ok.status).toBe(200)
      const session = (ok.json as any).session
      expect(session.id).toBe(reg.session.id)
      expect(session.authenticator_assurance_level).toBe('aal2')
      expect(session.authentication_methods.map((m: any) => [m.method, m.aal])).toEqual([['password', 'aal1'], ['totp', 'aal2']])
      expect(session.authentication_methods[1].completed_at).toBeString()
      const after = await call(apps.public, 'GET', '/sessions/whoami', { headers: tokenHeaders(reg.session_token) })
      expect(after.status).toBe(200)
      expect((after.json as any).authenticator_assurance_level).toBe('aal2')
      // An aal2 session asking for aal2 again: already there.
      expect((await call(apps.public, 'GET', '/self-service/login/api?aal=aal2', { headers: tokenHeaders(reg.session_token) })).status).toBe(400)
    })

    it('refuses a code that was accepted if it is presented again within its window (replay)', async () => {
      await register('totp-replay@example.com')
      const s1 = await loginPassword('totp-replay@example.com')
      const { secret } = await enrol(s1.session_token)
      // The enrolment accepted the current step; the next step's code steps up once, and never again.
      const c = codeAt(secret, 1)
      expect((await stepUp(s1.session_token, c)).status).toBe(200)
      const s2 = await loginPassword('totp-replay@example.com')
      const replay = await stepUp(s2.session_token, c)
      expect(replay.status).toBe(400)
      expect(node(replay.json, 'totp_code').messages[0].id).toBe(4000008)
      // The enrolment's own code (an earlier step) is refused too.
      expect((await stepUp(s2.session_token, codeAt(secret, 0))).status).toBe(400)
      expect((await call(apps.public, 'GET', '/sessions/whoami', { headers: tokenHeaders(s2.session_token) })).status).toBe(403)
    })

    it('limits wrong codes per identity (429 with Retry-After), right or wrong', async () => {
      const reg = await register('totp-brute@example.com')
      const { secret } = await enrol(reg.session_token) // one attempt
      let last = 0
      for (let i = 0; i < 6; i++) last = (await stepUp(reg.session_token, codeAt(secret, 10 + i))).status
      expect(last).toBe(429)
      const right = await stepUp(reg.session_token, codeAt(secret, 1))
      expect(right.status).toBe(429)
      expect(right.headers.get('retry-after')).toMatch(/^\d+$/)
    })

    it('a second factor alone never logs in, and aal2 needs a session (401 session_aal1_required)', async () => {
      const reg = await register('totp-alone@example.com')
      const { secret } = await enrol(reg.session_token)
      const flow = (await call(apps.public, 'GET', '/self-service/login/api')).json as any
      expect(node(flow, 'totp_code')).toBeUndefined()
      const r = await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'totp', totp_code: codeAt(secret, 1), identifier: 'totp-alone@example.com' } })
      expect(r.status).toBe(400)
      expect(JSON.stringify(r.json)).not.toContain('session_token')
      const noSession = await call(apps.public, 'GET', '/self-service/login/api?aal=aal2')
      expect(noSession.status).toBe(401)
      expect((noSession.json as any).error.id).toBe('session_aal1_required')
      expect((await call(apps.public, 'GET', '/self-service/login/api?aal=aal9')).status).toBe(400)
    })

    it('settings with highest_available: an aal1 session of an identity with TOTP must step up first', async () => {
      const reg = await register('totp-settings@example.com')
      await enrol(reg.session_token)
      const s = await call(apps.public, 'GET', '/self-service/settings/api', { headers: tokenHeaders(reg.session_token) })
      expect(s.status).toBe(403)
      expect((s.json as any).error.id).toBe('session_aal2_required')
      expect((s.json as any).redirect_browser_to).toStartWith('http://localhost:4433/self-service/login/browser?aal=aal2')
    })

    it('a second factor cannot be enrolled without a privileged session', async () => {
      const reg = await register('totp-priv@example.com')
      const flow = (await call(apps.public, 'GET', '/self-service/settings/api', { headers: tokenHeaders(reg.session_token) })).json as any
      const secret = node(flow, 'totp_secret_key').attributes.text.context.secret
      await apps.kernel.storage.db.exec(sql`UPDATE sessions SET authenticated_at = ${new Date(Date.now() - 3600_000)} WHERE id = ${reg.session.id}`)
      const r = await call(apps.public, 'POST', `/self-service/settings?flow=${flow.id}`, { headers: tokenHeaders(reg.session_token), body: { method: 'totp', totp_code: codeAt(secret) } })
      expect(r.status).toBe(403)
      expect((r.json as any).error.id).toBe('session_refresh_required')
      const creds = await apps.kernel.storage.db.query(sql`SELECT type FROM identity_credentials WHERE identity_id = ${reg.identity.id} AND type = ${'totp'}`)
      expect(creds).toHaveLength(0)
    })

    it('the last second factor is not unlinked in settings; an administrator removes it (DELETE /admin/identities/{id}/credentials/totp)', async () => {
      const reg = await register('totp-unlink@example.com')
      const { secret } = await enrol(reg.session_token)
      expect((await stepUp(reg.session_token, codeAt(secret, 1))).status).toBe(200)
      const flow = (await call(apps.public, 'GET', '/self-service/settings/api', { headers: tokenHeaders(reg.session_token) })).json as any
      const r = await call(apps.public, 'POST', `/self-service/settings?flow=${flow.id}`, { headers: tokenHeaders(reg.session_token), body: { method: 'totp', totp_unlink: true } })
      expect(r.status).toBe(400)
      expect((r.json as any).ui.messages[0].id).toBe(4000038)

      const admin = await call(apps.admin, 'GET', `/admin/identities/${reg.identity.id}`)
      expect((admin.json as any).credentials.totp).toMatchObject({ type: 'totp', identifiers: [] })
      expect((admin.json as any).credentials.totp.config).toBeUndefined()
      const withConfig = await call(apps.admin, 'GET', `/admin/identities/${reg.identity.id}?include_credential=totp`)
      expect(JSON.stringify(withConfig.json)).not.toContain('sealed_totp_url')
      expect((await call(apps.admin, 'DELETE', `/admin/identities/${reg.identity.id}/credentials/totp`)).status).toBe(204)
      expect((await call(apps.admin, 'DELETE', `/admin/identities/${reg.identity.id}/credentials/totp`)).status).toBe(404)
      // An aal1 session of an identity without a second factor is enough again.
      const s = await loginPassword('totp-unlink@example.com')
      expect((await call(apps.public, 'GET', '/sessions/whoami', { headers: tokenHeaders(s.session_token) })).status).toBe(200)
    })

    it('imports a TOTP secret as Kratos does (credentials.totp.config.totp_url), and refuses a malformed one', async () => {
      const secret = new OTPAuth.Secret({ size: 20 }).base32
      const url = totpOf(secret, 'imported@example.com', 'Example').toString()
      const made = await call(apps.admin, 'POST', '/admin/identities', { body: { traits: { email: 'imported@example.com' }, credentials: { password: { config: { password: PW } }, totp: { config: { totp_url: url } } } } })
      expect(made.status).toBe(201)
      expect(JSON.stringify(made.json)).not.toContain(secret)
      const s = await loginPassword('imported@example.com')
      expect((await call(apps.public, 'GET', '/sessions/whoami', { headers: tokenHeaders(s.session_token) })).status).toBe(403)
      expect((await stepUp(s.session_token, codeAt(secret))).status).toBe(200)
      const bad = await call(apps.admin, 'POST', '/admin/identities', { body: { traits: { email: 'bad-import@example.com' }, credentials: { totp: { config: { totp_url: 'https://example.com' } } } } })
      expect(bad.status).toBe(400)
    })

    it('Kratos GHSA-wc43-73w7-x2f5: highest_available is not bypassed by a code-only first factor plus TOTP', async () => {
      const secret = new OTPAuth.Secret({ size: 20 }).base32
      const made = await call(apps.admin, 'POST', '/admin/identities', { body: { traits: { email: 'codeonly@example.com' }, credentials: { totp: { config: { totp_url: totpOf(secret, 'c', 'Example').toString() } } } } })
      expect(made.status).toBe(201)
      await apps.kernel.storage.db.exec(sql`UPDATE identity_verifiable_addresses SET verified = ${true} WHERE identity_id = ${(made.json as any).id}`).catch(() => {})
      const flow = (await call(apps.public, 'GET', '/self-service/login/api')).json as any
      await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'code', identifier: 'codeonly@example.com' } })
      const sent = courier.last('codeonly@example.com', 'login_code.valid')!
      const r = await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'code', code: sent.data.login_code } })
      expect(r.status).toBe(200)
      const token = (r.json as any).session_token
      expect((r.json as any).session.authenticator_assurance_level).toBe('aal1')
      const who = await call(apps.public, 'GET', '/sessions/whoami', { headers: tokenHeaders(token) })
      expect(who.status).toBe(403)
      expect((who.json as any).error.id).toBe('session_aal2_required')
      expect((await call(apps.public, 'GET', '/self-service/settings/api', { headers: tokenHeaders(token) })).status).toBe(403)
      expect((await stepUp(token, codeAt(secret))).status).toBe(200)
      expect((await call(apps.public, 'GET', '/sessions/whoami', { headers: tokenHeaders(token) })).status).toBe(200)
    })

    it('browser flows: step-up keeps the session cookie, and a submission without the CSRF token is refused', async () => {
      const reg = await register('totp-browser@example.com')
      const { secret } = await enrol(reg.session_token)
      const cookie = `tessera_session=${reg.session_token}`
      const created = await call(apps.public, 'GET', '/self-service/login/browser?aal=aal2&return_to=https://app.example.com/after', { headers: { cookie } })
      expect(created.status).toBe(303)
      const csrfCookie = created.headers.getSetCookie().find((c) => c.startsWith('tessera_csrf_token='))!.split(';')[0]!
      const id = new URL(created.headers.get('location')!).searchParams.get('flow')!
      const jar = `${cookie}; ${csrfCookie}`
      const flow = (await call(apps.public, 'GET', `/self-service/login/flows?id=${id}`, { headers: { cookie: jar } })).json as any
      const csrf = node(flow, 'csrf_token').attributes.value
      const noCsrf = await call(apps.public, 'POST', `/self-service/login?flow=${id}`, { headers: { cookie: jar }, body: new URLSearchParams({ method: 'totp', totp_code: codeAt(secret, 1) }) })
      expect(noCsrf.status).toBe(403)
      const ok = await call(apps.public, 'POST', `/self-service/login?flow=${id}`, { headers: { cookie: jar }, body: new URLSearchParams({ method: 'totp', totp_code: codeAt(secret, 1), csrf_token: csrf }) })
      expect(ok.status).toBe(303)
      expect(ok.headers.get('location')).toBe('https://app.example.com/after')
      expect((await call(apps.public, 'GET', '/sessions/whoami', { headers: { cookie } })).status).toBe(200)
    })

    it('after a password login, a browser of an identity with TOTP is sent to step up', async () => {
      await register('totp-redirect@example.com').then((r) => enrol(r.session_token))
      const created = await call(apps.public, 'GET', '/self-service/login/browser')
      const csrfCookie = created.headers.getSetCookie()[0]!.split(';')[0]!
      const id = new URL(created.headers.get('location')!).searchParams.get('flow')!
      const flow = (await call(apps.public, 'GET', `/self-service/login/flows?id=${id}`, { headers: { cookie: csrfCookie } })).json as any
      const r = await call(apps.public, 'POST', `/self-service/login?flow=${id}`, { headers: { cookie: csrfCookie }, body: new URLSearchParams({ method: 'password', identifier: 'totp-redirect@example.com', password: PW, csrf_token: node(flow, 'csrf_token').attributes.value }) })
      expect(r.status).toBe(303)
      expect(r.headers.get('location')).toStartWith('http://localhost:4433/self-service/login/browser?aal=aal2')
    })
  })
}

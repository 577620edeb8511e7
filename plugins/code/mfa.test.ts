/**
 * The code method as a second factor (Kratos' `code` with `mfa_enabled`), on SQLite and PostgreSQL: a signed-in
 * aal1 session steps up to aal2 with a code sent to one of its identity's addresses — its code credential's, or a
 * verified verifiable address — never to an address the user types. Codes are single use, 5 tries, expiring. The
 * recording courier (test/helpers/courier.ts) catches messages at the API level; the last suite runs the real
 * server with the real courier's SMS (HTTP) channel to a local receiver (test/e2e/account-stack.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { sql } from 'tessera'
import { bootApps, call } from '../../test/helpers/app.ts'
import { recordingCourier } from '../../test/helpers/courier.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { quickstartSchema, testSelfservice } from '../../test/helpers/identity.ts'
import { phoneSchema, startAccountStack } from '../../test/e2e/account-stack.ts'
import { identity } from '../identity/index.ts'
import { password } from '../password/index.ts'
import { code } from './index.ts'

const PW = 'correct horse battery staple'
const node = (flow: any, name: string) => flow.ui.nodes.find((n: any) => n.attributes.name === name)
const nodes = (flow: any, name: string) => flow.ui.nodes.filter((n: any) => n.attributes.name === name)

for (const driver of drivers('code-mfa')) {
  describe.skipIf(!driver.enabled)(`the code method as a second factor (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: Awaited<ReturnType<typeof bootApps>>
    const courier = recordingCourier()
    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps(
        [
          identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: testSelfservice }),
          password({ hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } }),
          courier.plugin,
          code({ passwordlessEnabled: false, mfa: { enabled: true }, resend: { perAddress: 50 } }),
        ],
        { database: scratch.db },
      )
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    /** Register by password (API); verify the e-mail address by code when asked; the session token. */
    async function registered(email: string, verify = true): Promise<string> {
      const flow = (await call(apps.public, 'GET', '/self-service/registration/api')).json as any
      const r = await call(apps.public, 'POST', `/self-service/registration?flow=${flow.id}`, { body: { method: 'password', password: PW, traits: { email } } })
      expect(r.status).toBe(200)
      if (verify) {
        const v = (await call(apps.public, 'GET', '/self-service/verification/api')).json as any
        await call(apps.public, 'POST', `/self-service/verification?flow=${v.id}`, { body: { method: 'code', email } })
        const c = String(courier.last(email, 'verification_code.valid')!.data.verification_code)
        const done = await call(apps.public, 'POST', `/self-service/verification?flow=${v.id}`, { body: { method: 'code', code: c } })
        expect(done.status).toBe(200)
      }
      return (r.json as any).session_token
    }

    const stepUpFlow = async (token: string) => {
      const r = await call(apps.public, 'GET', '/self-service/login/api?aal=aal2', { headers: { 'x-session-token': token } })
      expect(r.status).toBe(200)
      return r.json as any
    }
    const submit = (flow: any, token: string, body: Record<string, unknown>) => call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { headers: { 'x-session-token': token }, body: { method: 'code', ...body } })

    it('steps a password session up to aal2 with a code sent to the verified address (both methods on the session)', async () => {
      const email = 'mfa-ok@example.com'
      const token = await registered(email)
      const flow = await stepUpFlow(token)
      // Kratos' aal2 code nodes: one `address` button per address, "Send code to …" (1010023)
      expect(nodes(flow, 'address').map((n: any) => [n.attributes.type, n.attributes.value, n.meta.label.id, n.meta.label.context])).toEqual([['submit', email, 1010023, { address: email, channel: 'email' }]])
      expect(node(flow, 'identifier')).toBeUndefined()

      const sent = await submit(flow, token, { address: email })
      expect(sent.status).toBe(400)
      expect((sent.json as any).state).toBe('sent_email')
      expect((sent.json as any).ui.messages.map((m: any) => m.id)).toEqual([1010014])
      const msg = courier.last(email, 'login_code.valid')!
      expect(msg.channel).toBe('email')
      expect(msg.data.login_url).toBeUndefined()
      const c = String(msg.data.login_code)

      const wrong = await submit(flow, token, { identifier: email, code: c === '000000' ? '111111' : '000000' })
      expect(wrong.status).toBe(400)
      expect(node(wrong.json, 'code').messages[0].id).toBe(4010008)
      const ok = await submit(flow, token, { identifier: email, code: c })
      expect(ok.status).toBe(200)
      const session = (ok.json as any).session
      expect(session.authenticator_assurance_level).toBe('aal2')
      expect(session.authentication_methods.map((m: any) => [m.method, m.aal])).toEqual([['password', 'aal1'], ['code', 'aal2']])
      const who = await call(apps.public, 'GET', '/sessions/whoami', { headers: { 'x-session-token': token } })
      expect((who.json as any).authenticator_assurance_level).toBe('aal2')
    })

    it('never sends to an address that is not a verified address of the identity', async () => {
      const token = await registered('mfa-unverified@example.com', false)
      const flow = await stepUpFlow(token)
      expect(nodes(flow, 'address')).toEqual([])
      const before = courier.sent.length
      for (const address of ['mfa-unverified@example.com', 'attacker@example.net', '+15550100']) {
        const r = await submit(flow, token, { address })
        expect(r.status).toBe(400)
        expect((r.json as any).ui.messages[0].id).toBe(4010010)
      }
      expect(courier.sent.length).toBe(before)
      expect((await call(apps.public, 'GET', '/sessions/whoami', { headers: { 'x-session-token': token } })).json as any).toMatchObject({ authenticator_assurance_level: 'aal1' })
    })

    it('a code works once, for its flow, and not after 5 wrong tries or once expired', async () => {
      const email = 'mfa-tries@example.com'
      const token = await registered(email)
      // five wrong tries invalidate the code: the right one is refused after them
      const f1 = await stepUpFlow(token)
      await submit(f1, token, { address: email })
      const c1 = String(courier.last(email, 'login_code.valid')!.data.login_code)
      for (let i = 0; i < 5; i++) expect((await submit(f1, token, { identifier: email, code: c1 === '000000' ? '111111' : '000000' })).status).toBe(400)
      expect((await submit(f1, token, { identifier: email, code: c1 })).status).toBe(400)
      // expired: the right code is refused
      const f2 = await stepUpFlow(token)
      await submit(f2, token, { address: email })
      const c2 = String(courier.last(email, 'login_code.valid')!.data.login_code)
      await scratch.db.exec(sql`UPDATE code_codes SET expires_at = ${new Date(Date.now() - 1000)} WHERE flow_id = ${f2.id}`)
      expect((await submit(f2, token, { identifier: email, code: c2 })).status).toBe(400)
      // a code of one flow does not complete another
      const f3 = await stepUpFlow(token)
      await submit(f3, token, { address: email })
      const c3 = String(courier.last(email, 'login_code.valid')!.data.login_code)
      const f4 = await stepUpFlow(token)
      expect((await submit(f4, token, { identifier: email, code: c3 })).status).toBe(400)
      // the right one, once
      expect((await submit(f3, token, { identifier: email, code: c3 })).status).toBe(200)
      const again = await call(apps.public, 'POST', `/self-service/login?flow=${f3.id}`, { headers: { 'x-session-token': token }, body: { method: 'code', identifier: email, code: c3 } })
      expect(again.status).not.toBe(200)
    })

    it('is not a first factor: an aal1 login flow offers no code, and a code for an aal1 flow is refused', async () => {
      const flow = (await call(apps.public, 'GET', '/self-service/login/api')).json as any
      expect(flow.ui.nodes.some((n: any) => n.group === 'code')).toBe(false)
      const r = await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'code', identifier: 'mfa-ok@example.com' } })
      expect(r.status).toBe(400)
      expect(courier.sent.filter((m) => m.template === 'login_code.valid' && m.recipient === 'mfa-ok@example.com')).toHaveLength(1)
    })
  })
}

async function waitSms(sms: { recipient: string; body: string; template_type: string }[], n: number) {
  const deadline = Date.now() + 10_000
  while (sms.length < n && Date.now() < deadline) await Bun.sleep(20)
  const m = sms[n - 1]
  if (!m) throw new Error(`expected SMS #${n}, got ${sms.length}`)
  return m
}

describe('phone-based MFA through the real courier (tessera serve, SMS by the HTTP channel)', () => {
  it('a phone registered by code: code login gives aal1, whoami asks for aal2, the SMS code steps the session up', async () => {
    const stack = await startAccountStack({ schema: phoneSchema, code: { mfa: { enabled: true, via: 'sms' } } })
    try {
      const phone = '+4915550123'
      const post = (path: string, body: Record<string, unknown>, token?: string) =>
        fetch(`${stack.api}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', ...(token ? { 'x-session-token': token } : {}) }, body: JSON.stringify(body) })
      const get = (path: string, token?: string) => fetch(`${stack.api}${path}`, { headers: { accept: 'application/json', ...(token ? { 'x-session-token': token } : {}) } })
      const codeOf = (m: { body: string }) => /\d{6}/.exec(m.body)![0]

      const reg = (await (await get('/self-service/registration/api')).json()) as any
      await post(`/self-service/registration?flow=${reg.id}`, { method: 'code', traits: { phone } })
      const r = await post(`/self-service/registration?flow=${reg.id}`, { method: 'code', traits: { phone }, code: codeOf(await waitSms(stack.sms, 1)) })
      expect(r.status).toBe(200)

      const login = (await (await get('/self-service/login/api')).json()) as any
      await post(`/self-service/login?flow=${login.id}`, { method: 'code', identifier: phone })
      const l = await post(`/self-service/login?flow=${login.id}`, { method: 'code', identifier: phone, code: codeOf(await waitSms(stack.sms, 2)) })
      expect(l.status).toBe(200)
      const token = ((await l.json()) as any).session_token
      const denied = await get('/sessions/whoami', token)
      expect(denied.status).toBe(403)
      expect(((await denied.json()) as any).error.id).toBe('session_aal2_required')

      const flow = (await (await get('/self-service/login/api?aal=aal2', token)).json()) as any
      expect(nodes(flow, 'address').map((n: any) => n.meta.label.context)).toEqual([{ address: phone, channel: 'sms' }])
      const sent = await post(`/self-service/login?flow=${flow.id}`, { method: 'code', address: phone }, token)
      expect(sent.status).toBe(400)
      const third = await waitSms(stack.sms, 3)
      expect(third).toMatchObject({ recipient: phone, template_type: 'login_code_valid' })
      const up = await post(`/self-service/login?flow=${flow.id}`, { method: 'code', identifier: phone, code: codeOf(third) }, token)
      expect(up.status).toBe(200)
      const who = await get('/sessions/whoami', token)
      expect(who.status).toBe(200)
      expect(((await who.json()) as any).authenticator_assurance_level).toBe('aal2')
      expect(stack.smtp.mails).toHaveLength(0)
    } finally {
      await stack.stop()
    }
  }, 60_000)
})

/**
 * The account flows end to end through `@ory/client-fetch` (FrontendApi, API flows), as a native app drives them,
 * against a real `tessera serve` (identity, password, code, courier) whose courier delivers over SMTP to a local
 * receiver and over an HTTP channel (SMS) to a local HTTP receiver; codes and links are read out of what arrives.
 * On SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { Configuration, FrontendApi, ResponseError } from '@ory/client-fetch'
import { type AccountStack, codeIn, linkIn, phoneSchema, startAccountStack } from './account-stack.ts'
import { postgresAvailable, scratchPostgres } from '../helpers/databases.ts'

const PW = 'correct horse battery staple'
const NEW_PW = 'a brand new and rather long passphrase'

/** The error body of a refused SDK call. */
async function refused(p: Promise<unknown>): Promise<{ status: number; body: any }> {
  try {
    await p
  } catch (e) {
    if (e instanceof ResponseError) return { status: e.response.status, body: await e.response.json() }
    throw e
  }
  throw new Error('expected the call to be refused')
}
const nodeMessages = (flow: any, name: string) => flow.ui.nodes.find((n: any) => n.attributes.name === name)?.messages.map((m: any) => m.id) ?? []

const DRIVERS = [
  { name: 'sqlite', enabled: true, dsn: async () => ({ dsn: undefined as string | undefined, drop: async () => {} }) },
  {
    name: 'postgres',
    enabled: postgresAvailable('account journeys'),
    dsn: async () => {
      const pg = await scratchPostgres('account-journey')
      return { dsn: pg.dsn as string | undefined, drop: () => pg.drop() }
    },
  },
]

for (const driver of DRIVERS) {
  describe.skipIf(!driver.enabled)(`account journeys through @ory/client-fetch, real SMTP (${driver.name})`, () => {
    let stack: AccountStack
    let drop = async () => {}
    let sdk: FrontendApi
    beforeAll(async () => {
      const db = await driver.dsn()
      drop = db.drop
      stack = await startAccountStack({ dsn: db.dsn })
      sdk = new FrontendApi(new Configuration({ basePath: stack.api }))
    }, 30_000)
    afterAll(async () => {
      await stack?.stop()
      await drop()
    })

    it('register → verification mail → verify', async () => {
      const email = 'ada@example.com'
      const flow = await sdk.createNativeRegistrationFlow()
      const reg = await sdk.updateRegistrationFlow({ flow: flow.id, updateRegistrationFlowBody: { method: 'password', password: PW, traits: { email } } })
      expect(reg.session_token).toBeString()
      const show = reg.continue_with?.find((c) => c.action === 'show_verification_ui') as { flow: { id: string; verifiable_address: string } }
      expect(show.flow.verifiable_address).toBe(email)

      const mail = await stack.mail(email)
      expect(stack.mailsTo(email)[0]!.mail.subject).toBe('Please verify your email address')
      const code = codeIn(mail)
      expect(code).toMatch(/^\d{6}$/)
      expect(linkIn(mail, '/self-service/verification?')).toContain(`flow=${show.flow.id}`)

      const wrong = await refused(sdk.updateVerificationFlow({ flow: show.flow.id, updateVerificationFlowBody: { method: 'code', code: code === '000000' ? '111111' : '000000' } }))
      expect(wrong.status).toBe(400)
      expect(nodeMessages(wrong.body, 'code')).toEqual([4070006])
      const done = await sdk.updateVerificationFlow({ flow: show.flow.id, updateVerificationFlowBody: { method: 'code', code } })
      expect(done.state).toBe('passed_challenge')
      const me = await sdk.toSession({ xSessionToken: reg.session_token })
      expect(me.identity?.verifiable_addresses?.[0]).toMatchObject({ value: email, verified: true, status: 'completed' })
    })

    it('forgot password → recovery code → settings → new password; the old one is refused', async () => {
      const email = 'grace@example.com'
      const reg = await sdk.updateRegistrationFlow({ flow: (await sdk.createNativeRegistrationFlow()).id, updateRegistrationFlowBody: { method: 'password', password: PW, traits: { email } } })
      expect(reg.identity?.traits.email).toBe(email)

      const flow = await sdk.createNativeRecoveryFlow()
      const sent = await sdk.updateRecoveryFlow({ flow: flow.id, updateRecoveryFlowBody: { method: 'code', email } })
      expect(sent.state).toBe('sent_email')
      expect(sent.ui.messages?.map((m) => m.id)).toEqual([1060003])
      const mail = await stack.mailWith(email, 'Recover access to your account')
      const recovered = await sdk.updateRecoveryFlow({ flow: flow.id, updateRecoveryFlowBody: { method: 'code', code: codeIn(mail) } })
      const token = (recovered.continue_with?.find((c) => c.action === 'set_ory_session_token') as { ory_session_token: string }).ory_session_token
      const settingsFlow = (recovered.continue_with?.find((c) => c.action === 'show_settings_ui') as { flow: { id: string } }).flow
      expect(token).toBeString()

      const settings = await sdk.updateSettingsFlow({ flow: settingsFlow.id, xSessionToken: token, updateSettingsFlowBody: { method: 'password', password: NEW_PW } })
      expect(settings.state).toBe('success')

      const login = (password: string) => sdk.createNativeLoginFlow().then((f) => sdk.updateLoginFlow({ flow: f.id, updateLoginFlowBody: { method: 'password', identifier: email, password } }))
      const old = await refused(login(PW))
      expect(old.status).toBe(400)
      expect(old.body.ui.messages.map((m: any) => m.id)).toEqual([4000006])
      expect((await login(NEW_PW)).session?.identity?.traits.email).toBe(email)
    })

    it('logs in without a password: a code by mail', async () => {
      const email = 'ada@example.com' // registered above
      const before = stack.mailsTo(email).length
      const flow = await sdk.createNativeLoginFlow()
      // Kratos answers "code sent" with 400 and the flow (the flow is not done): the SDK throws, an app shows the flow
      const sent = await refused(sdk.updateLoginFlow({ flow: flow.id, updateLoginFlowBody: { method: 'code', csrf_token: '', identifier: email } }))
      expect(sent.status).toBe(400)
      expect(sent.body.state).toBe('sent_email')
      expect(sent.body.ui.messages.map((m: any) => m.id)).toEqual([1010014])
      const mail = await stack.mail(email, before + 1)
      expect(linkIn(mail, '/self-service/login?')).toContain('method=code&token=')
      const session = await sdk.updateLoginFlow({ flow: flow.id, updateLoginFlowBody: { method: 'code', csrf_token: '', identifier: email, code: codeIn(mail) } })
      expect(session.session.identity?.traits.email).toBe(email)
      expect(session.session.authentication_methods?.[0]?.method).toBe('code')
    })

    it('registers and logs in by a code sent by SMS through the HTTP channel', async () => {
      const smsStack = await startAccountStack({ dsn: undefined, schema: phoneSchema })
      try {
        const api = new FrontendApi(new Configuration({ basePath: smsStack.api }))
        const phone = '+4915550100'
        const reg = await api.createNativeRegistrationFlow()
        const regSent = await refused(api.updateRegistrationFlow({ flow: reg.id, updateRegistrationFlowBody: { method: 'code', traits: { phone } } }))
        expect([regSent.status, regSent.body.state]).toEqual([400, 'sent_email'])
        const first = await waitSms(smsStack, 1)
        expect(first).toMatchObject({ recipient: phone, template_type: 'registration_code_valid' })
        const registered = await api.updateRegistrationFlow({ flow: reg.id, updateRegistrationFlowBody: { method: 'code', traits: { phone }, code: /\d{6}/.exec(first.body)![0] } })
        expect(registered.identity.traits.phone).toBe(phone)

        const login = await api.createNativeLoginFlow()
        const loginSent = await refused(api.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'code', csrf_token: '', identifier: phone } }))
        expect([loginSent.status, loginSent.body.state]).toEqual([400, 'sent_email'])
        const second = await waitSms(smsStack, 2)
        expect(second).toMatchObject({ recipient: phone, template_type: 'login_code_valid' })
        expect(smsStack.smtp.mails).toHaveLength(0)
        const session = await api.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'code', csrf_token: '', identifier: phone, code: /\d{6}/.exec(second.body)![0] } })
        expect(session.session.identity?.traits.phone).toBe(phone)
      } finally {
        await smsStack.stop()
      }
    }, 30_000)

    it('a verification mail queued while SMTP is down arrives when it is back, and its code and link still verify', async () => {
      await stack.smtp.stop()
      const emails = ['down-code@example.com', 'down-link@example.com']
      const regs = []
      for (const email of emails) regs.push(await sdk.updateRegistrationFlow({ flow: (await sdk.createNativeRegistrationFlow()).id, updateRegistrationFlowBody: { method: 'password', password: PW, traits: { email } } }))
      // (the message is queued a moment after the registration answers; until then there is none)
      const admin = async (email: string) => (await (await fetch(`${stack.admin}/admin/courier/messages?recipient=${encodeURIComponent(email)}`)).json())[0] ?? { status: 'none', send_count: 0 }
      // the message waits and is retried with backoff
      const deadline = Date.now() + 10_000
      while ((await admin(emails[0]!)).send_count < 2 && Date.now() < deadline) await Bun.sleep(50)
      const waiting = await admin(emails[0]!)
      // waiting for its next try, or being tried right now: never sent, never given up
      expect(['queued', 'processing']).toContain(waiting.status)
      expect(waiting.send_count).toBeGreaterThanOrEqual(2)
      expect(stack.mailsTo(emails[0]!)).toHaveLength(0)

      await stack.smtp.start()
      const codeMail = await stack.mail(emails[0]!, 1, 15_000)
      const linkMail = await stack.mail(emails[1]!, 1, 15_000)
      // the status is recorded right after the SMTP server took the mail
      const sentBy = Date.now() + 10_000
      while ((await admin(emails[0]!)).status !== 'sent' && Date.now() < sentBy) await Bun.sleep(50)
      expect((await admin(emails[0]!)).status).toBe('sent')

      const flowOf = (r: any) => r.continue_with.find((c: any) => c.action === 'show_verification_ui').flow.id
      const byCode = await sdk.updateVerificationFlow({ flow: flowOf(regs[0]), updateVerificationFlowBody: { method: 'code', code: codeIn(codeMail) } })
      expect(byCode.state).toBe('passed_challenge')
      const link = linkIn(linkMail, '/self-service/verification?')
      expect(link).toContain(`flow=${flowOf(regs[1])}`)
      const opened = await fetch(link, { redirect: 'manual' })
      expect([200, 303]).toContain(opened.status)
      const me = await sdk.toSession({ xSessionToken: regs[1]!.session_token })
      expect(me.identity?.verifiable_addresses?.[0]).toMatchObject({ value: emails[1], verified: true })
    }, 40_000)
  })
}

async function waitSms(stack: AccountStack, n: number) {
  const deadline = Date.now() + 10_000
  while (stack.sms.length < n && Date.now() < deadline) await Bun.sleep(20)
  const m = stack.sms[n - 1]
  if (!m) throw new Error(`expected SMS #${n}, got ${stack.sms.length}`)
  return m
}

/**
 * Messages in the identity's language (issue 13, Courier), on SQLite and PostgreSQL: a flow keeps the language it
 * was started in (the reader's choice in the `tessera_lang` cookie, else the Accept-Language of the request that
 * created it), an identity's `locale` trait wins over it,
 * an unknown recipient gets the flow's. With the recording courier (test/helpers/courier.ts), and once with the real
 * courier and an SMTP receiver, where the German subject is what the user sees.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { call } from './helpers/app.ts'
import { bootApps } from './helpers/app.ts'
import { type RecordedMessage, recordingCourier } from './helpers/courier.ts'
import { type ScratchDatabase, drivers } from './helpers/databases.ts'
import { testSelfservice } from './helpers/identity.ts'
import { code } from '../plugins/code/index.ts'
import { courier as realCourier } from '../plugins/courier/index.ts'
import { type SmtpReceiver, startSmtpReceiver } from '../plugins/courier/test-helpers.ts'
import { identity } from '../plugins/identity/index.ts'
import { password } from '../plugins/password/index.ts'

/** The quickstart schema with a `locale` trait (the identity plugin's default `selfservice.localeTrait`). */
const schema = {
  $id: 'https://schemas.tessera.dev/identity.locale.json',
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  properties: {
    traits: {
      type: 'object',
      properties: {
        email: {
          type: 'string',
          format: 'email',
          maxLength: 320,
          'ory.sh/kratos': {
            credentials: { password: { identifier: true }, code: { identifier: true, via: 'email' } },
            verification: { via: 'email' },
            recovery: { via: 'email' },
          },
        },
        locale: { type: 'string', maxLength: 35 },
      },
      required: ['email'],
      additionalProperties: false,
    },
  },
}

/** Messages are handed to the courier after the flow answers (so that known and unknown addresses answer alike): wait for one. */
async function message(find: () => RecordedMessage | undefined, ms = 5000): Promise<RecordedMessage> {
  const until = Date.now() + ms
  for (;;) {
    const m = find()
    if (m) return m
    if (Date.now() > until) throw new Error('no message was sent')
    await Bun.sleep(10)
  }
}

for (const driver of drivers('locale')) {
  describe.skipIf(!driver.enabled)(`message language (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: Awaited<ReturnType<typeof bootApps>>
    const courier = recordingCourier()
    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps(
        [
          identity({ schemas: [{ id: 'default', schema }], selfservice: { ...testSelfservice, recovery: { notifyUnknownRecipients: true } } }),
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

    const createIdentity = async (traits: Record<string, unknown>) => {
      const r = await call(apps.admin, 'POST', '/admin/identities', { body: { schema_id: 'default', traits } })
      expect(r.status).toBe(201)
      return r.json as { id: string }
    }
    /** Start a recovery API flow with these headers and submit an address from a client that sends `submitHeaders`. */
    async function recover(email: string, startHeaders: Record<string, string>, submitHeaders: Record<string, string> = {}) {
      const before = courier.sent.length
      const flow = (await call(apps.public, 'GET', '/self-service/recovery/api', { headers: startHeaders })).json as { id: string }
      const r = await call(apps.public, 'POST', `/self-service/recovery?flow=${flow.id}`, { body: { method: 'code', email }, headers: submitHeaders })
      expect(r.status).toBe(200)
      return message(() => courier.sent.slice(before).find((m) => m.recipient === email))
    }

    it('sends a recovery code in the language the flow was started in, though the address is submitted without Accept-Language', async () => {
      await createIdentity({ email: 'de-user@example.com' })
      const m = await recover('de-user@example.com', { 'accept-language': 'de' })
      expect(m.template).toBe('recovery_code.valid')
      expect(m.locale).toBe('de')
      // the flow's public body gains no field Kratos' flow does not have
      const flow = (await call(apps.public, 'GET', '/self-service/recovery/api', { headers: { 'accept-language': 'de' } })).json as Record<string, unknown>
      expect(JSON.stringify(flow)).not.toContain('"locale"')
    })

    it("keeps the flow's language over a different Accept-Language at submit time", async () => {
      const m = await recover('de-user@example.com', { 'accept-language': 'de' }, { 'accept-language': 'zh' })
      expect(m.locale).toBe('de')
    })

    it("uses the submit request's Accept-Language when the flow was started without one", async () => {
      const m = await recover('de-user@example.com', {}, { 'accept-language': 'ru' })
      expect(m.locale).toBe('ru')
    })

    it('sends no language when neither request names one (the courier falls back to English)', async () => {
      const m = await recover('de-user@example.com', {})
      expect(m.locale).toBeUndefined()
    })

    it('prefers the language the reader chose (the tessera_lang cookie the ui sets with ?lang=) over Accept-Language', async () => {
      expect((await recover('de-user@example.com', { 'accept-language': 'en', cookie: 'other=1; tessera_lang=de' })).locale).toBe('de')
      // a cookie that is not a language tag is ignored (Accept-Language then)
      expect((await recover('de-user@example.com', { 'accept-language': 'ru', cookie: 'tessera_lang=%3Cx%3E' })).locale).toBe('ru')
    })

    it('stores the preferred language of Accept-Language as a canonical BCP 47 tag', async () => {
      expect((await recover('de-user@example.com', { 'accept-language': 'de-de' })).locale).toBe('de-DE')
      expect((await recover('de-user@example.com', { 'accept-language': 'fr;q=0.4, *;q=0.9, de_at;q=0.8, xx-!!' })).locale).toBe('de-AT')
      expect((await recover('de-user@example.com', { 'accept-language': 'ru;q=0, not a tag' })).locale).toBeUndefined()
    })

    it("sends a login code in the flow's language", async () => {
      await createIdentity({ email: 'login-de@example.com' })
      const before = courier.sent.length
      const flow = (await call(apps.public, 'GET', '/self-service/login/api', { headers: { 'accept-language': 'de-CH, en;q=0.5' } })).json as { id: string }
      const r = await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'code', identifier: 'login-de@example.com' } })
      expect(r.status).toBe(400) // Kratos: a sent login code answers the flow with 400
      const m = await message(() => courier.sent.slice(before).find((x) => x.recipient === 'login-de@example.com'))
      expect(m.template).toBe('login_code.valid')
      expect(m.locale).toBe('de-CH')
    })

    it("writes to an identity in its locale trait, whatever the flow's language", async () => {
      await createIdentity({ email: 'ru-user@example.com', locale: 'ru' })
      expect((await recover('ru-user@example.com', { 'accept-language': 'de' })).locale).toBe('ru')
      expect((await recover('ru-user@example.com', {}, { 'accept-language': 'zh' })).locale).toBe('ru')
      const before = courier.sent.length
      const flow = (await call(apps.public, 'GET', '/self-service/login/api', { headers: { 'accept-language': 'de' } })).json as { id: string }
      await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'code', identifier: 'ru-user@example.com' } })
      expect((await message(() => courier.sent.slice(before).find((x) => x.recipient === 'ru-user@example.com'))).locale).toBe('ru')
    })

    it("ignores a locale trait that is not a language tag (the flow's language is used)", async () => {
      await createIdentity({ email: 'odd-trait@example.com', locale: 'not a language' })
      expect((await recover('odd-trait@example.com', { 'accept-language': 'de' })).locale).toBe('de')
    })

    it("tells an unknown recipient (notify_unknown_recipients) in the flow's language", async () => {
      const m = await recover('nobody@example.com', { 'accept-language': 'de' })
      expect(m.template).toBe('recovery_code.invalid')
      expect(m.locale).toBe('de')
    })

    it('registers by code in the language of the submitted locale trait', async () => {
      const before = courier.sent.length
      const flow = (await call(apps.public, 'GET', '/self-service/registration/api', { headers: { 'accept-language': 'de' } })).json as { id: string }
      await call(apps.public, 'POST', `/self-service/registration?flow=${flow.id}`, { body: { method: 'code', traits: { email: 'new-zh@example.com', locale: 'zh' } } })
      const m = await message(() => courier.sent.slice(before).find((x) => x.recipient === 'new-zh@example.com'))
      expect(m.template).toBe('registration_code.valid')
      expect(m.locale).toBe('zh')
    })
  })

  describe.skipIf(!driver.enabled)(`message language after registration (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: Awaited<ReturnType<typeof bootApps>>
    const courier = recordingCourier()
    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps(
        [
          identity({ schemas: [{ id: 'default', schema }], selfservice: testSelfservice }),
          password({ hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } }),
          courier.plugin,
          code(),
        ],
        { database: scratch.db },
      )
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    it("sends the verification code after a registration in the registration flow's language", async () => {
      const flow = (await call(apps.public, 'GET', '/self-service/registration/api', { headers: { 'accept-language': 'de' } })).json as { id: string }
      const r = await call(apps.public, 'POST', `/self-service/registration?flow=${flow.id}`, { body: { method: 'password', password: 'correct horse battery staple', traits: { email: 'reg-de@example.com' } } })
      expect(r.status).toBe(200)
      const m = await message(() => courier.last('reg-de@example.com', 'verification_code.valid'))
      expect(m.locale).toBe('de')
    })
  })

  describe.skipIf(!driver.enabled)(`message language with the real courier (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: Awaited<ReturnType<typeof bootApps>>
    let smtp: SmtpReceiver
    beforeAll(async () => {
      scratch = await driver.create()
      smtp = await startSmtpReceiver({ plain: true })
      apps = await bootApps(
        [
          identity({ schemas: [{ id: 'default', schema }], selfservice: testSelfservice }),
          realCourier({ smtp: { connectionUri: `smtp://127.0.0.1:${smtp.port}/?disable_starttls=true` }, worker: { intervalSeconds: 0.05, timeoutSeconds: 2 } }),
          code(),
        ],
        { database: scratch.db },
      )
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await smtp.stop()
      await scratch.drop()
    })

    it("mails a German flow's recovery code with the German subject", async () => {
      expect((await call(apps.admin, 'POST', '/admin/identities', { body: { schema_id: 'default', traits: { email: 'mail-de@example.com' } } })).status).toBe(201)
      const flow = (await call(apps.public, 'GET', '/self-service/recovery/api', { headers: { 'accept-language': 'de-DE,de;q=0.9,en;q=0.8' } })).json as { id: string }
      const r = await call(apps.public, 'POST', `/self-service/recovery?flow=${flow.id}`, { body: { method: 'code', email: 'mail-de@example.com' } })
      expect(r.status).toBe(200)
      const [mail] = await smtp.waitFor(1, 15_000)
      expect(mail!.envelope.to).toEqual(['mail-de@example.com'])
      expect(mail!.mail.subject).toBe('Zugang zu deinem Konto wiederherstellen')
      expect(mail!.mail.text).toContain('gib den folgenden Code ein')
    })
  })
}

/**
 * The courier on SQLite and PostgreSQL, with a real SMTP receiver (smtp-server: STARTTLS with auth, smtps, plain)
 * and a real HTTP receiver for SMS: delivered mail (subject, text, HTML, language), the SMS body template, a
 * dead SMTP server (retries with backoff, sent when it is back, abandoned after the retries), a restart
 * mid-queue, two kernels on one database, a claim left by a dead process, and the admin API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Database, type EventName, sql } from 'tessera'
import { SqliteDatabase, postgresDriver } from '../../drivers/index.ts'
import { type TestApps, bootApps, captureLog } from '../../test/helpers/app.ts'
import { type DriverCase, type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { type TestServer, startServer } from '../proxy/test-helpers.ts'
import type { Courier } from './courier.ts'
import { type CourierOptionsInput, courier } from './index.ts'
import { type SmtpReceiver, eventually, startSmtpReceiver } from './test-helpers.ts'

const FAST = { intervalSeconds: 0.05, timeoutSeconds: 2 }
const stateOf = (a: TestApps) => a.kernel.plugins.find((p) => p.id === 'courier')!.ctx.state as Courier
const admin = (a: TestApps, path: string) => a.admin.handle(new Request(`http://localhost${path}`))
const smtpUri = (r: SmtpReceiver, extra = 'disable_starttls=true') => `smtp://127.0.0.1:${r.port}/?${extra}`

/** A database that outlives a kernel: a file for SQLite, the scratch schema's DSN for PostgreSQL. */
function reopenable(driver: DriverCase, scratch: ScratchDatabase) {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-courier-'))
  return {
    open: (): Promise<Database> => (driver.name === 'sqlite' ? Promise.resolve(new SqliteDatabase(join(dir, 'db.sqlite'))) : postgresDriver.connect(scratch.dsn)),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
}

async function statusOf(a: TestApps, id: string) {
  const res = await admin(a, `/admin/courier/messages/${id}`)
  return (await res.json()) as { status: string; send_count: number; dispatches: { status: string; created_at: string; error?: { message: string } }[] }
}

for (const driver of drivers('courier')) {
  describe.skipIf(!driver.enabled)(`courier (${driver.name})`, () => {
    const cleanups: (() => unknown)[] = []
    afterAll(async () => {
      for (const c of cleanups.reverse()) await c()
    })

    async function boot(options: CourierOptionsInput, database?: Database, log?: ReturnType<typeof captureLog>['logger']) {
      let db = database
      if (!db) {
        const s = await driver.create()
        cleanups.push(() => s.drop())
        db = s.db
      }
      const apps = await bootApps([courier(options)], { database: db, log })
      cleanups.push(() => apps.kernel.stop())
      return apps
    }

    it('delivers e-mail over STARTTLS with auth, in the recipient\'s language, with subject, text and HTML', async () => {
      const smtp = await startSmtpReceiver({ auth: { user: 'mailer', pass: 'p@ss word' } })
      cleanups.push(() => smtp.stop())
      const apps = await boot({
        smtp: { connectionUri: `smtp://mailer:${encodeURIComponent('p@ss word')}@127.0.0.1:${smtp.port}/?skip_ssl_verify=true`, fromAddress: 'accounts@example.com', fromName: 'Example Accounts' },
        worker: FAST,
      })
      const c = stateOf(apps)
      const link = 'https://auth.example.com/self-service/login?flow=f1&code=654321'
      await c.send('default', { template: 'login_code.valid', channel: 'email', recipient: 'anna@example.com', data: { login_code: '654321', login_url: link, expires_in_minutes: 15 }, locale: 'de-AT' })
      await c.send('default', { template: 'recovery_code.valid', channel: 'email', recipient: 'ivan@example.com', data: { recovery_code: '111222' }, locale: 'ru' })
      await c.send('default', { template: 'verification_code.valid', channel: 'email', recipient: 'li@example.com', data: { verification_code: '333444', verification_url: 'https://auth.example.com/v?x=1' }, locale: 'zh-Hans-CN' })
      await c.send('default', { template: 'registration_code.valid', channel: 'email', recipient: 'jean@example.com', data: { registration_code: '555666' }, locale: 'fr' })
      const mails = await smtp.waitFor(4)
      const to = (addr: string) => mails.find((m) => m.envelope.to[0] === addr)!

      const de = to('anna@example.com')
      expect(de.secure).toBe(true)
      expect(de.user).toBe('mailer')
      expect(de.mail.from?.value[0]).toEqual({ address: 'accounts@example.com', name: 'Example Accounts' })
      expect(de.mail.subject).toBe('Bei deinem Konto anmelden')
      expect(de.mail.headers.get('content-language')).toBe('de')
      expect(de.mail.text).toContain('Melde dich mit dem folgenden Code bei deinem Konto an:')
      expect(de.mail.text).toContain('654321')
      expect(de.mail.text).toContain(link)
      expect(de.mail.text).toContain('Er ist 15 Minuten lang gültig.')
      expect(de.mail.html).toContain('<html lang="de">')
      // the link's & is escaped in the HTML body
      expect(de.mail.html).toContain(`<a href="${link.replace('&', '&amp;')}">`)

      const ru = to('ivan@example.com')
      expect(ru.mail.subject).toBe('Восстановление доступа к учётной записи')
      expect(ru.mail.text).toContain('111222')
      expect(ru.mail.text).not.toContain('Срок действия') // no expiry given, no expiry sentence

      const zh = to('li@example.com')
      expect(zh.mail.subject).toBe('请验证您的电子邮件地址')
      expect(zh.mail.text).toContain('333444')

      const fr = to('jean@example.com')
      expect(fr.mail.subject).toBe('Complete your account registration')
      expect(fr.mail.headers.get('content-language')).toBe('en')
    })

    it('speaks smtps:// (TLS from the start) and plain SMTP to a local relay with disable_starttls', async () => {
      const tls = await startSmtpReceiver({ secure: true })
      const plain = await startSmtpReceiver({ plain: true })
      cleanups.push(() => tls.stop(), () => plain.stop())
      const a = await boot({ smtp: { connectionUri: `smtps://127.0.0.1:${tls.port}/?skip_ssl_verify=true` }, worker: FAST })
      const b = await boot({ smtp: { connectionUri: smtpUri(plain) }, worker: FAST })
      await stateOf(a).send('default', { template: 'recovery.valid', channel: 'email', recipient: 'a@example.com', data: { recovery_url: 'https://x.example/r' } })
      await stateOf(b).send('default', { template: 'verification.valid', channel: 'email', recipient: 'b@example.com', data: { verification_url: 'https://x.example/v' } })
      const [t] = await tls.waitFor(1)
      const [p] = await plain.waitFor(1)
      expect(t!.secure).toBe(true)
      expect(t!.mail.subject).toBe('Recover access to your account')
      expect(p!.secure).toBe(false)
      expect(p!.mail.subject).toBe('Please verify your email address')
    })

    it('refuses to send over smtp:// to a server without STARTTLS (no silent cleartext)', async () => {
      const plain = await startSmtpReceiver({ plain: true })
      cleanups.push(() => plain.stop())
      const a = await boot({ smtp: { connectionUri: `smtp://127.0.0.1:${plain.port}/` }, worker: FAST, messageRetries: 0 })
      const { id } = await stateOf(a).send('default', { template: 'recovery.valid', channel: 'email', recipient: 'a@example.com', data: { recovery_url: 'https://x.example/r' } })
      const m = await eventually(async () => ((await statusOf(a, id)).status === 'abandoned' ? statusOf(a, id) : null))
      expect(plain.mails).toHaveLength(0)
      expect(m.dispatches[0]!.status).toBe('failed')
    })

    it('sends SMS through the HTTP channel with its body template, auth and headers', async () => {
      const got: { body: unknown; auth: string | null; key: string | null }[] = []
      const receiver: TestServer = startServer(async (req) => {
        got.push({ body: await req.json(), auth: req.headers.get('authorization'), key: req.headers.get('x-api-key') })
        return new Response(null, { status: 201 })
      })
      cleanups.push(() => receiver.stop())
      const apps = await boot({
        channels: [
          {
            id: 'sms',
            type: 'http',
            requestConfig: {
              url: `${receiver.url}/sms`,
              method: 'POST',
              headers: { 'Content-Type': 'application/json', 'X-Api-Key': 'k-1' },
              body: '{"To":"{{ .Recipient }}","Body":"{{ .Body }}","Type":"{{ .TemplateType }}","Code":"{{ .TemplateData.login_code }}"}',
              auth: { type: 'basic_auth', config: { user: 'AC1', password: 'secret' } },
            },
          },
        ],
        worker: FAST,
      })
      // a recipient with characters that need JSON escaping cannot break the body
      await stateOf(apps).send('default', { template: 'login_code.valid', channel: 'sms', recipient: '+491701234567', data: { login_code: '987654' }, locale: 'de' })
      await eventually(async () => got.length === 1)
      expect(got[0]!.body).toEqual({ To: '+491701234567', Body: 'Dein Anmeldecode lautet: 987654', Type: 'login_code_valid', Code: '987654' })
      expect(got[0]!.auth).toBe(`Basic ${btoa('AC1:secret')}`)
      expect(got[0]!.key).toBe('k-1')
    })

    it('keeps messages while SMTP is down, retries with backoff, and sends them when it is back', async () => {
      const smtp = await startSmtpReceiver({ plain: true })
      cleanups.push(() => smtp.stop())
      await smtp.stop()
      const apps = await boot({ smtp: { connectionUri: smtpUri(smtp) }, worker: FAST, backoff: { initialSeconds: 0.2 } })
      const { id } = await stateOf(apps).send('default', { template: 'login_code.valid', channel: 'email', recipient: 'wait@example.com', data: { login_code: '246810' } })
      const waiting = await eventually(async () => {
        const m = await statusOf(apps, id)
        return m.send_count >= 3 ? m : null
      })
      expect(waiting.status).toBe('queued')
      const times = waiting.dispatches.map((x) => Date.parse(x.created_at)).sort()
      expect(waiting.dispatches.every((x) => x.status === 'failed' && typeof x.error?.message === 'string')).toBe(true)
      // the waits double: at least 0.2 s, then at least 0.4 s
      expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(190)
      expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(390)
      await smtp.start()
      const [mail] = await smtp.waitFor(1, 15_000)
      expect(mail!.mail.text).toContain('246810')
      const sent = await eventually(async () => ((await statusOf(apps, id)).status === 'sent' ? statusOf(apps, id) : null))
      expect(sent.dispatches[0]!.status).toBe('success')
      await Bun.sleep(200)
      expect(smtp.mails).toHaveLength(1)
    })

    it('abandons a message after message_retries failed retries, and says so in an event', async () => {
      const smtp = await startSmtpReceiver({ plain: true })
      await smtp.stop()
      const apps = await boot({ smtp: { connectionUri: smtpUri(smtp) }, worker: FAST, messageRetries: 2, backoff: { initialSeconds: 0.05 } })
      const events: { name: EventName; payload: unknown }[] = []
      for (const name of ['courier.message.queued', 'courier.message.sent', 'courier.message.abandoned'] as const) apps.kernel.events.on(name, (p) => void events.push({ name, payload: p }))
      const { id } = await stateOf(apps).send('default', { template: 'recovery_code.valid', channel: 'email', recipient: 'gone@example.com', data: { recovery_code: '135790' } })
      const m = await eventually(async () => ((await statusOf(apps, id)).status === 'abandoned' ? statusOf(apps, id) : null))
      expect(m.send_count).toBe(3)
      expect(m.dispatches).toHaveLength(3)
      expect(events.map((e) => e.name)).toEqual(['courier.message.queued', 'courier.message.abandoned'])
      expect(events[1]!.payload).toMatchObject({ messageId: id, templateType: 'recovery_code_valid', channel: 'email', sendCount: 3 })
      expect(JSON.stringify(events)).not.toContain('135790')
      // nothing more happens to it
      await Bun.sleep(200)
      expect((await statusOf(apps, id)).send_count).toBe(3)
    })

    it('loses nothing across a restart: a new kernel on the same database sends what the stopped one queued', async () => {
      const scratch = await driver.create()
      cleanups.push(() => scratch.drop())
      const store = reopenable(driver, scratch)
      cleanups.push(store.cleanup)
      const smtp = await startSmtpReceiver({ plain: true })
      cleanups.push(() => smtp.stop())
      await smtp.stop()
      const first = await boot({ smtp: { connectionUri: smtpUri(smtp) }, worker: FAST, backoff: { initialSeconds: 0.1 } }, await store.open())
      const ids: string[] = []
      for (let i = 0; i < 5; i++) ids.push((await stateOf(first).send('default', { template: 'login_code.valid', channel: 'email', recipient: `r${i}@example.com`, data: { login_code: `00000${i}` } })).id)
      await Bun.sleep(150) // the first tries fail while the server is down
      await first.kernel.stop()
      await smtp.start()
      const second = await boot({ smtp: { connectionUri: smtpUri(smtp) }, worker: FAST, backoff: { initialSeconds: 0.1 } }, await store.open())
      await smtp.waitFor(5, 15_000)
      await Bun.sleep(200)
      expect(smtp.mails.map((m) => m.envelope.to[0]).sort()).toEqual(['r0@example.com', 'r1@example.com', 'r2@example.com', 'r3@example.com', 'r4@example.com'])
      for (const id of ids) await eventually(async () => (await statusOf(second, id)).status === 'sent')
    })

    it('two kernels on one database send each message once', async () => {
      const scratch = await driver.create()
      cleanups.push(() => scratch.drop())
      const store = reopenable(driver, scratch)
      cleanups.push(store.cleanup)
      const smtp = await startSmtpReceiver({ plain: true })
      cleanups.push(() => smtp.stop())
      // queue first, with the workers off, then let two kernels race for the rows
      const writer = await boot({ smtp: { connectionUri: smtpUri(smtp) }, worker: { enabled: false } }, await store.open())
      for (let i = 0; i < 40; i++) await stateOf(writer).send('default', { template: 'login_code.valid', channel: 'email', recipient: `u${i}@example.com`, data: { login_code: String(100000 + i) } })
      const a = await boot({ smtp: { connectionUri: smtpUri(smtp) }, worker: { ...FAST, batchSize: 7 } }, await store.open())
      const b = await boot({ smtp: { connectionUri: smtpUri(smtp) }, worker: { ...FAST, batchSize: 7 } }, await store.open())
      await smtp.waitFor(40, 20_000)
      await Bun.sleep(300)
      expect(smtp.mails).toHaveLength(40)
      expect(new Set(smtp.mails.map((m) => m.envelope.to[0])).size).toBe(40)
      const db = stateOf(a).ctx.storage.scoped('default')
      const rows = await db.query<{ n: number }>(sql`SELECT COUNT(*) AS n FROM courier_message_dispatches WHERE nid = ${db.nid} AND status = ${'success'}`)
      expect(Number(rows[0]!.n)).toBe(40)
      void b
    })

    it('takes over a message whose sender died mid-send once its lease ran out, and leaves a live claim alone', async () => {
      const smtp = await startSmtpReceiver({ plain: true })
      cleanups.push(() => smtp.stop())
      const apps = await boot({ smtp: { connectionUri: smtpUri(smtp) }, worker: { enabled: false } })
      const c = stateOf(apps)
      const dead = await c.send('default', { template: 'login_code.valid', channel: 'email', recipient: 'dead@example.com', data: { login_code: '1' } })
      const live = await c.send('default', { template: 'login_code.valid', channel: 'email', recipient: 'live@example.com', data: { login_code: '2' } })
      const db = c.ctx.storage.scoped('default')
      await db.exec(sql`UPDATE courier_messages SET status = ${'processing'}, claim_id = ${'gone'}, next_attempt_at = ${new Date(Date.now() - 1000)} WHERE nid = ${db.nid} AND id = ${dead.id}`)
      await db.exec(sql`UPDATE courier_messages SET status = ${'processing'}, claim_id = ${'busy'}, next_attempt_at = ${new Date(Date.now() + 60_000)} WHERE nid = ${db.nid} AND id = ${live.id}`)
      expect(await c.runOnce()).toBe(1)
      expect(smtp.mails.map((m) => m.envelope.to[0])).toEqual(['dead@example.com'])
      expect((await statusOf(apps, dead.id)).status).toBe('sent')
      expect((await statusOf(apps, live.id)).status).toBe('processing')
    })

    it('overrides templates from a directory in Kratos\' layout, per language, escaping values in HTML', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tessera-courier-templates-'))
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
      mkdirSync(join(dir, 'login_code', 'valid'), { recursive: true })
      writeFileSync(join(dir, 'login_code', 'valid', 'email.subject.gotmpl'), 'Your code for {{ .Identity.traits.name }}')
      writeFileSync(join(dir, 'login_code', 'valid', 'email.subject.de.gotmpl'), 'Dein Code, {{ .Identity.traits.name }}')
      writeFileSync(join(dir, 'login_code', 'valid', 'email.body.gotmpl'), '<p>Hello {{ .Identity.traits.name }}</p>{{ if .LoginURL }}<a href="{{ .LoginURL }}">go</a>{{ end }}<b>{{ .LoginCode }}</b>')
      const smtp = await startSmtpReceiver({ plain: true })
      cleanups.push(() => smtp.stop())
      // a template that does not compile stops the boot
      writeFileSync(join(dir, 'login_code', 'valid', 'sms.body.gotmpl'), '{{ range .X }}')
      await expect(boot({ smtp: { connectionUri: smtpUri(smtp) }, templateOverridePath: dir })).rejects.toThrow(/sms\.body\.gotmpl/)
      writeFileSync(join(dir, 'login_code', 'valid', 'sms.body.gotmpl'), 'code {{ .LoginCode }}')
      writeFileSync(join(dir, 'login_code', 'valid', 'email.body.plaintext.gotmpl'), 'Hello {{ .Identity.traits.name }}, code {{ .LoginCode }}')
      const apps = await boot({ smtp: { connectionUri: smtpUri(smtp) }, templateOverridePath: dir, worker: FAST })
      const identity = { traits: { name: '<script>alert(1)</script>' } }
      await stateOf(apps).send('default', { template: 'login_code.valid', channel: 'email', recipient: 'o1@example.com', data: { login_code: '777', identity } })
      await stateOf(apps).send('default', { template: 'login_code.valid', channel: 'email', recipient: 'o2@example.com', data: { login_code: '888', identity }, locale: 'de' })
      await stateOf(apps).send('default', { template: 'recovery_code.valid', channel: 'email', recipient: 'o3@example.com', data: { recovery_code: '999' }, locale: 'de' })
      const mails = await smtp.waitFor(3)
      const to = (addr: string) => mails.find((m) => m.envelope.to[0] === addr)!.mail
      expect(to('o1@example.com').subject).toBe('Your code for <script>alert(1)</script>')
      expect(to('o1@example.com').html).toContain('<p>Hello &lt;script&gt;alert(1)&lt;/script&gt;</p><b>777</b>')
      expect(to('o1@example.com').text).toContain('Hello <script>alert(1)</script>, code 777')
      expect(to('o2@example.com').subject).toBe('Dein Code, <script>alert(1)</script>')
      // not overridden: the built-in German text
      expect(to('o3@example.com').subject).toBe('Zugang zu deinem Konto wiederherstellen')
    })

    describe('admin API', () => {
      let apps: TestApps
      let revealing: TestApps
      const ids: string[] = []
      beforeAll(async () => {
        const s = await driver.create()
        cleanups.push(() => s.drop())
        // no worker: the messages stay queued, except those marked below
        apps = await boot({ smtp: { connectionUri: 'smtp://127.0.0.1:1/?disable_starttls=true' }, worker: { enabled: false } }, s.db)
        revealing = await boot({ smtp: { connectionUri: 'smtp://127.0.0.1:1/?disable_starttls=true' }, worker: { enabled: false }, admin: { revealSecrets: true } }, s.db)
        const c = stateOf(apps)
        for (let i = 0; i < 5; i++) ids.push((await c.send('default', { template: 'login_code.valid', channel: 'email', recipient: 'page@example.com', data: { login_code: `42424${i}`, login_url: `https://auth.example.com/l?code=42424${i}` } })).id)
        ids.push((await c.send('default', { template: 'recovery.valid', channel: 'email', recipient: 'other@example.com', data: { recovery_url: 'https://auth.example.com/recovery?token=abcdef' } })).id)
        ids.push((await c.send('other-tenant', { template: 'recovery.valid', channel: 'email', recipient: 'page@example.com', data: { recovery_url: 'https://x' } })).id)
        const db = c.ctx.storage.scoped('default')
        await db.exec(sql`UPDATE courier_messages SET status = ${'sent'} WHERE nid = ${db.nid} AND id = ${ids[0]!}`)
      })

      it('lists messages newest first in Kratos\' shape, with codes and links redacted', async () => {
        const res = await admin(apps, '/admin/courier/messages')
        expect(res.status).toBe(200)
        const list = (await res.json()) as Record<string, unknown>[]
        expect(list.map((m) => m.id)).toEqual(ids.slice(0, 6).reverse())
        const m = list.find((x) => x.id === ids[1])!
        expect(Object.keys(m).sort()).toEqual(['body', 'channel', 'created_at', 'id', 'recipient', 'send_count', 'status', 'subject', 'template_type', 'type', 'updated_at'])
        expect(m).toMatchObject({ status: 'queued', type: 'email', recipient: 'page@example.com', template_type: 'login_code_valid', channel: 'email', send_count: 0, subject: 'Login to your account' })
        expect(m.body).toContain('<redacted>')
        expect(m.body).not.toContain('424241')
        expect(m.body).not.toContain('https://auth.example.com/l')
        const r = list.find((x) => x.id === ids[5])!
        expect(r.body).not.toContain('token=abcdef')
      })

      it('shows codes and links when revealSecrets is on', async () => {
        const m = await (await admin(revealing, `/admin/courier/messages/${ids[1]}`)).json()
        expect(m.body).toContain('424241')
        expect(m.body).toContain('https://auth.example.com/l?code=424241')
        expect(m.dispatches).toEqual([])
      })

      it('filters by status and recipient, per tenant', async () => {
        const byStatus = (await (await admin(apps, '/admin/courier/messages?status=sent')).json()) as { id: string }[]
        expect(byStatus.map((m) => m.id)).toEqual([ids[0]!])
        const byRecipient = (await (await admin(apps, '/admin/courier/messages?recipient=other%40example.com')).json()) as { id: string }[]
        expect(byRecipient.map((m) => m.id)).toEqual([ids[5]!])
        const both = (await (await admin(apps, '/admin/courier/messages?status=queued&recipient=page%40example.com')).json()) as { id: string }[]
        expect(both.map((m) => m.id)).toEqual(ids.slice(1, 5).reverse())
        expect((await (await admin(apps, '/admin/courier/messages?status=abandoned')).json())).toEqual([])
      })

      it('pages with page_size, page_token and a Link header, keeping the filter', async () => {
        const seen: string[] = []
        let next: string | null = '/admin/courier/messages?page_size=2&recipient=page%40example.com'
        let pages = 0
        while (next) {
          const res = await admin(apps, next)
          expect(res.status).toBe(200)
          const link = res.headers.get('link')!
          expect(link).toContain('rel="first"')
          seen.push(...((await res.json()) as { id: string }[]).map((m) => m.id))
          next = /<([^>]+)>; rel="next"/.exec(link)?.[1] ?? null
          if (next) expect(next).toContain('recipient=page%40example.com')
          pages++
        }
        expect(pages).toBe(3)
        expect(seen).toEqual(ids.slice(0, 5).reverse())
      })

      it('gets one message with its dispatches; 404 for an unknown or another tenant\'s id', async () => {
        const res = await admin(apps, `/admin/courier/messages/${ids[0]}`)
        expect(res.status).toBe(200)
        expect((await res.json()).status).toBe('sent')
        expect((await admin(apps, `/admin/courier/messages/${crypto.randomUUID()}`)).status).toBe(404)
        expect((await admin(apps, `/admin/courier/messages/${ids[6]}`)).status).toBe(404)
      })

      it('answers bad input with 400 in Ory\'s error shape, never 500', async () => {
        for (const q of [
          '/admin/courier/messages?status=delivered',
          '/admin/courier/messages?status=',
          '/admin/courier/messages?page_size=0',
          '/admin/courier/messages?page_size=1001',
          '/admin/courier/messages?page_size=abc',
          '/admin/courier/messages?page_size=1.5',
          '/admin/courier/messages?page_token=forged',
          '/admin/courier/messages?recipient=a%00b',
          `/admin/courier/messages?recipient=${'a'.repeat(400)}`,
          '/admin/courier/messages?status=sent&status=queued',
          '/admin/courier/messages/not-a-uuid',
          '/admin/courier/messages/%00',
        ]) {
          const res = await admin(apps, q)
          expect({ q, status: res.status }).toEqual({ q, status: 400 })
          const body = await res.json()
          expect(body.error).toMatchObject({ code: 400, status: 'Bad Request' })
        }
      })
    })

    it('refuses a bad message from another plugin, and never logs a code or a body', async () => {
      const smtp = await startSmtpReceiver({ plain: true })
      cleanups.push(() => smtp.stop())
      const log = captureLog('debug')
      const apps = await boot({ smtp: { connectionUri: smtpUri(smtp) }, worker: FAST }, undefined, log.logger)
      const c = stateOf(apps)
      await expect(c.send('default', { template: 'nope.valid', channel: 'email', recipient: 'a@example.com', data: {} })).rejects.toMatchObject({ status: 400 })
      await expect(c.send('default', { template: 'login_code.valid', channel: 'email', recipient: '', data: {} })).rejects.toMatchObject({ status: 400 })
      await c.send('default', { template: 'login_code.valid', channel: 'email', recipient: 'logs@example.com', data: { login_code: '918273', login_url: 'https://auth.example.com/secret-link' } })
      await smtp.waitFor(1)
      await eventually(async () => log.lines.some((l) => l.msg === 'courier message sent'))
      const text = JSON.stringify(log.lines)
      expect(text).not.toContain('918273')
      expect(text).not.toContain('secret-link')
      expect(text).toContain('courier message sent')
    })
  })
}

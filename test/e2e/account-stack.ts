/**
 * The stack the account journeys run against, as a user runs it: a real `tessera serve` process (identity,
 * password, code and courier from a YAML config), the courier's SMTP channel pointed at a local SMTP receiver
 * (smtp-server, read with mailparser), its SMS channel (an HTTP channel) pointed at a local HTTP receiver, and
 * the minimal UI of test/e2e/ui.ts at the identity plugin's `uiUrl`.
 */
import { join } from 'node:path'
import { type ReceivedMail, type SmtpReceiver, startSmtpReceiver } from '../../plugins/courier/test-helpers.ts'
import { type ServerProcess, REPO, SECRET, scratchDir, startServer } from '../helpers/process.ts'
import { quickstartSchema } from '../helpers/identity.ts'
import { uiServer } from './ui.ts'

export { eventually } from '../../plugins/courier/test-helpers.ts'

/** A schema whose phone number logs in by a code sent by SMS (Kratos' code profile with `via: sms`). */
export const phoneSchema = {
  $id: 'https://schemas.tessera.dev/phone.json',
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'Phone person',
  type: 'object',
  properties: {
    traits: {
      type: 'object',
      properties: {
        phone: {
          type: 'string',
          title: 'Phone number',
          pattern: '^\\+[0-9]{6,15}$',
          'ory.sh/kratos': { credentials: { code: { identifier: true, via: 'sms' } } },
        },
      },
      required: ['phone'],
      additionalProperties: false,
    },
  },
}

export interface SmsReceived {
  recipient: string
  body: string
  template_type: string
}

export interface AccountStack {
  api: string
  admin: string
  uiUrl: string
  smtp: SmtpReceiver
  sms: SmsReceived[]
  server: ServerProcess
  /** Mails to `to` so far. */
  mailsTo(to: string): ReceivedMail[]
  /** Wait for the `n`th mail (1-based) to `to`; its plain-text body. */
  mail(to: string, n?: number, ms?: number): Promise<string>
  /** Wait for a mail to `to` with `subject` that was not read before; its plain-text body. */
  mailWith(to: string, subject: string, ms?: number): Promise<string>
  /** Stop the server and start it again on the same database (the same ports). */
  restart(): Promise<void>
  stop(): Promise<void>
}

export interface AccountStackOptions {
  /** The database (default: a SQLite file in the scratch directory). */
  dsn?: string
  schema?: Record<string, unknown>
  /** Extra courier options (merged over the defaults). */
  courier?: Record<string, unknown>
  code?: Record<string, unknown>
}

/** The first 6-digit number on its own line of a message body. */
export const codeIn = (text: string) => /^\s*(\d{6})\s*$/m.exec(text)?.[1] ?? ''
/** The first URL in a message body that contains `path`. */
export const linkIn = (text: string, path: string) => text.match(/https?:\/\/\S+/g)?.find((u) => u.includes(path)) ?? ''

export async function startAccountStack(opts: AccountStackOptions = {}): Promise<AccountStack> {
  const scratch = scratchDir('account-journey')
  const smtp = await startSmtpReceiver({ plain: true })
  const sms: SmsReceived[] = []
  const smsServer = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      sms.push((await req.json()) as SmsReceived)
      return new Response(null, { status: 204 })
    },
  })
  // a fixed public port and base URL: links in messages must name the address the browser uses (127.0.0.1), or
  // the flow's CSRF cookie (host-only) would not go with a magic link
  const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
  const port = probe.port
  probe.stop(true)
  let api = `http://127.0.0.1:${port}`
  const ui = uiServer(() => api)
  const uiUrl = `http://127.0.0.1:${ui.port}`
  const config = {
    dsn: opts.dsn ?? 'sqlite://tessera.sqlite',
    serve: { public: { port, baseUrl: api }, admin: { port: 0 } },
    migrations: { auto: true },
    plugins: [
      {
        use: 'identity',
        options: {
          schemas: [{ id: 'default', schema: opts.schema ?? quickstartSchema }],
          selfservice: { uiUrl, defaultReturnUrl: `${uiUrl}/`, privilegedSessionMaxAge: 600 },
          flowRateLimit: { enabled: false },
        },
      },
      { use: 'password', options: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } } },
      {
        use: 'courier',
        options: {
          smtp: { connectionUri: `smtp://127.0.0.1:${smtp.port}/?disable_starttls=true`, fromAddress: 'accounts@example.com' },
          channels: [{ id: 'sms', type: 'http', requestConfig: { url: `http://127.0.0.1:${smsServer.port}/sms` } }],
          worker: { intervalSeconds: 0.1, timeoutSeconds: 5 },
          backoff: { initialSeconds: 0.2, maxSeconds: 1 },
          ...opts.courier,
        },
      },
      { use: 'code', options: { resend: { perAddress: 1000 }, ...opts.code } },
    ],
  }
  const cfg = scratch.write('tessera.yaml', JSON.stringify(config))
  const start = async () => {
    const server = await startServer(['bun', join(REPO, 'bin/tessera.ts'), 'serve', '--migrate', '--config', cfg], { cwd: scratch.dir, env: { SECRETS_SYSTEM: SECRET } })
    api = server.publicUrl
    return server
  }
  let server = await start()
  const read = new Set<ReceivedMail>()
  const mailsTo = (to: string) => smtp.mails.filter((m) => m.envelope.to.includes(to))
  return {
    get api() {
      return api
    },
    get admin() {
      return server.adminUrl!
    },
    uiUrl,
    smtp,
    sms,
    get server() {
      return server
    },
    mailsTo,
    async mail(to, n = 1, ms = 10_000) {
      const deadline = Date.now() + ms
      while (mailsTo(to).length < n && Date.now() < deadline) await Bun.sleep(20)
      const m = mailsTo(to)[n - 1]
      if (!m) throw new Error(`expected mail #${n} to ${to}, got ${mailsTo(to).length}`)
      return m.mail.text ?? ''
    },
    async mailWith(to, subject, ms = 10_000) {
      const deadline = Date.now() + ms
      for (;;) {
        const m = mailsTo(to).find((x) => x.mail.subject === subject && !read.has(x))
        if (m) {
          read.add(m)
          return m.mail.text ?? ''
        }
        if (Date.now() > deadline) throw new Error(`expected a mail "${subject}" to ${to}`)
        await Bun.sleep(20)
      }
    },
    async restart() {
      await server.stop()
      server = await start()
    },
    async stop() {
      await server.stop()
      ui.stop(true)
      smsServer.stop(true)
      await smtp.stop()
      scratch.remove()
    },
  }
}

/** Test helpers for the courier suites: a real SMTP receiver (smtp-server) on 127.0.0.1, reading what it gets with mailparser. */
import { type ParsedMail, simpleParser } from 'mailparser'
import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'

export interface ReceivedMail {
  envelope: { from: string; to: string[] }
  /** The user the client authenticated as, if it did. */
  user?: string
  /** Whether the connection was TLS (implicit or after STARTTLS). */
  secure: boolean
  mail: ParsedMail
}

export interface SmtpReceiver {
  port: number
  mails: ReceivedMail[]
  /** Stop listening (a dead SMTP server: connections are refused). */
  stop(): Promise<void>
  /** Listen again on the same port. */
  start(): Promise<void>
  /** Wait until `n` mails arrived (or fail after `ms`). */
  waitFor(n: number, ms?: number): Promise<ReceivedMail[]>
}

export interface SmtpReceiverOptions {
  /** TLS from the start (smtps). Otherwise STARTTLS is offered (smtp-server's built-in self-signed certificate) unless `plain`. */
  secure?: boolean
  plain?: boolean
  /** Require this user and password. */
  auth?: { user: string; pass: string }
}

export async function startSmtpReceiver(opts: SmtpReceiverOptions = {}): Promise<SmtpReceiver> {
  const mails: ReceivedMail[] = []
  let server: SMTPServer | null = null
  let port = 0
  const make = () =>
    new SMTPServer({
      secure: opts.secure ?? false,
      logger: false,
      disabledCommands: opts.plain ? ['STARTTLS', 'AUTH'] : opts.auth ? [] : ['AUTH'],
      authOptional: !opts.auth,
      onAuth(auth, _session, cb) {
        if (opts.auth && auth.username === opts.auth.user && auth.password === opts.auth.pass) return cb(null, { user: auth.username })
        cb(new Error('Invalid username or password'))
      },
      onData(stream, session, cb) {
        simpleParser(stream).then(
          (mail) => {
            mails.push({
              envelope: { from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address) },
              user: typeof session.user === 'string' ? session.user : undefined,
              secure: session.secure,
              mail,
            })
            cb()
          },
          (e) => cb(e),
        )
      },
    })
  const start = () =>
    new Promise<void>((resolve, reject) => {
      server = make()
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        port = (server!.server.address() as AddressInfo).port
        resolve()
      })
    })
  await start()
  return {
    get port() {
      return port
    },
    mails,
    start,
    stop: () =>
      new Promise<void>((resolve) => {
        const s = server
        server = null
        if (!s) return resolve()
        s.close(() => resolve())
      }),
    async waitFor(n, ms = 10_000) {
      const deadline = Date.now() + ms
      while (mails.length < n && Date.now() < deadline) await Bun.sleep(20)
      if (mails.length < n) throw new Error(`expected ${n} mails, got ${mails.length}`)
      return mails
    },
  }
}

/** Poll `f` until it returns a truthy value (or fail after `ms`). */
export async function eventually<T>(f: () => Promise<T | undefined | null | false>, ms = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await f()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await Bun.sleep(20)
  }
}

/**
 * The queue. `send` renders a message and stores it (`queued`) before it resolves; the worker claims due rows
 * atomically (one UPDATE that only one process can win: status `processing`, its claim id, a lease in
 * `next_attempt_at`), sends them, and records the attempt: `sent`, or back to `queued` with exponential backoff,
 * or `abandoned` once `messageRetries` retries have failed. A process that dies mid-send leaves a `processing`
 * row whose lease runs out; the next worker takes it over. Nothing secret is logged: message ids, template
 * types and error messages only.
 */
import * as v from 'valibot'
import { type CourierMessageRequest, type CourierService, type PeriodicJob, type PluginContext, type ScopedDb, parse, periodic, sql } from 'tessera'
import { type DeliveryChannel, type Outgoing, httpChannel, outboxChannel, smtpChannel } from './channels.ts'
import type { CourierOptions } from './options.ts'
import { Templates, isTemplateId, templateType } from './templates.ts'
import { TEMPLATE_IDS } from 'tessera/i18n'

export const STATUSES = ['queued', 'processing', 'sent', 'abandoned'] as const
export type Status = (typeof STATUSES)[number]

/** How long past the send timeout a claim holds before another process may take the message over. */
const LEASE_GRACE_SECONDS = 30

const NoControl = v.check((s: string) => !/[\u0000-\u001f\u007f]/.test(s), 'must not contain control characters')
export const MessageRequest = v.object({
  template: v.picklist(TEMPLATE_IDS, `expected a template id: ${TEMPLATE_IDS.join(', ')}`),
  channel: v.picklist(['email', 'sms']),
  recipient: v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(320), NoControl),
  data: v.record(v.string(), v.unknown()),
  locale: v.optional(v.pipe(v.string(), v.maxLength(35))),
  identityId: v.optional(v.string()),
})

export interface MessageRow {
  id: string
  type: 'email' | 'sms'
  channel: string
  status: Status
  recipient: string
  subject: string
  body: string
  html_body: string
  template_type: string
  template_id: string
  template_data: Record<string, unknown>
  locale: string
  identity_id: string | null
  send_count: number
  next_attempt_at: Date
  claim_id: string | null
  created_at: Date
  updated_at: Date
}

export interface DispatchRow {
  id: string
  message_id: string
  status: 'failed' | 'success'
  error: Record<string, unknown> | null
  created_at: Date
  updated_at: Date
}

export class Courier implements CourierService {
  readonly templates: Templates
  readonly #channels = new Map<string, DeliveryChannel>()
  #job: PeriodicJob | undefined

  constructor(readonly ctx: PluginContext<CourierOptions, unknown>) {
    const o = ctx.options
    this.templates = new Templates(o.templateOverridePath)
    const t = o.worker.timeoutSeconds
    if (o.smtp) this.#channels.set('email', smtpChannel(o.smtp, t))
    for (const c of o.channels) this.#channels.set(c.id, c.type === 'smtp' ? smtpChannel(c.smtpConfig, t) : httpChannel(c.requestConfig, t))
    if (o.outbox) {
      if (!ctx.config.dev) throw new Error('courier: `outbox` is for development mode only (dev: true); configure smtp or channels for production')
      const store = outboxChannel(async (m) => {
        await ctx.storage.scoped(m.nid).exec(sql`INSERT INTO courier_outbox (nid, id, type, recipient, subject, body, created_at) VALUES (${m.nid}, ${m.id}, ${m.type}, ${m.recipient}, ${m.subject}, ${m.body}, ${new Date()})`)
      })
      for (const id of ['email', 'sms']) if (!this.#channels.has(id)) this.#channels.set(id, store)
    }
  }

  /** The development outbox, newest first (the `courier.outbox` service, for the ui plugin's page). */
  async outbox(tenant: string, limit: number): Promise<{ id: string; type: string; recipient: string; subject: string; body: string; created_at: Date }[]> {
    return this.ctx.storage.scoped(tenant).query(sql`SELECT id, type, recipient, subject, body, created_at FROM courier_outbox WHERE nid = ${tenant} ORDER BY created_at DESC, id DESC LIMIT ${limit}`)
  }

  /** Channel ids with a configuration. */
  get channels(): string[] {
    return [...this.#channels.keys()]
  }

  async send(tenant: string, request: CourierMessageRequest): Promise<{ id: string }> {
    const m = parse(MessageRequest, request)
    if (!isTemplateId(m.template)) throw new TypeError(`unknown courier template ${m.template}`)
    const r = this.templates.render(m.template, m.locale, { to: m.recipient, ...m.data })
    const db = this.ctx.storage.scoped(tenant)
    const now = new Date()
    const id = Bun.randomUUIDv7()
    const email = m.channel === 'email'
    await db.exec(sql`INSERT INTO courier_messages (nid, id, type, channel, status, recipient, subject, body, html_body, template_type, template_id, template_data, locale, identity_id, send_count, next_attempt_at, claim_id, created_at, updated_at)
      VALUES (${db.nid}, ${id}, ${m.channel}, ${m.channel}, ${'queued'}, ${m.recipient}, ${email ? r.subject : ''}, ${email ? r.text : r.sms}, ${email ? r.html : ''}, ${templateType(m.template)}, ${m.template}, ${sql.json(m.data)}, ${r.language}, ${m.identityId ?? null}, ${0}, ${now}, ${null}, ${now}, ${now})`)
    this.ctx.log.debug('courier message queued', { 'tessera.message_id': id, 'tessera.template_type': templateType(m.template), 'tessera.channel': m.channel })
    await this.ctx.emit('courier.message.queued', { messageId: id, templateType: templateType(m.template), channel: m.channel, recipient: m.recipient, ...(m.identityId ? { identityId: m.identityId } : {}) }, { tenant })
    return { id }
  }

  /** Start the worker (idempotent). */
  start(): void {
    if (this.#job) return
    this.#job = periodic(this.ctx.options.worker.intervalSeconds * 1000, () => this.runOnce(), this.ctx.log, 'courier queue')
  }

  /** Stop the worker; resolves when sends in progress have been recorded. */
  async stop(): Promise<void> {
    await this.#job?.stop()
    this.#job = undefined
    for (const c of this.#channels.values()) c.close()
  }

  /** Claim and send every due message of every tenant once (up to `batchSize`); the number sent. */
  async runOnce(): Promise<number> {
    const o = this.ctx.options
    const now = new Date()
    // a message for a channel this process has no configuration for waits for a process that has one
    if (this.#channels.size === 0) return 0
    const due = await this.ctx.storage.db.query<{ nid: string; id: string }>(
      sql`SELECT nid, id FROM courier_messages WHERE status IN ('queued', 'processing') AND next_attempt_at <= ${now} AND channel IN ${sql.in(this.channels)} ORDER BY next_attempt_at LIMIT ${o.worker.batchSize}`,
    )
    const results = await Promise.all(due.map((d) => this.#process(this.ctx.storage.scoped(d.nid), d.id)))
    return results.filter(Boolean).length
  }

  async #process(db: ScopedDb, id: string): Promise<boolean> {
    const o = this.ctx.options
    const now = new Date()
    const claim = crypto.randomUUID()
    const lease = new Date(now.getTime() + (o.worker.timeoutSeconds + LEASE_GRACE_SECONDS) * 1000)
    const won = await db.exec(sql`UPDATE courier_messages SET status = ${'processing'}, claim_id = ${claim}, next_attempt_at = ${lease}, updated_at = ${now}
      WHERE nid = ${db.nid} AND id = ${id} AND status IN ('queued', 'processing') AND next_attempt_at <= ${now}`)
    if (won.rowCount !== 1) return false
    const m = await db.one<MessageRow>(sql`SELECT * FROM courier_messages WHERE nid = ${db.nid} AND id = ${id}`)
    if (!m) return false
    const meta = { 'tessera.message_id': m.id, 'tessera.template_type': m.template_type, 'tessera.channel': m.channel }
    let error: string | null = null
    try {
      const channel = this.#channels.get(m.channel)
      if (!channel) throw new Error(`no channel is configured for ${m.channel}`)
      await channel.send(outgoing(m, db.nid))
    } catch (e) {
      error = errorText(e)
    }
    const done = new Date()
    const sendCount = m.send_count + 1
    await db.exec(sql`INSERT INTO courier_message_dispatches (nid, id, message_id, status, error, created_at, updated_at)
      VALUES (${db.nid}, ${Bun.randomUUIDv7()}, ${m.id}, ${error ? 'failed' : 'success'}, ${error ? sql.json({ message: error }) : null}, ${done}, ${done})`)
    if (!error) {
      await db.exec(sql`UPDATE courier_messages SET status = ${'sent'}, send_count = ${sendCount}, claim_id = ${null}, updated_at = ${done} WHERE nid = ${db.nid} AND id = ${m.id} AND claim_id = ${claim}`)
      this.ctx.log.info('courier message sent', { ...meta, 'tessera.send_count': sendCount })
      await this.ctx.emit('courier.message.sent', { messageId: m.id, templateType: m.template_type, channel: m.channel, sendCount }, { tenant: db.nid })
      return true
    }
    if (sendCount > o.messageRetries) {
      await db.exec(sql`UPDATE courier_messages SET status = ${'abandoned'}, send_count = ${sendCount}, claim_id = ${null}, updated_at = ${done} WHERE nid = ${db.nid} AND id = ${m.id} AND claim_id = ${claim}`)
      this.ctx.log.error('courier message abandoned', { ...meta, 'tessera.send_count': sendCount, reason_id: 'courier_message_abandoned', error })
      await this.ctx.emit('courier.message.abandoned', { messageId: m.id, templateType: m.template_type, channel: m.channel, sendCount, error }, { tenant: db.nid })
      return false
    }
    const wait = Math.min(o.backoff.maxSeconds, o.backoff.initialSeconds * 2 ** (sendCount - 1))
    await db.exec(sql`UPDATE courier_messages SET status = ${'queued'}, send_count = ${sendCount}, claim_id = ${null}, next_attempt_at = ${new Date(done.getTime() + wait * 1000)}, updated_at = ${done}
      WHERE nid = ${db.nid} AND id = ${m.id} AND claim_id = ${claim}`)
    this.ctx.log.warn('courier message failed, will retry', { ...meta, 'tessera.send_count': sendCount, 'tessera.retry_in_seconds': wait, reason_id: 'courier_send_failed', error })
    return false
  }
}

function outgoing(m: MessageRow, nid: string): Outgoing {
  return {
    id: m.id,
    nid,
    type: m.type,
    recipient: m.recipient,
    subject: m.subject,
    body: m.body,
    html: m.html_body,
    templateType: m.template_type,
    templateData: m.template_data,
    language: m.locale,
  }
}

/** An error's message without anything that could carry the message's content (first line, bounded). */
function errorText(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e)
  return (msg.split('\n')[0] ?? '').slice(0, 500) || 'send failed'
}

/**
 * Delivery channels. `smtp`: nodemailer, configured from a connection URI as Kratos' `courier.smtp.connection_uri`
 * (`smtps://` TLS from the start; `smtp://` STARTTLS required unless `disable_starttls=true`). `http`: one request
 * per message, its body rendered from a template (Kratos' `courier.channels[].request_config`), for SMS
 * gateways and any provider API. A channel resolves when the message is accepted and throws when it is not.
 */
import nodemailer from 'nodemailer'
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js'
import { type Compiled, compile } from './render.ts'
import type { RequestConfig, SmtpConfig } from './options.ts'

/** What a channel sends: a row of the queue. */
export interface Outgoing {
  id: string
  /** The tenant the message belongs to. */
  nid: string
  type: 'email' | 'sms'
  recipient: string
  subject: string
  body: string
  html: string
  templateType: string
  templateData: Record<string, unknown>
  language: string
}

export interface DeliveryChannel {
  send(m: Outgoing): Promise<void>
  close(): void
}

/** nodemailer's options for a Kratos-style connection URI. */
export function smtpTransportOptions(cfg: SmtpConfig, timeoutSeconds: number): SMTPTransport.Options {
  const u = new URL(cfg.connectionUri)
  const q = u.searchParams
  const secure = u.protocol === 'smtps:' || q.get('legacy_ssl') === 'true'
  const noStartTls = q.get('disable_starttls') === 'true'
  const ms = Math.round(timeoutSeconds * 1000)
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : secure ? 465 : 587,
    secure,
    requireTLS: !secure && !noStartTls,
    ignoreTLS: !secure && noStartTls,
    auth: u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : undefined,
    name: cfg.localName,
    tls: { rejectUnauthorized: q.get('skip_ssl_verify') !== 'true', servername: q.get('server_name') ?? undefined },
    connectionTimeout: ms,
    greetingTimeout: ms,
    socketTimeout: ms,
    logger: false,
    debug: false,
  }
}

export function smtpChannel(cfg: SmtpConfig, timeoutSeconds: number): DeliveryChannel {
  const transport = nodemailer.createTransport(smtpTransportOptions(cfg, timeoutSeconds))
  return {
    async send(m) {
      await transport.sendMail({
        from: cfg.fromName ? { name: cfg.fromName, address: cfg.fromAddress } : cfg.fromAddress,
        to: m.recipient,
        subject: m.subject,
        text: m.body,
        html: m.html,
        headers: { ...cfg.headers, 'Content-Language': m.language },
        messageId: `<${m.id}@${cfg.fromAddress.split('@')[1] ?? 'tessera'}>`,
      })
    },
    close: () => transport.close(),
  }
}

/** Escaping of template values by the request's content type. */
function escapeFor(headers: Record<string, string>) {
  const ct = Object.entries(headers).find(([k]) => k.toLowerCase() === 'content-type')?.[1]?.toLowerCase() ?? ''
  if (ct.includes('json')) return 'json' as const
  if (ct.includes('x-www-form-urlencoded')) return 'url' as const
  return 'none' as const
}

const DEFAULT_BODY = '{"recipient":"{{ .Recipient }}","body":"{{ .Body }}","subject":"{{ .Subject }}","template_type":"{{ .TemplateType }}","message_type":"{{ .MessageType }}"}'

export function httpChannel(cfg: RequestConfig, timeoutSeconds: number): DeliveryChannel {
  const body: Compiled = compile(cfg.body ?? DEFAULT_BODY, escapeFor(cfg.headers))
  return {
    async send(m) {
      const headers = new Headers(cfg.headers)
      if (cfg.auth?.type === 'basic_auth') headers.set('authorization', `Basic ${btoa(`${cfg.auth.config.user}:${cfg.auth.config.password}`)}`)
      else if (cfg.auth?.type === 'api_key') {
        if (cfg.auth.config.in === 'cookie') headers.append('cookie', `${cfg.auth.config.name}=${cfg.auth.config.value}`)
        else headers.set(cfg.auth.config.name, cfg.auth.config.value)
      }
      const data = {
        Recipient: m.recipient,
        Body: m.body,
        Subject: m.subject,
        TemplateType: m.templateType,
        MessageType: m.type,
        TemplateData: m.templateData,
        recipient: m.recipient,
        body: m.body,
        subject: m.subject,
        template_type: m.templateType,
        message_type: m.type,
        template_data: m.templateData,
      }
      const res = await fetch(cfg.url, {
        method: cfg.method,
        headers,
        body: cfg.method === 'GET' ? undefined : body(data),
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutSeconds * 1000),
      })
      await res.body?.cancel()
      if (res.status < 200 || res.status > 299) throw new Error(`the ${new URL(cfg.url).host} endpoint answered ${res.status}`)
    },
    close() {},
  }
}

/** The development outbox: the message is stored in `courier_outbox` for the ui plugin's outbox page. */
export function outboxChannel(store: (m: Outgoing) => Promise<void>): DeliveryChannel {
  return { send: store, close() {} }
}

/**
 * The courier plugin's options (valibot, validated once at boot), Kratos' `courier` config in camelCase:
 * `smtp.connectionUri` (Kratos' `courier.smtp.connection_uri`), `channels` (Kratos' `courier.channels`, an
 * HTTP request config per channel id), `messageRetries` (Kratos' `courier.message_retries`),
 * `templateOverridePath` (Kratos' `courier.template_override_path`).
 */
import * as v from 'valibot'

const d = v.description
const Seconds = v.pipe(v.number(), v.minValue(0.01))

const SMTP_SCHEMES = ['smtp:', 'smtps:']
export const ConnectionUri = v.pipe(
  v.string(),
  v.check((s) => {
    try {
      const u = new URL(s)
      return SMTP_SCHEMES.includes(u.protocol) && u.hostname !== ''
    } catch {
      return false
    }
  }, 'expected smtp://[user:password@]host[:port][?disable_starttls=true&skip_ssl_verify=true&server_name=…] or smtps://…'),
)

export const SmtpConfig = v.object({
  connectionUri: v.pipe(
    ConnectionUri,
    d(
      'The SMTP server (Kratos\' `courier.smtp.connection_uri`). `smtps://` speaks TLS from the start (port 465 by default); `smtp://` upgrades with STARTTLS and refuses a server that does not offer it, unless `?disable_starttls=true` (cleartext, for a local relay). Credentials as `user:password@` (URL-encoded). `?skip_ssl_verify=true` accepts any certificate (tests only); `?server_name=` sets the name the certificate is checked against. Put it in the environment, not in a config file.',
    ),
  ),
  fromAddress: v.optional(v.pipe(v.string(), v.email(), d('The From address (Kratos: `courier.smtp.from_address`).')), 'no-reply@tessera.local'),
  fromName: v.optional(v.pipe(v.string(), v.maxLength(200), d('The From display name (Kratos: `courier.smtp.from_name`).'))),
  headers: v.optional(v.pipe(v.record(v.string(), v.string()), d('Extra headers on every e-mail (Kratos: `courier.smtp.headers`).')), {}),
  localName: v.optional(v.pipe(v.string(), v.minLength(1), d('The name this host gives in EHLO (Kratos: `courier.smtp.local_name`; default: the host name).'))),
})
export type SmtpConfig = v.InferOutput<typeof SmtpConfig>

const HttpAuth = v.variant('type', [
  v.object({ type: v.literal('basic_auth'), config: v.object({ user: v.string(), password: v.string() }) }),
  v.object({ type: v.literal('api_key'), config: v.object({ in: v.optional(v.picklist(['header', 'cookie']), 'header'), name: v.pipe(v.string(), v.minLength(1)), value: v.string() }) }),
])

export const RequestConfig = v.object({
  url: v.pipe(v.string(), v.url(), v.check((s) => /^https?:/i.test(s), 'expected an http(s) URL'), d('Where the request goes (Kratos: `request_config.url`).')),
  method: v.optional(v.pipe(v.picklist(['POST', 'PUT', 'PATCH', 'GET']), d('The HTTP method.')), 'POST'),
  headers: v.optional(v.pipe(v.record(v.string(), v.string()), d('Request headers; `Content-Type` decides how values are escaped in the body (JSON: as in a JSON string, form: URL-encoded).')), { 'Content-Type': 'application/json' }),
  body: v.optional(
    v.pipe(
      v.string(),
      d(
        'The request body template: `{{ .Recipient }}`, `{{ .Body }}` (the SMS text, or the plain-text e-mail body), `{{ .Subject }}`, `{{ .TemplateType }}`, `{{ .MessageType }}`, `{{ .TemplateData.login_code }}` (Kratos renders a Jsonnet file with the same data as `ctx.recipient`, …). Default: a JSON object with recipient, body, subject, template_type and template_data.',
      ),
    ),
  ),
  auth: v.optional(v.pipe(HttpAuth, d('`basic_auth` ({ user, password }) or `api_key` ({ in: header, name, value }), as Kratos.'))),
})
export type RequestConfig = v.InferOutput<typeof RequestConfig>

export const Channel = v.variant('type', [
  v.object({ id: v.picklist(['email', 'sms']), type: v.literal('http'), requestConfig: RequestConfig }),
  v.object({ id: v.literal('email'), type: v.literal('smtp'), smtpConfig: SmtpConfig }),
])
export type Channel = v.InferOutput<typeof Channel>

export const CourierOptions = v.object({
  smtp: v.optional(v.pipe(SmtpConfig, d('The `email` channel over SMTP (unless `channels` gives `email` another configuration).'))),
  channels: v.optional(
    v.pipe(
      v.array(Channel),
      v.check((cs) => new Set(cs.map((c) => c.id)).size === cs.length, 'a channel id is configured twice'),
      d("Channels by id (`email`, `sms`), as Kratos' `courier.channels`: `{ id: 'sms', type: 'http', requestConfig: { url, method, headers, body, auth } }`, or `{ id: 'email', type: 'smtp', smtpConfig }`."),
    ),
    [],
  ),
  outbox: v.optional(
    v.pipe(
      v.boolean(),
      d('Development: deliver e-mail and SMS that have no other channel to a built-in outbox (the `courier_outbox` table), which the ui plugin shows at `/ui/outbox`, so no SMTP server is needed. Refused outside development mode.'),
    ),
    false,
  ),
  messageRetries: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(100), d('Failed sends of a message retried before it is abandoned (Kratos: `courier.message_retries`, 5).')), 5),
  backoff: v.optional(
    v.object({
      initialSeconds: v.optional(v.pipe(Seconds, d('Wait before the first retry; doubled after every failure.')), 10),
      maxSeconds: v.optional(v.pipe(Seconds, d('The longest wait between two tries.')), 3600),
    }),
    {},
  ),
  worker: v.optional(
    v.object({
      enabled: v.optional(v.pipe(v.boolean(), d('Send the queue inside `tessera serve`. Turn it off when `tessera courier watch` processes send it instead (any number of them, and servers, may share one database: every message is sent once).')), true),
      intervalSeconds: v.optional(v.pipe(Seconds, d('How often the queue is looked at.')), 1),
      batchSize: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1000), d('Messages claimed per look, sent concurrently.')), 20),
      timeoutSeconds: v.optional(v.pipe(Seconds, d('Timeout of one send (SMTP connection and each command; the HTTP request). A message claimed by a process that died is taken over after this plus 30 seconds.')), 30),
    }),
    {},
  ),
  templateOverridePath: v.optional(v.pipe(v.string(), v.minLength(1), d("A directory of template files in Kratos' layout (`recovery_code/valid/email.subject.gotmpl`, `email.body.gotmpl` for HTML, `email.body.plaintext.gotmpl`, `sms.body.gotmpl`; per language `email.subject.de.gotmpl`) that override the built-in texts (Kratos: `courier.template_override_path`)."))),
  admin: v.optional(
    v.object({
      revealSecrets: v.optional(v.pipe(v.boolean(), d('Show codes and links in message bodies at the admin API (off: they read `<redacted>`; Kratos redacts whole bodies outside dev mode).')), false),
    }),
    {},
  ),
})
export type CourierOptions = v.InferOutput<typeof CourierOptions>
export type CourierOptionsInput = v.InferInput<typeof CourierOptions>

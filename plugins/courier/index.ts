/**
 * The `courier` plugin: e-mail and SMS for the identity flows, as Kratos' courier. A durable queue in the
 * database (queued → processing → sent, or abandoned after `messageRetries`), sent by a worker inside
 * `tessera serve` or by `tessera courier watch` processes; SMTP (nodemailer) and HTTP channels; templates by
 * Kratos' ids in en, de, ru and zh, overridable from files; Kratos' admin API for the messages. Other plugins
 * queue messages through the `courier` service (CourierService) without importing this one.
 */
import { definePlugin } from 'tessera'
import { courierCommand } from './cli.ts'
import { Courier } from './courier.ts'
import { migrations } from './migrations.ts'
import { courierOperations } from './openapi.ts'
import { CourierOptions } from './options.ts'
import { adminRoutes } from './routes.ts'

export { CourierOptions, type CourierOptionsInput } from './options.ts'
export { Courier, STATUSES, type MessageRow } from './courier.ts'
export { Templates, primaryLanguage, templateType, type Rendered } from './templates.ts'
export { compile as compileTemplate, templateModel, type Escape } from './render.ts'
export { TEMPLATE_IDS, type TemplateId } from 'tessera/i18n'

export const courier = definePlugin({
  id: 'courier',
  description: 'E-mail and SMS with a durable queue: SMTP and HTTP channels, templates in en/de/ru/zh, the admin message API (Kratos-compatible)',
  options: CourierOptions,
  migrations,
  commands: { courier: courierCommand },
  state: (ctx) => new Courier(ctx),
  setup(ctx) {
    ctx.services.provide('courier', ctx.state, ctx.id)
    if (ctx.options.outbox) ctx.services.provide('courier.outbox', { list: (tenant: string, limit: number) => ctx.state.outbox(tenant, limit) }, ctx.id)
    if (ctx.state.channels.length === 0) ctx.log.warn('the courier has no channel: set smtp.connectionUri (e-mail) or channels (sms); messages wait in the queue until one is configured')
  },
  onStart(ctx) {
    if (ctx.options.worker.enabled) ctx.state.start()
  },
  async onStop(ctx) {
    await ctx.state.stop()
  },
  routes: { admin: (app, ctx) => adminRoutes(app, ctx.state) },
  openapi: courierOperations,
})

export default courier

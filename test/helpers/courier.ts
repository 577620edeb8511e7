/**
 * A courier for tests: a small plugin that provides the `courier` service contract and records what was sent
 * (the real courier, its queue and SMTP are tested in its own suites).
 */
import type { CourierMessageRequest } from '../../core/services.ts'
import { definePlugin } from '../../core/plugin.ts'

export interface RecordedMessage extends CourierMessageRequest {
  tenant: string
}

export function recordingCourier() {
  const sent: RecordedMessage[] = []
  const plugin = definePlugin({
    id: 'test-courier',
    setup(ctx) {
      ctx.services.provide('courier', { async send(tenant, m) { sent.push({ tenant, ...m }); return { id: crypto.randomUUID() } } }, ctx.id)
    },
  })()
  /** The last message to `recipient` (of `template`, when given). */
  const last = (recipient: string, template?: string) => [...sent].reverse().find((m) => m.recipient === recipient && (!template || m.template === template))
  return { sent, plugin, last }
}

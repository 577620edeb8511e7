/**
 * A typed event bus. Event names are `noun.verb`, past tense
 * (`identity.created`, `session.issued`).
 *
 * Plugins add their events by augmenting `TesseraEvents`:
 *
 * ```ts
 * declare module 'tessera/events' {
 *   interface TesseraEvents { 'api_key.used': { keyId: string } }
 * }
 * ```
 *
 * Every event carries the tenant it happened in (`EventMeta`).
 */
import type { Logger } from './logger.ts'
import { silentLogger } from './logger.ts'

// biome-ignore lint: augmented by plugins
export interface TesseraEvents {
  /** Both listeners are up. */
  'server.started': { public?: string; admin?: string }
  /** Shutdown began. */
  'server.stopping': { signal?: string }
  /** A migration ran. */
  'migration.applied': { plugin: string; migration: string }
  /** The oauth2 plugin registered an OAuth 2.0 client (admin API or CLI). */
  'oauth2.client.created': { clientId: string }
  /** The oauth2 plugin issued tokens at its token endpoint: who got them and by which grant — never a token. */
  'oauth2.token.issued': { clientId: string; subject: string; grantType: string; refresh: boolean }
  /** Tokens were revoked: by the client (revocation endpoint), an admin, reuse of a rotated refresh token or code, a revoked consent, or a logout. */
  'oauth2.token.revoked': { clientId: string; subject?: string; reason: 'revocation' | 'admin' | 'refresh_token_reuse' | 'code_reuse' | 'consent_revoked' | 'logout' }
  /** A subject consented to a client's scopes (the consent page, the admin API, or skipped for a first-party client). */
  'oauth2.consent.granted': { clientId: string; subject: string; scope: string[]; remember: boolean }
  /** Consents were revoked (admin API): their tokens are revoked with them. */
  'oauth2.consent.revoked': { subject: string; clientId?: string; count: number }
  /** A JSON Web Key set got a new signing key (rotation, scheduled or by `tessera keys rotate`). */
  'oauth2.key.rotated': { set: string; kid: string; alg: string; signsFrom: string; retired: string[] }
  // --- courier (plugins/courier): the message queue; never a code, a link or a body in a payload
  /** A message was stored in the courier's queue (`recipient`: the address or phone number it goes to). */
  'courier.message.queued': { messageId: string; templateType: string; channel: string; recipient: string; identityId?: string }
  /** A message was delivered to its channel (SMTP server or HTTP endpoint) after `sendCount` attempts. */
  'courier.message.sent': { messageId: string; templateType: string; channel: string; sendCount: number }
  /** A message was given up after its retries (`error`: the last attempt's error message). */
  'courier.message.abandoned': { messageId: string; templateType: string; channel: string; sendCount: number; error: string }
  // --- end courier

  // Self-service account flows (identity plugin: verification, recovery, settings).
  /** An address of an identity was verified (verification flow, or a registration code that proved it). */
  'identity.verified': { identityId: string; address: string; via: string }
  /** An identity proved it owns a recovery address and got a privileged session (recovery flow, or an admin code or link). */
  'identity.recovered': { identityId: string; sessionId: string; method: string }
  /** An identity changed its traits (`profile`) or a credential (`password`, …) in a settings flow. */
  'identity.settings.updated': { identityId: string; method: string }
}

export type EventName = keyof TesseraEvents & string

export interface EventMeta {
  /** The tenant (network id) the event happened in; absent for process-wide events. */
  tenant?: string
  /** The request that caused the event, when there was one. */
  requestId?: string
  /** When it happened. */
  time: Date
}

export type EventHandler<E extends EventName> = (
  payload: TesseraEvents[E],
  meta: EventMeta,
) => void | Promise<void>

const EVENT_NAME = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/

interface Subscription {
  handler: (payload: unknown, meta: EventMeta) => void | Promise<void>
  owner: string
}

export class EventBus {
  readonly #subs = new Map<string, Subscription[]>()
  readonly #log: Logger

  constructor(log: Logger = silentLogger) {
    this.#log = log
  }

  /** Subscribe; returns an unsubscribe function. `owner` names the plugin, for logs. */
  on<E extends EventName>(event: E, handler: EventHandler<E>, owner = 'anonymous'): () => void {
    if (!EVENT_NAME.test(event)) {
      throw new TypeError(`event name "${event}" must be noun.verb in lower case (e.g. identity.created)`)
    }
    const list = this.#subs.get(event) ?? []
    const sub: Subscription = { handler: handler as Subscription['handler'], owner }
    list.push(sub)
    this.#subs.set(event, list)
    return () => {
      const cur = this.#subs.get(event)
      if (!cur) return
      const i = cur.indexOf(sub)
      if (i >= 0) cur.splice(i, 1)
    }
  }

  /**
   * Deliver `payload` to every handler of `event`, in subscription order (that is,
   * plugin dependency order), and wait for them. A failing handler is logged with
   * its owner and does not stop the others or the emitter.
   */
  async emit<E extends EventName>(
    event: E,
    payload: TesseraEvents[E],
    meta: Partial<EventMeta> = {},
  ): Promise<void> {
    const list = this.#subs.get(event)
    if (!list || list.length === 0) return
    const full: EventMeta = { time: meta.time ?? new Date(), ...meta }
    for (const sub of [...list]) {
      try {
        await sub.handler(payload, full)
      } catch (e) {
        this.#log.error('event handler failed', { event, plugin: sub.owner, err: e, tenant: full.tenant })
      }
    }
  }
}

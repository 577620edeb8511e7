/**
 * The self-service flow engine: flow objects in Kratos' shape, ui nodes,
 * messages with Kratos' ids, CSRF (double-submit on browser flows), expiry and
 * return_to. Credential methods are found in the core's `credentialMethods`
 * registry by id; each implements only the flows it supports. Login and
 * registration use it now; settings, recovery and verification plug in the same way.
 */
import {
  type AuthenticatorAssuranceLevel,
  BadRequestError,
  type CredentialMethod,
  type FlowKind,
  type FlowMethodContext,
  type FlowType,
  ForbiddenError,
  NotFoundError,
  type ScopedDb,
  type SelfServiceFlow,
  type SettingsContext,
  TesseraError,
  TooManyRequestsError,
  type UiNode,
  type UiText,
  constantTimeEqual,
  countInWindow,
  inputNode,
  randomToken,
  renderError,
  sql,
} from 'tessera'
import { chosenLanguage } from 'tessera/i18n'
import { type IdentityCore, cookie, cookies } from './core.ts'
import { CredentialTypes } from './credentials.ts'
import { text } from './messages.ts'
import type { FlowHookEvent, FlowHookResult, IdentityHooks } from './options.ts'
import { IdentityRepo } from './repo.ts'
import { isAllowedReturnTo } from './return-to.ts'
import { type CompiledSchema, identifierFieldsOf, identifiersOf, normaliserOf } from './schemas.ts'
import { AddressRepo } from './addresses.ts'

export const CSRF_COOKIE = 'tessera_csrf_token'
/**
 * The CSRF cookie's name behind an https public base URL: `__Host-` binds it to this host (Secure, Path=/, no
 * Domain), so a sibling sub-domain cannot plant one. The plain name is still read, so that browsers holding a
 * cookie issued before the prefix keep their flows (they are given the prefixed one with the same value).
 */
export const CSRF_COOKIE_HOST = `__Host-${CSRF_COOKIE}`

/** The browser's CSRF token, under either name. */
/** The request's CSRF token (the `__Host-` cookie first, then the old name), when well-formed. */
export const csrfTokenOf = (request: Request): string | null => csrfCookieToken(request)

/** What a credential method gets from the engine: the contract lives in the core (core/flows/types.ts). */
export type { FlowMethodContext } from 'tessera'

/** What a new flow is made with. */
export interface CreateOptions {
  returnTo?: string | null
  messages?: UiText[]
  loginChallenge?: string
  refresh?: boolean
  /** Login: `aal2` steps the session of `sessionIdentityId` up. */
  requestedAal?: AuthenticatorAssuranceLevel
  /** Login at aal2 or refresh: the signed-in identity. */
  sessionIdentityId?: string
  settings?: SettingsContext
  identity?: Record<string, unknown>
  state?: string
  /** The language the flow is started in, kept from the flow that led to it (registration → verification); else this request's Accept-Language. */
  locale?: string
}

interface StoredFlow {
  flow: SelfServiceFlow
  csrf: string
  expired: boolean
  /** The language the flow was started in (the creating request's Accept-Language), kept server-side. */
  locale?: string
}

const nodeName = (n: UiNode) => String((n.attributes as { name?: string }).name ?? '')

export class FlowEngine {
  readonly types: CredentialTypes

  constructor(readonly core: IdentityCore) {
    this.types = new CredentialTypes(core.ctx.registries.credentialMethods)
  }

  private get opts() {
    return this.core.ctx.options.selfservice
  }

  /** `base`: the request's public base URL (`rc.publicBaseUrl`), or the configured one where no request is at hand. */
  allowedReturnTo(url: string, base: string): boolean {
    return isAllowedReturnTo(url, [...this.opts.allowedReturnUrls, this.defaultReturnUrl(base)])
  }

  /**
   * The self-service UI's base URL: `selfservice.uiUrl`, else the pages of the ui plugin when it is installed
   * (its `ui.pages` service; no import between the plugins), else Kratos' quickstart UI at localhost:4455.
   */
  uiBase(base: string): string {
    if (this.opts.uiUrl) return this.opts.uiUrl.replace(/\/$/, '')
    const pages = this.core.ctx.services.get('ui.pages') as { baseUrl(publicBaseUrl: string): string } | undefined
    return pages ? pages.baseUrl(base) : 'http://localhost:4455'
  }

  /** Where browsers go after a flow without return_to: `selfservice.defaultReturnUrl`, else the UI's home. */
  defaultReturnUrl(base: string): string {
    return this.opts.defaultReturnUrl ?? `${this.uiBase(base)}/`
  }

  /** The UI's page for a flow; `base` is the request's public base URL (`rc.publicBaseUrl`). */
  uiUrl(kind: FlowKind, id: string, base: string): string {
    return `${this.uiBase(base)}/${kind}?flow=${encodeURIComponent(id)}`
  }

  /**
   * The methods that take part in a flow of this kind: every method with a participant for it; for recovery and
   * verification only the one the config names (`selfservice.recovery.use`, Kratos' `flows.recovery.use`).
   */
  methods(kind: FlowKind, requestedAal: AuthenticatorAssuranceLevel = 'aal1'): CredentialMethod<FlowMethodContext>[] {
    const all = this.core.ctx.registries.credentialMethods.list().filter((m) => m[kind]) as CredentialMethod<FlowMethodContext>[]
    // Login: a first factor logs in (aal1), a second factor only steps a signed-in session up (aal2).
    if (kind === 'login') return all.filter((m) => (requestedAal === 'aal1' ? m.factor !== 'second' : m.factor !== 'first'))
    if (kind === 'recovery' || kind === 'verification') {
      const o = this.opts[kind]
      return o.enabled ? all.filter((m) => m.id === o.use) : []
    }
    return all
  }

  /** The recovery or verification method the config names, if it is installed and the flow is enabled. */
  addressMethod(kind: 'recovery' | 'verification'): CredentialMethod<FlowMethodContext> | undefined {
    return this.methods(kind)[0]
  }

  /** What one method's hooks get for one submission (or for populating a flow): its normaliser, validated config updates. */
  async methodContext(
    method: CredentialMethod<FlowMethodContext>,
    db: ScopedDb,
    kind: FlowKind,
    request: Request,
    ip: string | null,
    extra: Pick<FlowMethodContext, 'registration' | 'settings' | 'recovery' | 'login'> & { flowCsrf?: string; flowType?: FlowType; flowLocale?: string } = {},
  ): Promise<FlowMethodContext> {
    const repo = new IdentityRepo(db)
    const addresses = new AddressRepo(db)
    const normalise = normaliserOf(method)
    const { flowCsrf, flowType, flowLocale, ...rest } = extra
    // The flow's language (stored when it was started) wins over this request's Accept-Language, so that a code
    // submitted later by an API client without the header still gets its message in the language the user began in.
    const locale = flowLocale ?? localeOf(request)
    const trait = this.opts.localeTrait
    // Traits of the identities the finders below returned, read in the same query: localeFor needs no second read for them.
    const seen = new Map<string, Record<string, unknown>>()
    const traitsOf = async (identityId: string) =>
      seen.get(identityId) ?? (rest.settings?.identityId === identityId ? rest.settings.traits : (await repo.get(identityId))?.traits)
    const notify = kind === 'recovery' || kind === 'verification' ? this.opts[kind].notifyUnknownRecipients : false
    const identifierFields = identifierFieldsOf(this.core.schemas.get(this.core.defaultSchemaId)!, method)
    return {
      tenant: db.nid,
      db,
      request,
      ip,
      kind,
      identifierFields,
      identifierLabel: text.traitLabel(identifierFields.length === 1 ? identifierFields[0] : undefined),
      ...rest,
      addresses: {
        find: async (k, value) => {
          const found = await addresses.findWithTraits(k, value)
          if (found) seen.set(found.address.identityId, found.traits)
          return found?.address
        },
        of: async (k, identityId) => (await addresses.of(k, [identityId])).map((r) => ({ identityId: r.identity_id, via: r.via, value: r.value, ...(k === 'verification' ? { verified: r.verified === true || (r.verified as unknown) === 1 } : {}) })),
      },
      courier: this.core.ctx.services.get('courier'),
      publicBaseUrl: (await this.core.ctx.requestContext(request)).publicBaseUrl,
      sameBrowser: flowType === 'browser' && !!flowCsrf && hasCsrfCookie(request, flowCsrf),
      notifyUnknownRecipients: notify,
      ...(locale ? { locale } : {}),
      localeFor: async (identityId) => {
        if (trait) {
          const traits = identityId ? await traitsOf(identityId) : rest.registration?.traits
          const own = traits ? localeTag(getDotted(traits as Record<string, unknown>, trait)) : undefined
          if (own) return own
        }
        return locale
      },
      credentials: {
        find: async (type, identifier) => {
          const found = await repo.findCredential(type, identifier)
          if (!found) return undefined
          const { traits, ...credential } = found
          seen.set(credential.identity_id, traits)
          return credential
        },
        updateConfig: async (id, type, config) => repo.updateCredentialConfig(id, type, await this.types.validConfig(type, config)),
        normalise: (identifier) => normalise(identifier),
        of: async (identityId) => {
          const c = (await repo.credentials([identityId])).find((x) => x.type === method.id)
          const i = c ? await repo.get(identityId) : undefined
          if (i) seen.set(identityId, i.traits)
          return c && i ? { identity_id: identityId, config: c.config, state: i.state } : undefined
        },
      },
    }
  }

  /**
   * Take one flow creation for this client address (flow flooding, issue 11): one atomic
   * INSERT … ON CONFLICT … DO UPDATE … RETURNING count per fixed window, in the database so that every instance
   * counts together and N parallel requests get N distinct counts. Past the limit: 429 with Retry-After until the
   * window ends. Without a known address (embedded without a socket) there is nothing to count by.
   */
  async takeFlowCreation(db: ScopedDb, ip: string | null): Promise<void> {
    const o = this.core.ctx.options.flowRateLimit
    if (!o.enabled || !ip) return
    const now = Date.now()
    const windowMs = o.windowSeconds * 1000
    const windowStart = now - (now % windowMs)
    if ((await countInWindow(db, 'identity_flow_creation', 'key', `ip:${ip}`, windowStart)) > o.perAddress) throw new TooManyRequestsError((windowStart + windowMs - now) / 1000, 'Too many self-service flows were started from this address, try again later.')
  }

  /** Create, populate and store a flow (after taking one flow creation for the client address). */
  async create(
    kind: FlowKind,
    type: FlowType,
    request: Request,
    db: ScopedDb,
    ip: string | null,
    opts: CreateOptions & { skipLimit?: boolean } = {},
  ) {
    // first: a refused creation counts too, so the errors a browser is sent to the error page with are bounded by it
    if (!opts.skipLimit) await this.takeFlowCreation(db, ip)
    if ((kind === 'recovery' || kind === 'verification') && !this.addressMethod(kind)) {
      throw new BadRequestError('The request was malformed or contained invalid parameters', {
        id: 'self_service_flow_disabled',
        reason: `The ${kind} flow is disabled: no ${kind} method is installed and enabled (selfservice.${kind}.use = "${this.opts[kind].use}").`,
      })
    }
    return this.createUnlimited(kind, type, request, db, ip, opts)
  }

  private async createUnlimited(
    kind: FlowKind,
    type: FlowType,
    request: Request,
    db: ScopedDb,
    ip: string | null,
    opts: CreateOptions,
  ) {
    const base = (await this.core.ctx.requestContext(request)).publicBaseUrl
    if (opts.returnTo && !this.allowedReturnTo(opts.returnTo, base)) {
      throw new BadRequestError('The request was malformed or contained invalid parameters', {
        id: 'self_service_flow_return_to_forbidden',
        reason: `Requested return_to URL "${opts.returnTo}" is not allowed.`,
      })
    }
    const now = new Date()
    const id = crypto.randomUUID()
    const csrf = type === 'browser' ? (csrfCookieToken(request) ?? randomToken(32)) : ''
    const flow: SelfServiceFlow = {
      id,
      type,
      expires_at: new Date(now.getTime() + this.opts.flowLifespan * 1000).toISOString(),
      issued_at: now.toISOString(),
      request_url: request.url,
      // stored as the URL parser reads it: CR, LF and tabs it strips (and the allow-list never saw) never reach a Location
      ...(opts.returnTo ? { return_to: new URL(opts.returnTo).href } : {}),
      ui: {
        action: `${base}/self-service/${kind}?flow=${id}`,
        method: 'POST',
        nodes: [inputNode('default', 'csrf_token', 'hidden', { value: csrf, required: true })],
        ...(opts.messages?.length ? { messages: opts.messages } : {}),
      },
      state: opts.state ?? (kind === 'settings' ? 'show_form' : 'choose_method'),
      created_at: now.toISOString(),
      updated_at: now.toISOString(),
    }
    const login = kind === 'login' ? { requestedAal: opts.requestedAal ?? 'aal1', refresh: opts.refresh === true, ...(opts.sessionIdentityId ? { identityId: opts.sessionIdentityId } : {}) } : undefined
    if (kind === 'login') Object.assign(flow, { refresh: opts.refresh === true, requested_aal: login!.requestedAal, organization_id: null }, opts.loginChallenge ? { oauth2_login_challenge: opts.loginChallenge } : {})
    if (kind === 'registration') {
      Object.assign(flow, { organization_id: null }, opts.loginChallenge ? { oauth2_login_challenge: opts.loginChallenge } : {})
      const schema = this.core.schemas.get(this.core.defaultSchemaId)!
      for (const f of schema.fields) {
        flow.ui.nodes.push(
          inputNode('default', `traits.${f.path}`, f.format === 'email' ? 'email' : f.type === 'number' || f.type === 'integer' ? 'number' : f.type === 'boolean' ? 'checkbox' : 'text', {
            required: f.required || undefined,
            autocomplete: f.format === 'email' ? 'email' : undefined,
          }, f.title ? text.traitLabel(f) : undefined),
        )
      }
    }
    if (kind === 'settings' && opts.settings) {
      Object.assign(flow, { identity: opts.identity })
      const schema = this.core.schemas.get(this.core.defaultSchemaId)!
      populateProfile(flow, schema, opts.settings.traits)
    }
    if (kind === 'recovery' || kind === 'verification') Object.assign(flow, { active: this.opts[kind].use })
    for (const m of this.methods(kind, login?.requestedAal)) {
      const settings = opts.settings ? await this.settingsContextFor(m, db, opts.settings) : undefined
      await m[kind]!.populate?.(flow, await this.methodContext(m, db, kind, request, ip, { settings, login, flowCsrf: csrf, flowType: type }))
    }
    const before = await this.runHook(kind, 'before', { kind, tenant: db.nid, request, flow })
    if (before?.abort) {
      throw new ForbiddenError(before.messages?.map((m) => m.text).join(' ') || `The ${kind} flow was refused by a hook.`, { id: 'self_service_flow_rejected', details: { messages: before.messages ?? [] } })
    }
    if (before?.messages?.length) flow.ui.messages = [...(flow.ui.messages ?? []), ...before.messages]
    const locale = opts.locale ?? localeOf(request)
    await db.exec(sql`INSERT INTO selfservice_flows (nid, id, kind, type, csrf_token, flow, expires_at, locale) VALUES (${db.nid}, ${id}, ${kind}, ${type}, ${csrf}, ${sql.json(flow)}, ${new Date(flow.expires_at)}, ${locale ?? null})`)
    return { flow, csrf, ...(locale ? { locale } : {}) }
  }

  /** A settings context for one method: its identifiers from the traits and its stored credential. */
  async settingsContextFor(m: CredentialMethod<FlowMethodContext>, db: ScopedDb, base: SettingsContext): Promise<SettingsContext> {
    const schema = this.core.schemas.get(this.core.defaultSchemaId)!
    const creds = await new IdentityRepo(db).credentials([base.identityId])
    const c = creds.find((x) => x.type === m.id)
    return {
      ...base,
      identifiers: identifiersOf(schema, m, base.traits),
      ...(c ? { credential: { identity_id: base.identityId, config: c.config, state: 'active' } } : {}),
    }
  }

  /** Run the config's typed hook for this flow and moment, if any. */
  async runHook(kind: FlowKind, when: 'before' | 'after', event: FlowHookEvent): Promise<Exclude<FlowHookResult, void> | undefined> {
    const name = `${when}${kind[0]!.toUpperCase()}${kind.slice(1)}` as keyof IdentityHooks
    const hook = this.core.ctx.options.hooks[name]
    return hook ? ((await hook(event)) ?? undefined) : undefined
  }

  async load(kind: FlowKind, id: string, db: ScopedDb): Promise<StoredFlow> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) throw flowNotFound()
    const row = await db.one<{ flow: SelfServiceFlow; csrf_token: string; expires_at: Date; locale: string | null }>(
      sql`SELECT flow, csrf_token, expires_at, locale FROM selfservice_flows WHERE nid = ${db.nid} AND id = ${id} AND kind = ${kind}`,
    )
    if (!row) throw flowNotFound()
    return { flow: row.flow, csrf: row.csrf_token, expired: new Date(row.expires_at).getTime() <= Date.now(), ...(row.locale ? { locale: row.locale } : {}) }
  }

  async save(flow: SelfServiceFlow, db: ScopedDb): Promise<void> {
    flow.updated_at = new Date().toISOString()
    await db.exec(sql`UPDATE selfservice_flows SET flow = ${sql.json(flow)} WHERE nid = ${db.nid} AND id = ${flow.id}`)
  }

  /** Fetching a browser flow needs the CSRF cookie it was issued with (Kratos). */
  checkCsrfCookie(stored: StoredFlow, request: Request): void {
    if (stored.flow.type !== 'browser') return
    if (!hasCsrfCookie(request, stored.csrf)) throw csrfViolation()
  }

  /** Double submit: the form's csrf_token, the cookie and the flow must agree. */
  checkCsrfSubmit(stored: StoredFlow, request: Request, body: Record<string, unknown>): void {
    if (stored.flow.type !== 'browser') return
    const t = typeof body.csrf_token === 'string' ? body.csrf_token : ''
    if (!t || !constantTimeEqual(t, stored.csrf) || !hasCsrfCookie(request, stored.csrf)) throw csrfViolation()
  }

  /** Put the submitted values and messages on the flow's nodes for the next render. */
  annotate(flow: SelfServiceFlow, body: Record<string, unknown>, nodeMessages: Record<string, UiText[]> = {}, messages: UiText[] = []): void {
    for (const n of flow.ui.nodes) {
      n.messages = []
      const name = nodeName(n)
      const a = n.attributes as { type?: string; value?: unknown }
      // Secret inputs (`type="password"`, whatever the method) are never echoed back into the flow.
      if (name && a.type !== 'password' && a.type !== 'submit' && name !== 'csrf_token' && name !== 'method') {
        const v = getDotted(body, name)
        if (v !== undefined) a.value = v
      }
      if (nodeMessages[name]) n.messages = nodeMessages[name]!
    }
    const unplaced = Object.entries(nodeMessages).filter(([k]) => !flow.ui.nodes.some((n) => nodeName(n) === k)).flatMap(([, m]) => m)
    flow.ui.messages = [...messages, ...unplaced]
  }
}

/** The profile method's nodes (Kratos' `profile` group): every trait with its current value, and Save. */
export function populateProfile(flow: SelfServiceFlow, schema: CompiledSchema, traits: Record<string, unknown>): void {
  for (const f of schema.fields) {
    const value = getDotted(traits, f.path)
    flow.ui.nodes.push(
      inputNode('profile', `traits.${f.path}`, f.format === 'email' ? 'email' : f.type === 'number' || f.type === 'integer' ? 'number' : f.type === 'boolean' ? 'checkbox' : 'text', {
        value,
        required: f.required || undefined,
        autocomplete: f.format === 'email' ? 'email' : undefined,
      }, f.title ? text.traitLabel(f) : undefined),
    )
  }
  flow.ui.nodes.push(inputNode('profile', 'method', 'submit', { value: 'profile' }, text.save()))
}

/**
 * The request's preferred language for messages: the language the reader chose (the `tessera_lang` cookie, which
 * the ui sets from `?lang=`), else of its Accept-Language (RFC 9110 §12.5.4) the well-formed language range with
 * the highest weight (the first of equals; `*` and q=0 never), as a canonical BCP 47 tag (`de-de` → `de-DE`,
 * `en_US` → `en-US`).
 */
export function localeOf(request: Request): string | undefined {
  const chosen = localeTag(chosenLanguage(request))
  if (chosen) return chosen
  const h = request.headers.get('accept-language')
  if (!h || h.length > 1024) return undefined
  let best: { tag: string; q: number } | undefined
  for (const part of h.split(',').slice(0, 32)) {
    const [range, ...params] = part.split(';').map((x) => x.trim())
    const qp = params.find((x) => /^q=/i.test(x))
    const q = qp ? Number(qp.slice(2)) : 1
    if (!(q > 0 && q <= 1)) continue
    const tag = localeTag(range)
    if (tag && (!best || q > best.q)) best = { tag, q }
  }
  return best?.tag
}

/** A language tag as BCP 47 spells it canonically (`_` read as `-`), or undefined when it is not one (or longer than 35). */
export function localeTag(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined
  const t = value.trim().replace(/_/g, '-')
  if (!t || t.length > 35 || !/^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/.test(t)) return undefined
  try {
    return Intl.getCanonicalLocales(t)[0]
  } catch {
    return undefined
  }
}

export function getDotted(body: Record<string, unknown>, name: string): unknown {
  if (name in body) return body[name]
  let cur: unknown = body
  for (const k of name.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[k]
  }
  return cur
}

export const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

/** Form bodies arrive flat (`traits.name.first`); nest them as JSON bodies are. */
export function nestBody(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return {}
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    // Never walk into prototypes: `__proto__.x=1` in a form must not pollute Object.prototype.
    if (k.split('.').some((p) => UNSAFE_KEYS.has(p))) continue
    if (!k.includes('.')) {
      out[k] = v
      continue
    }
    const parts = k.split('.')
    let cur = out
    for (const p of parts.slice(0, -1)) {
      if (typeof cur[p] !== 'object' || cur[p] === null) cur[p] = {}
      cur = cur[p] as Record<string, unknown>
    }
    cur[parts[parts.length - 1]!] = v
  }
  return out
}

export function flowNotFound(): TesseraError {
  return new NotFoundError('The requested flow could not be found.', { id: 'self_service_flow_not_found' })
}

/** The form a CSRF token is issued in: randomToken(32), 43 base64url characters. */
const CSRF_TOKEN = /^[A-Za-z0-9_-]{43}$/

/**
 * The request's CSRF cookie when it is a well-formed token, else null (a new one is issued): a value with `;`,
 * CR/LF, a NUL or nothing at all is never echoed into Set-Cookie or stored with a flow.
 */
export function csrfCookieToken(request: Request): string | null {
  for (const value of [cookie(request, CSRF_COOKIE_HOST), cookie(request, CSRF_COOKIE)]) if (value !== null && CSRF_TOKEN.test(value)) return value
  return null
}

/** Whether any CSRF cookie the request carries is this flow's (with two present, the right one counts: Kratos 633076be0). */
export function hasCsrfCookie(request: Request, expected: string): boolean {
  let ok = false
  for (const c of [...cookies(request, CSRF_COOKIE_HOST), ...cookies(request, CSRF_COOKIE)]) if (constantTimeEqual(c, expected)) ok = true
  return ok
}

export function csrfViolation(): TesseraError {
  return new ForbiddenError('The request was rejected to protect you from Cross-Site-Request-Forgery (CSRF) which could cause account takeover, leaking personal information, and other serious security issues.', {
    id: 'security_csrf_violation',
  })
}

/**
 * Kratos' ExpiredError (`selfServiceFlowExpiredError`): 410 in the generic error shape, with `use_flow_id` (the new
 * flow, which says why it was restarted), `expired_at` and the deprecated `since` (nanoseconds, Go's Duration) at
 * the top level, where SPAs and Ory Elements read them.
 */
export async function flowExpiredResponse(newFlowId: string, expiredAt: string, requestId?: string): Promise<Response> {
  const ago = Math.max(0, Date.now() - new Date(expiredAt).getTime())
  const err = new TesseraError('ERR_FLOW_EXPIRED', 410, 'self-service flow expired', {
    id: 'self_service_flow_expired',
    reason: `The self-service flow expired ${(ago / 60000).toFixed(2)} minutes ago, initialize a new one.`,
  })
  const rendered = renderError(err, requestId)
  const body = { ...((await rendered.json()) as Record<string, unknown>), expired_at: new Date(expiredAt).toISOString(), since: ago * 1_000_000, use_flow_id: newFlowId }
  return new Response(JSON.stringify(body), { status: 410, headers: rendered.headers })
}

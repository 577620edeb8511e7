/**
 * The `code` plugin: Kratos' `code` method with `passwordless_enabled` — login and registration by a one-time
 * code sent by e-mail or SMS, with a magic link in the login message — and recovery and verification by code;
 * beside it the `link` method (Kratos' `link` strategy): recovery and verification by a link. Both are credential
 * methods on the core's contract alone (`CredentialMethod` from `tessera`); messages go out through the courier
 * service (`ctx.services.get('courier')`), so the plugin refuses to start without one.
 *
 * - Identifiers: the traits the identity schema marks `"credentials": { "code": { "identifier": true, "via": "email" } }`
 *   (`via: "sms"` for a phone number).
 * - Codes (store.ts): 6 digits, hashed at rest, compared in constant time, single use, expiring (15 min for login
 *   and registration, 1 h for recovery and verification), invalidated after 5 wrong tries, replaced by a new one;
 *   sends are limited per address.
 * - Enumeration: an unknown address gets the same answer as a known one (a code is stored for it that nothing
 *   matches); recovery and verification tell an unknown address only with `notify_unknown_recipients`.
 * - Magic link: the login message carries `/self-service/login?flow=<id>&method=code&token=<sealed code>`; it
 *   logs in only in the browser that started the flow (its CSRF cookie), anywhere else it shows the code to type.
 */
import * as v from 'valibot'
import {
  type CourierService,
  type Logger,
  type CredentialMethod,
  type FlowMethodContext,
  type IdentityAddress,
  type LoginOutcome,
  type RecoveryOutcome,
  type RegistrationOutcome,
  type SelfServiceFlow,
  type UiNode,
  type UiText,
  type VerificationOutcome,
  definePlugin,
  inputNode,
} from 'tessera'
import { type CodeKind, CodeStore } from './store.ts'

const d = v.description
const Int = (min: number) => v.pipe(v.number(), v.integer(), v.minValue(min))

export const CodeOptions = v.object({
  passwordlessEnabled: v.optional(v.pipe(v.boolean(), d("Log in and register by a code (Kratos' passwordless_enabled, default true); recovery and verification by code work either way.")), true),
  length: v.optional(v.pipe(Int(6), v.maxValue(9), d('Digits per code (default 6).')), 6),
  lifespan: v.optional(
    v.object({
      login: v.optional(v.pipe(Int(60), d('Seconds a login or registration code is valid (default 15 min).')), 900),
      recovery: v.optional(v.pipe(Int(60), d('Seconds a recovery code or link is valid (default 1 h).')), 3600),
      verification: v.optional(v.pipe(Int(60), d('Seconds a verification code or link is valid (default 1 h).')), 3600),
    }),
    {},
  ),
  maxSubmissions: v.optional(v.pipe(Int(1), d("Wrong tries after which a code is invalid (Kratos' max_submissions, default 5).")), 5),
  resend: v.optional(
    v.object({
      perAddress: v.optional(v.pipe(Int(1), d('Codes and links one address may be sent per window (default 5).')), 5),
      windowSeconds: v.optional(v.pipe(Int(1), d('The window (default 300 s); past the limit: 429 with Retry-After.')), 300),
    }),
    {},
  ),
  magicLink: v.optional(v.pipe(v.boolean(), d('Put a link in the login message that completes the login in the browser that started it (default true).')), true),
  link: v.optional(v.pipe(v.boolean(), d("Register the `link` method: recovery and verification by link (Kratos' link strategy, default true).")), true),
  mfa: v.optional(
    v.object({
      enabled: v.optional(v.pipe(v.boolean(), d("Offer a code as a second factor: a signed-in session steps up to aal2 with a code sent to one of its identity's addresses (Kratos' mfa_enabled, default false).")), false),
      via: v.optional(v.pipe(v.picklist(['email', 'sms']), d('Send second-factor codes only by this channel (default: either, as the address says).'))),
    }),
    {},
  ),
})
export type CodeOptions = v.InferInput<typeof CodeOptions>
type Options = v.InferOutput<typeof CodeOptions>

const info = (id: number, text: string, context?: Record<string, unknown>): UiText => ({ id, text, type: 'info', ...(context ? { context } : {}) })
const err = (id: number, text: string): UiText => ({ id, text, type: 'error' })
const M = {
  loginCodeSent: () => info(1010014, "A code was sent to the address you provided. If you didn't receive it, please check the spelling of the address and try again."),
  registrationCodeSent: () => info(1040005, 'A code has been sent to the address(es) you provided. If you have not received a message, check the spelling of the address and retry the registration.'),
  recoveryCodeSent: () => info(1060003, 'An email containing a recovery code has been sent to the email address you provided. If you have not received an email, check the spelling of the address and make sure to use the address you registered with.'),
  recoveryLinkSent: () => info(1060002, 'An email containing a recovery link has been sent to the email address you provided. If you have not received an email, check the spelling of the address and make sure to use the address you registered with.'),
  verificationCodeSent: () => info(1080003, 'An email containing a verification code has been sent to the email address you provided. If you have not received an email, check the spelling of the address and make sure to use the address you registered with.'),
  verificationLinkSent: () => info(1080001, 'An email containing a verification link has been sent to the email address you provided. If you have not received an email, check the spelling of the address and make sure to use the address you registered with.'),
  loginInvalid: () => err(4010008, 'The login code is invalid or has already been used. Please try again.'),
  registrationInvalid: () => err(4040003, 'The registration code is invalid or has already been used. Please try again.'),
  recoveryInvalid: () => err(4060006, 'The recovery code is invalid or has already been used. Please try again.'),
  recoveryTokenInvalid: () => err(4060004, 'The recovery token is invalid or has already been used. Please retry the flow.'),
  verificationInvalid: () => err(4070006, 'The verification code is invalid or has already been used. Please try again.'),
  verificationTokenInvalid: () => err(4070001, 'The verification token is invalid or has already been used. Please retry the flow.'),
  required: (property: string) => ({ id: 4000002, text: `Property ${property} is missing.`, type: 'error', context: { property } }) as UiText,
}

const nameOf = (n: UiNode) => String((n.attributes as { name?: string }).name ?? '')

/** Replace the method's own nodes (its group) with these; other methods' nodes stay. */
function replaceGroup(flow: SelfServiceFlow, group: string, nodes: UiNode[], drop: (n: UiNode) => boolean = () => false) {
  flow.ui.nodes = [...flow.ui.nodes.filter((n) => n.group !== group && !drop(n)), ...nodes]
}

const CodeConfig = v.object({ addresses: v.array(v.object({ channel: v.string(), address: v.string() })) })

const str = (x: unknown) => (typeof x === 'string' ? x.trim() : '')
/** A resend is asked for by `resend: "code"` (any case), as Kratos reads it; Ory Elements sends `resend: ""` with a typed code. */
const resendAsked = (body: Record<string, unknown>) => typeof body.resend === 'string' && body.resend.toLowerCase() === 'code'
const channelOf = (via: string | null | undefined): 'email' | 'sms' => (via === 'sms' ? 'sms' : 'email')

function courierOf(ctx: FlowMethodContext): CourierService {
  if (!ctx.courier) throw new Error('the code method needs the courier service: install a courier plugin')
  return ctx.courier
}

export function codeMethods(o: Options, secrets: import('tessera').Keyring, log?: Logger): CredentialMethod<FlowMethodContext>[] {
  const store = new CodeStore(secrets, o)
  const lifespan = (kind: CodeKind) => (kind === 'login' || kind === 'registration' ? o.lifespan.login : o.lifespan[kind])

  /**
   * Hand a message to the courier without waiting for it to be queued: a known address (a message) and an
   * unknown one (none) must answer in the same time, and the courier's INSERT is a commit the unknown path
   * never makes (measured: 3-4 ms on PostgreSQL, enough to enumerate accounts). The code itself is stored
   * before the flow answers either way; a message that fails to queue is logged (without its code), and the
   * user asks for a new code.
   */
  async function send(ctx: FlowMethodContext, template: string, to: string, via: string | null, data: Record<string, unknown>, identityId?: string) {
    const courier = courierOf(ctx)
    // The identity's language costs no read here: the finder that named it read its traits in the same query.
    const locale = await ctx.localeFor(identityId)
    void Promise.resolve()
      .then(() => courier.send(ctx.tenant, { template, channel: channelOf(via), recipient: to, data: { to, ...data }, ...(locale ? { locale } : {}), ...(identityId ? { identityId } : {}) }))
      .catch((err: unknown) => log?.error('could not queue a message', { template, channel: channelOf(via), err: err instanceof Error ? err.message : String(err) }))
  }

  const magicAad = (ctx: FlowMethodContext, flowId: string) => `${ctx.tenant}:${flowId}`

  /** The code-entry step of a flow: a hidden address, the code input, submit and resend. */
  function codeStep(flow: SelfServiceFlow, kind: CodeKind, addressField: string, address: string, label: UiText, submitLabel: UiText) {
    flow.state = 'sent_email'
    // Kratos marks the method that sent the code active (Ory Elements shows the code step by it)
    flow.active = 'code'
    replaceGroup(flow, 'code', [
      inputNode('code', addressField, addressField === 'identifier' ? 'hidden' : addressField === 'email' ? 'hidden' : 'hidden', { value: address }),
      inputNode('code', 'code', 'text', { required: true, autocomplete: 'one-time-code', pattern: '[0-9]+', maxlength: o.length }, label),
      inputNode('code', 'method', 'submit', { value: 'code' }, submitLabel),
      inputNode('code', 'resend', 'submit', { value: 'code' }, info(1070008, 'Resend code')),
    ], (n) => kind === 'login' && nameOf(n) === 'identifier')
  }

  const mfa = o.mfa.enabled
  /** What a stored code credential is: its addresses log in (passwordless) and, with mfa, step a session up (Kratos). */
  function codeFactor(config: Record<string, unknown>): 'first' | 'second' | 'both' | null {
    const r = v.safeParse(CodeConfig, config)
    const all = r.success ? r.output.addresses : []
    const first = o.passwordlessEnabled && all.length > 0
    const second = mfa && all.some((a) => !o.mfa.via || channelOf(a.channel) === o.mfa.via)
    return first && second ? 'both' : first ? 'first' : second ? 'second' : null
  }

  const code: CredentialMethod<FlowMethodContext> = {
    id: 'code',
    // a first factor (passwordless login), a second factor (mfa: a step-up to aal2), or both
    factor: mfa ? (o.passwordlessEnabled ? 'both' : 'second') : 'first',
    aal: 'aal1',
    identifiers: { select: (f) => f.settings.identifier === true },
    credential: {
      config: CodeConfig,
      reveal: ['addresses'],
      // Kratos: a code credential's addresses log in (passwordless) and, with mfa, step a session up
      // (only with mfa: else every credential is the method's `first`, and whoami has nothing more to read)
      ...(mfa ? { factor: codeFactor } : {}),
    },
    recovery: {
      populate(flow) {
        flow.ui.nodes.push(inputNode('code', 'email', 'email', { required: true, autocomplete: 'email' }, info(1070007, 'Email')), inputNode('code', 'method', 'submit', { value: 'code' }, info(1070005, 'Submit')))
      },
      async submit(flow, body, ctx): Promise<RecoveryOutcome> {
        const typed = str(body.code)
        if (typed && flow.state === 'sent_email' && !resendAsked(body)) {
          const row = await store.use(ctx.db, 'recovery', flow.id, typed)
          if (!row?.identity_id) return { kind: 'invalid', nodeMessages: { code: [M.recoveryInvalid()] } }
          return { kind: 'success', identityId: row.identity_id }
        }
        const email = ctx.credentials.normalise(str(body.email) || str(flowValue(flow, 'email')))
        if (!email) return { kind: 'invalid', nodeMessages: { email: [M.required('email')] } }
        await store.takeSend(ctx.db, email)
        const a = await ctx.addresses.find('recovery', email)
        const { code: c } = await store.issue(ctx.db, 'recovery', flow.id, { identityId: a?.identityId ?? null, address: email, via: a?.via ?? 'email', lifespan: lifespan('recovery') })
        if (a) await send(ctx, 'recovery_code.valid', email, a.via, { recovery_code: c }, a.identityId)
        else if (ctx.notifyUnknownRecipients) await send(ctx, 'recovery_code.invalid', email, 'email', {})
        codeStep(flow, 'recovery', 'email', email, info(1070010, 'Recovery code'), info(1070009, 'Continue'))
        return { kind: 'sent', messages: [M.recoveryCodeSent()] }
      },
      async issue(flow, identityId, expiresIn, ctx) {
        const { code: c, expiresAt } = await store.issue(ctx.db, 'recovery', flow.id, { identityId, address: null, via: null, lifespan: expiresIn })
        codeStep(flow, 'recovery', 'email', '', info(1070010, 'Recovery code'), info(1070009, 'Continue'))
        flow.ui.nodes = flow.ui.nodes.filter((n) => !(n.group === 'code' && (nameOf(n) === 'email' || nameOf(n) === 'resend')))
        return { code: c, expiresAt }
      },
    },
    verification: {
      populate(flow) {
        flow.ui.nodes.push(inputNode('code', 'email', 'email', { required: true, autocomplete: 'email' }, info(1070007, 'Email')), inputNode('code', 'method', 'submit', { value: 'code' }, info(1070005, 'Submit')))
      },
      async submit(flow, body, ctx): Promise<VerificationOutcome> {
        const typed = str(body.code)
        if (typed && flow.state === 'sent_email' && !resendAsked(body)) return verify(flow, typed, ctx)
        const email = ctx.credentials.normalise(str(body.email) || str(flowValue(flow, 'email')))
        if (!email) return { kind: 'invalid', nodeMessages: { email: [M.required('email')] } }
        const a = await ctx.addresses.find('verification', email)
        if (a) await sendVerification(flow, a, ctx)
        else {
          await store.takeSend(ctx.db, email)
          await store.issue(ctx.db, 'verification', flow.id, { identityId: null, address: email, via: 'email', lifespan: lifespan('verification') })
          if (ctx.notifyUnknownRecipients) await send(ctx, 'verification_code.invalid', email, 'email', {})
          codeStep(flow, 'verification', 'email', email, info(1070011, 'Verification code'), info(1070009, 'Continue'))
        }
        return { kind: 'sent', messages: [M.verificationCodeSent()] }
      },
      async send(flow, address, ctx) {
        await sendVerification(flow, address, ctx)
        flow.ui.messages = [M.verificationCodeSent()]
      },
      link(flow, query, ctx) {
        return verify(flow, query.code ?? '', ctx)
      },
    },
  }

  async function verify(flow: SelfServiceFlow, typed: string, ctx: FlowMethodContext): Promise<VerificationOutcome> {
    const row = typed ? await store.use(ctx.db, 'verification', flow.id, typed) : null
    if (!row?.identity_id || !row.address) return { kind: 'invalid', nodeMessages: { code: [M.verificationInvalid()] } }
    return { kind: 'success', identityId: row.identity_id, address: row.address }
  }

  async function sendVerification(flow: SelfServiceFlow, a: IdentityAddress, ctx: FlowMethodContext) {
    await store.takeSend(ctx.db, a.value)
    const { code: c } = await store.issue(ctx.db, 'verification', flow.id, { identityId: a.identityId, address: a.value, via: a.via, lifespan: lifespan('verification') })
    const url = `${ctx.publicBaseUrl}/self-service/verification?flow=${flow.id}&code=${c}`
    await send(ctx, 'verification_code.valid', a.value, a.via, { verification_code: c, verification_url: url }, a.identityId)
    codeStep(flow, 'verification', 'email', a.value, info(1070011, 'Verification code'), info(1070009, 'Continue'))
  }

  /**
   * Where a second-factor code may go: the identity's code credential addresses and its verified verifiable
   * addresses (Kratos' FindCodeAddressCandidates with its fallback), on the channel `mfa.via` allows.
   */
  async function mfaAddresses(ctx: FlowMethodContext, identityId: string): Promise<{ via: 'email' | 'sms'; value: string }[]> {
    const out = new Map<string, { via: 'email' | 'sms'; value: string }>()
    const cred = await ctx.credentials.of(identityId)
    const parsed = cred ? v.safeParse(CodeConfig, cred.config) : undefined
    for (const a of parsed?.success ? parsed.output.addresses : []) out.set(a.address, { via: channelOf(a.channel), value: a.address })
    for (const a of await ctx.addresses.of('verification', identityId)) if (a.verified && !out.has(a.value)) out.set(a.value, { via: channelOf(a.via), value: a.value })
    return [...out.values()].filter((a) => !o.mfa.via || a.via === o.mfa.via).sort((a, b) => a.via.localeCompare(b.via) || a.value.localeCompare(b.value))
  }

  /** The aal2 step: one button per address (Kratos' `address` nodes), then the code sent there. */
  const secondFactor = {
    async populate(flow: SelfServiceFlow, ctx: FlowMethodContext) {
      const id = ctx.login?.identityId
      if (!id) return
      for (const a of await mfaAddresses(ctx, id)) flow.ui.nodes.push(inputNode('code', 'address', 'submit', { value: a.value }, info(1010023, `Send code to ${a.value}`, { address: a.value, channel: a.via })))
    },
    async submit(flow: SelfServiceFlow, body: Record<string, unknown>, ctx: FlowMethodContext): Promise<LoginOutcome> {
      const id = ctx.login?.identityId
      if (!id) return { kind: 'invalid', messages: [M.loginInvalid()] }
      const typed = str(body.code)
      if (typed && flow.state === 'sent_email' && !resendAsked(body)) {
        const row = await store.use(ctx.db, 'login_mfa', flow.id, typed)
        // the code counts only for the session's identity (the engine checks it again)
        if (!row?.identity_id || row.identity_id !== id) return { kind: 'invalid', nodeMessages: { code: [M.loginInvalid()] } }
        return { kind: 'success', identityId: id, aal: 'aal2' }
      }
      const wanted = str(body.address) || str(body.identifier) || str(flowValue(flow, 'identifier'))
      if (!wanted) return { kind: 'invalid', nodeMessages: { address: [M.required('address')] } }
      // only an address of this identity: a step-up never sends a code where the user says
      const a = (await mfaAddresses(ctx, id)).find((x) => x.value === wanted || x.value === ctx.credentials.normalise(wanted))
      if (!a) return { kind: 'invalid', messages: [err(4010010, 'The address you entered does not match any known addresses in the current account.')] }
      await store.takeSend(ctx.db, a.value)
      const c = store.newCode()
      await store.put(ctx.db, 'login_mfa', flow.id, c, { identityId: id, address: a.value, via: a.via, lifespan: lifespan('login') })
      await send(ctx, 'login_code.valid', a.value, a.via, { login_code: c }, id)
      codeStep(flow, 'login', 'identifier', a.value, info(1070013, 'Login code'), info(1070009, 'Continue'))
      flow.ui.nodes = flow.ui.nodes.filter((n) => !(n.group === 'code' && nameOf(n) === 'address'))
      return { kind: 'sent', messages: [M.loginCodeSent()] }
    },
  }

  if (o.passwordlessEnabled || mfa) {
    const aal2 = (ctx: FlowMethodContext) => ctx.login?.requestedAal === 'aal2'
    const firstFactor: NonNullable<CredentialMethod<FlowMethodContext>['login']> = {
      populate(flow, ctx) {
        if (!flow.ui.nodes.some((n) => nameOf(n) === 'identifier')) flow.ui.nodes.push(inputNode('default', 'identifier', 'text', { value: '', required: true, autocomplete: 'username' }, ctx.identifierLabel))
        flow.ui.nodes.push(inputNode('code', 'method', 'submit', { value: 'code' }, info(1010015, 'Send sign in code')))
      },
      async submit(flow, body, ctx): Promise<LoginOutcome> {
        const typed = str(body.code)
        if (typed && flow.state === 'sent_email' && !resendAsked(body)) {
          const row = await store.use(ctx.db, 'login', flow.id, typed)
          if (!row?.identity_id) return { kind: 'invalid', nodeMessages: { code: [M.loginInvalid()] } }
          return { kind: 'success', identityId: row.identity_id, aal: 'aal1' }
        }
        const raw = str(body.identifier) || str(flowValue(flow, 'identifier'))
        if (!raw) return { kind: 'invalid', nodeMessages: { identifier: [M.required('identifier')] } }
        const identifier = ctx.credentials.normalise(raw)
        await store.takeSend(ctx.db, identifier)
        // The identity this address logs in: its code credential, else (identities made by another method) the
        // verifiable address, when the schema marks that trait as a code identifier.
        const cred = await ctx.credentials.find('code', identifier)
        const addr = cred ? undefined : await ctx.addresses.find('verification', identifier)
        const identityId = cred?.identity_id ?? (addr && ctx.identifierFields.length > 0 ? addr.identityId : undefined)
        const field = ctx.identifierFields[0]
        const via = typeof field?.settings.via === 'string' ? field.settings.via : 'email'
        const { code: c } = await store.issue(ctx.db, 'login', flow.id, { identityId: identityId ?? null, address: identifier, via, lifespan: lifespan('login') })
        if (identityId) {
          const data: Record<string, unknown> = { login_code: c }
          if (o.magicLink) data.login_url = `${ctx.publicBaseUrl}/self-service/login?flow=${flow.id}&method=code&token=${await secrets.seal('code.magic-link', c, magicAad(ctx, flow.id))}`
          await send(ctx, 'login_code.valid', identifier, via, data, identityId)
        }
        codeStep(flow, 'login', 'identifier', identifier, info(1070013, 'Login code'), info(1010001, 'Sign in'))
        return { kind: 'sent', messages: [M.loginCodeSent()] }
      },
      /** The magic link: in the flow's own browser it completes the login; anywhere else it only shows the code. */
      async link(flow, query, ctx): Promise<LoginOutcome> {
        const c = query.token ? await secrets.open('code.magic-link', query.token, magicAad(ctx, flow.id)) : null
        if (!c) return { kind: 'page', title: 'This sign-in link is not valid', text: 'The link is invalid or has expired. Start signing in again.' }
        if (!ctx.sameBrowser) return { kind: 'page', title: 'Your sign-in code', text: `Type this code in the browser window where you started signing in: ${c}` }
        const row = await store.use(ctx.db, 'login', flow.id, c)
        if (!row?.identity_id) return { kind: 'invalid', nodeMessages: { code: [M.loginInvalid()] } }
        return { kind: 'success', identityId: row.identity_id, aal: 'aal1' }
      },
    }
    code.login = {
      populate: (flow, ctx) => (aal2(ctx) ? secondFactor.populate(flow, ctx) : o.passwordlessEnabled ? firstFactor.populate?.(flow, ctx) : undefined),
      submit: (flow, body, ctx) => (aal2(ctx) ? secondFactor.submit(flow, body, ctx) : o.passwordlessEnabled ? firstFactor.submit(flow, body, ctx) : { kind: 'not_responsible' }),
      // second-factor messages carry no link: a link only ever completes a passwordless (aal1) login
      link: (flow, query, ctx) =>
        aal2(ctx) || !o.passwordlessEnabled ? { kind: 'page', title: 'This sign-in link is not valid', text: 'The link is invalid or has expired. Start signing in again.' } : firstFactor.link!(flow, query, ctx),
    }
  }
  if (o.passwordlessEnabled) {
    code.registration = {
      populate(flow) {
        flow.ui.nodes.push(inputNode('code', 'method', 'submit', { value: 'code' }, info(1040006, 'Sign up with code')))
      },
      async submit(flow, body, ctx): Promise<RegistrationOutcome> {
        const identifiers = ctx.registration?.identifiers ?? []
        if (identifiers.length === 0) return { kind: 'invalid', messages: [err(4000001, 'No identifiers found. Are you sure your identity schema marks a trait as code identifier?')] }
        const typed = str(body.code)
        if (typed && flow.state === 'sent_email' && !resendAsked(body)) {
          const row = await store.use(ctx.db, 'registration', flow.id, typed)
          // The code proves the address it was sent to, which must still be among the submitted identifiers.
          if (!row?.address || !identifiers.includes(row.address)) return { kind: 'invalid', nodeMessages: { code: [M.registrationInvalid()] } }
          const field = ctx.identifierFields[0]
          const via = typeof field?.settings.via === 'string' ? field.settings.via : 'email'
          return { kind: 'success', credential: { config: { addresses: identifiers.map((a) => ({ channel: via, address: a })) }, verifiedAddresses: [row.address] } }
        }
        const address = identifiers[0]!
        const field = ctx.identifierFields[0]
        const via = typeof field?.settings.via === 'string' ? field.settings.via : 'email'
        await store.takeSend(ctx.db, address)
        const { code: c } = await store.issue(ctx.db, 'registration', flow.id, { identityId: null, address, via, lifespan: lifespan('registration') })
        await send(ctx, 'registration_code.valid', address, via, { registration_code: c, traits: ctx.registration?.traits ?? {} })
        // Keep the submitted traits on their nodes: the code step submits them again.
        for (const n of flow.ui.nodes) {
          const name = nameOf(n)
          if (name.startsWith('traits.')) (n.attributes as { value?: unknown }).value = getPath(ctx.registration?.traits, name.slice(7))
        }
        flow.state = 'sent_email'
        flow.active = 'code'
        replaceGroup(flow, 'code', [
          inputNode('code', 'code', 'text', { required: true, autocomplete: 'one-time-code', pattern: '[0-9]+', maxlength: o.length }, info(1070012, 'Registration code')),
          inputNode('code', 'method', 'submit', { value: 'code' }, info(1040001, 'Sign up')),
          inputNode('code', 'resend', 'submit', { value: 'code' }, info(1070008, 'Resend code')),
        ])
        return { kind: 'sent', messages: [M.registrationCodeSent()] }
      },
    }
  }

  const methods: CredentialMethod<FlowMethodContext>[] = [code]
  if (o.link) methods.push(linkMethod(store, o, send))
  return methods
}

/** Kratos' `link` strategy: recovery and verification by a link carrying a one-time token. */
function linkMethod(store: CodeStore, o: Options, send: (ctx: FlowMethodContext, template: string, to: string, via: string | null, data: Record<string, unknown>, identityId?: string) => Promise<void>): CredentialMethod<FlowMethodContext> {
  const emailStep = (flow: SelfServiceFlow) => [inputNode('link', 'email', 'email', { required: true, autocomplete: 'email' }, info(1070007, 'Email')), inputNode('link', 'method', 'submit', { value: 'link' }, info(1070005, 'Submit'))]
  const sentState = (flow: SelfServiceFlow) => {
    flow.state = 'sent_email'
  }
  async function use(kind: 'recovery' | 'verification', flow: SelfServiceFlow, token: string, ctx: FlowMethodContext) {
    return token ? store.use(ctx.db, `${kind}_link`, flow.id, token) : null
  }
  return {
    id: 'link',
    factor: 'first',
    recovery: {
      populate(flow) {
        flow.ui.nodes.push(...emailStep(flow))
      },
      async submit(flow, body, ctx): Promise<RecoveryOutcome> {
        const email = ctx.credentials.normalise(str(body.email))
        if (!email) return { kind: 'invalid', nodeMessages: { email: [M.required('email')] } }
        await store.takeSend(ctx.db, email)
        const a = await ctx.addresses.find('recovery', email)
        const { token } = await store.issueToken(ctx.db, 'recovery_link', flow.id, { identityId: a?.identityId ?? null, address: email, via: a?.via ?? 'email', lifespan: o.lifespan.recovery })
        if (a) await send(ctx, 'recovery.valid', email, a.via, { recovery_url: `${ctx.publicBaseUrl}/self-service/recovery?flow=${flow.id}&token=${token}` }, a.identityId)
        else if (ctx.notifyUnknownRecipients) await send(ctx, 'recovery.invalid', email, 'email', {})
        sentState(flow)
        return { kind: 'sent', messages: [M.recoveryLinkSent()] }
      },
      async link(flow, query, ctx): Promise<RecoveryOutcome> {
        const row = await use('recovery', flow, query.token ?? '', ctx)
        if (!row?.identity_id) return { kind: 'invalid', messages: [M.recoveryTokenInvalid()] }
        return { kind: 'success', identityId: row.identity_id }
      },
      async issue(flow, identityId, expiresIn, ctx) {
        const { token, expiresAt } = await store.issueToken(ctx.db, 'recovery_link', flow.id, { identityId, address: null, via: null, lifespan: expiresIn })
        sentState(flow)
        return { link: `${ctx.publicBaseUrl}/self-service/recovery?flow=${flow.id}&token=${token}`, expiresAt }
      },
    },
    verification: {
      populate(flow) {
        flow.ui.nodes.push(...emailStep(flow))
      },
      async submit(flow, body, ctx): Promise<VerificationOutcome> {
        const email = ctx.credentials.normalise(str(body.email))
        if (!email) return { kind: 'invalid', nodeMessages: { email: [M.required('email')] } }
        await store.takeSend(ctx.db, email)
        const a = await ctx.addresses.find('verification', email)
        const { token } = await store.issueToken(ctx.db, 'verification_link', flow.id, { identityId: a?.identityId ?? null, address: email, via: a?.via ?? 'email', lifespan: o.lifespan.verification })
        if (a) await send(ctx, 'verification.valid', email, a.via, { verification_url: `${ctx.publicBaseUrl}/self-service/verification?flow=${flow.id}&token=${token}` }, a.identityId)
        else if (ctx.notifyUnknownRecipients) await send(ctx, 'verification.invalid', email, 'email', {})
        sentState(flow)
        return { kind: 'sent', messages: [M.verificationLinkSent()] }
      },
      async send(flow, a, ctx) {
        await store.takeSend(ctx.db, a.value)
        const { token } = await store.issueToken(ctx.db, 'verification_link', flow.id, { identityId: a.identityId, address: a.value, via: a.via, lifespan: o.lifespan.verification })
        await send(ctx, 'verification.valid', a.value, a.via, { verification_url: `${ctx.publicBaseUrl}/self-service/verification?flow=${flow.id}&token=${token}` }, a.identityId)
        sentState(flow)
        flow.ui.messages = [M.verificationLinkSent()]
      },
      async link(flow, query, ctx): Promise<VerificationOutcome> {
        const row = await use('verification', flow, query.token ?? '', ctx)
        if (!row?.identity_id || !row.address) return { kind: 'invalid', messages: [M.verificationTokenInvalid()] }
        return { kind: 'success', identityId: row.identity_id, address: row.address }
      },
    },
  }
}

function flowValue(flow: SelfServiceFlow, name: string): unknown {
  return (flow.ui.nodes.find((n) => nameOf(n) === name)?.attributes as { value?: unknown } | undefined)?.value
}

function getPath(obj: unknown, path: string): unknown {
  let cur = obj
  for (const k of path.split('.')) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined
  return cur
}

export const code = definePlugin({
  id: 'code',
  description: "One-time codes: passwordless login and registration (with a magic link), recovery and verification by code or link (Kratos' code and link methods)",
  options: CodeOptions,
  dependsOn: ['identity'],
  migrations: [
    {
      id: '0001_init',
      up: `
CREATE TABLE code_codes (
  nid TEXT NOT NULL,
  id TEXT NOT NULL,
  kind TEXT NOT NULL,
  flow_id TEXT NOT NULL,
  identity_id TEXT,
  address TEXT,
  via TEXT,
  code_hash TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  used_at TIMESTAMPTZ,
  expires_at TIMESTAMPTZ NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, id)
);
CREATE INDEX code_codes_flow_idx ON code_codes (nid, flow_id, kind);
CREATE INDEX code_codes_expires_idx ON code_codes (nid, expires_at);
CREATE TABLE code_sends (
  nid TEXT NOT NULL,
  address TEXT NOT NULL,
  window_start BIGINT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (nid, address)
);
`,
    },
  ],
  credentialMethods: (ctx) => codeMethods(ctx.options, ctx.secrets.system, ctx.log),
  onStart(ctx) {
    // Decided at boot, not per flow: every flow of this method must send, so without a courier the server does not start.
    if (!ctx.services.get('courier')) {
      throw new Error('the code plugin sends codes and links through the courier service, but no plugin provides `courier`: add the courier plugin (or one of your own that provides it) before code()')
    }
  },
})

export default code

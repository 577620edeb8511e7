/**
 * The `totp` credential method (Kratos' `totp` strategy, RFC 6238): a second factor, enrolled in settings and
 * used to step a signed-in session up to aal2 (`/self-service/login/browser?aal=aal2`).
 *
 * - Codes: `otpauth` (SHA-1, 6 digits, 30 s, as every authenticator app expects), ±1 step accepted.
 * - Replay: the last accepted time step is stored per identity and only a later step is accepted, atomically (one
 *   conditional upsert), so a code that logged in is refused if presented again within its window (Kratos lacks this).
 * - Brute force: every attempt takes a slot of a per-identity counter (one atomic upsert) before the code is
 *   compared; past `rateLimit.maxAttempts` in the window: 429 with Retry-After.
 * - At rest: the `otpauth://` URL is sealed with the system secret (the core Keyring, AES-GCM), bound to the tenant.
 * - Enrolment: settings shows a QR code (an `img` node with a PNG data URL, by `qrcode`) and the secret as text; a
 *   code from the app confirms it. Only a privileged session enrols or unlinks (the flow engine enforces it).
 * - Import: `credentials.totp.config.totp_url` (Kratos' identity import).
 */
import * as OTPAuth from 'otpauth'
import QRCode from 'qrcode'
import * as v from 'valibot'
import {
  BadRequestError,
  type CredentialMethod,
  type FlowMethodContext,
  type Keyring,
  type LoginOutcome,
  type ScopedDb,
  type SelfServiceFlow,
  type SettingsOutcome,
  TooManyRequestsError,
  type UiNode,
  type UiText,
  definePlugin,
  sql,
  inputNode,
  countInWindow,
} from 'tessera'

const d = v.description
const Int = (min: number) => v.pipe(v.number(), v.integer(), v.minValue(min))

export const TotpOptions = v.object({
  issuer: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(64), d("The issuer authenticator apps show (Kratos' totp.config.issuer, default `Tessera`).")), 'Tessera'),
  rateLimit: v.optional(
    v.object({
      maxAttempts: v.optional(v.pipe(Int(1), d('Codes one identity may try per window, right or wrong (default 10); past it: 429 with Retry-After.')), 10),
      windowSeconds: v.optional(v.pipe(Int(1), d('The counting window (fixed windows, default 300 s).')), 300),
    }),
    {},
  ),
})
export type TotpOptions = v.InferInput<typeof TotpOptions>
type Options = v.InferOutput<typeof TotpOptions>

/** The stored config: the `otpauth://` URL, sealed. */
export const TotpConfig = v.object({ sealed_totp_url: v.pipe(v.string(), v.minLength(1)) })

const PERIOD = 30
const DIGITS = 6
const info = (id: number, text: string, context?: Record<string, unknown>): UiText => ({ id, text, type: 'info', ...(context ? { context } : {}) })
const err = (id: number, text: string): UiText => ({ id, text, type: 'error' })
const M = {
  codeLabel: () => info(1010006, 'Authentication code'),
  useAuthenticator: () => info(1010009, 'Use Authenticator'),
  unlink: () => info(1050004, 'Unlink TOTP Authenticator App'),
  qr: () => info(1050005, 'Authenticator app QR code'),
  secret: (secret: string) => info(1050006, secret, { secret }),
  secretLabel: () => info(1050017, 'This is your authenticator app secret. Use it if you can not scan the QR code.'),
  verifyLabel: () => info(1070006, 'Verify code'),
  save: () => info(1070003, 'Save'),
  wrong: () => err(4000008, 'The provided authentication code is invalid, please try again.'),
  required: () => ({ id: 4000002, text: 'Property totp_code is missing.', type: 'error', context: { property: 'totp_code' } }) as UiText,
}

const input = (name: string, type: string, attrs: Record<string, unknown>, label?: UiText): UiNode => inputNode('totp', name, type, attrs, label)
const nameOf = (n: UiNode) => String((n.attributes as { name?: string; id?: string }).name ?? (n.attributes as { id?: string }).id ?? '')
const str = (x: unknown) => (typeof x === 'string' ? x.replace(/\s+/g, '') : '')

/** The secret being enrolled lives on the stored flow (its text node), never in what the client submits. */
const pendingSecret = (flow: SelfServiceFlow) => {
  const n = flow.ui.nodes.find((x) => x.group === 'totp' && (x.attributes as { id?: string }).id === 'totp_secret_key')
  const t = (n?.attributes as { text?: { context?: { secret?: unknown } } } | undefined)?.text?.context?.secret
  return typeof t === 'string' ? t : undefined
}

/** A TOTP of this secret (base32) with the parameters every authenticator app supports. */
export const totpOf = (secret: string, label: string, issuer: string) =>
  new OTPAuth.TOTP({ issuer, label, algorithm: 'SHA1', digits: DIGITS, period: PERIOD, secret: OTPAuth.Secret.fromBase32(secret) })

/** The per-identity attempt counter and the last accepted step (store.ts in one place). */
class TotpStore {
  constructor(private readonly o: Options) {}

  /** One attempt for this identity: an atomic upsert that returns the window's count; past the limit, 429. */
  async takeAttempt(db: ScopedDb, identityId: string): Promise<void> {
    const now = Date.now()
    const windowMs = this.o.rateLimit.windowSeconds * 1000
    const windowStart = now - (now % windowMs)
    if ((await countInWindow(db, 'totp_attempts', 'identity_id', identityId, windowStart)) > this.o.rateLimit.maxAttempts) throw new TooManyRequestsError((windowStart + windowMs - now) / 1000, 'Too many authentication codes were tried for this account, try again later.')
  }

  /** Accept `step` only if it is later than the last accepted one (one conditional upsert: two racing requests cannot both win). */
  async claimStep(db: ScopedDb, identityId: string, step: number): Promise<boolean> {
    const row = await db.one<{ step: number | string }>(sql`INSERT INTO totp_steps (nid, identity_id, step) VALUES (${db.nid}, ${identityId}, ${step})
      ON CONFLICT (nid, identity_id) DO UPDATE SET step = excluded.step WHERE totp_steps.step < excluded.step
      RETURNING step`)
    return row !== undefined && row !== null
  }

  async forget(db: ScopedDb, identityId: string): Promise<void> {
    await db.exec(sql`DELETE FROM totp_steps WHERE nid = ${db.nid} AND identity_id = ${identityId}`)
    await db.exec(sql`DELETE FROM totp_attempts WHERE nid = ${db.nid} AND identity_id = ${identityId}`)
  }
}

export function totpMethod(o: Options, keyring: Keyring): CredentialMethod<FlowMethodContext> {
  const store = new TotpStore(o)
  const seal = (url: string, tenant: string) => keyring.seal('totp.secret', url, tenant)
  const open = (sealed: string, tenant: string) => keyring.open('totp.secret', sealed, tenant)

  /** Verify `code` against the stored URL: ±1 step, after taking an attempt, and only a step later than the last one. */
  async function verify(ctx: FlowMethodContext, identityId: string, totpUrl: string, code: string): Promise<boolean> {
    await store.takeAttempt(ctx.db, identityId)
    const totp = OTPAuth.URI.parse(totpUrl)
    if (!(totp instanceof OTPAuth.TOTP) || !/^\d+$/.test(code)) return false
    const now = Date.now()
    const delta = totp.validate({ token: code, timestamp: now, window: 1 })
    if (delta === null) return false
    return store.claimStep(ctx.db, identityId, Math.floor(now / 1000 / totp.period) + delta)
  }

  const labelOf = (ctx: FlowMethodContext) => {
    const traits = ctx.settings?.traits ?? {}
    const first = Object.values(traits).find((x) => typeof x === 'string') as string | undefined
    return first ?? ctx.settings?.identityId ?? 'account'
  }

  async function enrolNodes(flow: SelfServiceFlow, ctx: FlowMethodContext) {
    const secret = new OTPAuth.Secret({ size: 20 }).base32
    const totp = totpOf(secret, labelOf(ctx), o.issuer)
    // A PNG data URL, as Kratos' totp_qr node carries.
    const src = await QRCode.toDataURL(totp.toString(), { errorCorrectionLevel: 'M', margin: 1, width: 256 })
    flow.ui.nodes.push(
      { type: 'img', group: 'totp', attributes: { node_type: 'img', id: 'totp_qr', src, width: 256, height: 256 }, messages: [], meta: { label: M.qr() } },
      { type: 'text', group: 'totp', attributes: { node_type: 'text', id: 'totp_secret_key', text: M.secret(secret) }, messages: [], meta: { label: M.secretLabel() } },
      input('totp_code', 'text', { required: true, autocomplete: 'one-time-code', pattern: '[0-9]+', maxlength: DIGITS }, M.verifyLabel()),
      input('method', 'submit', { value: 'totp' }, M.save()),
    )
  }

  return {
    id: 'totp',
    factor: 'second',
    aal: 'aal2',
    credential: {
      config: TotpConfig,
      // The secret is never shown to administrators (nothing revealed).
      import: {
        input: v.object({ totp_url: v.pipe(v.string(), v.startsWith('otpauth://totp/', 'expected an otpauth://totp/ URL')) }),
        async toCredential(inp, ictx) {
          let parsed: OTPAuth.HOTP | OTPAuth.TOTP
          try {
            parsed = OTPAuth.URI.parse(inp.totp_url)
          } catch {
            throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: 'credentials.totp.config.totp_url is not a valid otpauth:// URL.' })
          }
          if (!(parsed instanceof OTPAuth.TOTP)) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: 'credentials.totp.config.totp_url is not a TOTP URL.' })
          return { config: { sealed_totp_url: await seal(parsed.toString(), ictx.tenant) }, identifiers: [] }
        },
      },
    },
    login: {
      async populate(flow, ctx) {
        const id = ctx.login?.identityId
        if (ctx.login?.requestedAal !== 'aal2' || !id || !(await ctx.credentials.of(id))) return
        flow.ui.nodes.push(input('totp_code', 'text', { required: true, autocomplete: 'one-time-code', pattern: '[0-9]+', maxlength: DIGITS }, M.codeLabel()), input('method', 'submit', { value: 'totp' }, M.useAuthenticator()))
      },
      async submit(_flow, body, ctx): Promise<LoginOutcome> {
        const id = ctx.login?.identityId
        if (!id) return { kind: 'invalid', messages: [M.wrong()] }
        const code = str(body.totp_code)
        if (!code) return { kind: 'invalid', nodeMessages: { totp_code: [M.required()] } }
        const cred = await ctx.credentials.of(id)
        const url = cred ? await open(String(cred.config.sealed_totp_url), ctx.tenant) : null
        if (!url) return { kind: 'invalid', messages: [err(4000011, 'You have no TOTP device set up.')] }
        if (!(await verify(ctx, id, url, code))) return { kind: 'invalid', nodeMessages: { totp_code: [M.wrong()] } }
        return { kind: 'success', identityId: id, aal: 'aal2' }
      },
    },
    settings: {
      async populate(flow, ctx) {
        flow.ui.nodes = flow.ui.nodes.filter((n) => n.group !== 'totp')
        if (ctx.settings?.credential) flow.ui.nodes.push(input('totp_unlink', 'submit', { value: true }, M.unlink()))
        else await enrolNodes(flow, ctx)
      },
      async submit(flow, body, ctx): Promise<SettingsOutcome> {
        const s = ctx.settings!
        if (!s.privileged) return { kind: 'privileged_required' }
        if (body.totp_unlink === true || body.totp_unlink === 'true') {
          if (!s.credential) return { kind: 'invalid', messages: [err(4000011, 'You have no TOTP device set up.')] }
          await store.forget(ctx.db, s.identityId)
          return { kind: 'success', credential: null }
        }
        if (s.credential) return { kind: 'invalid', messages: [err(4000007, 'A TOTP device is already set up: unlink it first.')] }
        const secret = pendingSecret(flow)
        if (!secret) return { kind: 'invalid', messages: [err(4000011, 'You have no TOTP device set up.')] }
        const code = str(body.totp_code)
        if (!code) return { kind: 'invalid', nodeMessages: { totp_code: [M.required()] } }
        const url = totpOf(secret, labelOf(ctx), o.issuer).toString()
        // A fresh secret: no step of it was accepted yet.
        await store.forget(ctx.db, s.identityId)
        if (!(await verify(ctx, s.identityId, url, code))) return { kind: 'invalid', nodeMessages: { totp_code: [M.wrong()] } }
        return { kind: 'success', credential: { config: { sealed_totp_url: await seal(url, ctx.tenant) }, identifiers: [] } }
      },
    },
  }
}

export const totp = definePlugin({
  id: 'totp',
  description: "The TOTP second factor (Kratos' totp method): enrolment with a QR code, step-up to aal2, replay and brute-force protection",
  options: TotpOptions,
  dependsOn: ['identity'],
  migrations: [
    {
      id: '0001_init',
      up: `CREATE TABLE totp_attempts (
  nid TEXT NOT NULL,
  identity_id TEXT NOT NULL,
  window_start BIGINT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (nid, identity_id)
);
CREATE TABLE totp_steps (
  nid TEXT NOT NULL,
  identity_id TEXT NOT NULL,
  step BIGINT NOT NULL,
  PRIMARY KEY (nid, identity_id)
);`,
    },
  ],
  credentialMethods: (ctx) => [totpMethod(ctx.options, ctx.secrets.system)],
  on: {
    'identity.deleted': async (event, meta, ctx) => {
      if (meta.tenant) await new TotpStore(ctx.options).forget(ctx.storage.scoped(meta.tenant), event.identityId)
    },
  },
})

export default totp

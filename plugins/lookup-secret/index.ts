/**
 * The `lookup_secret` credential method (Kratos' `lookup` strategy): 12 single-use recovery codes, a second factor.
 *
 * - Made in settings: "Generate new backup recovery codes" (`lookup_secret_regenerate`) shows 12 new codes once;
 *   "Confirm" (`lookup_secret_confirm`) stores them, replacing (invalidating) the old set. Only a privileged
 *   session does either (the flow engine enforces it for every second factor).
 * - At rest: SHA-256 hashes only (each code carries 60 random bits), so codes cannot be shown again: Kratos'
 *   reveal button is not offered; make a new set instead.
 * - Login at aal2: a code is compared in constant time with every stored hash, and used once: the use is claimed
 *   by one atomic insert, so two racing requests cannot both spend it.
 * - Import: `credentials.lookup_secret.config.lookup_secrets: [{ code, used_at? }]` (Kratos' shape), hashed on import.
 */
import * as v from 'valibot'
import {
  type CredentialMethod,
  type FlowMethodContext,
  type LoginOutcome,
  type ScopedDb,
  type SelfServiceFlow,
  type SettingsOutcome,
  type UiNode,
  type UiText,
  constantTimeEqual,
  definePlugin,
  sha256Hex,
  sql,
  inputNode,
} from 'tessera'

export const LookupSecretOptions = v.object({})
export type LookupSecretOptions = v.InferInput<typeof LookupSecretOptions>

/** The stored config: the hashes of the codes, each with when it was used. */
export const LookupConfig = v.object({
  lookup_secrets: v.array(v.object({ hash: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)), used_at: v.optional(v.string()) })),
})

const COUNT = 12
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
const info = (id: number, text: string, context?: Record<string, unknown>): UiText => ({ id, text, type: 'info', ...(context ? { context } : {}) })
const err = (id: number, text: string): UiText => ({ id, text, type: 'error' })
const M = {
  label: () => info(1010007, 'Backup recovery code'),
  use: () => info(1010010, 'Use backup recovery code'),
  regenerate: () => info(1050008, 'Generate new backup recovery codes'),
  confirm: () => info(1050011, 'Confirm backup recovery codes'),
  list: () => info(1050015, 'These are your back up recovery codes. Please keep them in a safe place!'),
  secret: (code: string) => info(1050009, code, { secret: code }),
  invalid: () => err(4000016, 'The backup recovery code is not valid.'),
  used: () => err(4000012, 'This backup recovery code has already been used.'),
  none: () => err(4000014, 'You have no backup recovery codes set up.'),
}

/** 12 random characters of base32 (60 bits): `crypto.getRandomValues`, no modulo bias (32 divides 256). */
export function newCode(): string {
  return [...crypto.getRandomValues(new Uint8Array(12))].map((b) => ALPHABET[b % 32]).join('')
}
const normalise = (x: unknown) => (typeof x === 'string' ? x.trim().toLowerCase().replace(/[\s-]+/g, '') : '')
export const hashCode = (code: string) => sha256Hex(`lookup_secret:${normalise(code)}`)

const input = (name: string, type: string, attrs: Record<string, unknown>, label?: UiText): UiNode => inputNode('lookup_secret', name, type, attrs, label)

/** The codes waiting for confirmation live on the stored flow (what the user was shown), never in the submission. */
function pendingCodes(flow: SelfServiceFlow): string[] | undefined {
  const n = flow.ui.nodes.find((x) => x.group === 'lookup_secret' && (x.attributes as { id?: string }).id === 'lookup_secret_codes')
  const codes = (n?.attributes as { text?: { context?: { secrets?: { context?: { secret?: string } }[] } } } | undefined)?.text?.context?.secrets
  return codes?.map((c) => String(c.context?.secret ?? ''))
}

async function claim(db: ScopedDb, identityId: string, hash: string): Promise<boolean> {
  const row = await db.one(sql`INSERT INTO lookup_secret_uses (nid, identity_id, hash, used_at) VALUES (${db.nid}, ${identityId}, ${hash}, ${new Date()}) ON CONFLICT (nid, identity_id, hash) DO NOTHING RETURNING hash`)
  return row !== undefined && row !== null
}

export function lookupSecretMethod(): CredentialMethod<FlowMethodContext> {
  return {
    id: 'lookup_secret',
    factor: 'second',
    aal: 'aal2',
    credential: {
      config: LookupConfig,
      import: {
        input: v.object({ lookup_secrets: v.pipe(v.array(v.object({ code: v.pipe(v.string(), v.minLength(6)), used_at: v.optional(v.string()) })), v.minLength(1), v.maxLength(100)) }),
        async toCredential(inp) {
          return { config: { lookup_secrets: await Promise.all(inp.lookup_secrets.map(async (c: { code: string; used_at?: string }) => ({ hash: await hashCode(c.code), ...(c.used_at ? { used_at: c.used_at } : {}) }))) }, identifiers: [] }
        },
      },
    },
    login: {
      async populate(flow, ctx) {
        const id = ctx.login?.identityId
        if (ctx.login?.requestedAal !== 'aal2' || !id || !(await ctx.credentials.of(id))) return
        flow.ui.nodes.push(input('lookup_secret', 'text', { required: true, autocomplete: 'off' }, M.label()), input('method', 'submit', { value: 'lookup_secret' }, M.use()))
      },
      async submit(_flow, body, ctx): Promise<LoginOutcome> {
        const id = ctx.login?.identityId
        if (!id) return { kind: 'invalid', messages: [M.invalid()] }
        const cred = await ctx.credentials.of(id)
        if (!cred) return { kind: 'invalid', messages: [M.none()] }
        const typed = normalise(body.lookup_secret)
        if (!typed) return { kind: 'invalid', nodeMessages: { lookup_secret: [M.invalid()] } }
        const hash = await hashCode(typed)
        const secrets = (cred.config.lookup_secrets ?? []) as { hash: string; used_at?: string }[]
        // Compare with every stored hash (constant time each, no early exit).
        let found = -1
        secrets.forEach((s, i) => {
          if (constantTimeEqual(s.hash, hash)) found = i
        })
        if (found < 0) return { kind: 'invalid', nodeMessages: { lookup_secret: [M.invalid()] } }
        if (secrets[found]!.used_at || !(await claim(ctx.db, id, hash))) return { kind: 'invalid', nodeMessages: { lookup_secret: [M.used()] } }
        const next = secrets.map((s, i) => (i === found ? { ...s, used_at: new Date().toISOString() } : s))
        await ctx.credentials.updateConfig(id, 'lookup_secret', { lookup_secrets: next })
        return { kind: 'success', identityId: id, aal: 'aal2' }
      },
    },
    settings: {
      populate(flow) {
        flow.ui.nodes = flow.ui.nodes.filter((n) => n.group !== 'lookup_secret')
        flow.ui.nodes.push(input('lookup_secret_regenerate', 'submit', { value: true }, M.regenerate()))
      },
      async submit(flow, body, ctx): Promise<SettingsOutcome> {
        const s = ctx.settings!
        if (!s.privileged) return { kind: 'privileged_required' }
        const yes = (x: unknown) => x === true || x === 'true'
        if (yes(body.lookup_secret_regenerate)) {
          const codes = Array.from({ length: COUNT }, newCode)
          flow.ui.nodes = flow.ui.nodes.filter((n) => n.group !== 'lookup_secret')
          flow.ui.nodes.push(
            { type: 'text', group: 'lookup_secret', attributes: { node_type: 'text', id: 'lookup_secret_codes', text: { ...M.list(), text: codes.join(', '), context: { secrets: codes.map(M.secret) } } }, messages: [], meta: { label: M.list() } },
            input('lookup_secret_confirm', 'submit', { value: true }, M.confirm()),
          )
          return { kind: 'sent' }
        }
        if (yes(body.lookup_secret_confirm)) {
          const codes = pendingCodes(flow)
          if (!codes?.length) return { kind: 'invalid', messages: [M.none()] }
          // The old set's uses no longer matter: it is replaced.
          await ctx.db.exec(sql`DELETE FROM lookup_secret_uses WHERE nid = ${ctx.db.nid} AND identity_id = ${s.identityId}`)
          return { kind: 'success', credential: { config: { lookup_secrets: await Promise.all(codes.map(async (c) => ({ hash: await hashCode(c) }))) }, identifiers: [] } }
        }
        return { kind: 'not_responsible' }
      },
    },
  }
}

export const lookupSecret = definePlugin({
  id: 'lookup-secret',
  description: "Recovery codes as a second factor (Kratos' lookup_secret method): 12 single-use codes, hashed at rest",
  options: LookupSecretOptions,
  dependsOn: ['identity'],
  migrations: [
    {
      id: '0001_init',
      up: `CREATE TABLE lookup_secret_uses (
  nid TEXT NOT NULL,
  identity_id TEXT NOT NULL,
  hash TEXT NOT NULL,
  used_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, identity_id, hash)
);`,
    },
  ],
  credentialMethods: () => [lookupSecretMethod()],
  on: {
    'identity.deleted': async (event, meta, ctx) => {
      if (meta.tenant) await ctx.storage.scoped(meta.tenant).exec(sql`DELETE FROM lookup_secret_uses WHERE nid = ${meta.tenant} AND identity_id = ${event.identityId}`)
    },
  },
})

export default lookupSecret

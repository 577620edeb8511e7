/** The webauthn plugin's options (Kratos' `selfservice.methods.webauthn.config` and `passkey.config`). */
import * as v from 'valibot'

const d = v.description

const Origin = v.pipe(
  v.string(),
  v.url('expected an origin such as https://example.com'),
  v.check((s) => {
    const u = new URL(s)
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === s.replace(/\/$/, '')
  }, 'expected an origin (scheme, host and port only, no path)'),
  v.transform((s) => s.replace(/\/$/, '')),
)

export const WebauthnOptionsSchema = v.object({
  rp: v.pipe(
    v.object({
      id: v.pipe(v.string(), v.regex(/^(localhost|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+)$/, 'expected a registrable domain such as example.com (no scheme, no port)'), d("The relying party id: the domain credentials are bound to (Kratos' rp.id).")),
      name: v.pipe(v.string(), v.minLength(1), v.maxLength(64), d("The name authenticators show (Kratos' rp.display_name).")),
      origins: v.pipe(v.array(Origin), v.minLength(1, 'expected at least one origin'), d("The origins a ceremony may come from (Kratos' rp.origins); each must be the rp id or a sub-domain of it.")),
    }),
    v.check((rp) => rp.origins.every((o) => {
      const host = new URL(o).hostname
      return host === rp.id || host.endsWith(`.${rp.id}`)
    }), 'every origin must be on the relying party id or a sub-domain of it'),
  ),
  passwordless: v.optional(v.pipe(v.boolean(), d("The `webauthn` method logs in without a password (first factor, user verification required) instead of being a second factor (Kratos' passwordless, default false).")), false),
  webauthn: v.optional(v.pipe(v.boolean(), d('Register the `webauthn` method (security keys; default true).')), true),
  passkey: v.optional(v.pipe(v.boolean(), d('Register the `passkey` method (discoverable credentials, login without an identifier; default true).')), true),
  displayNameTraits: v.optional(v.pipe(v.array(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]+$/))), d('The traits (dotted paths) whose first non-empty value names a new passkey and its user (default email, username).')), ['email', 'username']),
  attestation: v.optional(v.pipe(v.picklist(['none', 'direct']), d('The attestation conveyance asked of authenticators (default none).')), 'none'),
})

export type WebauthnOptionsInput = v.InferInput<typeof WebauthnOptionsSchema>
export type WebauthnOptions = v.InferOutput<typeof WebauthnOptionsSchema>

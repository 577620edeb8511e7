/**
 * The WebAuthn ceremonies on @simplewebauthn/server: options for `navigator.credentials.create/get`, challenges
 * bound to one flow and taken once (a row per flow and purpose, deleted as it is read), and verification of what
 * the browser sends back against the configured relying party id and origins. Stored credentials keep Kratos'
 * shape (`identity.CredentialsWebAuthnConfig`: byte fields as standard base64), so Kratos' import works as is.
 */
import {
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from '@simplewebauthn/server'
import * as v from 'valibot'
import { type ScopedDb, sql } from 'tessera'
import type { WebauthnOptions } from './options.ts'

/** Standard base64 (Go's encoding of []byte in JSON), as Kratos stores and imports credential bytes. */
const B64 = v.pipe(v.string(), v.regex(/^[A-Za-z0-9+/]*={0,2}$/, 'expected standard base64'), v.maxLength(4096))

export const StoredWebauthnCredential = v.object({
  id: B64,
  public_key: B64,
  attestation_type: v.optional(v.string(), 'none'),
  authenticator: v.optional(
    v.object({
      aaguid: v.optional(B64, ''),
      sign_count: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
      clone_warning: v.optional(v.boolean(), false),
    }),
    { aaguid: '', sign_count: 0, clone_warning: false },
  ),
  display_name: v.optional(v.pipe(v.string(), v.maxLength(256)), ''),
  added_at: v.optional(v.string(), () => new Date().toISOString()),
  is_passwordless: v.optional(v.boolean(), false),
  flags: v.optional(
    v.object({
      user_present: v.optional(v.boolean(), true),
      user_verified: v.optional(v.boolean(), false),
      backup_eligible: v.optional(v.boolean(), false),
      backup_state: v.optional(v.boolean(), false),
    }),
    { user_present: true, user_verified: false, backup_eligible: false, backup_state: false },
  ),
  transport: v.optional(v.array(v.pipe(v.string(), v.maxLength(32))), []),
})
export type StoredWebauthnCredential = v.InferOutput<typeof StoredWebauthnCredential>

/** What `webauthn` and `passkey` store per identity (Kratos' CredentialsWebAuthnConfig). */
export const WebauthnConfig = v.object({
  credentials: v.pipe(v.array(StoredWebauthnCredential), v.maxLength(100)),
  user_handle: B64,
})
export type WebauthnConfig = v.InferOutput<typeof WebauthnConfig>

export const b64ToUrl = (s: string) => Buffer.from(s, 'base64').toString('base64url')
export const urlToB64 = (s: string) => Buffer.from(s, 'base64url').toString('base64')
export const bytesToB64 = (b: Uint8Array) => Buffer.from(b).toString('base64')

/** The browser's answers, as the script sends them (base64url fields, Kratos' field names plus clientExtensionResults). */
const B64Url = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]*={0,2}$/, 'expected base64url'), v.maxLength(65536))
const RegistrationResponse = v.object({
  id: B64Url,
  rawId: B64Url,
  type: v.literal('public-key'),
  response: v.object({ attestationObject: B64Url, clientDataJSON: B64Url, transports: v.optional(v.array(v.string())) }),
  clientExtensionResults: v.optional(v.record(v.string(), v.unknown()), {}),
  authenticatorAttachment: v.optional(v.string()),
})
const AuthenticationResponse = v.object({
  id: B64Url,
  rawId: B64Url,
  type: v.literal('public-key'),
  response: v.object({ authenticatorData: B64Url, clientDataJSON: B64Url, signature: B64Url, userHandle: v.optional(v.nullable(B64Url)) }),
  clientExtensionResults: v.optional(v.record(v.string(), v.unknown()), {}),
  authenticatorAttachment: v.optional(v.string()),
})

function parseJson<T>(schema: v.GenericSchema<any, T>, raw: unknown): T | null {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 200_000) return null
  try {
    const r = v.safeParse(schema, JSON.parse(raw))
    return r.success ? r.output : null
  } catch {
    return null
  }
}
export const parseRegistration = (raw: unknown) => parseJson(RegistrationResponse, raw) as RegistrationResponseJSON | null
export const parseAuthentication = (raw: unknown) => parseJson(AuthenticationResponse, raw) as (AuthenticationResponseJSON & { response: { userHandle?: string | null } }) | null

export type Purpose = 'webauthn_login' | 'webauthn_register' | 'passkey_login' | 'passkey_register'

/** Challenges: one per flow and purpose, replaced when a new one is issued, deleted as it is taken. */
export class Challenges {
  constructor(private readonly db: ScopedDb) {}

  async put(flowId: string, purpose: Purpose, challenge: string, expiresAt: Date, userHandle = '', identityId = ''): Promise<void> {
    const db = this.db
    await db.exec(sql`DELETE FROM webauthn_challenges WHERE nid = ${db.nid} AND expires_at < ${new Date()}`)
    await db.exec(sql`INSERT INTO webauthn_challenges (nid, flow_id, purpose, challenge, user_handle, identity_id, expires_at) VALUES (${db.nid}, ${flowId}, ${purpose}, ${challenge}, ${userHandle}, ${identityId}, ${expiresAt})
      ON CONFLICT (nid, flow_id, purpose) DO UPDATE SET challenge = excluded.challenge, user_handle = excluded.user_handle, identity_id = excluded.identity_id, expires_at = excluded.expires_at`)
  }

  /** The flow's challenge for this purpose, removed as it is read (single use); undefined when there is none or it expired. */
  async take(flowId: string, purpose: Purpose): Promise<{ challenge: string; userHandle: string; identityId: string } | undefined> {
    const db = this.db
    const row = await db.one<{ challenge: string; user_handle: string; identity_id: string; expires_at: Date | string }>(
      sql`DELETE FROM webauthn_challenges WHERE nid = ${db.nid} AND flow_id = ${flowId} AND purpose = ${purpose} RETURNING challenge, user_handle, identity_id, expires_at`,
    )
    if (!row || new Date(row.expires_at).getTime() <= Date.now()) return undefined
    return { challenge: row.challenge, userHandle: row.user_handle, identityId: row.identity_id }
  }
}

/**
 * Every credential id registered on this tenant, whoever holds it (W3C WebAuthn §7.1 step 26: a credential id
 * already registered is refused). A row is claimed when a registration is verified and released when the
 * credential is removed or its identity deleted.
 */
export class CredentialIds {
  constructor(private readonly db: ScopedDb) {}

  /** Claim an id; false when it is registered already. */
  async claim(credentialId: string, method: string, identityId: string | null): Promise<boolean> {
    const db = this.db
    const row = await db.one(sql`INSERT INTO webauthn_credential_ids (nid, credential_id, method, identity_id, created_at) VALUES (${db.nid}, ${credentialId}, ${method}, ${identityId ?? ''}, ${new Date()})
      ON CONFLICT (nid, credential_id) DO NOTHING RETURNING credential_id`)
    return !!row
  }

  async bind(credentialId: string, identityId: string): Promise<void> {
    await this.db.exec(sql`UPDATE webauthn_credential_ids SET identity_id = ${identityId} WHERE nid = ${this.db.nid} AND credential_id = ${credentialId} AND identity_id = ${''}`)
  }

  async release(credentialId: string): Promise<void> {
    await this.db.exec(sql`DELETE FROM webauthn_credential_ids WHERE nid = ${this.db.nid} AND credential_id = ${credentialId}`)
  }

  async releaseIdentity(identityId: string): Promise<void> {
    await this.db.exec(sql`DELETE FROM webauthn_credential_ids WHERE nid = ${this.db.nid} AND identity_id = ${identityId}`)
  }
}

export type RegistrationKind = 'passkey' | 'passwordless' | 'second_factor'

/** Options for `navigator.credentials.create`, with the challenge to store. */
export async function registrationOptions(
  o: WebauthnOptions,
  user: { handle: Uint8Array; name: string; displayName: string },
  kind: RegistrationKind,
  exclude: StoredWebauthnCredential[],
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const strong = kind !== 'second_factor'
  return generateRegistrationOptions({
    rpName: o.rp.name,
    rpID: o.rp.id,
    userID: user.handle as Uint8Array<ArrayBuffer>,
    userName: user.name || 'user',
    userDisplayName: user.displayName || user.name || 'user',
    attestationType: o.attestation,
    excludeCredentials: exclude.map((c) => ({ id: b64ToUrl(c.id), transports: c.transport as never })),
    authenticatorSelection: {
      residentKey: kind === 'passkey' ? 'required' : kind === 'passwordless' ? 'preferred' : 'discouraged',
      userVerification: strong ? 'required' : 'preferred',
    },
    timeout: 60_000,
  })
}

/** Options for `navigator.credentials.get`: for these credentials, or any discoverable one (passkeys) when none are given. */
export async function authenticationOptions(o: WebauthnOptions, allow: StoredWebauthnCredential[] | undefined, userVerification: 'required' | 'preferred'): Promise<PublicKeyCredentialRequestOptionsJSON> {
  return generateAuthenticationOptions({
    rpID: o.rp.id,
    userVerification,
    timeout: 60_000,
    ...(allow ? { allowCredentials: allow.map((c) => ({ id: b64ToUrl(c.id), transports: c.transport as never })) } : {}),
  })
}

/** Why a ceremony was refused (logged with `reason_id`, never shown beyond Kratos' generic message). */
export class CeremonyError extends Error {
  constructor(
    readonly reasonId: string,
    message: string,
  ) {
    super(message)
  }
}

/** Verify a registration; the stored credential it makes. */
export async function verifyRegistration(o: WebauthnOptions, response: RegistrationResponseJSON, challenge: string, kind: RegistrationKind, displayName: string): Promise<StoredWebauthnCredential> {
  const strong = kind !== 'second_factor'
  let out: Awaited<ReturnType<typeof verifyRegistrationResponse>>
  try {
    out = await verifyRegistrationResponse({ response, expectedChallenge: challenge, expectedOrigin: o.rp.origins, expectedRPID: o.rp.id, requireUserVerification: strong, requireUserPresence: true })
  } catch (e) {
    throw new CeremonyError('webauthn_registration_invalid', (e as Error).message)
  }
  if (!out.verified) throw new CeremonyError('webauthn_registration_invalid', 'the registration did not verify')
  const info = out.registrationInfo
  return {
    id: urlToB64(info.credential.id),
    public_key: bytesToB64(info.credential.publicKey),
    attestation_type: info.fmt,
    authenticator: { aaguid: Buffer.from(info.aaguid.replaceAll('-', ''), 'hex').toString('base64'), sign_count: info.credential.counter, clone_warning: false },
    display_name: displayName,
    added_at: new Date().toISOString(),
    is_passwordless: strong,
    flags: { user_present: true, user_verified: info.userVerified, backup_eligible: info.credentialDeviceType === 'multiDevice', backup_state: info.credentialBackedUp },
    transport: response.response.transports ?? [],
  }
}

/**
 * Verify an assertion for one of `candidates` (the credential with the response's id): signature, challenge,
 * origin, rp id, user verification when required, the signature counter (a regression means a cloned
 * authenticator: refused, and the credential marked) and the backup-eligible flag (it never changes: §6.1.3).
 * The updated credential (counter, flags) is returned for storing.
 */
export async function verifyAssertion(
  o: WebauthnOptions,
  response: AuthenticationResponseJSON,
  challenge: string,
  candidates: StoredWebauthnCredential[],
  requireUserVerification: boolean,
): Promise<StoredWebauthnCredential> {
  const stored = candidates.find((c) => b64ToUrl(c.id) === response.id && response.rawId === response.id)
  if (!stored) throw new CeremonyError('webauthn_credential_unknown', 'the assertion is for a credential this identity does not hold')
  let out: Awaited<ReturnType<typeof verifyAuthenticationResponse>>
  try {
    out = await verifyAuthenticationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: o.rp.origins,
      expectedRPID: o.rp.id,
      requireUserVerification,
      credential: { id: response.id, publicKey: Buffer.from(stored.public_key, 'base64') as Uint8Array<ArrayBuffer>, counter: stored.authenticator.sign_count, transports: stored.transport as never },
    })
  } catch (e) {
    const msg = (e as Error).message
    if (/counter/i.test(msg)) throw new CeremonyError('webauthn_counter_regression', msg)
    throw new CeremonyError('webauthn_assertion_invalid', msg)
  }
  if (!out.verified) throw new CeremonyError('webauthn_assertion_invalid', 'the assertion did not verify')
  const info = out.authenticationInfo
  const eligible = info.credentialDeviceType === 'multiDevice'
  if (eligible !== stored.flags.backup_eligible) throw new CeremonyError('webauthn_backup_eligibility_changed', 'the backup-eligible flag differs from the one registered')
  return {
    ...stored,
    authenticator: { ...stored.authenticator, sign_count: info.newCounter, clone_warning: false },
    flags: { ...stored.flags, user_verified: info.userVerified, backup_state: info.credentialBackedUp },
  }
}

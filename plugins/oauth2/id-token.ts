/**
 * ID tokens (OpenID Connect Core §2, §3.1.3.6): signed with the `hydra.openid.id-token` set (RS256 by default).
 * Narrow on purpose: the protocol claims, and what the consent put in `session.id_token`; the profile claims of
 * the granted scopes are served by userinfo.
 */
import type { Client } from './clients.ts'
import { signJwt } from './keys.ts'
import type { OAuth2 } from './oauth2.ts'
import { ID_TOKEN_SET } from './options.ts'

/** What a grant keeps to mint ID tokens (at the code exchange and at every refresh). */
export interface IdTokenSession {
  subject: string
  auth_time: number
  acr?: string
  amr: string[]
  sid?: string
  nonce?: string
  /** Claims the consent added (`session.id_token`). */
  extra: Record<string, unknown>
}

/** OpenID Connect Core §3.1.3.6: the left half of the SHA-256 of the token's ASCII, base64url. */
export async function halfHash(value: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(value)))
  return Buffer.from(digest.slice(0, 16)).toString('base64url')
}

const RESERVED = new Set(['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'auth_time', 'nonce', 'acr', 'amr', 'azp', 'sid', 'at_hash', 'c_hash'])

export async function idToken(o: OAuth2, tenant: string, client: Client, issuer: string, s: IdTokenSession, grantType: string, opts: { accessToken?: string; code?: string; nonce?: boolean } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const claims: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(s.extra)) if (!RESERVED.has(k)) claims[k] = v
  Object.assign(claims, {
    iss: issuer,
    sub: s.subject,
    aud: [client.client_id],
    azp: client.client_id,
    iat: now,
    exp: now + o.tokens.lifespan(client, grantType, 'id_token'),
    jti: crypto.randomUUID(),
    auth_time: s.auth_time,
    amr: s.amr.length ? s.amr : undefined,
    acr: s.acr,
    sid: s.sid,
    nonce: opts.nonce === false ? undefined : s.nonce,
    at_hash: opts.accessToken ? await halfHash(opts.accessToken) : undefined,
    c_hash: opts.code ? await halfHash(opts.code) : undefined,
  })
  for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k]
  return signJwt(o.keys, tenant, ID_TOKEN_SET, claims, { typ: 'JWT', alg: o.options.keys.algorithm })
}

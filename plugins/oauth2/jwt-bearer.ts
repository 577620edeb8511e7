/**
 * The `urn:ietf:params:oauth:grant-type:jwt-bearer` grant (RFC 7523 §2.1, §3): a client trades a JWT signed by
 * a trusted issuer (trust.ts) for an access token whose subject is the assertion's `sub`. Registered in the
 * grant registry like every other grant, so the token endpoint authenticates and rate-limits the client, checks
 * that it may use the grant, and emits `oauth2.token.issued`.
 *
 * The assertion checks follow fosite's `handler/rfc7523` as Hydra configures it (iat and jti required, `exp`
 * at most `jwtBearer.maxTtlSeconds` after `iat`), and refuse what RFC 8725 names: `alg: none` and an HMAC
 * signature "verified" with a public key — the only algorithm a key verifies is the one it was registered with.
 */
import { type JWTPayload, type ProtectedHeaderParameters, decodeJwt, decodeProtectedHeader, errors as joseErrors, importJWK, jwtVerify } from 'jose'
import { OAuth2Error, UniqueViolationError, sha256HexSync, sql } from 'tessera'
import { invalidGrant } from './tokens.ts'
import { TRUST_ALGS, TrustRepo, type TrustedIssuer } from './trust.ts'
import { type GrantHandler, scopesOf, whitelisted } from './token-endpoint.ts'

export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
const CLOCK_SKEW_SECONDS = 5

export const jwtBearer: GrantHandler = async ({ client, form, db, issuer, oauth2 }) => {
  const assertion = form.get('assertion')
  if (!assertion) throw new OAuth2Error('invalid_request', `The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. The assertion request parameter must be set when using grant_type of '${JWT_BEARER_GRANT}'.`)

  let header: ProtectedHeaderParameters
  let unverified: JWTPayload
  try {
    header = decodeProtectedHeader(assertion)
    unverified = decodeJwt(assertion)
  } catch {
    throw invalidGrant('Unable to parse JSON Web Token passed in "assertion" request parameter.')
  }
  if (typeof unverified.iss !== 'string' || unverified.iss === '') throw invalidGrant('The JWT in "assertion" request parameter MUST contain an "iss" (issuer) claim.')
  if (typeof unverified.sub !== 'string' || unverified.sub === '') throw invalidGrant('The JWT in "assertion" request parameter MUST contain a "sub" (subject) claim.')
  // RFC 8725 §2.1, §3.1: no unsigned or symmetric assertions, whatever a key says
  if (typeof header.alg !== 'string' || !(TRUST_ALGS as readonly string[]).includes(header.alg)) throw invalidGrant(`The JWT in "assertion" request parameter is signed with an algorithm that is not accepted (${String(header.alg).slice(0, 20)}).`)
  if (header.kid !== undefined && (typeof header.kid !== 'string' || header.kid.length > 255)) throw invalidGrant('The JWT in "assertion" request parameter has an invalid "kid" header.')

  const trusts = await new TrustRepo(db).candidates(unverified.iss, unverified.sub, header.kid)
  if (trusts.length === 0) throw invalidGrant(`No public JWK was registered for issuer "${unverified.iss}" and subject "${unverified.sub}".`)

  const tokenUrl = `${issuer}/oauth2/token`
  let claims: JWTPayload | undefined
  let trust: TrustedIssuer | undefined
  let lastError: unknown
  for (const t of trusts) {
    if (t.publicKey.alg !== header.alg) continue
    try {
      const key = await importJWK(t.publicKey, String(t.publicKey.alg))
      ;({ payload: claims } = await jwtVerify(assertion, key, { algorithms: [String(t.publicKey.alg)], issuer: t.issuer, clockTolerance: CLOCK_SKEW_SECONDS }))
      trust = t
      break
    } catch (e) {
      lastError = e
      if (!(e instanceof joseErrors.JWSSignatureVerificationFailed)) break
    }
  }
  if (!claims || !trust) {
    if (lastError instanceof joseErrors.JWTExpired) throw invalidGrant('The JWT in "assertion" request parameter expired.')
    if (lastError instanceof joseErrors.JWTClaimValidationFailed && lastError.claim === 'nbf') throw invalidGrant('The JWT in "assertion" request parameter contains an "nbf" (not before) claim, that identifies a time before which the token MUST NOT be accepted.')
    throw invalidGrant("Unable to verify the integrity of the 'assertion' value.")
  }

  // RFC 7523 §3 items 3 to 7
  const aud = Array.isArray(claims.aud) ? claims.aud : claims.aud !== undefined ? [claims.aud] : []
  if (aud.length === 0) throw invalidGrant('The JWT in "assertion" request parameter MUST contain an "aud" (audience) claim.')
  if (!aud.includes(tokenUrl)) throw invalidGrant(`The JWT in "assertion" request parameter MUST contain an "aud" (audience) claim containing a value "${tokenUrl}" that identifies the authorization server as an intended audience.`)
  if (typeof claims.exp !== 'number') throw invalidGrant('The JWT in "assertion" request parameter MUST contain an "exp" (expiration time) claim.')
  if (typeof claims.iat !== 'number') throw invalidGrant('The JWT in "assertion" request parameter MUST contain an "iat" (issued at) claim.')
  if (claims.iat > Date.now() / 1000 + CLOCK_SKEW_SECONDS) throw invalidGrant('The JWT in "assertion" request parameter was issued in the future.')
  if (claims.exp - claims.iat > oauth2.options.jwtBearer.maxTtlSeconds) {
    throw invalidGrant(`The JWT in "assertion" request parameter contains an "exp" (expiration time) claim with value "${new Date(claims.exp * 1000).toISOString()}" that is unreasonably far in the future, considering token issued at "${new Date(claims.iat * 1000).toISOString()}".`)
  }
  if (typeof claims.jti !== 'string' || claims.jti === '') throw invalidGrant('The JWT in "assertion" request parameter MUST contain an "jti" (JWT ID) claim.')

  // scopes: within the trust relationship's and the client's (fosite checks both)
  for (const s of scopesOf(form.get('scope'))) {
    if (!trust.scope.includes(s)) throw new OAuth2Error('invalid_scope', `The requested scope is invalid, unknown, or malformed. The public key registered for issuer "${trust.issuer}" and subject "${claims.sub}" is not allowed to request scope "${s}".`)
  }
  const { scope, audience } = whitelisted(client, form)

  // jti single use (RFC 7523 §3 item 7), remembered until the assertion expires
  try {
    await db.exec(sql`INSERT INTO oauth2_used_jti (nid, jti_hash, expires_at) VALUES (${db.nid}, ${sha256HexSync(`jwt-bearer\u0000${trust.issuer}\u0000${claims.jti}`)}, ${new Date(claims.exp * 1000)})`)
  } catch (e) {
    if (e instanceof UniqueViolationError) throw new OAuth2Error('jti_known', 'The jti was already used.')
    throw e
  }

  const subject = claims.sub as string
  const tokens = await oauth2.tokens.issue(db, { client, subject, grantType: JWT_BEARER_GRANT, scope, audience, issuer })
  return { tokens, subject }
}

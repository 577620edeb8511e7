/**
 * The oauth2 plugin's options (valibot, validated once at boot). Lifespans are seconds; the defaults are the
 * issue's: access token 15 min, refresh token 30 days (rotated on use), ID token 1 h, authorization code 10 min.
 */
import type { Awaitable, KeyStore } from 'tessera'
import * as v from 'valibot'

const d = v.description
const Seconds = v.pipe(v.number(), v.integer(), v.minValue(1))

/** What a claims mapping sees: the identity (Kratos' JSON shape) and the scopes granted. */
export interface ClaimsInput {
  identity: Record<string, unknown>
  scopes: readonly string[]
}
/** Maps an identity to OIDC claims (`email`, `name`, …) for the granted scopes; used by ID tokens and userinfo. */
export type ClaimsMapping = (input: ClaimsInput) => Awaitable<Record<string, unknown>>

export const AccessTokenStrategy = v.picklist(['opaque', 'jwt'])

export const OAuth2Options = v.object({
  issuer: v.optional(v.pipe(v.string(), v.url(), d('The issuer URL (default: `serve.public.baseUrl`, else the public base URL of the request). Every URL in discovery follows it.'))),
  accessTokenStrategy: v.optional(v.pipe(AccessTokenStrategy, d('`opaque` (`ory_at_…`, stored hashed) or `jwt` (RFC 9068, signed with the `hydra.jwt.access-token` set); a client\'s `access_token_strategy` overrides it.')), 'opaque'),
  lifespans: v.optional(
    v.object({
      accessToken: v.optional(v.pipe(Seconds, d('Access token lifespan in seconds (default 15 min).')), 900),
      refreshToken: v.optional(v.pipe(Seconds, d('Refresh token lifespan in seconds (default 30 days); every use rotates it.')), 30 * 86400),
      idToken: v.optional(v.pipe(Seconds, d('ID token lifespan in seconds (default 1 h).')), 3600),
      authorizationCode: v.optional(v.pipe(Seconds, d('Authorization code lifespan in seconds (default 10 min).')), 600),
    }),
    {},
  ),
  clients: v.optional(
    v.object({
      cacheSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), d('How long a process keeps a client it read (0: no cache). A change made through this process is seen at once; one made through another process after at most this long.')), 5),
      minSecretLength: v.optional(v.pipe(v.number(), v.integer(), v.minValue(6), d('Client-supplied secrets shorter than this are refused (Hydra: 6).')), 6),
      fastHashMinLength: v.optional(v.pipe(v.number(), v.integer(), v.minValue(16), d('Client-supplied secrets at least this long are stored as HMAC-SHA-256 under the system secret; shorter ones are slow-hashed (argon2id). Generated secrets are always high-entropy and HMAC-ed.')), 32),
    }),
    {},
  ),
  rateLimit: v.optional(
    v.object({
      enabled: v.optional(v.pipe(v.boolean(), d('Rate-limit the token endpoint per client (a token bucket per process).')), true),
      perSecond: v.optional(v.pipe(Seconds, d('Sustained token requests per client per second.')), 100),
      burst: v.optional(v.pipe(Seconds, d('Requests a client may make at once before the sustained rate applies.')), 200),
    }),
    {},
  ),
  keys: v.optional(
    v.object({
      algorithm: v.optional(v.pipe(v.picklist(['RS256', 'ES256']), d('Algorithm of generated signing keys (ID tokens are RS256 by default, as OpenID Connect requires support for it).')), 'RS256'),
      overlapSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), d('A rotated-in key is published this long before it signs (default: one ID-token lifespan).'))),
      rotateEverySeconds: v.optional(v.pipe(Seconds, d('Rotate the signing sets on this schedule (e.g. 7776000 for 90 days); off by default.'))),
      exposePrivateKeys: v.optional(v.pipe(v.boolean(), d("Admin JWK responses carry private halves, as Hydra's do (for exporting keys). Off by default: only public halves leave.")), false),
      store: v.optional(v.pipe(v.custom<KeyStore>((x) => typeof x === 'object' && x !== null && typeof (x as KeyStore).signingKey === 'function', 'expected a KeyStore'), d('Code configs only: a KeyStore (e.g. an external KMS) instead of the database.'))),
    }),
    {},
  ),
  claims: v.optional(v.pipe(v.custom<ClaimsMapping>((x) => typeof x === 'function', 'expected a function ({ identity, scopes }) => claims'), d('Code configs only: maps identity traits to OIDC claims for the granted scopes (default: the traits named as the standard claims).'))),
  urls: v.optional(
    v.object({
      login: v.optional(v.pipe(v.string(), v.url(), d("An external login app (Hydra's `urls.login`): `/oauth2/auth` sends the browser there with `login_challenge`. Default: the identity plugin's login flow when it is installed.")), undefined),
      consent: v.optional(v.pipe(v.string(), v.url(), d("An external consent app (Hydra's `urls.consent`). Default: the consent page this plugin serves at `/oauth2/consent`.")), undefined),
    }),
    {},
  ),
  pkce: v.optional(
    v.object({
      allowPlain: v.optional(v.pipe(v.boolean(), d('Accept `code_challenge_method=plain` (RFC 7636 discourages it; off: S256 only, as RFC 9700 §2.1.1 recommends).')), false),
      enforce: v.optional(v.pipe(v.boolean(), d('Require PKCE from confidential clients too (public clients must always use it).')), false),
    }),
    {},
  ),
  flowLifespan: v.optional(v.pipe(Seconds, d('How long a login or consent challenge stays valid, in seconds (Hydra: 30 min).')), 1800),
  jwtBearer: v.optional(
    v.object({
      maxTtlSeconds: v.optional(v.pipe(Seconds, d('The jwt-bearer grant (RFC 7523) refuses an assertion whose `exp` is more than this after its `iat` (Hydra: `oauth2.grant.jwt.max_ttl`, 720h).')), 720 * 3600),
    }),
    {},
  ),
  logout: v.optional(
    v.object({
      url: v.optional(v.pipe(v.string(), v.url(), d("A logout app written for Hydra (Hydra's `urls.logout`): the browser is sent there with `logout_challenge`. Without it the plugin accepts logout requests itself."))),
      postLogoutRedirect: v.optional(v.pipe(v.string(), v.url(), d("Where the browser goes after a logout without a registered `post_logout_redirect_uri` (Hydra's `urls.post_logout_redirect`; default: the public base URL)."))),
      requestLifespanSeconds: v.optional(v.pipe(Seconds, d('How long a logout challenge stays valid (default 10 min).')), 600),
      backchannel: v.optional(
        v.object({
          timeoutSeconds: v.optional(v.pipe(Seconds, d('Timeout of one back-channel logout POST.')), 5),
          maxAttempts: v.optional(v.pipe(Seconds, d('Attempts per back-channel logout delivery before it is given up.')), 8),
          backoffSeconds: v.optional(v.pipe(v.number(), v.minValue(0.05), d('Wait before the first retry; doubled after every failure (capped at one hour).')), 5),
          intervalSeconds: v.optional(v.pipe(v.number(), v.minValue(0.05), d('How often the delivery job looks for due deliveries (they are stored, so a restart resumes them).')), 5),
        }),
        {},
      ),
    }),
    {},
  ),
  device: v.optional(
    v.object({
      lifespanSeconds: v.optional(v.pipe(Seconds, d('How long a device code and its user code stay valid (RFC 8628 `expires_in`; Hydra: 10 min).')), 600),
      intervalSeconds: v.optional(v.pipe(Seconds, d('The polling interval a device is told (RFC 8628 `interval`); a device that polls faster gets `slow_down` and 5 s more.')), 5),
      userCodeLength: v.optional(v.pipe(v.number(), v.integer(), v.minValue(6), v.maxValue(16), d('Characters of a user code (from 20 consonants without look-alikes: BCDFGHJKLMNPQRSTVWXZ; 8 give 34 bits).')), 8),
      verificationUrl: v.optional(v.pipe(v.string(), v.url(), d("An external user-code page (Hydra's `urls.device.verification`): `/oauth2/device/verify` sends the browser there with `device_challenge`, the page calls `PUT /admin/oauth2/auth/requests/device/accept`. Default: the page this plugin serves."))),
      successUrl: v.optional(v.pipe(v.string(), v.url(), d("Where the browser goes once the device is authorized (Hydra's `urls.device.success`; default: the plugin's \"return to your device\" page)."))),
      attemptsPerMinute: v.optional(v.pipe(Seconds, d('User-code entries one client address may make per minute on the built-in page (against guessing).')), 10),
      attemptsBurst: v.optional(v.pipe(Seconds, d('User-code entries one client address may make at once before the per-minute rate applies.')), 5),
    }),
    {},
  ),
  cleanup: v.optional(
    v.object({
      enabled: v.optional(v.pipe(v.boolean(), d('Delete expired tokens, codes and used jti values periodically.')), true),
      intervalSeconds: v.optional(v.pipe(Seconds, d('Seconds between sweeps (default 10 min).')), 600),
    }),
    {},
  ),
})
export type OAuth2Options = v.InferOutput<typeof OAuth2Options>
export type OAuth2OptionsInput = v.InferInput<typeof OAuth2Options>

/** The sets Hydra signs with, and publishes at /.well-known/jwks.json. */
export const ID_TOKEN_SET = 'hydra.openid.id-token'
export const ACCESS_TOKEN_SET = 'hydra.jwt.access-token'
export const WELL_KNOWN_SETS = [ID_TOKEN_SET, ACCESS_TOKEN_SET] as const

/**
 * Contracts of the services first-party plugins offer each other in-process.
 * They live in the core so that a provider and a consumer agree on a type
 * without importing each other:
 *
 *   identity     provides 'identity.sessions'  (used by the proxy's cookie_session / bearer_token)
 *   permissions  provides 'permissions.check'  (used by host apps and the proxy's permissions authorizer)
 *   identity     provides 'identity.login'     (used by oauth2: its login flow as the OAuth2 login, Kratos' oauth2_provider)
 *   oauth2       provides 'oauth2.keys'        (its KeyStore: the built-in one, or one given in its options)
 *   courier      provides 'courier'            (used by identity flows and credential methods to send e-mail and SMS)
 *   ui           provides 'oauth2.pages'       (used by oauth2: its consent, device-code, logout confirmation and error pages)
 *
 * Get one with `ctx.services.get('identity.sessions')` — undefined when the plugin is not installed.
 */
import type { RequestContext } from './http/context.ts'

/** An active session as the identity plugin resolves it. */
export interface ActiveSession {
  /** The session id. */
  id: string
  /** The identity the session belongs to. */
  identityId: string
  /** `aal1`, `aal2`, … */
  aal: string
  expiresAt: Date
  /** The identity in Kratos' JSON shape (id, schema_id, traits, metadata_public, …). */
  identity: Record<string, unknown>
  /** The session in Kratos' JSON shape (id, active, expires_at, authenticated_at, identity, …). */
  session: Record<string, unknown>
}

export interface SessionService {
  /** The session cookie's name. */
  readonly cookieName: string
  /** The active session a session token (cookie value, X-Session-Token, or Bearer) belongs to. */
  fromToken(token: string, tenant: string): Promise<ActiveSession | null>
  /** The active session of a request: session cookie, `X-Session-Token`, or `Authorization: Bearer`. */
  fromRequest(request: Request, tenant: string): Promise<ActiveSession | null>
}

/**
 * The identity plugin's login flow as an OAuth 2.0 provider's login (Kratos' `oauth2_provider`): the provider
 * sends the browser to `loginUrl(…)` with its `login_challenge`; when a login flow that carries one succeeds
 * (or a browser with a valid session opens it without `refresh`), the identity plugin asks the registered
 * `onChallenge` handler where the browser goes next.
 */
export interface IdentityLoginService {
  /** The browser login flow's URL for a login challenge; `refresh` forces a new authentication (`prompt=login`, `max_age`). */
  loginUrl(publicBaseUrl: string, opts: { loginChallenge: string; refresh?: boolean }): string
  /** The identity in Kratos' JSON shape (traits, verifiable addresses, …), or null. */
  identity(tenant: string, id: string): Promise<Record<string, unknown> | null>
  /** Set by the OAuth 2.0 provider: the session that completed a challenged login, and where the browser goes next. */
  onChallenge(handler: LoginChallengeHandler): void
  /**
   * Set by the OAuth 2.0 provider: its login request for a challenge, which login and registration flows carry as
   * `oauth2_login_request` (as Kratos' do), so that a login page can say which application asks.
   */
  onLoginRequest(lookup: LoginRequestLookup): void
}
/** Where the browser goes next; null when the challenge is unknown or expired (the login flow's usual return_to then). */
export type LoginChallengeHandler = (event: { tenant: string; loginChallenge: string; session: ActiveSession; request: Request }) => Promise<string | null>
/**
 * The provider's login request for `loginChallenge` in Hydra's `OAuth2LoginRequest` shape (as `GET
 * /admin/oauth2/auth/requests/login` answers it: challenge, client without secrets, requested scope, …); null when
 * the challenge is unknown, expired or handled already.
 */
export type LoginRequestLookup = (tenant: string, loginChallenge: string) => Promise<Record<string, unknown> | null>

/** A Keto-style check: may `subject` have `relation` on `namespace:object`? */
export interface PermissionCheckRequest {
  namespace: string
  object: string
  relation: string
  /** A subject id, or a subject set. */
  subject: { id: string } | { namespace: string; object: string; relation?: string }
  /** Request context for conditions (time, attributes). */
  context?: Record<string, unknown>
}

export interface PermissionService {
  check(tenant: string, request: PermissionCheckRequest): Promise<boolean>
}

/** The public half of a JSON Web Key (RFC 7517): never `d`, `p`, `q`, `dp`, `dq`, `qi` or `k`. */
export interface PublicJwk {
  kty: string
  kid: string
  alg: string
  use: string
  [member: string]: unknown
}

/** The key that signs now in a set. A KMS-backed store signs remotely; the private key never leaves it. */
export interface SigningKey {
  kid: string
  /** The JWS algorithm (`RS256`, `ES256`). */
  alg: string
  /** A JWS signature (RFC 7515) over `data`: for ES256 the raw r‖s form, as WebCrypto gives it. */
  sign(data: Uint8Array): Promise<Uint8Array>
}

/** When keys of a set sign and until when they verify: how a rotation is timed. */
export interface KeyRotation {
  /** Seconds the new key is published before it signs (overlap window). */
  overlapSeconds: number
  /** Seconds a retired key stays published after it stopped signing (the longest lifespan of what it signed). */
  retainSeconds: number
  /** The new key's algorithm (default: the current signing key's, else RS256). */
  alg?: 'RS256' | 'ES256'
}

/**
 * Where the keys that sign ID tokens, JWT access tokens and logout tokens live, per tenant and named set
 * (`hydra.openid.id-token`, `hydra.jwt.access-token`, or one an operator made). The oauth2 plugin's built-in
 * store keeps them in the database, private halves encrypted with the system secret; a plugin can keep them in
 * an external KMS by implementing this contract.
 */
export interface KeyStore {
  /** The key that signs now in `set`; one is generated (`alg`, default RS256) when the set has none. */
  signingKey(tenant: string, set: string, alg?: 'RS256' | 'ES256'): Promise<SigningKey>
  /** Public halves of every key of `set` that can still verify a live token, including keys not signing yet. */
  verificationKeys(tenant: string, set: string): Promise<PublicJwk[]>
  /** Add a key to `set` that signs from now (or from `signFrom`). */
  generate(tenant: string, set: string, opts: { alg: 'RS256' | 'ES256'; kid?: string; use?: 'sig' | 'enc'; signFrom?: Date }): Promise<PublicJwk>
  /**
   * Rotate `set`: a new key is published now and signs after the overlap window; the current signing keys stop
   * signing then and stay published `retainSeconds` longer.
   */
  rotate(tenant: string, set: string, rotation: KeyRotation): Promise<{ added: PublicJwk; retired: string[] }>
  /** Delete one key, or the whole set without `kid`; the number of keys deleted. */
  delete(tenant: string, set: string, kid?: string): Promise<number>
}

declare module './registry.ts' {
  interface TesseraServices {
    'identity.sessions': SessionService
    'identity.login': IdentityLoginService
    'permissions.check': PermissionService
    'oauth2.keys': KeyStore
  }
}

/**
 * What the oauth2 plugin says about a token (RFC 7662, as `POST /admin/oauth2/introspect` answers): exactly
 * `{ active: false }` for anything not active.
 */
export interface TokenIntrospection {
  active: boolean
  sub?: string
  scope?: string
  client_id?: string
  aud?: string[]
  iss?: string
  exp?: number
  iat?: number
  nbf?: number
  /** `Bearer` or `Refresh`. */
  token_type?: string
  /** `access_token` or `refresh_token`. */
  token_use?: string
  ext?: Record<string, unknown>
}

/** A client_credentials token response (RFC 6749 §4.4.3). */
export interface ClientCredentialsToken {
  access_token: string
  token_type: string
  expires_in: number
  scope: string
}

/**
 * The oauth2 plugin's tokens in-process (`oauth2.tokens`): what its introspection and token endpoints do, without
 * HTTP. The proxy's `oauth2_introspection` and `oauth2_client_credentials` authenticators use it when the plugin
 * is installed.
 */
export interface OAuth2TokenService {
  /** Introspect an access or refresh token of `tenant`; with `scope`, a token lacking one of them is inactive. */
  introspect(tenant: string, token: string, opts?: { scope?: readonly string[] }): Promise<TokenIntrospection>
  /**
   * The client_credentials grant for these credentials, authenticated (and rate-limited) as the token endpoint
   * does: the token response, or null when the credentials are wrong or the client may not have the grant or scope.
   */
  clientCredentials(tenant: string, request: { clientId: string; clientSecret: string; scope?: readonly string[]; audience?: readonly string[] }): Promise<ClientCredentialsToken | null>
}

declare module './registry.ts' {
  interface TesseraServices {
    'oauth2.tokens': OAuth2TokenService
  }
}

/**
 * Ending an identity session from another plugin (`identity.session-end`): the oauth2 plugin's logout ends the
 * identity session its login session came from.
 */
export interface SessionEndService {
  /** Revoke the session `sessionId` of `tenant`; false when there was no active session with that id. */
  end(tenant: string, sessionId: string): Promise<boolean>
}

declare module './registry.ts' {
  interface TesseraServices {
    'identity.session-end': SessionEndService
  }
}

/**
 * A message for the courier (`courier`): a template by Kratos' id, rendered in the recipient's language and
 * delivered over a channel by the courier's queue (queued → processing → sent, or abandoned after its retries).
 */
export interface CourierMessageRequest {
  /**
   * Kratos' template id: `recovery_code.valid`, `recovery_code.invalid`, `verification_code.valid`,
   * `verification_code.invalid`, `login_code.valid`, `registration_code.valid`, and the link variants
   * `recovery.valid`, `recovery.invalid`, `verification.valid`, `verification.invalid`.
   */
  template: string
  /** `email` or `sms`. */
  channel: 'email' | 'sms'
  /** An e-mail address or a phone number (E.164). */
  recipient: string
  /**
   * What the template shows: `to`, and per template `recovery_code`, `recovery_url`, `verification_code`,
   * `verification_url`, `login_code`, `login_url`, `registration_code`, `identity` (Kratos' template data).
   */
  data: Record<string, unknown>
  /** The recipient's language (BCP 47: `de`, `ru`, `zh`, `en-US`); the courier falls back to English. */
  locale?: string
  /** The identity the message is for, when there is one (an unknown recipient has none). */
  identityId?: string
}

export interface CourierService {
  /** Queue a message for `tenant`: stored before this resolves, so a crash or a dead SMTP server loses nothing. */
  send(tenant: string, message: CourierMessageRequest): Promise<{ id: string }>
}

declare module './registry.ts' {
  interface TesseraServices {
    courier: CourierService
  }
}

/**
 * The OAuth2 pages another plugin renders for the oauth2 plugin (`oauth2.pages`, the ui plugin): the consent,
 * device-code and logout confirmation pages, and the error page a browser sees when a request cannot go back to
 * the client (an unknown client or redirect URI, a failed CSRF check). The oauth2 plugin hands the view data and
 * verifies what the form posts (the hidden fields, among them its CSRF token); without the service it serves its
 * own minimal pages.
 */
export interface OAuth2ConsentView {
  client: { id: string; name?: string; logoUri?: string; clientUri?: string }
  scopes: string[]
  /** The subject the consent is for (with the identity plugin's login: the identity id). */
  subject?: string
  /** Where the form posts; `decision` is `accept` or `reject`, `remember` is `true` when ticked. */
  action: string
  hidden: Record<string, string>
  /** The authorization's OIDC `ui_locales`, in the application's order of preference (may be empty). */
  uiLocales?: string[]
}
export interface OAuth2DeviceView {
  state: 'enter' | 'done' | 'denied'
  action: string
  hidden: Record<string, string>
  /** The user-code field's name. */
  field: string
  /** The code to fill in (from `verification_uri_complete`): the user checks it against the device's and goes on. */
  userCode?: string
  error?: string
}
export interface OAuth2LogoutView {
  client?: { id: string; name?: string }
  /** Where the form posts; `decision` is `accept` or `reject`. */
  action: string
  hidden: Record<string, string>
  /** The logout request's `ui_locales` (RP-Initiated Logout 1.0 §2), in the client's order of preference. */
  uiLocales?: string[]
}
/** An error shown to the browser, never sent to the client: RFC 6749's `error` and its (English) description. */
export interface OAuth2ErrorView {
  error: string
  description: string
  /** The HTTP status of the page. */
  status: number
}
export interface OAuth2PagesService {
  consent(request: Request, rc: RequestContext, view: OAuth2ConsentView): Promise<Response>
  device(request: Request, rc: RequestContext, view: OAuth2DeviceView): Promise<Response>
  logout(request: Request, rc: RequestContext, view: OAuth2LogoutView): Promise<Response>
  /** Without it, the oauth2 plugin's own minimal error page. */
  error?(request: Request, rc: RequestContext, view: OAuth2ErrorView): Promise<Response>
}

declare module './registry.ts' {
  interface TesseraServices {
    'oauth2.pages': OAuth2PagesService
  }
}

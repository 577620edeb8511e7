/**
 * The oauth2 plugin's operations for the listeners' OpenAPI documents, with Hydra's operationIds. Bodies are
 * the schemas the handlers validate with; the form-encoded OAuth2 endpoints are described by their parameters.
 */
import type { Operation, Operations } from 'tessera'
import * as v from 'valibot'
import { ClientBody, LifespansBody } from './clients.ts'
import { AcceptConsentBody, AcceptLoginBody, RejectBody } from './consent.ts'
import { CreateKeyBody, DeleteTokensQuery, JsonPatch, JwkBody, JwkSetBody, ListQuery } from './routes.ts'
import { LogoutChallengeQuery, LogoutParams } from './logout.ts'
import { TrustBody, TrustListQuery } from './trust.ts'

const d = v.description
const OAUTH2 = ['oAuth2']
const JWK = ['jwk']
const OIDC = ['oidc']
const WELL = ['wellknown']
const FORM = 'application/x-www-form-urlencoded'

const TokenForm = v.object({
  grant_type: v.pipe(v.string(), d('authorization_code, refresh_token or client_credentials.')),
  scope: v.optional(v.pipe(v.string(), d('Space-separated scopes, each allowed by the client.'))),
  audience: v.optional(v.pipe(v.string(), d('Audiences, each whitelisted by the client (may repeat).'))),
  refresh_token: v.optional(v.pipe(v.string(), d('The refresh token (refresh_token grant).'))),
  code: v.optional(v.pipe(v.string(), d('The authorization code (authorization_code grant; single use).'))),
  redirect_uri: v.optional(v.pipe(v.string(), d('The redirect_uri of the authorization request (authorization_code grant).'))),
  code_verifier: v.optional(v.pipe(v.string(), d('The PKCE verifier (RFC 7636), when the authorization request had a code_challenge.'))),
  client_id: v.optional(v.pipe(v.string(), d('client_secret_post and none.'))),
  client_secret: v.optional(v.pipe(v.string(), d('client_secret_post.'))),
  client_assertion_type: v.optional(v.pipe(v.string(), d('private_key_jwt: urn:ietf:params:oauth:client-assertion-type:jwt-bearer.'))),
  client_assertion: v.optional(v.pipe(v.string(), d('private_key_jwt: a JWT signed with a key of the client (iss = sub = client_id, aud = the token endpoint, exp, jti).'))),
  device_code: v.optional(v.pipe(v.string(), d('urn:ietf:params:oauth:grant-type:device_code (RFC 8628): the device code; authorization_pending, slow_down, expired_token, access_denied until the user answered; redeemed once.'))),
  assertion: v.optional(v.pipe(v.string(), d('urn:ietf:params:oauth:grant-type:jwt-bearer (RFC 7523): a JWT signed by a trusted issuer (iss, sub, aud = the token endpoint, exp, iat, jti).'))),
})
const RevokeForm = v.object({
  token: v.pipe(v.string(), d('The access or refresh token.')),
  token_type_hint: v.optional(v.string()),
  client_id: v.optional(v.string()),
  client_secret: v.optional(v.string()),
})
const IntrospectForm = v.object({
  token: v.pipe(v.string(), d('The access or refresh token.')),
  scope: v.optional(v.pipe(v.string(), d('Space-separated scopes the token must have been granted, else it is inactive.'))),
})
const AuthorizeQuery = v.object({
  client_id: v.pipe(v.string(), d('The client.')),
  response_type: v.pipe(v.string(), d('code (the only response type offered).')),
  redirect_uri: v.optional(v.pipe(v.string(), d("One of the client's redirect URIs, matched exactly (loopback ports vary for native clients, RFC 8252)."))),
  scope: v.optional(v.string()),
  state: v.optional(v.pipe(v.string(), d('Returned byte-exact.'))),
  nonce: v.optional(v.pipe(v.string(), d('Put in the ID token.'))),
  code_challenge: v.optional(v.pipe(v.string(), d('PKCE (required for public clients).'))),
  code_challenge_method: v.optional(v.pipe(v.string(), d('S256 (plain only when pkce.allowPlain).'))),
  response_mode: v.optional(v.pipe(v.string(), d('query or form_post.'))),
  prompt: v.optional(v.pipe(v.string(), d('none, login, consent.'))),
  max_age: v.optional(v.string()),
  id_token_hint: v.optional(v.string()),
  login_hint: v.optional(v.string()),
  acr_values: v.optional(v.string()),
  audience: v.optional(v.string()),
  login_verifier: v.optional(v.pipe(v.string(), d('Set by the login app\'s redirect_to.'))),
  consent_verifier: v.optional(v.pipe(v.string(), d('Set by the consent app\'s redirect_to.'))),
})
const LoginChallenge = v.object({ login_challenge: v.string() })
const ConsentChallenge = v.object({ consent_challenge: v.string() })
const ConsentSessionsQuery = v.object({ subject: v.string(), login_session_id: v.optional(v.string()), page_size: v.optional(v.pipe(v.string(), d('1 to 500 (default 250).'))), page_token: v.optional(v.pipe(v.string(), d("From the Link header's next."))) })
const RevokeConsentQuery = v.object({ subject: v.string(), client: v.optional(v.string()), consent_request_id: v.optional(v.string()), all: v.optional(v.string()) })
const RevokeLoginQuery = v.object({ subject: v.optional(v.string()), sid: v.optional(v.string()) })
const ConsentForm = v.object({ consent_challenge: v.string(), csrf_token: v.string(), decision: v.picklist(['accept', 'reject']), remember: v.optional(v.string()) })
const UserinfoForm = v.object({ access_token: v.optional(v.pipe(v.string(), d('RFC 6750 §2.2 (or the Authorization header).'))) })
const DeviceAuthForm = v.object({
  client_id: v.optional(v.pipe(v.string(), d('The client (public clients: none; confidential ones authenticate as at the token endpoint).'))),
  scope: v.optional(v.pipe(v.string(), d('Space-separated scopes, each allowed by the client.'))),
  audience: v.optional(v.pipe(v.string(), d('Audiences, each whitelisted by the client (may repeat).'))),
})
const DeviceVerifyQuery = v.object({
  user_code: v.optional(v.pipe(v.string(), d('Fills the page in (verification_uri_complete).'))),
  device_verifier: v.optional(v.pipe(v.string(), d("Set by acceptUserCodeRequest's redirect_to (an external device page)."))),
  login_verifier: v.optional(v.pipe(v.string(), d("Set by the login app's redirect_to."))),
  consent_verifier: v.optional(v.pipe(v.string(), d("Set by the consent app's redirect_to."))),
})
const DeviceVerifyForm = v.object({ user_code: v.string(), csrf_token: v.string() })
const DeviceChallenge = v.object({ device_challenge: v.string() })
const AcceptUserCodeBody = v.object({ user_code: v.pipe(v.string(), d('The code the user typed (case and dashes do not matter).')) })
const OAUTH2_ERRORS = { 400: 'invalid_request, invalid_grant, invalid_scope, unauthorized_client, unsupported_grant_type (RFC 6749 error JSON)', 401: 'invalid_client', 429: 'Rate limited (per client)' }

const publicOps: Operation[] = [
  { method: 'GET', path: '/.well-known/openid-configuration', operationId: 'discoverOidcConfiguration', summary: 'OpenID Connect discovery', tags: OIDC, responses: { 200: 'The provider metadata' } },
  { method: 'GET', path: '/.well-known/jwks.json', operationId: 'discoverJsonWebKeys', summary: 'The public keys that verify ID tokens and JWT access tokens', tags: WELL, responses: { 200: 'A JWK set (public halves only)' } },
  { method: 'POST', path: '/oauth2/token', operationId: 'oauth2TokenExchange', summary: 'The OAuth 2.0 token endpoint', tags: OAUTH2, body: { schema: TokenForm, contentType: FORM }, responses: { 200: 'The tokens', ...OAUTH2_ERRORS } },
  { method: 'GET', path: '/oauth2/auth', operationId: 'oAuth2Authorize', summary: 'The OAuth 2.0 authorization endpoint (code flow)', tags: OAUTH2, query: AuthorizeQuery, responses: { 303: 'To the login or consent app, or to the redirect URI with code, state, iss (or error)', 400: 'An error page: unknown client or redirect URI' } },
  { method: 'POST', path: '/oauth2/auth', operationId: 'oAuth2AuthorizePost', summary: 'The authorization endpoint, form-encoded', tags: OAUTH2, body: { schema: AuthorizeQuery, contentType: FORM }, responses: { 303: 'As GET', 400: 'An error page' } },
  { method: 'GET', path: '/userinfo', operationId: 'getOidcUserInfo', summary: 'OpenID Connect userinfo', tags: OIDC, responses: { 200: 'The claims (JSON, or application/jwt when the client registered userinfo_signed_response_alg)', 401: 'invalid_token', 403: 'insufficient_scope' } },
  { method: 'POST', path: '/userinfo', operationId: 'getOidcUserInfoPost', summary: 'OpenID Connect userinfo (token in the header or the form body)', tags: OIDC, body: { schema: UserinfoForm, contentType: FORM }, responses: { 200: 'The claims', 401: 'invalid_token', 403: 'insufficient_scope' } },
  { method: 'GET', path: '/oauth2/consent', operationId: 'getOAuth2ConsentPage', summary: 'The built-in consent page (when no external consent app is configured)', tags: OAUTH2, query: ConsentChallenge, responses: { 200: 'An HTML form', 403: 'CSRF', 404: 'Unknown or answered request' } },
  { method: 'POST', path: '/oauth2/consent', operationId: 'submitOAuth2ConsentPage', summary: 'Allow or deny on the built-in consent page', tags: OAUTH2, body: { schema: ConsentForm, contentType: FORM }, responses: { 303: 'To the redirect URI with the code or access_denied', 403: 'CSRF' } },
  { method: 'GET', path: '/oauth2/sessions/logout', operationId: 'revokeOidcSession', summary: 'OpenID Connect RP-initiated logout (also finishes an accepted logout with logout_verifier)', tags: OIDC, query: LogoutParams, responses: { 302: 'To the logout app, the registered post_logout_redirect_uri, or the default', 200: 'A front-channel logout page (iframes), then the redirect', 400: 'invalid_request (RFC 6749 error JSON): unregistered post_logout_redirect_uri, bad id_token_hint' } },
  { method: 'POST', path: '/oauth2/sessions/logout', operationId: 'revokeOidcSessionPost', summary: 'RP-initiated logout with a form body', tags: OIDC, body: { schema: LogoutParams, contentType: FORM }, responses: { 302: 'As GET', 200: 'As GET', 400: 'As GET' } },
  { method: 'POST', path: '/oauth2/device/auth', operationId: 'oAuth2DeviceFlow', summary: 'The OAuth 2.0 device authorization endpoint (RFC 8628)', tags: OAUTH2, body: { schema: DeviceAuthForm, contentType: FORM }, responses: { 200: 'device_code, user_code, verification_uri, verification_uri_complete, expires_in, interval', ...OAUTH2_ERRORS } },
  { method: 'GET', path: '/oauth2/device/verify', operationId: 'performOAuth2DeviceVerificationFlow', summary: 'The device verification endpoint: the user-code page (or to the external device page with device_challenge), and where login and consent come back', tags: OAUTH2, query: DeviceVerifyQuery, responses: { 200: 'The user-code page', 303: 'To the device page, the login or consent app, or the done page', 403: 'CSRF' } },
  { method: 'POST', path: '/oauth2/device/verify', operationId: 'submitOAuth2DeviceVerificationPage', summary: 'Enter a user code on the built-in page (rate-limited per client address)', tags: OAUTH2, body: { schema: DeviceVerifyForm, contentType: FORM }, responses: { 303: 'To login', 400: 'A wrong or expired code (the page again)', 403: 'CSRF', 429: 'Too many codes from this address' } },
  { method: 'GET', path: '/oauth2/fallbacks/device/done', operationId: 'getOAuth2DeviceDonePage', summary: "The \"return to your device\" page (unless device.successUrl)", tags: OAUTH2, responses: { 200: 'An HTML page' } },
  { method: 'POST', path: '/oauth2/revoke', operationId: 'revokeOAuth2Token', summary: 'Revoke an access or refresh token (RFC 7009)', tags: OAUTH2, body: { schema: RevokeForm, contentType: FORM }, responses: { 200: 'Revoked, or unknown', ...OAUTH2_ERRORS } },
]


const adminOps: Operation[] = [
  { method: 'GET', path: '/admin/clients', operationId: 'listOAuth2Clients', summary: 'List OAuth 2.0 clients', tags: OAUTH2, query: ListQuery, responses: { 200: 'A page of clients (Link header: first and next)', 400: 'Invalid page parameters' } },
  { method: 'POST', path: '/admin/clients', operationId: 'createOAuth2Client', summary: 'Create an OAuth 2.0 client (its secret is shown once)', tags: OAUTH2, body: ClientBody, responses: { 201: 'The client, with client_secret', 400: 'Invalid client', 409: 'The client_id exists' } },
  { method: 'GET', path: '/admin/clients/:id', operationId: 'getOAuth2Client', summary: 'Get an OAuth 2.0 client', tags: OAUTH2, responses: { 200: 'The client (never its secret)', 404: 'No such client' } },
  { method: 'PUT', path: '/admin/clients/:id', operationId: 'setOAuth2Client', summary: 'Replace an OAuth 2.0 client', tags: OAUTH2, body: ClientBody, responses: { 200: 'The client', 400: 'Invalid client', 404: 'No such client' } },
  { method: 'PATCH', path: '/admin/clients/:id', operationId: 'patchOAuth2Client', summary: 'Change an OAuth 2.0 client with JSON Patch (RFC 6902)', tags: OAUTH2, body: JsonPatch, responses: { 200: 'The client', 400: 'Invalid patch or result', 404: 'No such client' } },
  { method: 'DELETE', path: '/admin/clients/:id', operationId: 'deleteOAuth2Client', summary: 'Delete an OAuth 2.0 client and its tokens', tags: OAUTH2, responses: { 204: 'Deleted', 404: 'No such client' } },
  { method: 'PUT', path: '/admin/clients/:id/lifespans', operationId: 'setOAuth2ClientLifespans', summary: "Set a client's token lifespans", tags: OAUTH2, body: LifespansBody as v.GenericSchema, responses: { 200: 'The client', 400: 'Invalid lifespans', 404: 'No such client' } },
  { method: 'POST', path: '/admin/clients/:id/secrets/rotate', operationId: 'rotateOAuth2ClientSecret', summary: 'Rotate the client secret (the old one stays valid until deleted)', tags: OAUTH2, responses: { 200: 'The client, with the new client_secret', 400: 'A public client', 404: 'No such client' } },
  { method: 'DELETE', path: '/admin/clients/:id/secrets/rotate', operationId: 'deleteRotatedOAuth2ClientSecrets', summary: 'Invalidate the rotated-out secrets', tags: OAUTH2, responses: { 200: 'The client', 404: 'No such client' } },
  { method: 'POST', path: '/admin/oauth2/introspect', operationId: 'introspectOAuth2Token', summary: 'Introspect an access or refresh token (RFC 7662)', tags: OAUTH2, body: { schema: IntrospectForm, contentType: FORM }, responses: { 200: 'The token, or {"active":false}', 400: 'No token (RFC 6749 error JSON)' } },
  { method: 'DELETE', path: '/admin/oauth2/tokens', operationId: 'deleteOAuth2Token', summary: "Delete a client's access and refresh tokens", tags: OAUTH2, query: DeleteTokensQuery, responses: { 204: 'Deleted', 400: 'No client_id' } },
  { method: 'GET', path: '/admin/oauth2/auth/requests/login', operationId: 'getOAuth2LoginRequest', summary: 'Get a login request', tags: OAUTH2, query: LoginChallenge, responses: { 200: 'The login request', 404: 'Unknown or expired', 410: 'Handled already: {redirect_to}' } },
  { method: 'PUT', path: '/admin/oauth2/auth/requests/login/accept', operationId: 'acceptOAuth2LoginRequest', summary: 'Accept a login request', tags: OAUTH2, query: LoginChallenge, body: AcceptLoginBody, responses: { 200: '{redirect_to}', 400: 'Invalid body, or subject differs from a skipped login', 404: 'Unknown' } },
  { method: 'PUT', path: '/admin/oauth2/auth/requests/login/reject', operationId: 'rejectOAuth2LoginRequest', summary: 'Reject a login request', tags: OAUTH2, query: LoginChallenge, body: RejectBody, responses: { 200: '{redirect_to}', 404: 'Unknown' } },
  { method: 'GET', path: '/admin/oauth2/auth/requests/consent', operationId: 'getOAuth2ConsentRequest', summary: 'Get a consent request', tags: OAUTH2, query: ConsentChallenge, responses: { 200: 'The consent request', 404: 'Unknown or expired', 410: 'Handled already: {redirect_to}' } },
  { method: 'PUT', path: '/admin/oauth2/auth/requests/consent/accept', operationId: 'acceptOAuth2ConsentRequest', summary: 'Accept a consent request', tags: OAUTH2, query: ConsentChallenge, body: AcceptConsentBody, responses: { 200: '{redirect_to}', 400: 'Invalid body or scopes not requested', 404: 'Unknown' } },
  { method: 'PUT', path: '/admin/oauth2/auth/requests/consent/reject', operationId: 'rejectOAuth2ConsentRequest', summary: 'Reject a consent request', tags: OAUTH2, query: ConsentChallenge, body: RejectBody, responses: { 200: '{redirect_to}', 404: 'Unknown' } },
  { method: 'PUT', path: '/admin/oauth2/auth/requests/device/accept', operationId: 'acceptUserCodeRequest', summary: 'Accept a user code for a device challenge (an external device page)', tags: OAUTH2, query: DeviceChallenge, body: AcceptUserCodeBody, responses: { 200: '{redirect_to}: the browser goes on to login', 400: 'Unknown or expired challenge or user code' } },
  { method: 'GET', path: '/admin/oauth2/auth/sessions/consent', operationId: 'listOAuth2ConsentSessions', summary: "A subject's consent sessions", tags: OAUTH2, query: ConsentSessionsQuery, responses: { 200: 'A page of consent sessions (Link header: first and next, page_size and page_token as Hydra)', 400: 'No subject, or invalid page parameters' } },
  { method: 'DELETE', path: '/admin/oauth2/auth/sessions/consent', operationId: 'revokeOAuth2ConsentSessions', summary: 'Revoke consent sessions and their tokens', tags: OAUTH2, query: RevokeConsentQuery, responses: { 204: 'Revoked', 400: 'No subject, or neither client, consent_request_id nor all' } },
  { method: 'DELETE', path: '/admin/oauth2/auth/sessions/login', operationId: 'revokeOAuth2LoginSessions', summary: 'Forget remembered logins (by subject or sid)', tags: OAUTH2, query: RevokeLoginQuery, responses: { 204: 'Revoked', 400: 'Neither subject nor sid' } },
  { method: 'POST', path: '/admin/trust/grants/jwt-bearer/issuers', operationId: 'trustOAuth2JwtGrantIssuer', summary: 'Trust a JWT-bearer issuer (RFC 7523): issuer, subject or allow_any_subject, scopes, public key, expiry', tags: OAUTH2, body: TrustBody, responses: { 201: 'The trust relationship', 400: 'Invalid request', 409: 'The issuer, subject and key id are trusted already' } },
  { method: 'GET', path: '/admin/trust/grants/jwt-bearer/issuers', operationId: 'listTrustedOAuth2JwtGrantIssuers', summary: 'List trusted JWT-bearer issuers', tags: OAUTH2, query: TrustListQuery, responses: { 200: 'A page (Link header: first and next)', 400: 'Invalid page parameters' } },
  { method: 'GET', path: '/admin/trust/grants/jwt-bearer/issuers/:id', operationId: 'getTrustedOAuth2JwtGrantIssuer', summary: 'Get a trusted JWT-bearer issuer', tags: OAUTH2, responses: { 200: 'The trust relationship', 404: 'No such relationship' } },
  { method: 'DELETE', path: '/admin/trust/grants/jwt-bearer/issuers/:id', operationId: 'deleteTrustedOAuth2JwtGrantIssuer', summary: 'Delete a trusted JWT-bearer issuer', tags: OAUTH2, responses: { 204: 'Deleted', 404: 'No such relationship' } },
  { method: 'GET', path: '/admin/oauth2/auth/requests/logout', operationId: 'getOAuth2LogoutRequest', summary: 'Get a logout request', tags: OAUTH2, query: LogoutChallengeQuery, responses: { 200: 'The logout request', 400: 'No logout_challenge', 404: 'Unknown or expired', 410: 'Handled already (redirect_to)' } },
  { method: 'PUT', path: '/admin/oauth2/auth/requests/logout/accept', operationId: 'acceptOAuth2LogoutRequest', summary: 'Accept a logout request', tags: OAUTH2, query: LogoutChallengeQuery, responses: { 200: '{ redirect_to }: send the browser there', 400: 'Handled already', 404: 'Unknown or expired' } },
  { method: 'PUT', path: '/admin/oauth2/auth/requests/logout/reject', operationId: 'rejectOAuth2LogoutRequest', summary: 'Reject a logout request', tags: OAUTH2, query: LogoutChallengeQuery, responses: { 204: 'Rejected', 404: 'Unknown or expired' } },
  { method: 'POST', path: '/admin/keys/:set', operationId: 'createJsonWebKeySet', summary: 'Generate a key (RS256 or ES256) into a set', tags: JWK, body: CreateKeyBody, responses: { 201: 'The set with the new key', 400: 'Invalid request', 409: 'The kid exists in the set' } },
  { method: 'GET', path: '/admin/keys/:set', operationId: 'getJsonWebKeySet', summary: 'Get a JSON Web Key set', tags: JWK, responses: { 200: 'The set (public halves unless keys.exposePrivateKeys)', 404: 'No such set' } },
  { method: 'PUT', path: '/admin/keys/:set', operationId: 'setJsonWebKeySet', summary: 'Replace a JSON Web Key set (import keys)', tags: JWK, body: JwkSetBody, responses: { 200: 'The set', 400: 'Invalid keys' } },
  { method: 'DELETE', path: '/admin/keys/:set', operationId: 'deleteJsonWebKeySet', summary: 'Delete a JSON Web Key set', tags: JWK, responses: { 204: 'Deleted', 404: 'No such set' } },
  { method: 'GET', path: '/admin/keys/:set/:kid', operationId: 'getJsonWebKey', summary: 'Get one key of a set', tags: JWK, responses: { 200: 'A set with the key', 404: 'No such key' } },
  { method: 'PUT', path: '/admin/keys/:set/:kid', operationId: 'setJsonWebKey', summary: 'Import or replace one key', tags: JWK, body: JwkBody, responses: { 200: 'The key', 400: 'Invalid key' } },
  { method: 'DELETE', path: '/admin/keys/:set/:kid', operationId: 'deleteJsonWebKey', summary: 'Delete one key', tags: JWK, responses: { 204: 'Deleted', 404: 'No such key' } },
]


export const oauth2Operations: Operations = { public: publicOps, admin: adminOps }

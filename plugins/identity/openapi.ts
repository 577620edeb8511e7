/**
 * The identity plugin's routes for the OpenAPI documents (`GET /openapi.json`), with Kratos' operationIds.
 * Request bodies are the schemas the admin handlers validate with. Routes whose handlers read a few query
 * parameters or a body by hand (flows, sessions, logout) are described here by small schemas of those
 * parameters.
 */
import type { Operation, Operations } from 'tessera'
import * as v from 'valibot'
import { BatchCreate, CreateIdentity, Patch, UpdateIdentity } from './routes-admin.ts'

const d = v.description
const IDENTITY = ['identity']
const SESSION = ['frontend']

const ListQuery = v.object({
  page_size: v.optional(v.pipe(v.string(), d('Items per page, 1 to 1000 (default 250).'))),
  page_token: v.optional(v.pipe(v.string(), d("The next page's token, from the Link header."))),
})
const IdentitiesQuery = v.object({
  ...ListQuery.entries,
  per_page: v.optional(v.pipe(v.string(), d('Deprecated: page_size.'))),
  credentials_identifier: v.optional(v.pipe(v.string(), d('Only the identity with this credential identifier (e.g. an email address).'))),
  ids: v.optional(v.pipe(v.string(), d('Only these identities (comma-separated ids; may repeat).'))),
})
const ActiveQuery = v.object({ active: v.optional(v.pipe(v.picklist(['true', 'false']), d('Only active (true) or inactive (false) sessions.'))) })
const SessionsQuery = v.object({ ...ListQuery.entries, ...ActiveQuery.entries })
const IncludeCredential = v.object({ include_credential: v.optional(v.pipe(v.string(), d('Include the config of this credential type (may repeat).'))) })

const admin: Operation[] = [
  { method: 'POST', path: '/admin/identities', operationId: 'createIdentity', summary: 'Create an identity', tags: IDENTITY, body: CreateIdentity, responses: { 201: 'The identity', 400: 'Invalid identity', 409: 'An identity with a credential identifier of this one exists' } },
  { method: 'PATCH', path: '/admin/identities', operationId: 'batchPatchIdentities', summary: 'Create up to 1000 identities', tags: IDENTITY, body: BatchCreate, responses: { 200: 'What happened to each', 400: 'Invalid request' } },
  { method: 'GET', path: '/admin/identities', operationId: 'listIdentities', summary: 'List identities', tags: IDENTITY, query: IdentitiesQuery, responses: { 200: 'A page of identities (Link header: first and next page)', 400: 'Invalid page parameters' } },
  { method: 'GET', path: '/admin/identities/by/external/:externalId', operationId: 'getIdentityByExternalID', summary: 'Get an identity by its external id', tags: IDENTITY, responses: { 200: 'The identity', 404: 'No such identity' } },
  { method: 'GET', path: '/admin/identities/:id', operationId: 'getIdentity', summary: 'Get an identity', tags: IDENTITY, query: IncludeCredential, responses: { 200: 'The identity', 404: 'No such identity' } },
  { method: 'PUT', path: '/admin/identities/:id', operationId: 'updateIdentity', summary: 'Replace an identity', tags: IDENTITY, body: UpdateIdentity, responses: { 200: 'The identity', 400: 'Invalid identity', 404: 'No such identity', 409: 'A credential identifier is taken' } },
  { method: 'PATCH', path: '/admin/identities/:id', operationId: 'patchIdentity', summary: 'Change an identity with JSON Patch (RFC 6902)', tags: IDENTITY, body: Patch, responses: { 200: 'The identity', 400: 'Invalid patch', 404: 'No such identity' } },
  { method: 'DELETE', path: '/admin/identities/:id', operationId: 'deleteIdentity', summary: 'Delete an identity', tags: IDENTITY, responses: { 204: 'Deleted', 404: 'No such identity' } },
  { method: 'DELETE', path: '/admin/identities/:id/credentials/:type', operationId: 'deleteIdentityCredentials', summary: "Delete one of an identity's credentials", tags: IDENTITY, responses: { 204: 'Deleted', 404: 'No such identity or credential' } },
  { method: 'GET', path: '/admin/identities/:id/sessions', operationId: 'listIdentitySessions', summary: "An identity's sessions", tags: IDENTITY, query: ActiveQuery, responses: { 200: 'The sessions', 404: 'No such identity' } },
  { method: 'DELETE', path: '/admin/identities/:id/sessions', operationId: 'deleteIdentitySessions', summary: "Revoke all of an identity's sessions", tags: IDENTITY, responses: { 204: 'Revoked', 404: 'No such identity' } },
  { method: 'GET', path: '/admin/sessions', operationId: 'listSessions', summary: 'List sessions', tags: IDENTITY, query: SessionsQuery, responses: { 200: 'A page of sessions (Link header)', 400: 'Invalid page parameters' } },
  { method: 'GET', path: '/admin/sessions/:id', operationId: 'getSession', summary: 'Get a session', tags: IDENTITY, responses: { 200: 'The session', 404: 'No such session' } },
  { method: 'DELETE', path: '/admin/sessions/:id', operationId: 'disableSession', summary: 'Revoke a session', tags: IDENTITY, responses: { 204: 'Revoked', 404: 'No such session' } },
  { method: 'PATCH', path: '/admin/sessions/:id/extend', operationId: 'extendSession', summary: 'Extend a session', tags: IDENTITY, responses: { 200: 'The session', 404: 'No such active session' } },
]

const FlowQuery = v.object({ id: v.pipe(v.string(), d("The flow's id.")) })
const SubmitQuery = v.object({ flow: v.pipe(v.string(), d("The flow's id.")) })
const CreateQuery = v.object({
  refresh: v.optional(v.pipe(v.picklist(['true', 'false']), d('Ask again although a session exists (browser).'))),
  return_to: v.optional(v.pipe(v.string(), d('Where to go afterwards (browser; must be allowed).'))),
})
const Aal = v.optional(v.pipe(v.picklist(['aal1', 'aal2']), d('Login: the assurance to reach; `aal2` steps the request\'s session up with a second factor (401 session_aal1_required without one).')))
const Refresh = v.optional(v.pipe(v.picklist(['true', 'false']), d('Login: authenticate again although a session exists (the same session is refreshed).')))
const LoginCreateQuery = v.object({
  aal: Aal,
  refresh: Refresh,
  return_to: v.optional(v.pipe(v.string(), d('Where to go afterwards (browser; must be allowed).'))),
  login_challenge: v.optional(v.pipe(v.string(), d('An OAuth 2.0 login challenge this login or registration answers (browser): after it, the browser goes on with the authorization.'))),
})
const NativeLoginCreateQuery = v.object({ aal: Aal, refresh: Refresh })
/** What a flow submission carries: the method and its fields (password: identifier, password, traits, csrf_token). */
const Submission = v.looseObject({ method: v.pipe(v.string(), d('The credential method (e.g. password).')), csrf_token: v.optional(v.string()) })
const SUBMIT_TYPES = ['application/json', 'application/x-www-form-urlencoded']
const Whoami = v.object({ tokenize_as: v.optional(v.pipe(v.string(), d('Also answer the session as a JWT of this template.'))) })
const LogoutQuery = v.object({ return_to: v.optional(v.pipe(v.string(), d('Where to go after logout (must be allowed).'))) })
const LogoutToken = v.object({ token: v.pipe(v.string(), d('The logout token from createBrowserLogoutFlow.')), ...LogoutQuery.entries })
const NativeLogout = v.object({ session_token: v.pipe(v.string(), v.minLength(1)) })

/** Login creation answers 401 session_aal1_required when aal2 is asked for without a session. */
const aal1Required = (kind: string): Record<number, string> => (kind === 'login' ? { 401: 'aal2 asked for without a session (session_aal1_required)' } : {})
const cap = (s: string) => s[0]!.toUpperCase() + s.slice(1)
const flows: Operation[] = (['login', 'registration'] as const).flatMap((kind): Operation[] => [
  { method: 'GET', path: `/self-service/${kind}/api`, operationId: `createNative${cap(kind)}Flow`, summary: `Create a ${kind} flow for native apps`, tags: SESSION, ...(kind === 'login' ? { query: NativeLoginCreateQuery } : {}), responses: { 200: 'The flow', 400: 'A session exists', ...aal1Required(kind) } },
  { method: 'GET', path: `/self-service/${kind}/browser`, operationId: `createBrowser${cap(kind)}Flow`, summary: `Create a ${kind} flow for browsers (SPA: Accept: application/json)`, tags: SESSION, query: kind === 'login' ? LoginCreateQuery : CreateQuery, responses: { 200: 'The flow (SPA)', 303: 'To the UI with the flow', 400: 'A session exists', ...aal1Required(kind) } },
  { method: 'GET', path: `/self-service/${kind}/flows`, operationId: `get${cap(kind)}Flow`, summary: `Get a ${kind} flow`, tags: SESSION, query: FlowQuery, responses: { 200: 'The flow', 403: 'CSRF violation', 404: 'No such flow', 410: 'The flow expired' } },
  { method: 'POST', path: `/self-service/${kind}`, operationId: `update${cap(kind)}Flow`, summary: `Submit a ${kind} flow`, tags: SESSION, query: SubmitQuery, body: { schema: Submission, contentType: SUBMIT_TYPES }, responses: { 200: kind === 'login' ? 'The session' : 'The identity (and session)', 303: 'Onward (browser)', 400: 'The flow with messages', 403: 'CSRF violation', 410: 'The flow expired' } },
])

/** Settings, recovery and verification (Kratos' operationIds), and the links from messages. */
const LinkQuery = v.object({
  flow: v.pipe(v.string(), d("The flow's id.")),
  token: v.optional(v.pipe(v.string(), d('A link token (the link method).'))),
  code: v.optional(v.pipe(v.string(), d('A code (verification by code).'))),
  method: v.optional(v.pipe(v.string(), d('The method the link is for (default: link with a token, else code).'))),
})
const accountFlows: Operation[] = (['settings', 'recovery', 'verification'] as const).flatMap((kind): Operation[] => [
  { method: 'GET', path: `/self-service/${kind}/api`, operationId: `createNative${cap(kind)}Flow`, summary: `Create a ${kind} flow for native apps`, tags: SESSION, responses: kind === 'settings' ? { 200: 'The flow', 401: 'No active session' } : { 200: 'The flow', 400: 'The flow is disabled' } },
  { method: 'GET', path: `/self-service/${kind}/browser`, operationId: `createBrowser${cap(kind)}Flow`, summary: `Create a ${kind} flow for browsers (SPA: Accept: application/json)`, tags: SESSION, query: CreateQuery, responses: { 200: 'The flow (SPA)', 303: kind === 'settings' ? 'To the UI with the flow, or to login without a session' : 'To the UI with the flow', 401: 'No active session (SPA)' } },
  { method: 'GET', path: `/self-service/${kind}/flows`, operationId: `get${cap(kind)}Flow`, summary: `Get a ${kind} flow`, tags: SESSION, query: FlowQuery, responses: { 200: 'The flow', 403: 'CSRF violation', 404: 'No such flow', 410: 'The flow expired' } },
  {
    method: 'POST',
    path: `/self-service/${kind}`,
    operationId: `update${cap(kind)}Flow`,
    summary: `Submit a ${kind} flow`,
    tags: SESSION,
    query: SubmitQuery,
    body: { schema: Submission, contentType: SUBMIT_TYPES },
    responses:
      kind === 'settings'
        ? { 200: 'The flow, saved', 303: 'Onward (browser)', 400: 'The flow with messages', 401: 'No active session', 403: 'CSRF violation, or session_refresh_required (with redirect_browser_to)', 410: 'The flow expired' }
        : { 200: kind === 'recovery' ? 'The flow (code sent), or recovered: continue_with set_ory_session_token and show_settings_ui' : 'The flow (code sent, or verified)', 303: 'Onward (browser)', 400: 'The flow with messages', 403: 'CSRF violation', 410: 'The flow expired', 429: 'Too many messages to this address' },
  },
])
const links: Operation[] = (['login', 'recovery', 'verification'] as const).map((kind) => ({
  method: 'GET',
  path: `/self-service/${kind}`,
  operationId: `open${cap(kind)}Link`,
  summary: kind === 'login' ? 'Open the login magic link (logs in only the browser that started the flow; elsewhere shows the code)' : `Open a ${kind} link from a message`,
  tags: SESSION,
  query: LinkQuery,
  responses: { 200: 'A page with the code (another browser)', 303: 'Onward', 400: 'Not a link of an installed method' },
}))

const RecoveryBody = v.object({
  identity_id: v.pipe(v.string(), d('The identity to recover.')),
  expires_in: v.optional(v.pipe(v.string(), d('How long the code or link is valid: a duration such as 1h or 15m (default: the flow lifespan).'))),
  flow_type: v.optional(v.pipe(v.picklist(['api', 'browser']), d('The recovery flow type (default browser).'))),
})
admin.push(
  { method: 'POST', path: '/admin/recovery/code', operationId: 'createRecoveryCodeForIdentity', summary: 'Create a recovery code for an identity', tags: IDENTITY, body: RecoveryBody, responses: { 201: 'recovery_link, recovery_code, expires_at', 400: 'Invalid request, or recovery by code is not installed', 404: 'No such identity' } },
  { method: 'POST', path: '/admin/recovery/link', operationId: 'createRecoveryLinkForIdentity', summary: 'Create a recovery link for an identity', tags: IDENTITY, body: RecoveryBody, responses: { 201: 'recovery_link, expires_at', 400: 'Invalid request, or recovery by link is not installed', 404: 'No such identity' } },
)

const FlowErrorQuery = v.object({ id: v.pipe(v.string(), d('The error id (from the error page URL); `stub:500` gives a stub error.')) })

const publicOps: Operation[] = [
  ...flows,
  ...accountFlows,
  ...links,
  { method: 'GET', path: '/.well-known/tessera/session-jwks.json', operationId: 'getSessionJwks', summary: 'The keys that sign tokenized sessions', tags: SESSION, responses: { 200: 'A JWK set' } },
  { method: 'GET', path: '/sessions/whoami', operationId: 'toSession', summary: 'The session of the caller (cookie or X-Session-Token)', tags: SESSION, query: Whoami, responses: { 200: 'The session', 401: 'No active session' } },
  { method: 'GET', path: '/sessions', operationId: 'listMySessions', summary: "The caller's other active sessions", tags: SESSION, responses: { 200: 'The sessions', 401: 'No active session' } },
  { method: 'DELETE', path: '/sessions', operationId: 'disableMyOtherSessions', summary: "Revoke the caller's other sessions", tags: SESSION, responses: { 200: 'How many were revoked', 401: 'No active session' } },
  { method: 'DELETE', path: '/sessions/:id', operationId: 'disableMySession', summary: "Revoke one of the caller's other sessions", tags: SESSION, responses: { 204: 'Revoked', 400: 'The current session (use logout)', 401: 'No active session', 404: 'No such session' } },
  { method: 'GET', path: '/self-service/logout/browser', operationId: 'createBrowserLogoutFlow', summary: 'A logout URL for a browser', tags: SESSION, query: LogoutQuery, responses: { 200: 'The logout URL and token', 400: 'return_to not allowed', 401: 'No active session' } },
  { method: 'GET', path: '/self-service/logout', operationId: 'updateLogoutFlow', summary: 'Log a browser out', tags: SESSION, query: LogoutToken, responses: { 204: 'Logged out (SPA)', 303: 'Logged out, onward', 403: 'The token is not for this session' } },
  { method: 'DELETE', path: '/self-service/logout/api', operationId: 'performNativeLogout', summary: 'Log a native app out', tags: SESSION, body: NativeLogout, responses: { 204: 'Logged out', 400: 'No session token', 403: 'The session token is not active' } },
  { method: 'GET', path: '/self-service/errors', operationId: 'getFlowError', summary: 'A self-service error a browser was sent to the error page with', tags: SESSION, query: FlowErrorQuery, responses: { 200: 'The error (flowError: id, error, created_at, updated_at)', 404: 'No such error' } },
  { method: 'GET', path: '/schemas', operationId: 'listIdentitySchemas', summary: 'The identity schemas', tags: IDENTITY, responses: { 200: 'The schemas' } },
  { method: 'GET', path: '/schemas/:id', operationId: 'getIdentitySchema', summary: 'An identity schema', tags: IDENTITY, responses: { 200: 'The schema', 404: 'No such schema' } },
]

export const identityOperations: Operations = { public: publicOps, admin }

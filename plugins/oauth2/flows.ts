/**
 * Hydra's login and consent state machine, one `oauth2_flows` row per authorization request:
 *
 *   /oauth2/auth ─▶ login challenge ─(accept|reject)─▶ login verifier ─▶ /oauth2/auth
 *                ─▶ consent challenge ─(accept|reject)─▶ consent verifier ─▶ /oauth2/auth ─▶ code
 *
 * Challenges and verifiers are random, single-purpose and stored as SHA-256. A verifier is good once, and only
 * in the browser that started the request (the CSRF cookie, whose hash the row keeps). Remembered logins
 * (`oauth2_login_sessions`) and consents (`oauth2_consents`) let later requests skip a step.
 */
import { type ScopedDb, randomToken, sha256HexSync, sql } from 'tessera'

export type FlowState = 'login_unused' | 'login_handled' | 'consent_unused' | 'consent_handled' | 'done'

/** The validated authorization request, as the flow keeps it. */
export interface AuthRequest {
  client_id: string
  redirect_uri: string
  response_mode: 'query' | 'form_post'
  scope: string[]
  audience: string[]
  state?: string
  nonce?: string
  code_challenge?: string
  code_challenge_method?: 'S256' | 'plain'
  prompt: string[]
  max_age?: number
  login_hint?: string
  acr_values: string[]
  ui_locales: string[]
  display?: string
  id_token_hint_claims?: Record<string, unknown>
  /** The authorization URL as the browser asked for it (Hydra's `request_url`). */
  request_url: string
  requested_at: string
  /** A device flow's (RFC 8628): the device code's hash; login and consent then end on the device code. */
  device_code_hash?: string
}

/** A rejection as the login or consent app sent it (Hydra's `rejectOAuth2Request`). */
export interface Rejection {
  error: string
  error_description: string
  error_hint?: string
  error_debug?: string
  status_code?: number
}

export interface LoginResult {
  subject: string
  remember: boolean
  remember_for: number
  acr?: string
  amr: string[]
  context: unknown
  identity_provider_session_id?: string
  /** Seconds since the epoch: when the subject authenticated (the remembered session's time when skipped). */
  auth_time: number
  extend_session_lifespan?: boolean
  error?: Rejection
}

export interface ConsentResult {
  grant_scope: string[]
  grant_access_token_audience: string[]
  session: { access_token?: Record<string, unknown>; id_token?: Record<string, unknown> }
  remember: boolean
  remember_for: number
  context: unknown
  handled_at: string
  error?: Rejection
}

export interface FlowRow {
  id: string
  state: FlowState
  client_id: string
  request: AuthRequest
  subject: string | null
  login_session_id: string | null
  login: (LoginResult & { skip: boolean; challenge_subject?: string }) | null
  consent: (ConsentResult & { skip: boolean }) | null
  csrf_hash: string
  requested_at: Date
  expires_at: Date
}

const hash = (s: string) => sha256HexSync(s)
const COLUMNS = sql`id, state, client_id, request, subject, login_session_id, login, consent, csrf_hash, requested_at, expires_at`

export class FlowRepo {
  constructor(private readonly db: ScopedDb) {}

  /** Start a flow: the login challenge and the CSRF value the browser keeps in a cookie. */
  async create(request: AuthRequest, lifespanSeconds: number, prior: { skip: boolean; subject?: string; loginSessionId?: string; authTime?: number }): Promise<{ id: string; challenge: string; csrf: string }> {
    const id = crypto.randomUUID().replaceAll('-', '')
    const challenge = randomToken(32)
    const csrf = randomToken(32)
    const now = new Date()
    const login = { skip: prior.skip, challenge_subject: prior.subject, auth_time: prior.authTime }
    await this.db.exec(sql`INSERT INTO oauth2_flows (nid, id, state, client_id, request, subject, login_session_id, login_challenge_hash, login_verifier_hash, consent_challenge_hash, consent_verifier_hash, login, consent, csrf_hash, requested_at, expires_at)
      VALUES (${this.db.nid}, ${id}, ${'login_unused'}, ${request.client_id}, ${sql.json(request)}, ${prior.subject ?? null}, ${prior.loginSessionId ?? null}, ${hash(challenge)}, ${null}, ${null}, ${null}, ${sql.json(login)}, ${null}, ${hash(csrf)}, ${now}, ${new Date(now.getTime() + lifespanSeconds * 1000)})`)
    return { id, challenge, csrf }
  }

  byLoginChallenge(challenge: string) {
    return this.db.one<FlowRow>(sql`SELECT ${COLUMNS} FROM oauth2_flows WHERE nid = ${this.db.nid} AND login_challenge_hash = ${hash(challenge)}`)
  }
  byConsentChallenge(challenge: string) {
    return this.db.one<FlowRow>(sql`SELECT ${COLUMNS} FROM oauth2_flows WHERE nid = ${this.db.nid} AND consent_challenge_hash = ${hash(challenge)}`)
  }

  /** Record the login app's answer (accept or reject); a new verifier each time, until the browser used one. */
  async handleLogin(id: string, login: FlowRow['login'], subject: string | null): Promise<string | null> {
    const verifier = randomToken(32)
    const r = await this.db.exec(sql`UPDATE oauth2_flows SET state = ${'login_handled'}, login = ${sql.json(login)}, subject = ${subject}, login_verifier_hash = ${hash(verifier)}
      WHERE nid = ${this.db.nid} AND id = ${id} AND state IN (${'login_unused'}, ${'login_handled'})`)
    return r.rowCount === 1 ? verifier : null
  }

  /** Use a login verifier (once): the flow moves on to consent with a new challenge. */
  async useLoginVerifier(verifier: string, loginSessionId: string | null): Promise<{ row: FlowRow; consentChallenge: string } | null> {
    const row = await this.db.one<FlowRow>(sql`SELECT ${COLUMNS} FROM oauth2_flows WHERE nid = ${this.db.nid} AND login_verifier_hash = ${hash(verifier)}`)
    if (!row || row.state !== 'login_handled') return null
    const consentChallenge = randomToken(32)
    const r = await this.db.exec(sql`UPDATE oauth2_flows SET state = ${'consent_unused'}, consent_challenge_hash = ${hash(consentChallenge)}, login_session_id = ${loginSessionId}
      WHERE nid = ${this.db.nid} AND id = ${row.id} AND state = ${'login_handled'}`)
    if (r.rowCount !== 1) return null
    return { row: { ...row, state: 'consent_unused', login_session_id: loginSessionId }, consentChallenge }
  }

  async handleConsent(id: string, consent: FlowRow['consent']): Promise<string | null> {
    const verifier = randomToken(32)
    const r = await this.db.exec(sql`UPDATE oauth2_flows SET state = ${'consent_handled'}, consent = ${sql.json(consent)}, consent_verifier_hash = ${hash(verifier)}
      WHERE nid = ${this.db.nid} AND id = ${id} AND state IN (${'consent_unused'}, ${'consent_handled'})`)
    return r.rowCount === 1 ? verifier : null
  }

  /** Use a consent verifier (once): the flow is done. */
  async useConsentVerifier(verifier: string): Promise<FlowRow | null> {
    const row = await this.db.one<FlowRow>(sql`SELECT ${COLUMNS} FROM oauth2_flows WHERE nid = ${this.db.nid} AND consent_verifier_hash = ${hash(verifier)}`)
    if (!row || row.state !== 'consent_handled') return null
    const r = await this.db.exec(sql`UPDATE oauth2_flows SET state = ${'done'} WHERE nid = ${this.db.nid} AND id = ${row.id} AND state = ${'consent_handled'}`)
    return r.rowCount === 1 ? row : null
  }

  // Remembered logins (Hydra's authentication sessions).

  async loginSession(id: string) {
    return this.db.one<LoginSessionRow>(sql`SELECT id, subject, identity_session_id, remember, acr, amr, authenticated_at, expires_at FROM oauth2_login_sessions WHERE nid = ${this.db.nid} AND id = ${id}`)
  }
  async loginSessionOfIdentitySession(identitySessionId: string) {
    return this.db.one<LoginSessionRow>(sql`SELECT id, subject, identity_session_id, remember, acr, amr, authenticated_at, expires_at FROM oauth2_login_sessions WHERE nid = ${this.db.nid} AND identity_session_id = ${identitySessionId}`)
  }
  async putLoginSession(s: LoginSessionRow): Promise<void> {
    const n = await this.db.exec(sql`UPDATE oauth2_login_sessions SET subject = ${s.subject}, remember = ${s.remember}, acr = ${s.acr}, amr = ${sql.json(s.amr)}, authenticated_at = ${s.authenticated_at}, expires_at = ${s.expires_at}
      WHERE nid = ${this.db.nid} AND id = ${s.id}`)
    if (n.rowCount === 0) {
      await this.db.exec(sql`INSERT INTO oauth2_login_sessions (nid, id, subject, identity_session_id, remember, acr, amr, authenticated_at, expires_at)
        VALUES (${this.db.nid}, ${s.id}, ${s.subject}, ${s.identity_session_id}, ${s.remember}, ${s.acr}, ${sql.json(s.amr)}, ${s.authenticated_at}, ${s.expires_at})`)
    }
  }
  async deleteLoginSessions(by: { subject?: string; sid?: string }): Promise<number> {
    if (by.sid) return (await this.db.exec(sql`DELETE FROM oauth2_login_sessions WHERE nid = ${this.db.nid} AND id = ${by.sid}`)).rowCount
    return (await this.db.exec(sql`DELETE FROM oauth2_login_sessions WHERE nid = ${this.db.nid} AND subject = ${by.subject!}`)).rowCount
  }

  // Consents (Hydra's consent sessions).

  async insertConsent(c: ConsentRow): Promise<void> {
    await this.db.exec(sql`INSERT INTO oauth2_consents (nid, id, subject, client_id, login_session_id, granted_scope, granted_audience, session, remember, remember_until, revoked, handled_at)
      VALUES (${this.db.nid}, ${c.id}, ${c.subject}, ${c.client_id}, ${c.login_session_id}, ${sql.json(c.granted_scope)}, ${sql.json(c.granted_audience)}, ${sql.json(c.session)}, ${c.remember}, ${c.remember_until}, ${false}, ${c.handled_at})`)
  }

  /** A remembered, unrevoked, unexpired consent of `subject` to `client` that covers the request. */
  async rememberedConsent(subject: string, clientId: string, scope: readonly string[], audience: readonly string[]): Promise<ConsentRow | undefined> {
    const rows = await this.db.query<ConsentRow>(sql`SELECT id, subject, client_id, login_session_id, granted_scope, granted_audience, session, remember, remember_until, revoked, handled_at
      FROM oauth2_consents WHERE nid = ${this.db.nid} AND subject = ${subject} AND client_id = ${clientId} AND remember = ${true} AND revoked = ${false} ORDER BY handled_at DESC`)
    const now = Date.now()
    return rows.find((c) => (!c.remember_until || c.remember_until.getTime() > now) && scope.every((s) => c.granted_scope.includes(s)) && audience.every((a) => c.granted_audience.includes(a)))
  }

  /** Newest first; `after` (the last row of the previous page) and `limit` page through them. */
  async consents(subject: string, loginSessionId?: string, page: { limit?: number; after?: { handledAt: Date; id: string } } = {}): Promise<ConsentRow[]> {
    const after = page.after ? sql`AND (handled_at < ${page.after.handledAt} OR (handled_at = ${page.after.handledAt} AND id > ${page.after.id}))` : sql``
    return this.db.query<ConsentRow>(sql`SELECT id, subject, client_id, login_session_id, granted_scope, granted_audience, session, remember, remember_until, revoked, handled_at
      FROM oauth2_consents WHERE nid = ${this.db.nid} AND subject = ${subject} AND revoked = ${false} ${loginSessionId ? sql`AND login_session_id = ${loginSessionId}` : sql``} ${after} ORDER BY handled_at DESC, id LIMIT ${page.limit ?? 1000}`)
  }

  /**
   * Revoke consents of `subject` (to one client, or one consent request, or all) and every token and code they
   * granted: a consent's tokens all carry its id (the whole chain).
   */
  async revokeConsents(subject: string, by: { clientId?: string; consentId?: string }): Promise<number> {
    return this.db.transaction(async (tx) => {
      const where = sql`nid = ${tx.nid} AND subject = ${subject} AND revoked = ${false} ${by.clientId ? sql`AND client_id = ${by.clientId}` : sql``} ${by.consentId ? sql`AND id = ${by.consentId}` : sql``}`
      const ids = (await tx.query<{ id: string }>(sql`SELECT id FROM oauth2_consents WHERE ${where}`)).map((r) => r.id)
      if (ids.length === 0) return 0
      await tx.exec(sql`UPDATE oauth2_consents SET revoked = ${true} WHERE nid = ${tx.nid} AND id IN ${sql.in(ids)}`)
      await tx.exec(sql`UPDATE oauth2_access_tokens SET active = ${false} WHERE nid = ${tx.nid} AND consent_id IN ${sql.in(ids)}`)
      await tx.exec(sql`UPDATE oauth2_refresh_tokens SET active = ${false} WHERE nid = ${tx.nid} AND consent_id IN ${sql.in(ids)}`)
      await tx.exec(sql`UPDATE oauth2_authorization_codes SET active = ${false} WHERE nid = ${tx.nid} AND consent_id IN ${sql.in(ids)}`)
      return ids.length
    })
  }

  async sweep(): Promise<void> {
    const now = new Date()
    await this.db.exec(sql`DELETE FROM oauth2_flows WHERE nid = ${this.db.nid} AND expires_at < ${now}`)
    await this.db.exec(sql`DELETE FROM oauth2_login_sessions WHERE nid = ${this.db.nid} AND expires_at < ${now}`)
  }
}

export interface LoginSessionRow {
  id: string
  subject: string
  identity_session_id: string | null
  remember: boolean
  acr: string | null
  amr: string[]
  authenticated_at: Date
  expires_at: Date
}

export interface ConsentRow {
  /** Hydra's consent_request_id: the flow's id. */
  id: string
  subject: string
  client_id: string
  login_session_id: string | null
  granted_scope: string[]
  granted_audience: string[]
  /** `{ session, context, remember_for, consent_request }` as Hydra's consent session shows them. */
  session: Record<string, unknown>
  remember: boolean
  remember_until: Date | null
  revoked: boolean
  handled_at: Date
}

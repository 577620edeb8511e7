/**
 * Tokens: issuing access tokens (opaque `ory_at_…` or RFC 9068 JWTs) and refresh tokens (`ory_rt_…`),
 * rotating refresh tokens with reuse detection, introspection and revocation. Every token is stored as the
 * SHA-256 of its whole value (`signature`; an opaque access token's is prefixed with the issue time the token
 * carries, see `signatureOf`); the value itself is only ever in the response that issued it.
 *
 * This is the module the next parts issue through: the authorization_code, device_code and jwt-bearer grants
 * call `issue()` with the chain they start (or continue), and a reused code revokes with `revokeChain()`.
 */
import { type Awaitable, OAuth2Error, type ScopedDb, type Sql, randomToken, sha256HexSync, sql } from 'tessera'
import type { Client, LifespanField } from './clients.ts'
import { signJwt } from './keys.ts'
import type { OAuth2 } from './oauth2.ts'
import { ACCESS_TOKEN_SET } from './options.ts'

export const ACCESS_PREFIX = 'ory_at_'
export const REFRESH_PREFIX = 'ory_rt_'
export const MAX_TOKEN_LENGTH = 8192

/** Hydra's invalid_grant, `why` saying which check refused the grant (every grant handler answers so). */
export const invalidGrant = (why: string) => new OAuth2Error('invalid_grant', `The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client. ${why}`)

/** An opaque access token: the prefix, its issue time (12 hex digits of milliseconds), 43 random characters. */
const TIMED_ACCESS = /^ory_at_[0-9a-f]{12}[A-Za-z0-9_-]{43}$/
const TIMED_ACCESS_LENGTH = ACCESS_PREFIX.length + 12 + 43

const MEMO = { memo: true } as const

/** A new opaque access token: 256 random bits after its issue time (see `signatureOf`). */
export const newAccessToken = (now: Date) => ACCESS_PREFIX + now.getTime().toString(16).padStart(12, '0').slice(-12) + randomToken(32)

/**
 * The stored form of a token: SHA-256 of its value, hex. An opaque access token's is prefixed with the issue
 * time its value carries, so that the rows issued one after the other land next to each other at the end of
 * the primary key instead of each on a random page (an INSERT at a random place of a large index cost SQLite
 * about four times as much). The prefix is not secret (like a JWT's `iat`); the token is still only stored hashed.
 */
export function signatureOf(token: string): string {
  const hash = sha256HexSync(token)
  return token.length === TIMED_ACCESS_LENGTH && TIMED_ACCESS.test(token) ? token.slice(ACCESS_PREFIX.length, ACCESS_PREFIX.length + 12) + hash : hash
}

/** `authorization_code` → `authorization_code_grant` (Hydra's per-client lifespan field prefix). */
const LIFESPAN_PREFIX: Record<string, string> = {
  authorization_code: 'authorization_code_grant',
  client_credentials: 'client_credentials_grant',
  refresh_token: 'refresh_token_grant',
  implicit: 'implicit_grant',
  'urn:ietf:params:oauth:grant-type:device_code': 'device_authorization_grant',
  'urn:ietf:params:oauth:grant-type:jwt-bearer': 'jwt_bearer_grant',
}

export interface IssueRequest {
  client: Client
  /** The resource owner: an identity id, or the client id for client_credentials. */
  subject: string
  grantType: string
  scope: readonly string[]
  audience: readonly string[]
  /** Extra claims for introspection (`ext`) and JWT access tokens (Hydra's `session.access_token`). */
  ext?: Record<string, unknown>
  /** What the next refresh needs to rebuild the session (ID token claims, auth time, …). */
  session?: Record<string, unknown>
  /** The grant's chain; a new one is started when absent. */
  chainId?: string
  /** Also issue a refresh token. */
  refresh?: boolean
  /** The consent this grant came from (revoking the consent revokes the chain). */
  consentId?: string
  /** The refresh token this issuance rotates (recorded on the access token). */
  fromRefresh?: string
  issuer: string
}

export interface TokenResponse {
  access_token: string
  token_type: 'bearer'
  expires_in: number
  scope: string
  refresh_token?: string
  id_token?: string
}

interface AccessRow {
  chain_id: string
  client_id: string
  subject: string
  grant_type: string
  scope: string
  audience: string[]
  ext: Record<string, unknown>
  active: boolean
  issued_at: Date
  expires_at: Date
}
/** What introspection reads. */
type IntrospectRow = Omit<AccessRow, 'chain_id' | 'grant_type'>
interface RefreshRow extends AccessRow {
  signature: string
  session: Record<string, unknown>
  consent_id: string | null
  used_at: Date | null
}

const INACTIVE = { active: false } as const
export type Introspection = typeof INACTIVE | ({ active: true } & Record<string, unknown>)

const secs = (d: Date) => Math.floor(d.getTime() / 1000)

/** At most this many access tokens are written by one statement (14 parameters a row). */
const MAX_BATCH = 64
/** Access tokens waiting for their INSERT: the rows issued on one connection in one turn of the event loop. */
interface Batch {
  db: ScopedDb
  rows: { values: Sql; resolve: () => void; reject: (e: unknown) => void }[]
}

export class Tokens {
  /** Batches by the connection (or transaction) they are written on: a batch never crosses a transaction. */
  readonly #batches = new WeakMap<object, Batch>()

  constructor(private readonly o: OAuth2) {}

  /**
   * Store an access token row. Rows stored in the same turn of the event loop on the same handle share one
   * multi-row INSERT (one statement, so one implicit transaction on SQLite and one round trip on PostgreSQL):
   * under load the write's fixed cost is paid once for many tokens. The promise settles when the row is
   * written, so a token is never answered before it can be introspected.
   */
  #storeAccess(db: ScopedDb, values: Sql): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const key = db.unscoped
      let batch = this.#batches.get(key)
      if (!batch) {
        batch = { db, rows: [] }
        this.#batches.set(key, batch)
        const b = batch
        setImmediate(() => {
          if (this.#batches.get(key) === b) this.#batches.delete(key)
          if (b.rows.length) void this.#flush(b)
        })
      }
      batch.rows.push({ values, resolve, reject })
      if (batch.rows.length >= MAX_BATCH) {
        this.#batches.delete(key)
        void this.#flush(batch)
      }
    })
  }

  async #flush(b: Batch): Promise<void> {
    const rows = b.rows.splice(0)
    try {
      await b.db.exec(sql`INSERT INTO oauth2_access_tokens (nid, signature, chain_id, refresh_signature, client_id, subject, grant_type, scope, audience, ext, consent_id, active, issued_at, expires_at)
        VALUES ${sql.join(rows.map((r) => r.values))}`)
      for (const r of rows) r.resolve()
    } catch (e) {
      if (rows.length === 1) return rows[0]!.reject(e)
      // one bad row must not fail the others: each on its own, each with its own answer
      for (const r of rows) {
        await b.db.exec(sql`INSERT INTO oauth2_access_tokens (nid, signature, chain_id, refresh_signature, client_id, subject, grant_type, scope, audience, ext, consent_id, active, issued_at, expires_at)
          VALUES ${r.values}`).then(r.resolve, r.reject)
      }
    }
  }

  /** The lifespan (seconds) of a token kind for a grant: the client's Hydra lifespan field, else the option. */
  lifespan(client: Client, grantType: string, kind: 'access_token' | 'refresh_token' | 'id_token'): number {
    const prefix = LIFESPAN_PREFIX[grantType]
    const field = prefix ? (`${prefix}_${kind}_lifespan` as LifespanField) : undefined
    const own = field ? client[field] : undefined
    if (typeof own === 'string') return this.o.durationSeconds(own)
    const l = this.o.options.lifespans
    return kind === 'access_token' ? l.accessToken : kind === 'refresh_token' ? l.refreshToken : l.idToken
  }

  strategyOf(client: Client): 'opaque' | 'jwt' {
    return client.access_token_strategy === 'jwt' || client.access_token_strategy === 'opaque' ? client.access_token_strategy : this.o.options.accessTokenStrategy
  }

  /** Issue an access token (and a refresh token when asked) on `db` (a transaction, when the caller has one). */
  async issue(db: ScopedDb, r: IssueRequest): Promise<TokenResponse> {
    const now = new Date()
    // time-ordered: a new chain's id lands at the end of the chain index instead of on a random page
    const chainId = r.chainId ?? Bun.randomUUIDv7()
    const accessSeconds = this.lifespan(r.client, r.grantType, 'access_token')
    const expires = new Date(now.getTime() + accessSeconds * 1000)
    const scope = r.scope.join(' ')
    const ext = r.ext ?? {}
    let access: string
    if (this.strategyOf(r.client) === 'jwt') {
      access = await signJwt(
        this.o.keys,
        db.nid,
        ACCESS_TOKEN_SET,
        {
          ...ext,
          iss: r.issuer,
          sub: r.subject,
          aud: [...r.audience],
          exp: secs(expires),
          iat: secs(now),
          nbf: secs(now),
          jti: crypto.randomUUID(),
          client_id: r.client.client_id,
          scope,
          scp: [...r.scope],
        },
        { typ: 'at+jwt', alg: this.o.options.keys.algorithm },
      )
    } else {
      access = newAccessToken(now)
    }
    const out: TokenResponse = { access_token: access, token_type: 'bearer', expires_in: accessSeconds, scope }
    let refreshSig: string | null = null
    if (r.refresh) {
      const refresh = REFRESH_PREFIX + randomToken(32)
      refreshSig = signatureOf(refresh)
      const rexp = new Date(now.getTime() + this.lifespan(r.client, r.grantType, 'refresh_token') * 1000)
      await db.exec(sql`INSERT INTO oauth2_refresh_tokens (nid, signature, chain_id, client_id, subject, grant_type, scope, audience, ext, session, consent_id, active, used_at, issued_at, expires_at)
        VALUES (${db.nid}, ${refreshSig}, ${chainId}, ${r.client.client_id}, ${r.subject}, ${r.grantType}, ${scope}, ${sql.json(r.audience)}, ${sql.json(ext)}, ${sql.json(r.session ?? {})}, ${r.consentId ?? null}, ${true}, ${null}, ${now}, ${rexp})`)
      out.refresh_token = refresh
    }
    await this.#storeAccess(db, sql`(${db.nid}, ${signatureOf(access)}, ${chainId}, ${refreshSig ?? r.fromRefresh ?? null}, ${r.client.client_id}, ${r.subject}, ${r.grantType}, ${scope}, ${sql.json(r.audience)}, ${sql.json(ext)}, ${r.consentId ?? null}, ${true}, ${now}, ${expires})`)
    return out
  }

  /**
   * RFC 7662: what a resource server may know about `token`. Anything not active — expired, revoked, foreign
   * (another tenant's), junk, or lacking a required scope — is exactly `{ active: false }`. Synchronous on SQLite.
   */
  introspect(db: ScopedDb, token: string, issuer: string, requiredScopes: readonly string[] = []): Awaitable<Introspection> {
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return INACTIVE
    const sig = signatureOf(token)
    const q = sql`SELECT client_id, subject, scope, audience, ext, active, issued_at, expires_at FROM oauth2_access_tokens WHERE nid = ${db.nid} AND signature = ${sig}`
    const answer = (row: IntrospectRow | undefined, use: 'access_token' | 'refresh_token'): Introspection => {
      if (!row || !row.active || row.expires_at.getTime() <= Date.now()) return INACTIVE
      const granted = row.scope === '' ? [] : row.scope.split(' ')
      for (const s of requiredScopes) if (!granted.includes(s)) return INACTIVE
      const out: Record<string, unknown> = {
        active: true,
        scope: row.scope,
        client_id: row.client_id,
        sub: row.subject,
        exp: secs(row.expires_at),
        iat: secs(row.issued_at),
        nbf: secs(row.issued_at),
        // the row may be the driver's memo (frozen, shared): what leaves is a copy
        aud: row.audience.slice(),
        iss: issuer,
        token_type: use === 'access_token' ? 'Bearer' : 'Refresh',
        token_use: use,
      }
      if (row.ext && Object.keys(row.ext).length > 0) out.ext = structuredClone(row.ext)
      return out as Introspection
    }
    const refreshQ = sql`SELECT client_id, subject, scope, audience, ext, active, issued_at, expires_at FROM oauth2_refresh_tokens WHERE nid = ${db.nid} AND signature = ${sig}`
    // one statement in the common case, so no read transaction around it (a BEGIN and a COMMIT would cost
    // about half as much as the lookup); a token is in one table or the other, the two reads need not agree.
    // A token is introspected again and again (every call of a resource server): the driver may answer from
    // its memo while nothing has changed in the database since (exact: see Queryable.querySync)
    const a = db.querySync<IntrospectRow>(q, MEMO)
    if (a !== null) {
      if (a[0] || !token.startsWith(REFRESH_PREFIX)) return answer(a[0], 'access_token')
      const rr = db.querySync<IntrospectRow>(refreshQ, MEMO)
      if (rr !== null) return answer(rr[0], 'refresh_token')
    }
    return (async () => {
      const a = await db.one<IntrospectRow>(q)
      if (a || !token.startsWith(REFRESH_PREFIX)) return answer(a, 'access_token')
      return answer(await db.one<IntrospectRow>(refreshQ), 'refresh_token')
    })()
  }

  /**
   * The refresh_token grant: the presented token is used up and a new pair issued in the same chain. A token
   * already used (rotated) is a replay: its whole chain is revoked (RFC 9700 §4.14.2) and the grant refused.
   */
  async refresh(db: ScopedDb, client: Client, token: string, requested: string[] | undefined, issuer: string): Promise<{ tokens: TokenResponse; subject: string }> {
    if (!token.startsWith(REFRESH_PREFIX) || token.length > MAX_TOKEN_LENGTH) throw invalidGrant('The refresh token is malformed or unknown.')
    const sig = signatureOf(token)
    const row = await db.one<RefreshRow>(sql`SELECT signature, chain_id, client_id, subject, grant_type, scope, audience, ext, session, consent_id, active, used_at, issued_at, expires_at
      FROM oauth2_refresh_tokens WHERE nid = ${db.nid} AND signature = ${sig}`)
    if (!row) throw invalidGrant('The refresh token is malformed or unknown.')
    if (row.client_id !== client.client_id) throw invalidGrant('The refresh token was issued to another client.')
    if (!row.active) {
      if (row.used_at) {
        await this.revokeChain(db, row.chain_id)
        await this.o.ctx.emit('oauth2.token.revoked', { clientId: row.client_id, subject: row.subject, reason: 'refresh_token_reuse' }, { tenant: db.nid })
        throw invalidGrant('The refresh token was already used: every token of its grant has been revoked.')
      }
      throw invalidGrant('The refresh token has been revoked.')
    }
    if (row.expires_at.getTime() <= Date.now()) throw invalidGrant('The refresh token has expired.')
    const granted = row.scope === '' ? [] : row.scope.split(' ')
    const scope = requested ?? granted
    const wider = scope.filter((s) => !granted.includes(s))
    if (wider.length) throw new OAuth2Error('invalid_scope', `The requested scope is invalid, unknown, or malformed. The refresh token was not granted: ${wider.join(' ')}`)
    const result = await db.transaction(async (tx) => {
      const used = await tx.exec(sql`UPDATE oauth2_refresh_tokens SET active = ${false}, used_at = ${new Date()} WHERE nid = ${tx.nid} AND signature = ${sig} AND active = ${true}`)
      if (used.rowCount === 0) return null
      // the access tokens issued before in this chain end with the rotation (as fosite's refresh handler does)
      await tx.exec(sql`UPDATE oauth2_access_tokens SET active = ${false} WHERE nid = ${tx.nid} AND chain_id = ${row.chain_id} AND active = ${true}`)
      return this.issue(tx, {
        client,
        subject: row.subject,
        grantType: 'refresh_token',
        scope,
        audience: row.audience,
        ext: row.ext,
        session: row.session,
        chainId: row.chain_id,
        refresh: true,
        consentId: row.consent_id ?? undefined,
        issuer,
      })
    })
    if (!result) {
      // another request rotated it between our read and our write: that is a reuse too
      await this.revokeChain(db, row.chain_id)
      await this.o.ctx.emit('oauth2.token.revoked', { clientId: row.client_id, subject: row.subject, reason: 'refresh_token_reuse' }, { tenant: db.nid })
      throw invalidGrant('The refresh token was already used: every token of its grant has been revoked.')
    }
    return { tokens: result, subject: row.subject }
  }

  /** Deactivate every token of a chain. */
  async revokeChain(db: ScopedDb, chainId: string): Promise<void> {
    await db.transaction(async (tx) => {
      await tx.exec(sql`UPDATE oauth2_refresh_tokens SET active = ${false} WHERE nid = ${tx.nid} AND chain_id = ${chainId} AND active = ${true}`)
      await tx.exec(sql`UPDATE oauth2_access_tokens SET active = ${false} WHERE nid = ${tx.nid} AND chain_id = ${chainId} AND active = ${true}`)
    })
  }

  /**
   * RFC 7009 revocation by `client`. Unknown tokens are fine (nothing to do); another client's token is
   * `unauthorized_client` and stays active. A refresh token takes its chain's access tokens with it.
   */
  async revoke(db: ScopedDb, client: Client, token: string): Promise<void> {
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return
    const sig = signatureOf(token)
    const refresh = await db.one<{ client_id: string; subject: string; chain_id: string }>(sql`SELECT client_id, subject, chain_id FROM oauth2_refresh_tokens WHERE nid = ${db.nid} AND signature = ${sig}`)
    const access = refresh ? undefined : await db.one<{ client_id: string; subject: string }>(sql`SELECT client_id, subject FROM oauth2_access_tokens WHERE nid = ${db.nid} AND signature = ${sig}`)
    const found = refresh ?? access
    if (!found) return
    if (found.client_id !== client.client_id) throw new OAuth2Error('unauthorized_client', 'The client is not authorized to revoke this token: it was issued to another client.')
    if (refresh) await this.revokeChain(db, refresh.chain_id)
    else await db.exec(sql`UPDATE oauth2_access_tokens SET active = ${false} WHERE nid = ${db.nid} AND signature = ${sig}`)
    await this.o.ctx.emit('oauth2.token.revoked', { clientId: found.client_id, subject: found.subject, reason: 'revocation' }, { tenant: db.nid })
  }

  /** Every access and refresh token of a client is deleted (admin). */
  async deleteForClient(db: ScopedDb, clientId: string): Promise<number> {
    return db.transaction(async (tx) => {
      const a = await tx.exec(sql`DELETE FROM oauth2_access_tokens WHERE nid = ${tx.nid} AND client_id = ${clientId}`)
      const r = await tx.exec(sql`DELETE FROM oauth2_refresh_tokens WHERE nid = ${tx.nid} AND client_id = ${clientId}`)
      return a.rowCount + r.rowCount
    })
  }

  /** Delete what has expired (the periodic sweep), in every table of short-lived things. */
  async sweep(db: ScopedDb): Promise<void> {
    const now = new Date()
    await db.exec(sql`DELETE FROM oauth2_access_tokens WHERE nid = ${db.nid} AND expires_at < ${now}`)
    await db.exec(sql`DELETE FROM oauth2_refresh_tokens WHERE nid = ${db.nid} AND expires_at < ${now}`)
    await db.exec(sql`DELETE FROM oauth2_authorization_codes WHERE nid = ${db.nid} AND expires_at < ${now}`)
    await db.exec(sql`DELETE FROM oauth2_used_jti WHERE nid = ${db.nid} AND expires_at < ${now}`)
  }
}

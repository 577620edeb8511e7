/**
 * The identity plugin's in-process core: schemas, JSON shapes (Kratos'),
 * sessions (issue, resolve, revoke) and cookies.
 */
import { type PluginContext, type ScopedDb, TesseraError, configuredPublicBaseUrl, randomToken } from 'tessera'
import type { ActiveSession, AuthenticatorAssuranceLevel, SessionService } from 'tessera'
import type { IdentityOptions } from './options.ts'
import { AddressRepo, type AddressRow, addressJson } from './addresses.ts'
import { IdentityRepo, type IdentityRow, SessionRepo, type SessionRow } from './repo.ts'
import { type CompiledSchema, compileSchema } from './schemas.ts'
import { sessionAal } from './aal.ts'

export class IdentityCore implements SessionService {
  readonly schemas = new Map<string, CompiledSchema>()
  readonly defaultSchemaId: string
  readonly cookieName: string

  constructor(readonly ctx: PluginContext<IdentityOptions>) {
    for (const s of ctx.options.schemas) this.schemas.set(s.id, compileSchema(s))
    this.defaultSchemaId = ctx.options.defaultSchemaId ?? ctx.options.schemas[0]!.id
    if (!this.schemas.has(this.defaultSchemaId)) throw new Error(`identity: defaultSchemaId ${this.defaultSchemaId} is not among the schemas`)
    this.cookieName = ctx.options.session.cookieName
    this.publicBaseUrl = configuredPublicBaseUrl(ctx.config)
  }

  /** The public base URL from the config alone (no request at hand); with a request, `rc.publicBaseUrl`. */
  readonly publicBaseUrl: string

  /** A request's public base URL (its context's `publicBaseUrl`: the real port under `serve.public.port: 0`, the host app's origin embedded). */
  async baseUrlOf(request: Request): Promise<string> {
    return (await this.ctx.requestContext(request)).publicBaseUrl
  }

  /** An identity schema's URL; `base` is the request's public base URL where a request is at hand. */
  schemaUrl(id: string, base = this.publicBaseUrl): string {
    return `${base}/schemas/${encodeURIComponent(id)}`
  }

  /** The stored addresses of these identities, for identityJson (`addresses`). */
  async addressesOf(db: ScopedDb, ids: string[]): Promise<Map<string, StoredAddresses>> {
    const repo = new AddressRepo(db)
    const [ver, rec] = await Promise.all([repo.of('verification', ids), repo.of('recovery', ids)])
    return new Map(ids.map((id) => [id, { verification: ver.filter((r) => r.identity_id === id), recovery: rec.filter((r) => r.identity_id === id) }]))
  }

  /** identityJson with the identity's stored addresses. */
  async identityJsonStored(db: ScopedDb, i: IdentityRow, opts: Parameters<IdentityCore['identityJson']>[1] = {}) {
    return this.identityJson(i, { ...opts, addresses: (await this.addressesOf(db, [i.id])).get(i.id) })
  }

  identityJson(i: IdentityRow, opts: { admin?: boolean; addresses?: StoredAddresses; credentials?: { type: string; identifiers: string[]; version: number; created_at: Date; updated_at: Date; config?: unknown }[] } = {}) {
    const out: Record<string, unknown> = {
      id: i.id,
      schema_id: i.schema_id,
      schema_url: this.schemaUrl(i.schema_id),
      state: i.state,
      state_changed_at: i.state_changed_at ? new Date(i.state_changed_at).toISOString() : undefined,
      traits: i.traits,
      verifiable_addresses: opts.addresses ? opts.addresses.verification.map((r) => addressJson(r, 'verification')) : this.addresses(i, 'verification'),
      recovery_addresses: opts.addresses ? opts.addresses.recovery.map((r) => addressJson(r, 'recovery')) : this.addresses(i, 'recovery'),
      metadata_public: i.metadata_public ?? null,
      created_at: new Date(i.created_at).toISOString(),
      updated_at: new Date(i.updated_at).toISOString(),
      organization_id: null,
    }
    if (opts.admin) {
      out.metadata_admin = i.metadata_admin ?? null
      out.external_id = i.external_id ?? undefined
    }
    if (opts.credentials) {
      out.credentials = Object.fromEntries(
        opts.credentials.map((c) => [
          c.type,
          { type: c.type, identifiers: c.identifiers, version: c.version, created_at: new Date(c.created_at).toISOString(), updated_at: new Date(c.updated_at).toISOString(), ...(c.config ? { config: c.config } : {}) },
        ]),
      )
    }
    return out
  }

  /** Verifiable / recovery addresses derived from the traits the schema marks (identities stored before addresses were: pending). */
  private addresses(i: IdentityRow, kind: 'verification' | 'recovery') {
    const s = this.schemas.get(i.schema_id)
    if (!s) return []
    const out: Record<string, unknown>[] = []
    for (const f of s.fields) {
      const via = f.ext[kind]?.via
      if (!via) continue
      let value: unknown = i.traits
      for (const k of f.path.split('.')) value = value && typeof value === 'object' ? (value as Record<string, unknown>)[k] : undefined
      if (typeof value !== 'string') continue
      const base = { id: `${i.id}:${kind}:${f.path}`, value: value.toLowerCase(), via, created_at: new Date(i.created_at).toISOString(), updated_at: new Date(i.updated_at).toISOString() }
      out.push(kind === 'verification' ? { ...base, verified: false, status: 'pending' } : base)
    }
    return out
  }

  sessionJson(s: SessionRow, i: IdentityRow | undefined, addresses?: StoredAddresses) {
    const expires = new Date(s.expires_at)
    return {
      id: s.id,
      active: s.active && expires.getTime() > Date.now(),
      expires_at: expires.toISOString(),
      authenticated_at: new Date(s.authenticated_at).toISOString(),
      authenticator_assurance_level: s.aal,
      authentication_methods: s.methods,
      issued_at: new Date(s.issued_at).toISOString(),
      identity: i ? this.identityJson(i, { addresses }) : undefined,
      devices: s.devices,
    }
  }

  /** Issue a new session (a fresh token every time: no fixation). */
  async issueSession(db: ScopedDb, identity: IdentityRow, method: string, request: Request, ip: string | null, aal: AuthenticatorAssuranceLevel = 'aal1') {
    const now = new Date()
    const token = `ory_st_${randomToken(32)}`
    const row: SessionRow = {
      id: Bun.randomUUIDv7(),
      identity_id: identity.id,
      active: true,
      aal,
      methods: [{ method, aal, completed_at: now.toISOString() }],
      devices: [{ id: Bun.randomUUIDv7(), ip_address: ip, user_agent: request.headers.get('user-agent'), location: '' }],
      authenticated_at: now,
      issued_at: now,
      expires_at: new Date(now.getTime() + this.ctx.options.session.lifespan * 1000),
    }
    const addresses = (await this.addressesOf(db, [identity.id])).get(identity.id)
    const json = this.sessionJson(row, identity, addresses)
    await new SessionRepo(db).insert(token, row, JSON.stringify(json))
    await this.ctx.emit('session.issued', { sessionId: row.id, identityId: identity.id, method }, { tenant: db.nid })
    return { token, row, json }
  }

  /**
   * A signed-in session authenticated again: a second factor steps it up (`aal2`), a refresh renews it. The same
   * session (and token) gains the method in `authentication_methods`, its assurance is recomputed from them and
   * `authenticated_at` is now (what a privileged session is measured from).
   */
  async upgradeSession(db: ScopedDb, sessionId: string, method: string, aal: AuthenticatorAssuranceLevel) {
    const repo = new SessionRepo(db)
    const row = await repo.get(sessionId)
    if (!row) throw new TesseraError('ERR_UNAUTHORIZED', 401, 'request does not have a valid authentication session', { id: 'session_inactive', reason: 'No active session was found in this request.' })
    const now = new Date()
    const methods = [...(row.methods ?? []), { method, aal, completed_at: now.toISOString() }]
    const next: SessionRow = { ...row, methods, aal: sessionAal(methods), authenticated_at: now }
    await repo.upgrade(sessionId, next.aal, methods, now)
    const identity = await new IdentityRepo(db).get(row.identity_id)
    const addresses = (await this.addressesOf(db, [row.identity_id])).get(row.identity_id)
    const json = this.sessionJson(next, identity, addresses)
    await repo.setSnapshot(sessionId, JSON.stringify(json))
    return { row: next, json }
  }

  sessionCookie(token: string, request: Request, maxAge: number): string {
    const secure = new URL(request.url).protocol === 'https:' || this.publicBaseUrl.startsWith('https:')
    return `${this.cookieName}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure ? '; Secure' : ''}`
  }

  clearSessionCookie(): string {
    return `${this.cookieName}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`
  }

  tokenOf(request: Request): string | null {
    const h = request.headers.get('x-session-token')
    if (h) return h
    const auth = request.headers.get('authorization')
    if (auth && /^bearer /i.test(auth)) return auth.slice(7).trim()
    return cookie(request, this.cookieName)
  }

  /**
   * The active session of a token and its pre-rendered JSON (one indexed lookup, no join, nothing
   * re-rendered). Inactive identities have no active sessions: deactivating one revokes them.
   */
  async snapshot(token: string, tenant: string): Promise<{ id: string; identityId: string; aal: string; expiresAt: Date; json: string } | null> {
    const r = await new SessionRepo(this.ctx.storage.scoped(tenant)).snapshotByToken(token)
    if (!r || !r.active || !r.snapshot) return null
    const expiresAt = new Date(r.expires_at)
    if (expiresAt.getTime() <= Date.now()) return null
    return { id: r.id, identityId: r.identity_id, aal: r.aal, expiresAt, json: r.snapshot }
  }

  /** whoami: the identity id and pre-rendered JSON of a live session, or null. `db` is the request's own ScopedDb. */
  async liveSnapshot(db: ScopedDb, token: string): Promise<{ identityId: string; aal: string; json: string } | null> {
    const r = await new SessionRepo(db).liveSnapshotByToken(token, new Date())
    return r?.snapshot ? { identityId: r.identity_id, aal: r.aal, json: r.snapshot } : null
  }

  async fromToken(token: string, tenant: string): Promise<ActiveSession | null> {
    const s = await this.snapshot(token, tenant)
    if (!s) return null
    const session = JSON.parse(s.json) as Record<string, unknown> & { identity: Record<string, unknown> }
    return { id: s.id, identityId: s.identityId, aal: s.aal, expiresAt: s.expiresAt, identity: session.identity, session }
  }

  /** Re-render the snapshots of these sessions (after an extend, or when their identity changed). */
  async refreshSnapshots(db: ScopedDb, identityId: string, sessionId?: string): Promise<void> {
    const repo = new SessionRepo(db)
    const identity = await new IdentityRepo(db).get(identityId)
    const rows = sessionId ? [await repo.get(sessionId)].filter((x) => x !== undefined) : await repo.list({ identityId, active: true, limit: 10000 })
    const addresses = (await this.addressesOf(db, [identityId])).get(identityId)
    for (const row of rows) await repo.setSnapshot(row.id, JSON.stringify(this.sessionJson(row, identity, addresses)))
  }

  async fromRequest(request: Request, tenant: string): Promise<ActiveSession | null> {
    const token = this.tokenOf(request)
    return token ? this.fromToken(token, tenant) : null
  }

  async requireSession(request: Request, tenant: string): Promise<ActiveSession & { token: string }> {
    const token = this.tokenOf(request)
    const s = token ? await this.fromToken(token, tenant) : null
    if (!s || !token) throw new TesseraError('ERR_UNAUTHORIZED', 401, 'request does not have a valid authentication session', { id: 'session_inactive', reason: 'No active session was found in this request.' })
    return { ...s, token }
  }
}

/** An active session with the token it was found by. */
export type ActiveSessionWithToken = ActiveSession & { token: string }

/** An identity's stored addresses. */
export interface StoredAddresses {
  verification: AddressRow[]
  recovery: AddressRow[]
}

export function cookie(request: Request, name: string): string | null {
  return cookies(request, name)[0] ?? null
}

/**
 * Every value of cookie `name` (a browser sends several when cookies of the same name exist for
 * several paths or domains). A malformed %-escape keeps the raw value instead of failing the request.
 */
export function cookies(request: Request, name: string): string[] {
  const header = request.headers.get('cookie')
  if (!header) return []
  const out: string[] = []
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim() !== name) continue
    const raw = part.slice(eq + 1).trim()
    try {
      out.push(decodeURIComponent(raw))
    } catch {
      out.push(raw)
    }
  }
  return out
}

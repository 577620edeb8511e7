/**
 * Storage of identities, credentials and sessions, written once over `sql` for
 * SQLite and PostgreSQL. Every statement filters on the tenant (nid).
 */
import { ConflictError, type IdentityAddress, type ScopedDb, UniqueViolationError, sha256HexSync, sql } from 'tessera'
import { AddressRepo } from './addresses.ts'
import type { CompiledSchema } from './schemas.ts'

export interface IdentityRow {
  id: string
  schema_id: string
  traits: Record<string, unknown>
  state: 'active' | 'inactive'
  state_changed_at: Date | null
  metadata_public: unknown
  metadata_admin: unknown
  external_id: string | null
  created_at: Date
  updated_at: Date
}

export interface CredentialRow {
  identity_id: string
  type: string
  config: Record<string, unknown>
  version: number
  created_at: Date
  updated_at: Date
}

export interface SessionRow {
  id: string
  identity_id: string
  active: boolean
  aal: string
  methods: { method: string; aal: string; completed_at: string }[]
  devices: { id: string; ip_address: string | null; user_agent: string | null; location: string }[]
  authenticated_at: Date
  issued_at: Date
  expires_at: Date
}

const I_COLS = sql`i.id, i.schema_id, i.traits, i.state, i.state_changed_at, i.metadata_public, i.metadata_admin, i.external_id, i.created_at, i.updated_at`

export interface NewCredential {
  type: string
  config: Record<string, unknown>
  identifiers: string[]
}

export class IdentityRepo {
  constructor(private readonly db: ScopedDb) {}

  /** Store a new identity and its credentials; with its schema, its verifiable and recovery addresses too (the new verifiable ones are returned). */
  async insert(row: IdentityRow, credentials: NewCredential[], schema?: CompiledSchema): Promise<IdentityAddress[]> {
    try {
      return await this.db.transaction(async (tx) => {
        await tx.exec(sql`INSERT INTO identities (nid, id, schema_id, traits, state, state_changed_at, metadata_public, metadata_admin, external_id, created_at, updated_at)
          VALUES (${tx.nid}, ${row.id}, ${row.schema_id}, ${sql.json(row.traits)}, ${row.state}, ${row.state_changed_at}, ${sql.json(row.metadata_public ?? null)}, ${sql.json(row.metadata_admin ?? null)}, ${row.external_id}, ${row.created_at}, ${row.updated_at})`)
        for (const c of credentials) await new IdentityRepo(tx).putCredential(row.id, c)
        return schema ? new AddressRepo(tx).sync(schema, row, true) : []
      })
    } catch (e) {
      if (e instanceof UniqueViolationError) throw new ConflictError('An identity with the same identifier or external_id exists already', { id: 'identity_exists' })
      throw e
    }
  }

  /** Update an identity; with its schema, re-derive its addresses (the new verifiable ones are returned). */
  async update(row: IdentityRow, schema?: CompiledSchema): Promise<IdentityAddress[]> {
    try {
      await this.db.exec(sql`UPDATE identities SET schema_id = ${row.schema_id}, traits = ${sql.json(row.traits)}, state = ${row.state}, state_changed_at = ${row.state_changed_at},
        metadata_public = ${sql.json(row.metadata_public ?? null)}, metadata_admin = ${sql.json(row.metadata_admin ?? null)}, external_id = ${row.external_id}, updated_at = ${row.updated_at}
        WHERE nid = ${this.db.nid} AND id = ${row.id}`)
    } catch (e) {
      if (e instanceof UniqueViolationError) throw new ConflictError('An identity with the same external_id exists already', { id: 'identity_exists' })
      throw e
    }
    return schema ? new AddressRepo(this.db).sync(schema, row) : []
  }

  /** Replace the identifiers of every credential of an identity (after its traits changed). */
  async replaceIdentifiers(identityId: string, type: string, identifiers: string[]): Promise<void> {
    try {
      await this.db.transaction(async (tx) => {
        await tx.exec(sql`DELETE FROM identity_credential_identifiers WHERE nid = ${tx.nid} AND identity_id = ${identityId} AND type = ${type}`)
        for (const ident of identifiers)
          await tx.exec(sql`INSERT INTO identity_credential_identifiers (nid, type, identifier, identity_id) VALUES (${tx.nid}, ${type}, ${ident}, ${identityId})`)
      })
    } catch (e) {
      if (e instanceof UniqueViolationError) throw new ConflictError('An identity with the same identifier exists already', { id: 'identity_exists' })
      throw e
    }
  }

  async get(id: string): Promise<IdentityRow | undefined> {
    return this.db.one<IdentityRow>(sql`SELECT ${I_COLS} FROM identities i WHERE i.nid = ${this.db.nid} AND i.id = ${id}`)
  }

  async byExternalId(externalId: string): Promise<IdentityRow | undefined> {
    return this.db.one<IdentityRow>(sql`SELECT ${I_COLS} FROM identities i WHERE i.nid = ${this.db.nid} AND i.external_id = ${externalId}`)
  }

  /** Keyset pagination by id (UUIDv7, time-ordered). */
  async list(opts: { after?: string; limit: number; identifier?: string; ids?: string[] }): Promise<IdentityRow[]> {
    const after = opts.after ? sql` AND i.id > ${opts.after}` : sql.empty
    const ident = opts.identifier
      ? sql` AND i.id IN (SELECT c.identity_id FROM identity_credential_identifiers c WHERE c.nid = ${this.db.nid} AND c.identifier = ${opts.identifier})`
      : sql.empty
    const ids = opts.ids ? sql` AND i.id IN ${sql.in(opts.ids)}` : sql.empty
    return this.db.query<IdentityRow>(sql`SELECT ${I_COLS} FROM identities i WHERE i.nid = ${this.db.nid}${after}${ident}${ids} ORDER BY i.id LIMIT ${opts.limit}`)
  }

  async delete(id: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await tx.exec(sql`DELETE FROM sessions WHERE nid = ${tx.nid} AND identity_id = ${id}`)
      await tx.exec(sql`DELETE FROM identity_credential_identifiers WHERE nid = ${tx.nid} AND identity_id = ${id}`)
      await tx.exec(sql`DELETE FROM identity_credentials WHERE nid = ${tx.nid} AND identity_id = ${id}`)
      await new AddressRepo(tx).deleteAll(id)
      return (await tx.exec(sql`DELETE FROM identities WHERE nid = ${tx.nid} AND id = ${id}`)).rowCount > 0
    })
  }

  async credentials(identityIds: string[]): Promise<(CredentialRow & { identifiers: string[] })[]> {
    if (identityIds.length === 0) return []
    const rows = await this.db.query<CredentialRow>(sql`SELECT identity_id, type, config, version, created_at, updated_at FROM identity_credentials WHERE nid = ${this.db.nid} AND identity_id IN ${sql.in(identityIds)}`)
    const idents = await this.db.query<{ identity_id: string; type: string; identifier: string }>(
      sql`SELECT identity_id, type, identifier FROM identity_credential_identifiers WHERE nid = ${this.db.nid} AND identity_id IN ${sql.in(identityIds)} ORDER BY identifier`,
    )
    return rows.map((r) => ({ ...r, identifiers: idents.filter((x) => x.identity_id === r.identity_id && x.type === r.type).map((x) => x.identifier) }))
  }

  async putCredential(identityId: string, c: NewCredential): Promise<void> {
    const now = new Date()
    await this.db.exec(sql`DELETE FROM identity_credentials WHERE nid = ${this.db.nid} AND identity_id = ${identityId} AND type = ${c.type}`)
    await this.db.exec(sql`INSERT INTO identity_credentials (nid, identity_id, type, config, version, created_at, updated_at) VALUES (${this.db.nid}, ${identityId}, ${c.type}, ${sql.json(c.config)}, ${0}, ${now}, ${now})`)
    await this.replaceIdentifiers(identityId, c.type, c.identifiers)
  }

  async updateCredentialConfig(identityId: string, type: string, config: Record<string, unknown>): Promise<void> {
    await this.db.exec(sql`UPDATE identity_credentials SET config = ${sql.json(config)}, updated_at = ${new Date()} WHERE nid = ${this.db.nid} AND identity_id = ${identityId} AND type = ${type}`)
  }

  async deleteCredential(identityId: string, type: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await tx.exec(sql`DELETE FROM identity_credential_identifiers WHERE nid = ${tx.nid} AND identity_id = ${identityId} AND type = ${type}`)
      return (await tx.exec(sql`DELETE FROM identity_credentials WHERE nid = ${tx.nid} AND identity_id = ${identityId} AND type = ${type}`)).rowCount > 0
    })
  }

  /** The credential of `type` whose identifier is `identifier`, with its identity's state. One indexed lookup. */
  async findCredential(type: string, identifier: string): Promise<{ identity_id: string; config: Record<string, unknown>; state: string; traits: Record<string, unknown> } | undefined> {
    return this.db.one(sql`SELECT c.identity_id, c.config, i.state, i.traits FROM identity_credential_identifiers x
      JOIN identity_credentials c ON c.nid = x.nid AND c.identity_id = x.identity_id AND c.type = x.type
      JOIN identities i ON i.nid = x.nid AND i.id = x.identity_id
      WHERE x.nid = ${this.db.nid} AND x.type = ${type} AND x.identifier = ${identifier}`)
  }
}

export const hashToken = (token: string): string => sha256HexSync(token)

export class SessionRepo {
  constructor(private readonly db: ScopedDb) {}

  async insert(token: string, s: SessionRow, snapshot: string): Promise<void> {
    await this.db.exec(sql`INSERT INTO sessions (nid, id, token_hash, identity_id, active, aal, methods, devices, authenticated_at, issued_at, expires_at, snapshot)
      VALUES (${this.db.nid}, ${s.id}, ${hashToken(token)}, ${s.identity_id}, ${s.active}, ${s.aal}, ${sql.json(s.methods)}, ${sql.json(s.devices)}, ${s.authenticated_at}, ${s.issued_at}, ${s.expires_at}, ${snapshot})`)
  }

  /** whoami: one lookup on the unique index (nid, token_hash); the snapshot is the rendered session. */
  async snapshotByToken(token: string): Promise<{ id: string; identity_id: string; aal: string; active: boolean; expires_at: Date; snapshot: string } | undefined> {
    return this.db.one(sql`SELECT id, identity_id, aal, active, expires_at, snapshot FROM sessions WHERE nid = ${this.db.nid} AND token_hash = ${hashToken(token)}`)
  }

  /**
   * whoami's own lookup: the same unique index, but active and unexpired are decided in SQL and only the two
   * columns the response needs come back (no timestamp decoded, no row fields that go unused).
   */
  async liveSnapshotByToken(token: string, now: Date): Promise<{ identity_id: string; aal: string; snapshot: string | null } | undefined> {
    return this.db.one(sql`SELECT identity_id, aal, snapshot FROM sessions WHERE nid = ${this.db.nid} AND token_hash = ${hashToken(token)} AND active = ${true} AND expires_at > ${now}`)
  }

  async setSnapshot(id: string, snapshot: string): Promise<void> {
    await this.db.exec(sql`UPDATE sessions SET snapshot = ${snapshot} WHERE nid = ${this.db.nid} AND id = ${id}`)
  }

  async get(id: string): Promise<SessionRow | undefined> {
    return this.db.one<SessionRow>(sql`SELECT id, identity_id, active, aal, methods, devices, authenticated_at, issued_at, expires_at FROM sessions WHERE nid = ${this.db.nid} AND id = ${id}`)
  }

  async list(opts: { identityId?: string; active?: boolean; after?: string; limit: number }): Promise<SessionRow[]> {
    const ident = opts.identityId ? sql` AND identity_id = ${opts.identityId}` : sql.empty
    const active = opts.active === undefined ? sql.empty : opts.active ? sql` AND active = ${true} AND expires_at > ${new Date()}` : sql` AND (active = ${false} OR expires_at <= ${new Date()})`
    const after = opts.after ? sql` AND id > ${opts.after}` : sql.empty
    return this.db.query<SessionRow>(sql`SELECT id, identity_id, active, aal, methods, devices, authenticated_at, issued_at, expires_at FROM sessions WHERE nid = ${this.db.nid}${ident}${active}${after} ORDER BY id LIMIT ${opts.limit}`)
  }

  async deactivate(id: string, identityId?: string): Promise<boolean> {
    const ident = identityId ? sql` AND identity_id = ${identityId}` : sql.empty
    return (await this.db.exec(sql`UPDATE sessions SET active = ${false} WHERE nid = ${this.db.nid} AND id = ${id}${ident}`)).rowCount > 0
  }

  async deactivateByToken(token: string): Promise<boolean> {
    return (await this.db.exec(sql`UPDATE sessions SET active = ${false} WHERE nid = ${this.db.nid} AND token_hash = ${hashToken(token)} AND active = ${true}`)).rowCount > 0
  }

  /** Revoke every session of an identity, except `exceptId`. Returns how many. */
  async deactivateAll(identityId: string, exceptId?: string): Promise<number> {
    const except = exceptId ? sql` AND id <> ${exceptId}` : sql.empty
    return (await this.db.exec(sql`UPDATE sessions SET active = ${false} WHERE nid = ${this.db.nid} AND identity_id = ${identityId} AND active = ${true}${except}`)).rowCount
  }

  /** A step-up or refresh: the session's assurance, completed methods and authentication time. */
  async upgrade(id: string, aal: string, methods: SessionRow['methods'], authenticatedAt: Date): Promise<void> {
    await this.db.exec(sql`UPDATE sessions SET aal = ${aal}, methods = ${sql.json(methods)}, authenticated_at = ${authenticatedAt} WHERE nid = ${this.db.nid} AND id = ${id}`)
  }

  async extend(id: string, expiresAt: Date): Promise<boolean> {
    return (await this.db.exec(sql`UPDATE sessions SET expires_at = ${expiresAt} WHERE nid = ${this.db.nid} AND id = ${id}`)).rowCount > 0
  }
}

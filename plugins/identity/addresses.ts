/**
 * Verifiable and recovery addresses, stored (Kratos' `verifiable_addresses`, `recovery_addresses`): derived from
 * the traits the identity schema marks (`ory.sh/kratos.verification.via`, `recovery.via`) whenever an identity is
 * stored, keeping the state of addresses that did not change. A verifiable address moves pending → sent →
 * completed (with `verified_at`).
 */
import { type IdentityAddress, type ScopedDb, sql } from 'tessera'
import type { IdentityRow } from './repo.ts'
import { type CompiledSchema, getPath, normaliseIdentifier } from './schemas.ts'

export type AddressKind = 'verification' | 'recovery'

export interface AddressRow {
  id: string
  identity_id: string
  via: string
  value: string
  verified?: boolean
  status?: string
  verified_at?: Date | null
  created_at: Date
  updated_at: Date
}

const TABLE = { verification: sql`identity_verifiable_addresses`, recovery: sql`identity_recovery_addresses` }

/** The addresses the schema marks in these traits, normalised: `{ via, value }`, without duplicates. */
export function derivedAddresses(schema: CompiledSchema | undefined, traits: unknown, kind: AddressKind): { via: string; value: string }[] {
  if (!schema) return []
  const out = new Map<string, { via: string; value: string }>()
  for (const f of schema.fields) {
    const via = f.ext[kind]?.via
    if (!via) continue
    const raw = getPath(traits, f.path)
    for (const v of Array.isArray(raw) ? raw : [raw]) {
      if (typeof v !== 'string' || v.trim() === '') continue
      const value = normaliseIdentifier(v, via === 'email' ? 'email' : f.format)
      out.set(`${via}\u0000${value}`, { via, value })
    }
  }
  return [...out.values()]
}

export class AddressRepo {
  constructor(private readonly db: ScopedDb) {}

  async of(kind: AddressKind, identityIds: string[]): Promise<AddressRow[]> {
    if (identityIds.length === 0) return []
    const cols = kind === 'verification' ? sql`id, identity_id, via, value, verified, status, verified_at, created_at, updated_at` : sql`id, identity_id, via, value, created_at, updated_at`
    return this.db.query<AddressRow>(sql`SELECT ${cols} FROM ${TABLE[kind]} WHERE nid = ${this.db.nid} AND identity_id IN ${sql.in(identityIds)} ORDER BY value`)
  }

  async find(kind: AddressKind, value: string): Promise<IdentityAddress | undefined> {
    const cols = kind === 'verification' ? sql`identity_id, via, value, verified` : sql`identity_id, via, value`
    const row = await this.db.one<{ identity_id: string; via: string; value: string; verified?: boolean | number }>(
      sql`SELECT ${cols} FROM ${TABLE[kind]} WHERE nid = ${this.db.nid} AND value = ${value} ORDER BY created_at LIMIT 1`,
    )
    return row ? toAddress(row) : undefined
  }

  /** As `find`, with the owner's traits read in the same query (a found address costs no second read: the flows' timing stays alike). */
  async findWithTraits(kind: AddressKind, value: string): Promise<{ address: IdentityAddress; traits: Record<string, unknown> } | undefined> {
    const cols = kind === 'verification' ? sql`a.identity_id, a.via, a.value, a.verified, i.traits` : sql`a.identity_id, a.via, a.value, i.traits`
    const row = await this.db.one<{ identity_id: string; via: string; value: string; verified?: boolean | number; traits: Record<string, unknown> }>(
      sql`SELECT ${cols} FROM ${TABLE[kind]} a JOIN identities i ON i.nid = a.nid AND i.id = a.identity_id WHERE a.nid = ${this.db.nid} AND a.value = ${value} ORDER BY a.created_at LIMIT 1`,
    )
    return row ? { address: toAddress(row), traits: row.traits } : undefined
  }

  /**
   * Make the stored addresses of an identity those of its traits: unchanged ones keep their state, new ones start
   * pending, gone ones are deleted. Returns the verifiable addresses that are new (to be verified).
   */
  async sync(schema: CompiledSchema | undefined, identity: Pick<IdentityRow, 'id' | 'traits'>, fresh = false): Promise<IdentityAddress[]> {
    const added: IdentityAddress[] = []
    const now = new Date()
    for (const kind of ['verification', 'recovery'] as const) {
      const want = derivedAddresses(schema, identity.traits, kind)
      if (want.length === 0 && fresh) continue
      // A new identity has none yet: no read.
      const have = fresh ? [] : await this.of(kind, [identity.id])
      for (const h of have) {
        if (!want.some((w) => w.via === h.via && w.value === h.value)) await this.db.exec(sql`DELETE FROM ${TABLE[kind]} WHERE nid = ${this.db.nid} AND id = ${h.id}`)
      }
      for (const w of want) {
        if (have.some((h) => h.via === w.via && h.value === w.value)) continue
        if (kind === 'verification') {
          await this.db.exec(sql`INSERT INTO identity_verifiable_addresses (nid, id, identity_id, via, value, verified, status, verified_at, created_at, updated_at)
            VALUES (${this.db.nid}, ${crypto.randomUUID()}, ${identity.id}, ${w.via}, ${w.value}, ${false}, ${'pending'}, ${null}, ${now}, ${now})`)
          added.push({ identityId: identity.id, via: w.via, value: w.value, verified: false })
        } else {
          await this.db.exec(sql`INSERT INTO identity_recovery_addresses (nid, id, identity_id, via, value, created_at, updated_at)
            VALUES (${this.db.nid}, ${crypto.randomUUID()}, ${identity.id}, ${w.via}, ${w.value}, ${now}, ${now})`)
        }
      }
    }
    return added
  }

  /** A verification message went out for this address: pending → sent (a completed address stays completed). */
  async markSent(identityId: string, value: string): Promise<void> {
    await this.db.exec(sql`UPDATE identity_verifiable_addresses SET status = ${'sent'}, updated_at = ${new Date()} WHERE nid = ${this.db.nid} AND identity_id = ${identityId} AND value = ${value} AND verified = ${false}`)
  }

  /** The address was proven: completed, verified, with verified_at. */
  async markVerified(identityId: string, value: string): Promise<boolean> {
    const now = new Date()
    return (
      (await this.db.exec(sql`UPDATE identity_verifiable_addresses SET status = ${'completed'}, verified = ${true}, verified_at = ${now}, updated_at = ${now}
        WHERE nid = ${this.db.nid} AND identity_id = ${identityId} AND value = ${value}`)).rowCount > 0
    )
  }

  async deleteAll(identityId: string): Promise<void> {
    for (const kind of ['verification', 'recovery'] as const) await this.db.exec(sql`DELETE FROM ${TABLE[kind]} WHERE nid = ${this.db.nid} AND identity_id = ${identityId}`)
  }
}

function toAddress(row: { identity_id: string; via: string; value: string; verified?: boolean | number }): IdentityAddress {
  return { identityId: row.identity_id, via: row.via, value: row.value, ...(row.verified !== undefined ? { verified: row.verified === true || row.verified === 1 } : {}) }
}

/** Kratos' JSON of a stored address. */
export function addressJson(r: AddressRow, kind: AddressKind): Record<string, unknown> {
  const base = { id: r.id, value: r.value, via: r.via, created_at: new Date(r.created_at).toISOString(), updated_at: new Date(r.updated_at).toISOString() }
  if (kind === 'recovery') return base
  const verified = r.verified === true || (r.verified as unknown) === 1
  return { ...base, verified, status: r.status ?? 'pending', ...(verified && r.verified_at ? { verified_at: new Date(r.verified_at).toISOString() } : {}) }
}

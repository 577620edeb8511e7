/**
 * Migrations: each plugin ships an ordered list; a ledger table records what ran.
 *
 * `migrateUp` holds a cross-process lock (PostgreSQL advisory lock; SQLite's
 * write lock), reads the ledger inside it, and runs each pending migration in
 * its own transaction together with its ledger row. Two processes running it at
 * once therefore apply each migration exactly once, and re-running is a no-op.
 *
 * A migration is SQL written once with portable types (TEXT, INTEGER, BIGINT,
 * BOOLEAN, TIMESTAMPTZ, JSONB, BYTEA), per-dialect SQL where the two differ, or a
 * function for data migrations.
 */
import { sha256HexSync } from '../secrets.ts'
import { MigrationError } from './errors.ts'
import { sql } from './sql.ts'
import type { Database, Queryable } from './types.ts'

export type MigrationBody =
  | string
  | { sqlite: string; postgres: string }
  | ((tx: Queryable, db: Database) => Promise<void>)

export interface Migration {
  /** Ordered within its plugin: `0001_init`, `0002_add_index`. */
  id: string
  up: MigrationBody
}

export interface PluginMigrations {
  plugin: string
  migrations: readonly Migration[]
}

export interface MigrationState {
  plugin: string
  id: string
  state: 'applied' | 'pending' | 'modified' | 'unknown'
  appliedAt?: Date
}

const LEDGER_TABLE = 'tessera_migrations'
const LOCK_KEY = 'tessera:migrations'

const LEDGER_DDL = `CREATE TABLE IF NOT EXISTS ${LEDGER_TABLE} (
  plugin TEXT NOT NULL,
  id TEXT NOT NULL,
  checksum TEXT NOT NULL,
  applied_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (plugin, id)
)`

/** The SQL of a SQL migration (a function migration has none: callers run or identify it otherwise). */
function bodyText(up: Exclude<Migration['up'], (...args: never[]) => unknown>, dialect: 'sqlite' | 'postgres'): string {
  return typeof up === 'string' ? up : up[dialect]
}

/**
 * A checksum of the migration's SQL, so `migrate status` can flag a shipped migration that changed.
 * Function migrations are identified by id only: their source text changes with minification
 * (the single binary) without the migration changing.
 */
export function checksum(m: Migration, dialect: 'sqlite' | 'postgres'): string {
  return sha256HexSync(typeof m.up === 'function' ? `function:${m.id}` : bodyText(m.up, dialect)).slice(0, 16)
}

/** Ids must be unique and strictly ascending within a plugin. */
export function validateMigrations(set: PluginMigrations): void {
  let prev = ''
  for (const m of set.migrations) {
    if (!/^[A-Za-z0-9_.-]+$/.test(m.id)) {
      throw new MigrationError(`plugin ${set.plugin}: migration id ${JSON.stringify(m.id)} must match [A-Za-z0-9_.-]+`)
    }
    if (m.id <= prev) {
      throw new MigrationError(
        `plugin ${set.plugin}: migration ${m.id} must come after ${prev} (ids are unique and ascending)`,
      )
    }
    prev = m.id
  }
}

interface LedgerRow {
  plugin: string
  id: string
  checksum: string
  applied_at: Date
}

async function ledgerExists(db: Database): Promise<boolean> {
  return (await db.tables()).includes(LEDGER_TABLE)
}

async function readLedger(q: Queryable): Promise<Map<string, LedgerRow>> {
  const rows = await q.query<LedgerRow>(sql`SELECT plugin, id, checksum, applied_at FROM tessera_migrations`)
  return new Map(rows.map((r) => [`${r.plugin}\u0000${r.id}`, r]))
}

export async function migrationStatus(db: Database, sets: readonly PluginMigrations[]): Promise<MigrationState[]> {
  const dialect = db.dialect.name
  const ledger = (await ledgerExists(db)) ? await readLedger(db) : new Map<string, LedgerRow>()
  const out: MigrationState[] = []
  const known = new Set<string>()
  for (const set of sets) {
    for (const m of set.migrations) {
      const key = `${set.plugin}\u0000${m.id}`
      known.add(key)
      const row = ledger.get(key)
      if (!row) out.push({ plugin: set.plugin, id: m.id, state: 'pending' })
      else
        out.push({
          plugin: set.plugin,
          id: m.id,
          state: row.checksum === checksum(m, dialect) ? 'applied' : 'modified',
          appliedAt: row.applied_at,
        })
    }
  }
  for (const [key, row] of ledger) {
    if (!known.has(key)) out.push({ plugin: row.plugin, id: row.id, state: 'unknown', appliedAt: row.applied_at })
  }
  return out
}

export interface MigrateOptions {
  onApplied?: (plugin: string, id: string) => void
}

/** Apply every pending migration, in plugin order then list order. Returns what ran. */
export async function migrateUp(
  db: Database,
  sets: readonly PluginMigrations[],
  opts: MigrateOptions = {},
): Promise<{ plugin: string; id: string }[]> {
  for (const set of sets) validateMigrations(set)
  const dialect = db.dialect.name
  return db.withLock(LOCK_KEY, async (lockTx) => {
    await db.script(LEDGER_DDL, lockTx)
    const ledger = await readLedger(lockTx)
    const applied: { plugin: string; id: string }[] = []
    for (const set of sets) {
      for (const m of set.migrations) {
        if (ledger.has(`${set.plugin}\u0000${m.id}`)) continue
        try {
          await lockTx.transaction(async (tx) => {
            if (typeof m.up === 'function') await m.up(tx, db)
            else await db.script(bodyText(m.up, dialect), tx)
            await tx.exec(
              sql`INSERT INTO tessera_migrations (plugin, id, checksum, applied_at) VALUES (${set.plugin}, ${m.id}, ${checksum(m, dialect)}, ${new Date()})`,
            )
          })
        } catch (e) {
          throw new MigrationError(
            `migration ${set.plugin}/${m.id} failed: ${e instanceof Error ? e.message : String(e)}`,
            { cause: e },
          )
        }
        applied.push({ plugin: set.plugin, id: m.id })
        opts.onApplied?.(set.plugin, m.id)
      }
    }
    return applied
  })
}

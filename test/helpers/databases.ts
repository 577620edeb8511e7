/**
 * The databases a suite runs against. SQLite always; PostgreSQL when
 * TESSERA_TEST_POSTGRES_URL is set — each suite gets its own scratch schema,
 * dropped afterwards. Without the variable the PostgreSQL suites say they were
 * skipped; under CI (CI=true) a missing variable is an error, not a skip.
 */
import postgres from 'postgres'
import { postgresDriver } from '../../core/storage/postgres.ts'
import { SqliteDatabase } from '../../core/storage/sqlite.ts'
import type { Database } from '../../core/storage/types.ts'

export const POSTGRES_URL = process.env.TESSERA_TEST_POSTGRES_URL

if (!POSTGRES_URL && process.env.CI === 'true') {
  throw new Error('CI=true but TESSERA_TEST_POSTGRES_URL is not set: the PostgreSQL suites must run in CI')
}

let warned = false
export function postgresAvailable(suite: string): boolean {
  if (POSTGRES_URL) return true
  if (!warned) {
    warned = true
    console.warn(`[skipped] PostgreSQL suites (${suite} and others): set TESSERA_TEST_POSTGRES_URL=postgres://… to run them`)
  }
  return false
}

export interface ScratchDatabase {
  /** A DSN that selects the scratch schema. */
  dsn: string
  db: Database
  drop(): Promise<void>
}

/** A fresh PostgreSQL schema and a Database whose search_path points at it. */
export async function scratchPostgres(label = 't'): Promise<ScratchDatabase> {
  if (!POSTGRES_URL) throw new Error('TESSERA_TEST_POSTGRES_URL is not set')
  const schema = `${label}_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`.toLowerCase()
  const admin = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} })
  await admin.unsafe(`CREATE SCHEMA "${schema}"`)
  await admin.end()
  const u = new URL(POSTGRES_URL)
  u.searchParams.set('search_path', schema)
  const dsn = u.toString()
  const db = await postgresDriver.connect(dsn)
  return {
    dsn,
    db,
    async drop() {
      await db.close().catch(() => {})
      const a = postgres(POSTGRES_URL!, { max: 1, onnotice: () => {} })
      await a.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await a.end()
    },
  }
}

export async function scratchSqlite(): Promise<ScratchDatabase> {
  const db = new SqliteDatabase(':memory:')
  return { dsn: 'sqlite::memory:', db, drop: () => db.close() }
}

export interface DriverCase {
  name: 'sqlite' | 'postgres'
  enabled: boolean
  create(): Promise<ScratchDatabase>
}

/** The drivers every storage-touching suite runs against. */
export function drivers(suite: string): DriverCase[] {
  return [
    { name: 'sqlite', enabled: true, create: scratchSqlite },
    { name: 'postgres', enabled: postgresAvailable(suite), create: () => scratchPostgres(suite.replace(/[^a-z]/gi, '').slice(0, 10) || 't') },
  ]
}

/**
 * The databases a suite runs against (from the test kit, testing/index.ts). SQLite always; PostgreSQL when
 * TESSERA_TEST_POSTGRES_URL is set — each suite gets its own scratch schema, dropped afterwards. Without the
 * variable the PostgreSQL suites say they were skipped; in this repository's CI (CI=true) a missing variable
 * is an error, not a skip.
 */
import { type DriverCase, POSTGRES_URL, drivers as kitDrivers } from '../../testing/index.ts'

export { POSTGRES_URL, scratchPostgres, scratchSqlite, type DriverCase, type ScratchDatabase } from '../../testing/index.ts'

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

/** The drivers every storage-touching suite runs against; says once when PostgreSQL is skipped. */
export function drivers(suite: string): DriverCase[] {
  return kitDrivers(suite).map((d) => (d.name === 'postgres' ? { ...d, enabled: postgresAvailable(suite) } : d))
}

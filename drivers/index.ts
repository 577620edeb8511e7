/**
 * `tessera/drivers`: the storage drivers Tessera ships, implementations of the storage contract
 * (core/storage/types.ts). The entry points (the CLI, `tessera/elysia`, `tessera/testing`) hand them to the
 * kernel, so a DSN `sqlite://…` or `postgres://…` works with no setting; a plugin may contribute more
 * through `storageDrivers`.
 */
import type { StorageDriver } from '../core/storage/types.ts'
import { postgresDriver } from './postgres.ts'
import { sqliteDriver } from './sqlite.ts'

export { postgresDriver, PostgresDatabase, parsePostgresDsn } from './postgres.ts'
export { sqliteDriver, SqliteDatabase, parseSqliteDsn, keptDevSecret } from './sqlite.ts'

/** What `Kernel.boot(config, { drivers: builtinDrivers })` knows besides plugins' drivers. */
export const builtinDrivers: readonly StorageDriver[] = [sqliteDriver, postgresDriver]

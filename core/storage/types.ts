/**
 * The storage contract. Both drivers (bun:sqlite and postgres.js) implement it
 * and pass the same contract suite (test/contract/storage.test.ts).
 *
 * Value mapping, identical on both drivers:
 * - `TIMESTAMPTZ` columns read as `Date`; `Date` parameters bind as timestamps.
 * - `BOOLEAN` columns read as `boolean`.
 * - `JSONB` columns read as parsed JSON; bind with `sql.json(value)`.
 * - `INTEGER` / `BIGINT` read as `number` (values beyond 2^53 are not supported).
 * - `TEXT` reads as `string`, `BYTEA` as `Uint8Array`.
 */
import type { Dialect, Sql } from './sql.ts'

export interface ExecResult {
  /** Rows changed by INSERT / UPDATE / DELETE. */
  rowCount: number
}

/** How a synchronous read may be answered (`Queryable.querySync`). */
export interface QuerySyncOptions {
  /** The rows may come from the driver's memo of this statement while the database is unchanged (frozen, shared). */
  memo?: boolean
}

export interface Queryable {
  readonly dialect: Dialect
  /** All rows. */
  query<T = Record<string, unknown>>(q: Sql): Promise<T[]>
  /**
   * All rows, synchronously, when the driver can answer without waiting (bun:sqlite, when no other
   * transaction holds the connection); null when it cannot, and the caller uses `query`. Optional: a driver
   * without it (PostgreSQL) always goes through `query`. For hot read paths. On SQLite the synchronous reads
   * of one turn of the event loop share one read transaction (one lock, one snapshot): the process reads its
   * own writes at once, and another process's commit from the next turn at the latest.
   *
   * `memo: true` lets the driver answer from its memo of the same statement's last rows while the database is
   * unchanged, exactly: on SQLite no statement but a read ran on the connection since, and no other connection
   * (this process's or another's) committed (SQLite's `data_version`, read once a turn). Memoised rows are
   * frozen and shared between callers: copy what you hand on. For the hottest lookups (token introspection).
   */
  querySync?<T = Record<string, unknown>>(q: Sql, opts?: QuerySyncOptions): T[] | null
  /**
   * Run `fn`, synchronous and read-only, so that its `querySync` reads share one read transaction: one
   * snapshot, and one lock instead of one per statement (on SQLite every statement outside a transaction takes
   * and releases the read lock, three system calls, most of the cost of an indexed lookup; the read is the
   * turn's, see `querySync`). When another transaction holds the connection, `fn` runs as is (its `querySync`
   * calls then answer null). Optional: without it (PostgreSQL), callers just call `fn`. `fn` must not write or
   * start a transaction.
   */
  readSync?<T>(fn: () => T): T
  /** The first row, or undefined. */
  one<T = Record<string, unknown>>(q: Sql): Promise<T | undefined>
  /** Run a statement; the number of rows it changed. */
  exec(q: Sql): Promise<ExecResult>
  /**
   * Run `fn` in a transaction: committed when it resolves, rolled back when it
   * throws. Nested calls become savepoints.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>
}

export interface Database extends Queryable {
  readonly driver: string
  /** Run a multi-statement script (migrations). No parameters. */
  script(text: string, tx?: Queryable): Promise<void>
  /**
   * Run `fn` while holding an exclusive, cross-process lock named `key`
   * (PostgreSQL: advisory lock; SQLite: an immediate write transaction).
   */
  withLock<T>(key: string, fn: (tx: Queryable) => Promise<T>): Promise<T>
  /** Round-trip to the database. Throws when unreachable. */
  ping(): Promise<void>
  /** Names of the tables in the current schema. */
  tables(): Promise<string[]>
  /** Columns of a table: name and whether it is NOT NULL. */
  columns(table: string): Promise<{ name: string; notNull: boolean }[]>
  close(): Promise<void>
}

export interface StorageDriverOptions {
  /** Pool size (PostgreSQL). */
  maxConnections?: number
  /** Log SQL text at debug level. */
  onQuery?: (text: string, ms: number) => void
}

/** A storage driver: chosen by the DSN's scheme. Contributed by plugins through `storageDrivers`. */
export interface StorageDriver {
  /** `sqlite`, `postgres`, … */
  id: string
  /** DSN schemes it accepts (`postgres`, `postgresql`). */
  schemes: string[]
  connect(dsn: string, options?: StorageDriverOptions): Promise<Database>
}

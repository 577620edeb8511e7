/**
 * The embedded default driver: bun:sqlite, WAL, a file or `:memory:`.
 *
 * DSNs: `sqlite://relative/path.sqlite`, `sqlite:///absolute/path.sqlite`,
 * `sqlite::memory:`, `sqlite://:memory:` and `memory`.
 *
 * bun:sqlite is synchronous and one connection serves the process, so an async
 * transaction holds an in-process lock: statements from outside the transaction
 * wait until it ends instead of running inside it. Columns are decoded by their
 * declared type (TIMESTAMPTZ -> Date, BOOLEAN -> boolean, JSONB -> parsed) so
 * rows look the same as on PostgreSQL.
 *
 * Synchronous reads (`querySync`, `readSync`) outside a transaction share one
 * read transaction per turn of the event loop: SQLite takes its read lock (two
 * fcntl calls and an fstat) once a turn instead of once a statement, which under
 * load is most of an indexed lookup's cost. Any other statement on the connection
 * ends that read first, so the process always reads its own writes; a commit by
 * another connection (another process on the same file) is seen from the next
 * turn at the latest (see `SqliteConnection.readInTurn`).
 */
import { Database as BunDatabase, type Statement } from 'bun:sqlite'
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { KeptSecret } from '../core/config/load.ts'
import { randomToken } from '../core/secrets.ts'
import { ForeignKeyViolationError, StorageUnavailableError, UniqueViolationError } from '../core/storage/errors.ts'
import { type Dialect, JsonParam, type Sql, render, sql } from '../core/storage/sql.ts'
import type { Database, ExecResult, Queryable, QuerySyncOptions, StorageDriver, StorageDriverOptions } from '../core/storage/types.ts'

export const sqliteDialect: Dialect = {
  name: 'sqlite',
  placeholder: () => '?',
  encode(value: unknown): unknown {
    if (value === undefined || value === null) return null
    if (value instanceof Date) return value.toISOString()
    if (value instanceof JsonParam) return value.value === undefined ? null : JSON.stringify(value.value)
    if (typeof value === 'boolean') return value ? 1 : 0
    if (value instanceof Uint8Array) return value
    if (typeof value === 'object') {
      throw new TypeError('objects must be bound with sql.json(value)')
    }
    return value
  },
}

type Decoder = (row: Record<string, unknown>) => Record<string, unknown>

const SQLITE_TS = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?$/
/** What `sqliteDialect.encode` stores a Date as (`toISOString`, years 0–9999). */
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

/** The number the digits of `s` at `from` (inclusive) to `to` (exclusive) spell. */
function digits(s: string, from: number, to: number): number {
  let n = 0
  for (let i = from; i < to; i++) n = n * 10 + s.charCodeAt(i) - 48
  return n
}

function decodeTimestamp(v: unknown): unknown {
  if (typeof v === 'string') {
    // the form this driver writes, read field by field: about a third of what the Date parser costs
    if (v.length === 24 && ISO_MS.test(v)) {
      const year = digits(v, 0, 4)
      // Date.UTC reads years 0–99 as 1900–1999: those go to the parser
      if (year >= 100) return new Date(Date.UTC(year, digits(v, 5, 7) - 1, digits(v, 8, 10), digits(v, 11, 13), digits(v, 14, 16), digits(v, 17, 19), digits(v, 20, 23)))
    }
    return new Date(SQLITE_TS.test(v) ? `${v.replace(' ', 'T')}Z` : v)
  }
  if (typeof v === 'number') return new Date(v)
  return v
}

function buildDecoder(stmt: Statement): Decoder | null {
  let types: (string | null)[]
  let names: string[]
  try {
    types = stmt.declaredTypes
    names = stmt.columnNames
  } catch {
    return null
  }
  const conv: [string, (v: unknown) => unknown][] = []
  types.forEach((t, i) => {
    const name = names[i]
    if (!t || !name) return
    const u = t.toUpperCase()
    if (u.startsWith('TIMESTAMP') || u === 'DATE' || u === 'DATETIME') conv.push([name, decodeTimestamp])
    else if (u === 'BOOLEAN' || u === 'BOOL') conv.push([name, (v) => (v === null || v === undefined ? v : v === 1 || v === true || v === '1')])
    else if (u === 'JSON' || u === 'JSONB')
      conv.push([name, (v) => (typeof v !== 'string' ? v : v === '{}' ? {} : v === '[]' ? [] : JSON.parse(v))])
    else if (u === 'BYTEA' || u === 'BLOB') conv.push([name, (v) => (v instanceof Buffer ? new Uint8Array(v) : v)])
  })
  if (conv.length === 0) return null
  return (row) => {
    for (const [name, f] of conv) {
      const v = row[name]
      if (v !== null && v !== undefined) row[name] = f(v)
    }
    return row
  }
}

/** A statement that only reads (a SELECT: SQLite has no SELECT that writes). A WITH may hold a DELETE: not one. */
const READ_ONLY = /^\s*select\b/i
/** How many prepared statements a connection keeps. */
const STATEMENTS = 1000
/** How many statements' answers the memo of synchronous reads holds before it starts again. */
const MEMO_ENTRIES = 10_000

function deepFreeze(value: unknown): void {
  // a BLOB's bytes cannot be frozen (a typed array with elements): the row holding them is
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || Object.isFrozen(value)) return
  Object.freeze(value)
  for (const v of Object.values(value)) deepFreeze(v)
}

/**
 * SQLITE_BUSY that SQLite returns without waiting on busy_timeout: switching a brand-new file to WAL
 * while another process opens it, WAL recovery, a stale read snapshot. Safe to retry from scratch.
 */
function isBusy(e: unknown): boolean {
  const code = (e as { code?: string } | null)?.code ?? ''
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') || /database is locked|database table is locked/i.test((e as Error)?.message ?? '')
}

const BUSY_RETRY_MS = 5000

/** Run a statement at open time, retrying busy answers for up to 5 s (blocking: only at startup). */
function runWithBusyRetry(db: BunDatabase, text: string): void {
  const deadline = Date.now() + BUSY_RETRY_MS
  for (;;) {
    try {
      db.run(text)
      return
    } catch (e) {
      if (!isBusy(e) || Date.now() > deadline) throw e
      Bun.sleepSync(5 + Math.random() * 20)
    }
  }
}

function mapError(e: unknown): unknown {
  const code = (e as { code?: string } | null)?.code ?? ''
  const msg = e instanceof Error ? e.message : ''
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || /UNIQUE constraint failed/.test(msg))
    return new UniqueViolationError(e)
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || /FOREIGN KEY constraint failed/.test(msg)) return new ForeignKeyViolationError(e)
  return e
}

/** An async mutex: FIFO, so transactions run in the order they asked. */
class Mutex {
  #tail: Promise<void> = Promise.resolve()
  #locked = false
  #idle: Promise<void> = Promise.resolve()
  get locked(): boolean {
    return this.#locked
  }
  /** Resolves once nobody holds or waits for the lock. */
  idle(): Promise<void> {
    return this.#idle
  }
  async acquire(): Promise<() => void> {
    let release!: () => void
    const next = new Promise<void>((r) => (release = r))
    const prev = this.#tail
    this.#tail = prev.then(() => next)
    this.#idle = this.#tail
    await prev
    this.#locked = true
    return () => {
      this.#locked = false
      release()
    }
  }
}

export function parseSqliteDsn(dsn: string): string {
  if (dsn === 'memory' || dsn === 'sqlite::memory:' || dsn === 'sqlite://:memory:' || dsn === ':memory:') return ':memory:'
  const m = /^sqlite3?:(?:\/\/)?(.*)$/.exec(dsn)
  if (!m || !m[1]) throw new TypeError(`not a SQLite DSN: ${dsn} (expected sqlite://path/to/file.sqlite or sqlite::memory:)`)
  const path = decodeURIComponent(m[1].split('?')[0]!)
  if (path === ':memory:') return ':memory:'
  return path
}

/**
 * Development mode's secret for the SQLite file `dsn` names (`LoadOptions.devSecret`), kept beside it in
 * `<file>.dev-secret` (mode 0600) so that a restart and the CLI's other processes use the same one. Created once,
 * atomically (a hard link of a complete file: of two processes starting at once, the second reads the first's).
 * Undefined for a memory database or another driver's DSN, or where the file can be neither read nor created.
 */
export function keptDevSecret(dsn: string): KeptSecret | undefined {
  let path: string
  try {
    path = parseSqliteDsn(dsn)
  } catch {
    return undefined
  }
  if (path === ':memory:') return undefined
  const file = `${resolve(path)}.dev-secret`
  const read = (): KeptSecret | undefined => {
    try {
      const secret = readFileSync(file, 'utf8').trim()
      return secret.length >= 32 ? { secret, file } : undefined
    } catch {
      return undefined
    }
  }
  const kept = read()
  if (kept) return kept
  const secret = randomToken(32)
  const draft = `${file}.${process.pid}.draft`
  try {
    writeFileSync(draft, `${secret}\n`, { mode: 0o600 })
    linkSync(draft, file) // fails when the file exists: another process made it first
    return { secret, file }
  } catch {
    return read()
  } finally {
    rmSync(draft, { force: true })
  }
}

class SqliteQueryable implements Queryable {
  readonly dialect = sqliteDialect
  constructor(
    protected readonly conn: SqliteConnection,
    /** null at top level; the savepoint depth inside a transaction */
    protected readonly depth: number | null,
  ) {}

  protected async gate(): Promise<void> {
    if (this.depth === null) await this.conn.waitForTransactions()
  }

  async query<T = Record<string, unknown>>(q: Sql): Promise<T[]> {
    await this.gate()
    return this.conn.all(q) as T[]
  }

  querySync<T = Record<string, unknown>>(q: Sql, opts?: QuerySyncOptions): T[] | null {
    if (this.depth !== null) return this.conn.all(q) as T[]
    // outside a transaction, a statement must not run inside another one that holds the connection
    if (this.conn.inTransaction) return null
    return (opts?.memo ? this.conn.readMemo(q) : this.conn.readAll(q)) as T[]
  }

  readSync<T>(fn: () => T): T {
    // inside a transaction (ours or another's) the reads already share one; outside, the turn's read is one
    if (this.depth === null && !this.conn.inTransaction) this.conn.readInTurn()
    return fn()
  }

  async one<T = Record<string, unknown>>(q: Sql): Promise<T | undefined> {
    await this.gate()
    return this.conn.all(q)[0] as T | undefined
  }

  async exec(q: Sql): Promise<ExecResult> {
    await this.gate()
    return this.conn.run(q)
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    if (this.depth === null) return this.conn.topLevelTransaction((c) => fn(new SqliteQueryable(c, 0)), 'BEGIN IMMEDIATE')
    const name = `sp_${this.depth + 1}`
    this.conn.raw(`SAVEPOINT ${name}`)
    try {
      const result = await fn(new SqliteQueryable(this.conn, this.depth + 1))
      this.conn.raw(`RELEASE SAVEPOINT ${name}`)
      return result
    } catch (e) {
      this.conn.raw(`ROLLBACK TO SAVEPOINT ${name}`)
      this.conn.raw(`RELEASE SAVEPOINT ${name}`)
      throw e
    }
  }
}

/** The one bun:sqlite connection, its statement cache and its transaction lock. */
class SqliteConnection {
  readonly #db: BunDatabase
  /**
   * Prepared statements by text, with their row decoders. Not bun:sqlite's `query()` cache: that one keeps 20
   * statements, fewer than one plugin's, and a statement it dropped is prepared again (SQLite compiles it) on its
   * next use; the token endpoint's batched INSERT alone has one text per batch size.
   */
  readonly #statements = new Map<string, { stmt: Statement; decode: Decoder | null }>()
  readonly #mutex = new Mutex()
  readonly #onQuery: StorageDriverOptions['onQuery']
  closed = false

  constructor(readonly path: string, options: StorageDriverOptions) {
    try {
      this.#db = new BunDatabase(path, { create: true, strict: true })
      this.#db.run('PRAGMA busy_timeout = 5000')
      if (path !== ':memory:') {
        runWithBusyRetry(this.#db, 'PRAGMA journal_mode = WAL')
        runWithBusyRetry(this.#db, 'PRAGMA synchronous = NORMAL')
        // hot reads served from memory: a page cache of up to 64 MiB instead of SQLite's 2 MiB default, which
        // a database of a few hundred thousand rows outgrows (a read syscall per page missed)
        this.#db.run('PRAGMA cache_size = -65536')
        // a checkpoint (a copy of the WAL into the database, and an fsync) every 10000 pages instead of 1000:
        // a page rewritten many times between two checkpoints is copied once, so a write-heavy table with random
        // keys (OAuth2 token signatures) costs half as much a row; the WAL may grow to about 40 MiB before one
        runWithBusyRetry(this.#db, 'PRAGMA wal_autocheckpoint = 10000')
      }
      runWithBusyRetry(this.#db, 'PRAGMA foreign_keys = ON')
    } catch (e) {
      throw new StorageUnavailableError(`cannot open SQLite database ${path}`, e)
    }
    this.#onQuery = options.onQuery
  }

  /** Does a transaction hold the connection (statements from outside it must wait)? */
  get inTransaction(): boolean {
    return this.#mutex.locked
  }

  #begin: Statement | undefined
  #commit: Statement | undefined
  /** Is the read transaction of this turn of the event loop open (`readInTurn`)? */
  #turnRead = false
  readonly #endTurn = () => this.endTurnRead()

  /**
   * Open this turn's read transaction unless it is open: a deferred transaction whose first read takes SQLite's
   * read lock (two fcntl calls and an fstat) and keeps it, so that the turn's other synchronous reads take none.
   * It ends when the turn does (setImmediate), or before any other statement on the connection (`endTurnRead`):
   * a write is never inside it, and the reads after a write see it. Its cost: a commit by another connection
   * during the turn is not seen until the turn's end, at most the time one turn of the event loop takes.
   */
  readInTurn(): void {
    if (this.#turnRead || this.#db.inTransaction) return
    if (this.closed) throw new StorageUnavailableError('the database is closed')
    ;(this.#begin ??= this.#db.prepare('BEGIN DEFERRED')).run()
    this.#turnRead = true
    this.#versionRead = false
    setImmediate(this.#endTurn)
  }

  /**
   * The memo of synchronous reads (`querySync(q, { memo: true })`): a statement's rows by its text and
   * parameters, each tagged with the generation it was read in. A generation lasts while the database is
   * unchanged: every statement on this connection but a read starts a new one (`#ownStatement`), and so does a commit
   * by any other connection, which SQLite's `data_version` shows (read once per read transaction, inside it; a
   * connection's own commits do not change it, hence the first rule). Exact, not a cache with a lifetime.
   */
  readonly #memo = new Map<string, { generation: number; rows: readonly Record<string, unknown>[] }>()
  #generation = 0
  #dataVersion: number | undefined
  /** Has this read transaction's data_version been read? */
  #versionRead = false
  #dataVersionStmt: Statement | undefined

  /**
   * Before a statement that is not one of the turn's synchronous reads: the turn's read ends (the statement then
   * sees, or makes, the latest state), and unless the statement only reads, the memo's generation ends with it.
   */
  #ownStatement(mayWrite = true): void {
    this.endTurnRead()
    if (mayWrite) this.#generation++
  }

  /** `readAll`, answered from the memo while the database is unchanged since the same statement last ran. */
  readMemo(q: Sql): readonly Record<string, unknown>[] {
    this.readInTurn()
    if (!this.#versionRead) {
      const v = ((this.#dataVersionStmt ??= this.#db.prepare('PRAGMA data_version')).get() as { data_version: number }).data_version
      if (v !== this.#dataVersion) {
        this.#dataVersion = v
        this.#generation++
      }
      this.#versionRead = true
    }
    const rendered = render(q, sqliteDialect)
    let key: string
    try {
      key = rendered.text + '\u0000' + JSON.stringify(rendered.params)
    } catch {
      return this.#rendered(rendered) // a parameter JSON cannot hold (a bigint): not memoised
    }
    const hit = this.#memo.get(key)
    if (hit !== undefined && hit.generation === this.#generation) return hit.rows
    const rows = this.#rendered(rendered)
    for (const row of rows) deepFreeze(row)
    if (this.#memo.size >= MEMO_ENTRIES) this.#memo.clear()
    this.#memo.set(key, { generation: this.#generation, rows: Object.freeze(rows) })
    return rows
  }

  /** End this turn's read transaction, if open: before any statement that is not a synchronous read. */
  endTurnRead(): void {
    if (!this.#turnRead) return
    this.#turnRead = false
    if (!this.closed) (this.#commit ??= this.#db.prepare('COMMIT')).run()
  }

  async waitForTransactions(): Promise<void> {
    while (this.#mutex.locked) await this.#mutex.idle()
  }

  #statement(text: string): { stmt: Statement; decode: Decoder | null } {
    if (this.closed) throw new StorageUnavailableError('the database is closed')
    let entry = this.#statements.get(text)
    if (entry === undefined) {
      const stmt = this.#db.prepare(text)
      entry = { stmt, decode: buildDecoder(stmt) }
      if (this.#statements.size >= STATEMENTS) {
        // the oldest goes (statements run synchronously: none is running now)
        const [oldest, old] = this.#statements.entries().next().value!
        this.#statements.delete(oldest)
        old.stmt.finalize()
      }
      this.#statements.set(text, entry)
    }
    return entry
  }


  /** All rows of `q`, a statement of its own (it ends the turn's read first). */
  all(q: Sql): Record<string, unknown>[] {
    const rendered = render(q, sqliteDialect)
    this.#ownStatement(!READ_ONLY.test(rendered.text))
    return this.#rendered(rendered)
  }

  /** All rows of `q`, a synchronous read in this turn's read transaction (`readInTurn`). */
  readAll(q: Sql): Record<string, unknown>[] {
    this.readInTurn()
    return this.#rendered(render(q, sqliteDialect))
  }

  #rendered({ text, params }: { text: string; params: unknown[] }): Record<string, unknown>[] {
    const t0 = this.#onQuery ? performance.now() : 0
    try {
      const { stmt, decode } = this.#statement(text)
      const rows = stmt.all(...(params as never[])) as Record<string, unknown>[]
      if (decode) for (const r of rows) decode(r)
      return rows
    } catch (e) {
      throw mapError(e)
    } finally {
      this.#onQuery?.(text, performance.now() - t0)
    }
  }

  run(q: Sql): ExecResult {
    this.#ownStatement()
    const { text, params } = render(q, sqliteDialect)
    const t0 = this.#onQuery ? performance.now() : 0
    try {
      const { stmt } = this.#statement(text)
      const r = stmt.run(...(params as never[]))
      return { rowCount: r.changes }
    } catch (e) {
      throw mapError(e)
    } finally {
      this.#onQuery?.(text, performance.now() - t0)
    }
  }

  raw(text: string): void {
    this.#ownStatement()
    if (this.closed) throw new StorageUnavailableError('the database is closed')
    try {
      this.#db.run(text)
    } catch (e) {
      throw mapError(e)
    }
  }

  pragma<T>(text: string): T[] {
    this.#ownStatement()
    return this.#db.query(text).all() as T[]
  }

  async topLevelTransaction<T>(fn: (conn: SqliteConnection) => Promise<T>, begin: string): Promise<T> {
    const release = await this.#mutex.acquire()
    this.endTurnRead()
    try {
      // BEGIN IMMEDIATE waits on busy_timeout; retry the busy answers SQLite gives without waiting.
      const deadline = Date.now() + BUSY_RETRY_MS
      for (;;) {
        try {
          this.#db.run(begin)
          break
        } catch (e) {
          if (!isBusy(e) || Date.now() > deadline) throw mapError(e)
          await Bun.sleep(5 + Math.random() * 20)
        }
      }
      try {
        const result = await fn(this)
        this.raw('COMMIT')
        return result
      } catch (e) {
        try {
          this.raw('ROLLBACK')
        } catch {
          // the transaction may already be gone
        }
        throw e
      }
    } finally {
      release()
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    await this.waitForTransactions()
    this.endTurnRead()
    this.#memo.clear()
    this.#statements.clear()
    this.closed = true
    this.#db.close(false)
  }
}

export class SqliteDatabase extends SqliteQueryable implements Database {
  readonly driver = 'sqlite'

  constructor(path: string, options: StorageDriverOptions = {}) {
    if (path !== ':memory:') {
      path = resolve(path)
      mkdirSync(dirname(path), { recursive: true })
    }
    super(new SqliteConnection(path, options), null)
  }

  async script(text: string, tx?: Queryable): Promise<void> {
    if (!tx) await this.conn.waitForTransactions()
    this.conn.raw(text)
  }

  withLock<T>(_key: string, fn: (tx: Queryable) => Promise<T>): Promise<T> {
    // BEGIN IMMEDIATE takes SQLite's write lock: other processes wait (busy_timeout).
    return this.conn.topLevelTransaction((c) => fn(new SqliteQueryable(c, 0)), 'BEGIN IMMEDIATE')
  }

  async ping(): Promise<void> {
    await this.one(sql`SELECT 1 AS ok`)
  }

  async tables(): Promise<string[]> {
    const rows = await this.query<{ name: string }>(
      sql`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`,
    )
    return rows.map((r) => r.name)
  }

  async columns(table: string): Promise<{ name: string; notNull: boolean; primaryKey?: boolean }[]> {
    const rows = this.conn.pragma<{ name: string; notnull: number; pk: number }>(`PRAGMA table_info(${JSON.stringify(table)})`)
    return rows.map((r) => ({ name: r.name, notNull: r.notnull === 1 || r.pk > 0 }))
  }

  close(): Promise<void> {
    return this.conn.close()
  }
}

export const sqliteDriver: StorageDriver = {
  id: 'sqlite',
  schemes: ['sqlite', 'sqlite3', 'memory'],
  async connect(dsn, options) {
    return new SqliteDatabase(parseSqliteDsn(dsn), options)
  },
}

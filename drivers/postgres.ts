/**
 * The production driver: PostgreSQL through postgres.js, pooled.
 *
 * DSN: `postgres://user:password@host:5432/db?sslmode=disable&max_conns=20&search_path=tessera`.
 * `max_conns` (as in Ory) sets the pool size; `search_path` selects a schema.
 * Every statement is prepared (postgres.js caches it per connection).
 */
import postgres from 'postgres'
import { ForeignKeyViolationError, StorageUnavailableError, UniqueViolationError } from '../core/storage/errors.ts'
import { type Dialect, JsonParam, type Sql, render, sql } from '../core/storage/sql.ts'
import type { Database, ExecResult, Queryable, StorageDriver, StorageDriverOptions } from '../core/storage/types.ts'

type PgSql = postgres.Sql<Record<string, never>>
type PgTx = postgres.TransactionSql<Record<string, never>>
type Runner = PgSql | PgTx | postgres.ReservedSql<Record<string, never>>

export const postgresDialect: Dialect = {
  name: 'postgres',
  placeholder: (n) => `$${n}`,
  encode(value: unknown): unknown {
    if (value === undefined || value === null) return null
    if (value instanceof JsonParam) return value.value === undefined ? null : value.value
    if (value instanceof Date) return value
    if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    if (typeof value === 'object') throw new TypeError('objects must be bound with sql.json(value)')
    return value
  },
}

/**
 * Errors that mean the connection (not the statement) failed: socket errors (a terminated backend shows as
 * EPIPE or ECONNRESET on the next write), postgres.js' own, and PostgreSQL's connection-exception class (08) and
 * shutdown codes (57P01 admin shutdown, as pg_terminate_backend sends; 57P02 crash; 57P03 cannot connect now).
 */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', '57P01', '57P02', '57P03', '3D000', '28P01', '28000'])

function connectionLost(e: unknown): boolean {
  const code = String((e as { code?: unknown } | null)?.code ?? '')
  if (CONNECTION_CODES.has(code) || code.startsWith('08')) return true
  return e instanceof Error && /EPIPE|ECONNRESET|ECONNREFUSED|connection (?:closed|terminated|ended)|connect/i.test(e.message) && !(e as { query?: string }).query
}

function mapError(e: unknown): unknown {
  const code = (e as { code?: string } | null)?.code ?? ''
  if (code === '23505') return new UniqueViolationError(e)
  if (code === '23503') return new ForeignKeyViolationError(e)
  if (connectionLost(e)) return new StorageUnavailableError(e instanceof Error ? e.message : String(e), e)
  return e
}


/** A statement that only reads, and so may run again on a fresh connection when its connection was lost. */
const READ_ONLY = /^\s*SELECT\b(?![\s\S]*\bFOR\s+(?:UPDATE|SHARE|NO\s+KEY|KEY)\b)/i

export interface ParsedPostgresDsn {
  url: string
  maxConnections?: number
  searchPath?: string
}

export function parsePostgresDsn(dsn: string): ParsedPostgresDsn {
  let u: URL
  try {
    u = new URL(dsn)
  } catch {
    throw new TypeError('not a PostgreSQL DSN (expected postgres://user:password@host:5432/database)')
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new TypeError(`not a PostgreSQL DSN: scheme ${u.protocol}`)
  }
  const out: ParsedPostgresDsn = { url: '' }
  const max = u.searchParams.get('max_conns')
  if (max !== null) {
    const n = Number(max)
    if (!Number.isInteger(n) || n < 1) throw new TypeError(`max_conns must be a positive integer, got ${max}`)
    out.maxConnections = n
    u.searchParams.delete('max_conns')
  }
  const sp = u.searchParams.get('search_path')
  if (sp !== null) {
    out.searchPath = sp
    u.searchParams.delete('search_path')
  }
  out.url = u.toString()
  return out
}

/** A 32-bit key for pg_advisory_lock from a name (FNV-1a; not a security use). */
function advisoryKey(name: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h | 0
}

/**
 * The pool, replaced whole once its connections were lost (a restart, pg_terminate_backend, a failover): postgres.js
 * (3.4) under Bun keeps failing queries on a reconnected connection with the error that ended it (57P01), so a
 * fresh pool is the only fresh connection. The old pool is ended in the background, its in-flight queries given 1 s.
 */
class Pool {
  #current: PgSql
  constructor(readonly open: (size?: number) => PgSql) {
    this.#current = open()
  }
  get current(): PgSql {
    return this.#current
  }
  renew(failed: PgSql): void {
    if (failed !== this.#current) return
    this.#current = this.open()
    failed.end({ timeout: 1 }).catch(() => {})
  }
}

class PgQueryable implements Queryable {
  readonly dialect = postgresDialect
  constructor(
    protected readonly source: Runner | Pool,
    protected readonly kind: 'pool' | 'tx' | 'reserved',
    protected readonly onQuery: StorageDriverOptions['onQuery'],
    protected readonly depth = 0,
  ) {}

  protected get runner(): Runner {
    return this.source instanceof Pool ? this.source.current : this.source
  }

  /** After a connection loss on the pool, the next statement runs on a new pool. */
  protected lost(runner: Runner, e: unknown): boolean {
    if (!connectionLost(e)) return false
    if (this.source instanceof Pool) this.source.renew(runner as PgSql)
    return true
  }

  protected async run(q: Sql): Promise<postgres.RowList<postgres.Row[]>> {
    const { text, params } = render(q, postgresDialect)
    const t0 = this.onQuery ? performance.now() : 0
    const runner = this.runner
    try {
      return await runner.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true })
    } catch (e) {
      // a read outside a transaction whose connection died runs again, on a fresh pool; a write never runs
      // twice (it may have been applied), and a transaction fails as a whole: both are a 503
      // (up to twice: a fresh pool's first connection can itself be reset while the old ones are being killed)
      if (this.lost(runner, e) && this.kind === 'pool' && READ_ONLY.test(text)) {
        let last: unknown = e
        for (let attempt = 0; attempt < 2; attempt++) {
          const fresh = this.runner
          try {
            return await fresh.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true })
          } catch (again) {
            last = again
            if (!this.lost(fresh, again)) break
          }
        }
        throw mapError(last)
      }
      throw mapError(e)
    } finally {
      this.onQuery?.(text, performance.now() - t0)
    }
  }

  async query<T = Record<string, unknown>>(q: Sql): Promise<T[]> {
    return [...(await this.run(q))] as T[]
  }

  async one<T = Record<string, unknown>>(q: Sql): Promise<T | undefined> {
    const rows = await this.run(q)
    return rows[0] as T | undefined
  }

  async exec(q: Sql): Promise<ExecResult> {
    const r = await this.run(q)
    return { rowCount: r.count ?? 0 }
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const runner = this.runner
    try {
      if (this.kind === 'pool') {
        return (await (runner as PgSql).begin((tx) => fn(new PgQueryable(tx, 'tx', this.onQuery)))) as T
      }
      if (this.kind === 'tx') {
        return (await (this.runner as PgTx).savepoint((tx) => fn(new PgQueryable(tx, 'tx', this.onQuery)))) as T
      }
      // a reserved connection: explicit statements
      const r = this.runner
      const sp = this.depth === 0 ? null : `sp_${this.depth}`
      await r.unsafe(sp ? `SAVEPOINT ${sp}` : 'BEGIN')
      try {
        const result = await fn(new PgQueryable(r, 'reserved', this.onQuery, this.depth + 1))
        await r.unsafe(sp ? `RELEASE SAVEPOINT ${sp}` : 'COMMIT')
        return result
      } catch (e) {
        await r.unsafe(sp ? `ROLLBACK TO SAVEPOINT ${sp}` : 'ROLLBACK').catch(() => {})
        throw e
      }
    } catch (e) {
      this.lost(runner, e)
      throw mapError(e)
    }
  }
}

export class PostgresDatabase extends PgQueryable implements Database {
  readonly driver = 'postgres'
  readonly #pool: Pool

  constructor(pool: Pool, onQuery: StorageDriverOptions['onQuery']) {
    super(pool, 'pool', onQuery)
    this.#pool = pool
  }

  async script(text: string, tx?: Queryable): Promise<void> {
    const runner = tx instanceof PgQueryable ? (tx as unknown as { runner: Runner }).runner : this.#pool.current
    try {
      await runner.unsafe(text)
    } catch (e) {
      throw mapError(e)
    }
  }

  async withLock<T>(key: string, fn: (tx: Queryable) => Promise<T>): Promise<T> {
    // a connection of its own, opened before it is reserved (postgres.js without fetch_types never hands over a
    // connection that a reserve had to open): the lock is held by one session, apart from the pool's traffic
    const own = this.#pool.open(1)
    let reserved: postgres.ReservedSql<Record<string, never>>
    try {
      await own.unsafe('SELECT 1')
      reserved = await own.reserve()
    } catch (e) {
      await own.end({ timeout: 1 }).catch(() => {})
      throw mapError(e)
    }
    const k = advisoryKey(key)
    try {
      await reserved.unsafe('SELECT pg_advisory_lock($1)', [k])
      try {
        return await fn(new PgQueryable(reserved, 'reserved', this.onQuery))
      } finally {
        await reserved.unsafe('SELECT pg_advisory_unlock($1)', [k]).catch(() => {})
      }
    } catch (e) {
      throw mapError(e)
    } finally {
      reserved.release()
      await own.end({ timeout: 5 }).catch(() => {})
    }
  }

  async ping(): Promise<void> {
    await this.one(sql`SELECT 1 AS ok`)
  }

  async tables(): Promise<string[]> {
    const rows = await this.query<{ name: string }>(
      sql`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`,
    )
    return rows.map((r) => r.name)
  }

  async columns(table: string): Promise<{ name: string; notNull: boolean }[]> {
    const rows = await this.query<{ name: string; nullable: string }>(
      sql`SELECT column_name AS name, is_nullable AS nullable FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ${table} ORDER BY ordinal_position`,
    )
    return rows.map((r) => ({ name: r.name, notNull: r.nullable === 'NO' }))
  }

  async close(): Promise<void> {
    await this.#pool.current.end({ timeout: 5 })
  }
}

/**
 * Seconds before a closed connection reconnects. postgres.js counts failed closes across the whole pool (reset on
 * the next successful connect) and by default waits 3^n/100 s: a restart that ends all 10 connections at once
 * left the pool waiting 10–20 s. Up to one failure per pooled connection reconnects at once; beyond (the
 * database really is down) the wait doubles from 50 ms to at most 5 s, with jitter.
 */
export function reconnectDelay(failures: number, poolSize: number): number {
  if (failures <= poolSize) return 0
  return Math.min(0.05 * 2 ** (failures - poolSize - 1), 5) * (0.5 + Math.random() / 2)
}

export const postgresDriver: StorageDriver = {
  id: 'postgres',
  schemes: ['postgres', 'postgresql'],
  async connect(dsn, options = {}) {
    const parsed = parsePostgresDsn(dsn)
    const max = parsed.maxConnections ?? options.maxConnections ?? 10
    const open = (size = max) => postgres(parsed.url, {
      max: size,
      backoff: (failures: number) => reconnectDelay(failures, max),
      // no array-type lookup on each new connection: Tessera binds no arrays (objects go as sql.json), and
      // postgres.js leaves that lookup's failure unhandled when a connection dies during it, which ends a Bun process
      fetch_types: false,
      onnotice: () => {},
      connect_timeout: 10,
      idle_timeout: 60,
      // BIGINT (int8) as number, as on SQLite; counts and sizes stay well below 2^53.
      types: {
        bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
      } as unknown as Record<string, never>,
      connection: parsed.searchPath ? { search_path: parsed.searchPath } : {},
      debug: false,
    }) as unknown as PgSql
    return new PostgresDatabase(new Pool(open), options.onQuery)
  },
}

/**
 * Tenant scoping. Every stored row carries the tenant (network) id in a `nid`
 * column, and repositories get a `ScopedDb`: the database plus the tenant they
 * act for. A scoped statement that does not mention `nid` is refused before it
 * reaches the database, so a query that forgets the tenant fails loudly in the
 * first test instead of leaking rows in production.
 *
 * ```ts
 * class NotesRepo {
 *   constructor(private db: ScopedDb) {}
 *   get(id: string) {
 *     return this.db.one(sql`SELECT * FROM notes WHERE nid = ${this.db.nid} AND id = ${id}`)
 *   }
 * }
 * ```
 */
import { TenantScopeError } from './errors.ts'
import { type Sql, sql, statementText } from './sql.ts'
import type { ExecResult, Queryable, QuerySyncOptions } from './types.ts'

const MENTIONS_NID = /\bnid\b/i
/** Template strings arrays are unique per call site, so the check runs once per site. */
const checkedSites = new WeakSet<readonly string[]>()

export class ScopedDb implements Queryable {
  constructor(
    /** The tenant this handle acts for. */
    readonly nid: string,
    /** The underlying handle, for tenant-independent tables (e.g. the migration ledger). */
    readonly unscoped: Queryable,
  ) {}

  get dialect() {
    return this.unscoped.dialect
  }

  #check(q: Sql): void {
    if (checkedSites.has(q.strings)) return
    if (MENTIONS_NID.test(q.strings.join(' '))) {
      checkedSites.add(q.strings)
      return
    }
    const text = statementText(q, this.unscoped.dialect)
    if (!MENTIONS_NID.test(text)) throw new TenantScopeError(text)
  }

  /** `run` once `q` is known to filter on the tenant; a rejection (TenantScopeError) otherwise. */
  #guarded<T>(q: Sql, run: () => Promise<T>): Promise<T> {
    try {
      this.#check(q)
    } catch (e) {
      return Promise.reject(e)
    }
    return run()
  }

  query<T = Record<string, unknown>>(q: Sql): Promise<T[]> {
    return this.#guarded(q, () => this.unscoped.query<T>(q))
  }

  /** Rows now when the driver can answer synchronously (see Queryable.querySync); null when it cannot. */
  querySync<T = Record<string, unknown>>(q: Sql, opts?: QuerySyncOptions): T[] | null {
    this.#check(q)
    return this.unscoped.querySync ? this.unscoped.querySync<T>(q, opts) : null
  }

  /** `fn`'s synchronous reads in one read transaction when the driver can (see Queryable.readSync); else just `fn()`. */
  readSync<T>(fn: () => T): T {
    return this.unscoped.readSync ? this.unscoped.readSync(fn) : fn()
  }

  one<T = Record<string, unknown>>(q: Sql): Promise<T | undefined> {
    return this.#guarded(q, () => this.unscoped.one<T>(q))
  }

  exec(q: Sql): Promise<ExecResult> {
    return this.#guarded(q, () => this.unscoped.exec(q))
  }

  /** A transaction for this tenant; repositories built on `tx` share it. */
  transaction<T>(fn: (tx: ScopedDb) => Promise<T>): Promise<T> {
    return this.unscoped.transaction((tx) => fn(new ScopedDb(this.nid, tx)))
  }
}

/**
 * One hit on a fixed-window counter (a rate limit every instance shares): `table` has the columns nid,
 * `keyColumn`, window_start and count, keyed (nid, `keyColumn`). One atomic upsert, so N parallel hits get N
 * distinct counts; a new window starts over at 1. Returns the count (Infinity if the row did not come back).
 */
export async function countInWindow(db: ScopedDb, table: string, keyColumn: string, key: string, windowStart: number): Promise<number> {
  const [t, k] = [sql.id(table), sql.id(keyColumn)]
  const row = await db.one<{ count: number | string }>(sql`INSERT INTO ${t} (nid, ${k}, window_start, count) VALUES (${db.nid}, ${key}, ${windowStart}, ${1})
    ON CONFLICT (nid, ${k}) DO UPDATE SET count = CASE WHEN ${t}.window_start = excluded.window_start THEN ${t}.count + 1 ELSE 1 END, window_start = excluded.window_start
    RETURNING count`)
  return row ? Number(row.count) : Number.POSITIVE_INFINITY
}

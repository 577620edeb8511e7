/** bun:sqlite specifics the contract suite cannot show on a `:memory:` database: a file shared with another connection. */
import { afterAll, describe, expect, it } from 'bun:test'
import { Database as BunDatabase } from 'bun:sqlite'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ScopedDb } from '../core/storage/scoped.ts'
import { sql } from '../core/storage/sql.ts'
import { SqliteDatabase, keptDevSecret } from './sqlite.ts'

const dir = mkdtempSync(join(tmpdir(), 'tessera-sqlite-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A file database with one row for tenant `t`, another connection to it (as another process would be), and a count of the rows. */
async function open(name: string) {
  const file = join(dir, name)
  const db = new SqliteDatabase(file)
  await db.script('CREATE TABLE notes (nid TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (nid, id))')
  const scoped = new ScopedDb('t', db)
  await scoped.exec(sql`INSERT INTO notes (nid, id) VALUES (${scoped.nid}, 'a')`)
  const other = new BunDatabase(file)
  other.run('PRAGMA busy_timeout = 0')
  const count = () => scoped.querySync<{ n: number }>(sql`SELECT count(*) AS n FROM notes WHERE nid = ${scoped.nid}`)![0]!.n
  return { db, scoped, other, count }
}

describe('SQLite readSync on a file database', () => {
  it("reads one snapshot: another connection's commit between two reads of fn is not seen until fn ends", async () => {
    const { db, scoped, other, count } = await open('snap.sqlite')
    const [before, after] = scoped.readSync(() => {
      const first = count()
      other.run("INSERT INTO notes (nid, id) VALUES ('t', 'b')") // commits at once (WAL: a reader does not block it)
      return [first, count()]
    })
    expect([before, after]).toEqual([1, 1])
    // the next turn of the event loop reads the latest commit
    await nextTurn()
    expect(count()).toBe(2)
    other.close()
    await db.close()
  })
})

/** The next turn of the event loop: after the check phase, where the turn's read transaction ends. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)))

describe("SQLite: one turn's synchronous reads share one read transaction", () => {
  it("another connection's commit is seen from the next turn: the turn's reads are one snapshot", async () => {
    const { db, other, count } = await open('next-turn.sqlite')
    expect(count()).toBe(1)
    other.run("INSERT INTO notes (nid, id) VALUES ('t', 'b')") // WAL: the turn's reader does not block a writer
    expect(count()).toBe(1)
    await nextTurn()
    expect(count()).toBe(2)
    other.close()
    await db.close()
  })

  it('the process reads its own writes at once: a statement of its own ends the turn\'s read first', async () => {
    const { db, scoped, other, count } = await open('own-writes.sqlite')
    expect(count()).toBe(1)
    other.run("INSERT INTO notes (nid, id) VALUES ('t', 'b')")
    await scoped.exec(sql`INSERT INTO notes (nid, id) VALUES (${scoped.nid}, 'c')`) // same turn: only microtasks passed
    expect(count()).toBe(3)
    await scoped.transaction(async (tx) => tx.exec(sql`INSERT INTO notes (nid, id) VALUES (${tx.nid}, 'd')`))
    expect(count()).toBe(4)
    expect(await scoped.query(sql`SELECT id FROM notes WHERE nid = ${scoped.nid} ORDER BY id`)).toEqual([{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }])
    other.close()
    await db.close()
  })

  it('the read ends with the turn: a checkpoint by another connection can then empty the WAL', async () => {
    const { db, other, count } = await open('checkpoint.sqlite')
    other.run("INSERT INTO notes (nid, id) VALUES ('t', 'b')")
    expect(count()).toBe(2)
    other.run("INSERT INTO notes (nid, id) VALUES ('t', 'c')")
    // the turn's reader holds its snapshot: the WAL cannot be emptied under it
    expect(other.query('PRAGMA wal_checkpoint(TRUNCATE)').get()).toMatchObject({ busy: 1 })
    await nextTurn()
    expect(other.query('PRAGMA wal_checkpoint(TRUNCATE)').get()).toMatchObject({ busy: 0 })
    expect(count()).toBe(3)
    other.close()
    await db.close()
  })

  it('closing the database while a turn\'s read is open ends it: no error when the turn ends', async () => {
    const { db, other, count } = await open('close.sqlite')
    const errors: unknown[] = []
    const onError = (e: unknown) => errors.push(e)
    process.on('uncaughtException', onError)
    try {
      expect(count()).toBe(1)
      other.close()
      await db.close()
      await nextTurn()
      expect(errors).toEqual([])
    } finally {
      process.off('uncaughtException', onError)
    }
  })
})

describe('SQLite: memoised synchronous reads (querySync with memo) are exact', () => {
  const ids = (scoped: ScopedDb) => scoped.querySync<{ id: string }>(sql`SELECT id FROM notes WHERE nid = ${scoped.nid} ORDER BY id`, { memo: true })!.map((r) => r.id)
  /** `fn` on a fresh file (see `open`), closed afterwards whatever happens. */
  async function onFile(name: string, fn: (o: Awaited<ReturnType<typeof open>>) => Promise<void>) {
    const o = await open(name)
    try {
      await fn(o)
    } finally {
      o.other.close()
      await o.db.close()
    }
  }

  it('answers the same rows again while nothing changed, frozen: a caller cannot change what the next one reads', () =>
    onFile('memo-same.sqlite', async ({ scoped }) => {
      const first = scoped.querySync<{ id: string }>(sql`SELECT id FROM notes WHERE nid = ${scoped.nid}`, { memo: true })!
      await nextTurn()
      const again = scoped.querySync<{ id: string }>(sql`SELECT id FROM notes WHERE nid = ${scoped.nid}`, { memo: true })!
      expect(again).toBe(first)
      expect(() => {
        ;(again[0] as { id: string }).id = 'changed'
      }).toThrow(TypeError)
      expect(ids(scoped)).toEqual(['a'])
    }))

  it("sees this connection's own writes at once: a statement that is not a read, a transaction", () =>
    onFile('memo-own.sqlite', async ({ scoped }) => {
      expect(ids(scoped)).toEqual(['a'])
      await scoped.exec(sql`INSERT INTO notes (nid, id) VALUES (${scoped.nid}, 'b')`)
      expect(ids(scoped)).toEqual(['a', 'b'])
      await scoped.transaction(async (tx) => tx.exec(sql`DELETE FROM notes WHERE nid = ${tx.nid} AND id = 'a'`))
      expect(ids(scoped)).toEqual(['b'])
      // a write through query() (RETURNING) is not a read either
      await scoped.query(sql`UPDATE notes SET id = 'c' WHERE nid = ${scoped.nid} AND id = 'b' RETURNING id`)
      expect(ids(scoped)).toEqual(['c'])
    }))

  it("sees another connection's commit from the next turn, as an unmemoised read does (SQLite data_version)", () =>
    onFile('memo-other.sqlite', async ({ scoped, other }) => {
      expect(ids(scoped)).toEqual(['a'])
      other.run("INSERT INTO notes (nid, id) VALUES ('t', 'b')")
      await nextTurn()
      expect(ids(scoped)).toEqual(['a', 'b'])
      other.run("DELETE FROM notes WHERE id = 'a'")
      await nextTurn()
      expect(ids(scoped)).toEqual(['b'])
    }))

  it('sees a commit by a second Tessera connection to the same file (another process)', () =>
    onFile('memo-second.sqlite', async ({ scoped }) => {
      const secondDb = new SqliteDatabase(join(dir, 'memo-second.sqlite'))
      const second = new ScopedDb('t', secondDb)
      expect(ids(scoped)).toEqual(['a'])
      expect(ids(second)).toEqual(['a'])
      await second.exec(sql`UPDATE notes SET id = 'z' WHERE nid = ${second.nid}`)
      await nextTurn()
      expect(ids(scoped)).toEqual(['z'])
      await secondDb.close()
    }))

  it('keys the memo by the parameters: another tenant, another value, another answer', () =>
    onFile('memo-params.sqlite', async ({ db, scoped, other }) => {
      other.run("INSERT INTO notes (nid, id) VALUES ('u', 'x')")
      await nextTurn()
      expect(ids(scoped)).toEqual(['a'])
      expect(ids(new ScopedDb('u', db))).toEqual(['x'])
    }))
})

describe("SQLite: development mode's kept secret (keptDevSecret)", () => {
  it('gives every process the same secret for a file, however many start at once; none for memory or PostgreSQL', async () => {
    const file = join(dir, 'dev-race.sqlite')
    // each process loads the driver, then waits for the same instant before it asks
    const at = Date.now() + 2000
    const script = `import { keptDevSecret } from ${JSON.stringify(join(import.meta.dir, 'sqlite.ts'))}; await Bun.sleep(${at} - Date.now()); console.log(keptDevSecret(${JSON.stringify(`sqlite://${file}`)})?.secret)`
    const procs = Array.from({ length: 6 }, () => Bun.spawn(['bun', '-e', script], { stdout: 'pipe', stderr: 'inherit' }))
    const secrets = await Promise.all(procs.map((p) => new Response(p.stdout).text().then((t) => t.trim())))
    expect(new Set(secrets).size).toBe(1)
    expect(secrets[0]!.length).toBeGreaterThanOrEqual(32)
    expect(keptDevSecret(`sqlite://${file}`)).toEqual({ secret: secrets[0]!, file: `${file}.dev-secret` })
    expect(readdirSync(dir).filter((n) => n.startsWith('dev-race'))).toEqual(['dev-race.sqlite.dev-secret'])
    expect(keptDevSecret('sqlite::memory:')).toBeUndefined()
    expect(keptDevSecret('postgres://u@127.0.0.1/db')).toBeUndefined()
  })
})

describe('SQLite prepared statements', () => {
  it('keeps more statements than bun:sqlite\'s own cache of 20, and answers each right after others were prepared', async () => {
    const db = new SqliteDatabase(':memory:')
    await db.script('CREATE TABLE n (v INTEGER)')
    await db.exec(sql`INSERT INTO n (v) VALUES (1), (2), (3)`)
    // 1,100 distinct statement texts: more than the connection keeps (1,000), so the oldest are dropped and prepared again
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 1100; i++) {
        const rows = await db.query<{ s: number }>(sql`SELECT sum(v) + ${sql.raw(String(i))} AS s FROM n`)
        expect(rows[0]!.s).toBe(6 + i)
      }
    }
    await db.close()
  })
})

describe('SQLite column decoding', () => {
  it('reads a TIMESTAMPTZ back as the instant written: years 50, 100, 2024 (a leap day), 9999, and beyond both ends', async () => {
    const db = new SqliteDatabase(':memory:')
    await db.script('CREATE TABLE t (i INTEGER, at TIMESTAMPTZ, doc JSONB)')
    const dates = ['0050-06-01T12:00:00.000Z', '0100-01-01T00:00:00.000Z', '2024-02-29T23:59:59.999Z', '9999-12-31T23:59:59.999Z', '-001199-02-15T14:13:20.000Z', '+275760-09-13T00:00:00.000Z'].map((s) => new Date(s))
    for (const [i, d] of dates.entries()) await db.exec(sql`INSERT INTO t VALUES (${i}, ${d}, ${sql.json(i % 2 ? [] : {})})`)
    // SQLite's own CURRENT_TIMESTAMP form (UTC, a space, no zone)
    await db.exec(sql`INSERT INTO t VALUES (${99}, ${'2026-11-26 10:00:00'}, ${'{"a":[1]}'})`)
    const rows = await db.query<{ at: Date; doc: unknown }>(sql`SELECT at, doc FROM t ORDER BY i`)
    expect(rows.map((r) => r.at.toISOString())).toEqual([...dates.map((d) => d.toISOString()), '2026-11-26T10:00:00.000Z'])
    expect(rows.map((r) => r.doc)).toEqual([{}, [], {}, [], {}, [], { a: [1] }])
    await db.close()
  })
})

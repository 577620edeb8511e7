/** bun:sqlite specifics the contract suite cannot show on a `:memory:` database: a file shared with another connection. */
import { afterAll, describe, expect, it } from 'bun:test'
import { Database as BunDatabase } from 'bun:sqlite'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ScopedDb } from '../core/storage/scoped.ts'
import { sql } from '../core/storage/sql.ts'
import { SqliteDatabase } from './sqlite.ts'

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

/** bun:sqlite specifics the contract suite cannot show on a `:memory:` database: a file shared with another connection. */
import { afterAll, describe, expect, it } from 'bun:test'
import { Database as BunDatabase } from 'bun:sqlite'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ScopedDb } from '../core/storage/scoped.ts'
import { sql } from '../core/storage/sql.ts'
import { SqliteDatabase } from './sqlite.ts'

describe('SQLite readSync on a file database', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-sqlite-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("reads one snapshot: another connection's commit between two reads of fn is not seen until fn ends", async () => {
    const file = join(dir, 'snap.sqlite')
    const db = new SqliteDatabase(file)
    await db.script('CREATE TABLE notes (nid TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (nid, id))')
    const scoped = new ScopedDb('t', db)
    await scoped.exec(sql`INSERT INTO notes (nid, id) VALUES (${scoped.nid}, 'a')`)
    const other = new BunDatabase(file) // another connection, as another process would be
    other.run('PRAGMA busy_timeout = 5000')
    const count = () => scoped.querySync<{ n: number }>(sql`SELECT count(*) AS n FROM notes WHERE nid = ${scoped.nid}`)![0]!.n
    const [before, after] = scoped.readSync(() => {
      const first = count()
      other.run("INSERT INTO notes (nid, id) VALUES ('t', 'b')") // commits at once (WAL: a reader does not block it)
      return [first, count()]
    })
    expect([before, after]).toEqual([1, 1])
    // outside readSync every statement reads the latest commit
    expect(count()).toBe(2)
    other.run("INSERT INTO notes (nid, id) VALUES ('t', 'c')")
    expect(count()).toBe(3)
    other.close()
    await db.close()
  })
})

/**
 * The storage contract: every driver must pass this suite unchanged.
 * Queries are written once; only the driver differs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import {
  ForeignKeyViolationError,
  type Migration,
  ScopedDb,
  TenantScopeError,
  UniqueViolationError,
  migrateUp,
  migrationStatus,
  sql,
} from '../../core/storage/index.ts'
import type { Database, Queryable } from '../../core/storage/types.ts'
import { type ScratchDatabase, drivers } from '../helpers/databases.ts'

const migrations: Migration[] = [
  {
    id: '0001_notes',
    up: `
      CREATE TABLE notes (
        nid TEXT NOT NULL,
        id TEXT NOT NULL,
        title TEXT NOT NULL,
        pinned BOOLEAN NOT NULL DEFAULT FALSE,
        meta JSONB,
        views BIGINT NOT NULL DEFAULT 0,
        blob BYTEA,
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (nid, id)
      );
      CREATE INDEX notes_created ON notes (nid, created_at);
    `,
  },
  {
    id: '0002_tags',
    up: `
      CREATE TABLE tags (
        nid TEXT NOT NULL,
        note_id TEXT NOT NULL,
        tag TEXT NOT NULL,
        PRIMARY KEY (nid, note_id, tag),
        FOREIGN KEY (nid, note_id) REFERENCES notes (nid, id) ON DELETE CASCADE
      );
    `,
  },
  {
    id: '0003_dialect_specific',
    up: {
      sqlite: 'CREATE TABLE dialect_probe (nid TEXT NOT NULL, which TEXT NOT NULL)',
      postgres: 'CREATE TABLE dialect_probe (nid TEXT NOT NULL, which TEXT NOT NULL)',
    },
  },
  {
    id: '0004_data',
    up: async (tx) => {
      await tx.exec(sql`INSERT INTO dialect_probe (nid, which) VALUES (${'system'}, ${tx.dialect.name})`)
    },
  },
]

interface Note {
  id: string
  title: string
  pinned: boolean
  meta: unknown
  views: number
  blob: Uint8Array | null
  created_at: Date
}

/** Two example repositories, written once over the SQL layer. */
class NotesRepo {
  constructor(private readonly db: ScopedDb) {}
  create(n: { id: string; title: string; pinned?: boolean; meta?: unknown; blob?: Uint8Array; createdAt?: Date }) {
    return this.db.exec(sql`
      INSERT INTO notes (nid, id, title, pinned, meta, blob, created_at)
      VALUES (${this.db.nid}, ${n.id}, ${n.title}, ${n.pinned ?? false}, ${sql.json(n.meta ?? null)}, ${n.blob ?? null}, ${n.createdAt ?? new Date()})`)
  }
  get(id: string) {
    return this.db.one<Note>(sql`SELECT id, title, pinned, meta, views, blob, created_at FROM notes WHERE nid = ${this.db.nid} AND id = ${id}`)
  }
  list() {
    return this.db.query<Note>(sql`SELECT id, title, pinned, meta, views, blob, created_at FROM notes WHERE nid = ${this.db.nid} ORDER BY id`)
  }
  rename(id: string, title: string) {
    return this.db.exec(sql`UPDATE notes SET title = ${title} WHERE nid = ${this.db.nid} AND id = ${id}`)
  }
  delete(id: string) {
    return this.db.exec(sql`DELETE FROM notes WHERE nid = ${this.db.nid} AND id = ${id}`)
  }
  count() {
    return this.db.one<{ n: number }>(sql`SELECT COUNT(*) AS n FROM notes WHERE nid = ${this.db.nid}`).then((r) => r!.n)
  }
}

class TagsRepo {
  constructor(private readonly db: ScopedDb) {}
  add(noteId: string, tag: string) {
    return this.db.exec(sql`INSERT INTO tags (nid, note_id, tag) VALUES (${this.db.nid}, ${noteId}, ${tag})`)
  }
  of(noteId: string) {
    return this.db
      .query<{ tag: string }>(sql`SELECT tag FROM tags WHERE nid = ${this.db.nid} AND note_id = ${noteId} ORDER BY tag`)
      .then((rows) => rows.map((r) => r.tag))
  }
  /** Deliberately wrong: forgets the tenant. The guard must refuse it. */
  allTagsUnsafe() {
    return this.db.query(sql`SELECT tag FROM tags`)
  }
}

/** Run `body` in a transaction and keep it open (holding the connection) until `commit()`. */
async function holdTransaction(scoped: ScopedDb, body: (tx: ScopedDb) => Promise<unknown>): Promise<{ commit(): Promise<void> }> {
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  let ran!: () => void
  const bodyDone = new Promise<void>((r) => (ran = r))
  const tx = scoped.transaction(async (t) => {
    await body(t)
    ran()
    await gate
  })
  await bodyDone
  return {
    async commit() {
      release()
      await tx
    },
  }
}

for (const driver of drivers('storage contract')) {
  describe.skipIf(!driver.enabled)(`storage contract (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let db: Database

    beforeAll(async () => {
      scratch = await driver.create()
      db = scratch.db
      await migrateUp(db, [{ plugin: 'contract', migrations }])
    })
    afterAll(async () => {
      await scratch?.drop()
    })

    it('answers a ping', async () => {
      await db.ping()
    })

    it('records migrations in the ledger and re-running is a no-op', async () => {
      const again = await migrateUp(db, [{ plugin: 'contract', migrations }])
      expect(again).toEqual([])
      const status = await migrationStatus(db, [{ plugin: 'contract', migrations }])
      expect(status.map((s) => [s.id, s.state])).toEqual([
        ['0001_notes', 'applied'],
        ['0002_tags', 'applied'],
        ['0003_dialect_specific', 'applied'],
        ['0004_data', 'applied'],
      ])
      expect(status[0]!.appliedAt).toBeInstanceOf(Date)
    })

    it('ran the function migration with the right dialect', async () => {
      const row = await db.one<{ which: string }>(sql`SELECT which FROM dialect_probe WHERE nid = ${'system'}`)
      expect(row?.which).toBe(driver.name)
    })

    it('reports a new migration as pending and an edited one as modified', async () => {
      const edited: Migration[] = [{ ...migrations[0]!, up: `${migrations[0]!.up as string} -- edited` }, ...migrations.slice(1), { id: '0005_more', up: 'SELECT 1' }]
      const status = await migrationStatus(db, [{ plugin: 'contract', migrations: edited }])
      expect(status.find((s) => s.id === '0001_notes')!.state).toBe('modified')
      expect(status.find((s) => s.id === '0005_more')!.state).toBe('pending')
    })

    it('refuses migrations out of order', async () => {
      await expect(
        migrateUp(db, [{ plugin: 'bad', migrations: [{ id: '0002_b', up: 'SELECT 1' }, { id: '0001_a', up: 'SELECT 1' }] }]),
      ).rejects.toThrow(/0001_a must come after 0002_b/)
    })

    it('rolls back a failing migration and its ledger row together', async () => {
      const broken: Migration[] = [{ id: '0001_broken', up: 'CREATE TABLE half_done (nid TEXT NOT NULL); INSERT INTO no_such_table VALUES (1);' }]
      await expect(migrateUp(db, [{ plugin: 'broken', migrations: broken }])).rejects.toThrow(/migration broken\/0001_broken failed/)
      expect(await db.tables()).not.toContain('half_done')
      const status = await migrationStatus(db, [{ plugin: 'broken', migrations: broken }])
      expect(status[0]!.state).toBe('pending')
    })

    it('maps types the same way on every driver', async () => {
      const notes = new NotesRepo(new ScopedDb('tenant-a', db))
      const created = new Date('2026-01-02T03:04:05.678Z')
      await notes.create({ id: 'types', title: 'T', pinned: true, meta: { a: [1, 'two', null], b: { c: true } }, blob: new Uint8Array([0, 1, 254, 255]), createdAt: created })
      const n = await notes.get('types')
      expect(n).toBeDefined()
      expect(n!.pinned).toBe(true)
      expect(n!.meta).toEqual({ a: [1, 'two', null], b: { c: true } })
      expect(n!.views).toBe(0)
      expect(typeof n!.views).toBe('number')
      expect(n!.created_at).toBeInstanceOf(Date)
      expect(n!.created_at.toISOString()).toBe(created.toISOString())
      expect(new Uint8Array(n!.blob!)).toEqual(new Uint8Array([0, 1, 254, 255]))
      await notes.create({ id: 'nulls', title: 'N' })
      const m = await notes.get('nulls')
      expect(m!.pinned).toBe(false)
      expect(m!.meta).toBeNull()
      expect(m!.blob).toBeNull()
    })

    it('binds values as parameters, never as SQL text', async () => {
      const notes = new NotesRepo(new ScopedDb('tenant-inject', db))
      const evil = "x'); DROP TABLE notes; --"
      await notes.create({ id: evil, title: evil })
      expect((await notes.get(evil))!.title).toBe(evil)
      expect(await db.tables()).toContain('notes')
    })

    it('compares and orders timestamps', async () => {
      const notes = new NotesRepo(new ScopedDb('tenant-time', db))
      await notes.create({ id: 'old', title: 'old', createdAt: new Date('2020-01-01T00:00:00Z') })
      await notes.create({ id: 'new', title: 'new', createdAt: new Date('2030-01-01T00:00:00Z') })
      const rows = await db.query<{ id: string }>(
        sql`SELECT id FROM notes WHERE nid = ${'tenant-time'} AND created_at > ${new Date('2025-06-01T00:00:00Z')} ORDER BY created_at`,
      )
      expect(rows.map((r) => r.id)).toEqual(['new'])
    })

    it('supports IN lists, including an empty one', async () => {
      const rows = await db.query<{ id: string }>(sql`SELECT id FROM notes WHERE nid = ${'tenant-time'} AND id IN ${sql.in(['old', 'new', 'missing'])} ORDER BY id`)
      expect(rows.map((r) => r.id)).toEqual(['new', 'old'])
      expect(await db.query(sql`SELECT id FROM notes WHERE id IN ${sql.in([])}`)).toEqual([])
    })

    it('reports changed row counts', async () => {
      const notes = new NotesRepo(new ScopedDb('tenant-count', db))
      await notes.create({ id: 'c1', title: 'a' })
      expect((await notes.rename('c1', 'b')).rowCount).toBe(1)
      expect((await notes.rename('nope', 'b')).rowCount).toBe(0)
      expect(await notes.count()).toBe(1)
    })

    it('maps unique and foreign-key violations to typed errors', async () => {
      const notes = new NotesRepo(new ScopedDb('tenant-err', db))
      const tags = new TagsRepo(new ScopedDb('tenant-err', db))
      await notes.create({ id: 'dup', title: 'a' })
      await expect(notes.create({ id: 'dup', title: 'b' })).rejects.toBeInstanceOf(UniqueViolationError)
      await expect(tags.add('no-such-note', 'x')).rejects.toBeInstanceOf(ForeignKeyViolationError)
    })

    it('commits a transaction that spans two repositories', async () => {
      const scoped = new ScopedDb('tenant-tx', db)
      await scoped.transaction(async (tx) => {
        await new NotesRepo(tx).create({ id: 'tx1', title: 'in tx' })
        await new TagsRepo(tx).add('tx1', 'red')
      })
      expect(await new TagsRepo(scoped).of('tx1')).toEqual(['red'])
    })

    it('rolls back both repositories when the transaction fails', async () => {
      const scoped = new ScopedDb('tenant-tx', db)
      await expect(
        scoped.transaction(async (tx) => {
          await new NotesRepo(tx).create({ id: 'tx2', title: 'doomed' })
          await new TagsRepo(tx).add('tx2', 'blue')
          throw new Error('boom')
        }),
      ).rejects.toThrow('boom')
      expect(await new NotesRepo(scoped).get('tx2')).toBeUndefined()
      expect(await new TagsRepo(scoped).of('tx2')).toEqual([])
    })

    it('rolls back a nested transaction (savepoint) without losing the outer one', async () => {
      const scoped = new ScopedDb('tenant-nested', db)
      await scoped.transaction(async (tx) => {
        await new NotesRepo(tx).create({ id: 'outer', title: 'kept' })
        await expect(
          tx.transaction(async (inner) => {
            await new NotesRepo(inner).create({ id: 'inner', title: 'dropped' })
            throw new Error('inner fails')
          }),
        ).rejects.toThrow('inner fails')
      })
      const ids = (await new NotesRepo(scoped).list()).map((n) => n.id)
      expect(ids).toEqual(['outer'])
    })

    it('does not show uncommitted writes to statements outside the transaction', async () => {
      const scoped = new ScopedDb('tenant-iso', db)
      const notes = new NotesRepo(scoped)
      const tx = await holdTransaction(scoped, (t) => new NotesRepo(t).create({ id: 'pending', title: 'not yet' }))
      const outside = notes.get('pending')
      // the outside read must not observe the uncommitted row
      const raced = await Promise.race([outside.then((r) => (r ? 'seen' : 'absent')), Bun.sleep(50).then(() => 'waiting')])
      expect(raced === 'absent' || raced === 'waiting').toBe(true)
      await tx.commit()
      expect((await notes.get('pending'))?.title).toBe('not yet')
    })

    it('answers querySync with the rows query gives, or null when it cannot answer now (never a read inside another transaction)', async () => {
      const scoped = new ScopedDb('tenant-sync', db)
      await new NotesRepo(scoped).create({ id: 'sync-1', title: 'now' })
      const q = sql`SELECT id, title FROM notes WHERE nid = ${scoped.nid} ORDER BY id`
      const now = scoped.querySync<{ id: string; title: string }>(q)
      if (driver.name === 'sqlite') expect(now).toEqual(await scoped.query(q))
      else expect(now).toBeNull() // PostgreSQL has no synchronous path: callers use query()
      // the tenant guard holds on the synchronous path too
      expect(() => scoped.querySync(sql`SELECT tag FROM tags`)).toThrow(TenantScopeError)
      // while a transaction holds the connection, an outside synchronous read must not run inside it
      const tx = await holdTransaction(scoped, async (t) => {
        await new NotesRepo(t).create({ id: 'sync-2', title: 'pending' })
        // inside the transaction, its own rows are visible synchronously (SQLite)
        const mine = t.querySync<{ id: string }>(q)
        if (driver.name === 'sqlite') expect(mine?.map((r) => r.id)).toEqual(['sync-1', 'sync-2'])
      })
      expect(scoped.querySync(q)).toBeNull()
      await tx.commit()
      if (driver.name === 'sqlite') expect(scoped.querySync<{ id: string }>(q)?.map((r) => r.id)).toEqual(['sync-1', 'sync-2'])
    })

    it('runs readSync with its synchronous reads in one read transaction, and never inside another transaction', async () => {
      const scoped = new ScopedDb('tenant-readsync', db)
      await new NotesRepo(scoped).create({ id: 'rs-1', title: 'now' })
      const q = sql`SELECT id FROM notes WHERE nid = ${scoped.nid} ORDER BY id`
      const ids = () => scoped.querySync<{ id: string }>(q)?.map((r) => r.id) ?? null
      // fn's value comes back; its reads answer as querySync does outside (rows on SQLite, null on PostgreSQL)
      expect(scoped.readSync(() => [ids(), ids()])).toEqual(driver.name === 'sqlite' ? [['rs-1'], ['rs-1']] : [null, null])
      expect(scoped.readSync(() => scoped.readSync(ids))).toEqual(driver.name === 'sqlite' ? ['rs-1'] : null) // nested: one transaction
      // a throw comes out as is and leaves no transaction open: a write transaction works and commits after it
      expect(() =>
        scoped.readSync(() => {
          ids()
          throw new Error('boom')
        }),
      ).toThrow('boom')
      if (driver.name === 'sqlite') expect(() => scoped.readSync(() => (ids(), scoped.querySync(sql`SELECT nope FROM notes WHERE nid = ${scoped.nid}`)))).toThrow()
      await scoped.transaction((t) => new NotesRepo(t).create({ id: 'rs-2', title: 'after a throw' }))
      expect((await scoped.query<{ id: string }>(q)).map((r) => r.id)).toEqual(['rs-1', 'rs-2'])
      // while a transaction holds the connection, fn still runs, and its reads answer null rather than read inside it
      const tx = await holdTransaction(scoped, (t) => new NotesRepo(t).create({ id: 'rs-3', title: 'pending' }))
      expect(scoped.readSync(() => ids())).toBeNull()
      await tx.commit()
      expect(scoped.readSync(ids)).toEqual(driver.name === 'sqlite' ? ['rs-1', 'rs-2', 'rs-3'] : null)
    })

    it('serialises concurrent transactions without losing updates', async () => {
      const scoped = new ScopedDb('tenant-conc', db)
      await new NotesRepo(scoped).create({ id: 'counter', title: 'c' })
      await Promise.all(
        Array.from({ length: 10 }, () =>
          scoped.transaction(async (tx) => {
            await tx.exec(sql`UPDATE notes SET views = views + 1 WHERE nid = ${tx.nid} AND id = ${'counter'}`)
          }),
        ),
      )
      expect((await new NotesRepo(scoped).get('counter'))!.views).toBe(10)
    })

    describe('tenant isolation', () => {
      const A = 'tenant-iso-a'
      const B = 'tenant-iso-b'
      beforeAll(async () => {
        await new NotesRepo(new ScopedDb(A, db)).create({ id: 'shared-id', title: 'A secret' })
        await new TagsRepo(new ScopedDb(A, db)).add('shared-id', 'a-tag')
        await new NotesRepo(new ScopedDb(B, db)).create({ id: 'shared-id', title: 'B note' })
      })

      it("tenant A cannot read tenant B's rows through any repository", async () => {
        const notesB = new NotesRepo(new ScopedDb(B, db))
        const tagsB = new TagsRepo(new ScopedDb(B, db))
        expect((await notesB.get('shared-id'))!.title).toBe('B note')
        expect((await notesB.list()).map((n) => n.title)).toEqual(['B note'])
        expect(await tagsB.of('shared-id')).toEqual([])
        expect(await notesB.count()).toBe(1)
      })

      it("tenant B cannot change or delete tenant A's rows", async () => {
        const notesB = new NotesRepo(new ScopedDb(B, db))
        await notesB.rename('shared-id', 'renamed by B')
        await notesB.delete('shared-id')
        const a = await new NotesRepo(new ScopedDb(A, db)).get('shared-id')
        expect(a!.title).toBe('A secret')
        expect(await new TagsRepo(new ScopedDb(A, db)).of('shared-id')).toEqual(['a-tag'])
      })

      it('refuses a scoped query that does not filter on the tenant', async () => {
        const tags = new TagsRepo(new ScopedDb(B, db))
        await expect(tags.allTagsUnsafe()).rejects.toBeInstanceOf(TenantScopeError)
      })

      it('keeps the tenant inside transactions', async () => {
        await new ScopedDb(B, db).transaction(async (tx: Queryable & { nid?: string }) => {
          expect((tx as ScopedDb).nid).toBe(B)
          const rows = await new NotesRepo(tx as ScopedDb).list()
          expect(rows.every((r) => r.title !== 'A secret')).toBe(true)
        })
      })
    })

    it('has a nid column, NOT NULL, on every table but the ledger', async () => {
      for (const table of await db.tables()) {
        if (table === 'tessera_migrations') continue
        const cols = await db.columns(table)
        const nid = cols.find((c) => c.name === 'nid')
        expect({ table, nid: nid?.notNull }).toEqual({ table, nid: true })
      }
    })
  })
}

/**
 * Check, list-objects and list-subjects against a brute-force oracle on random graphs (fast-check):
 * the oracle computes the least fixpoint of the model over all tuples in memory, independently of the engine.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import fc from 'fast-check'
import type { Kernel } from 'tessera'
import { bootApps, call } from '../../test/helpers/app.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { Engine } from './engine.ts'
import { permissions } from './index.ts'
import { parseOpl } from './opl.ts'
import { type Tuple, TupleStore } from './store.ts'

const MODEL = `
class User implements Namespace {}
class Group implements Namespace {
  related: { members: (User | SubjectSet<Group, "members">)[] }
}
class Doc implements Namespace {
  related: {
    parents: Doc[]
    viewers: (User | SubjectSet<Group, "members">)[]
    banned: User[]
  }
  permits = {
    view: (ctx: Context): boolean =>
      (this.related.viewers.includes(ctx.subject) || this.related.parents.traverse((p) => p.permits.view(ctx))) &&
      !this.related.banned.includes(ctx.subject),
  }
}`

const USERS = ['u0', 'u1', 'u2', 'u3']
const GROUPS = ['g0', 'g1', 'g2']
const DOCS = ['d0', 'd1', 'd2', 'd3']

const tupleArb: fc.Arbitrary<Tuple> = fc.oneof(
  fc.record({ g: fc.constantFrom(...GROUPS), u: fc.constantFrom(...USERS) }).map(({ g, u }) => ({ namespace: 'Group', object: g, relation: 'members', subject: { id: u } })),
  fc.record({ g: fc.constantFrom(...GROUPS), h: fc.constantFrom(...GROUPS) }).map(({ g, h }) => ({ namespace: 'Group', object: g, relation: 'members', subject: { set: { namespace: 'Group', object: h, relation: 'members' } } })),
  fc.record({ d: fc.constantFrom(...DOCS), p: fc.constantFrom(...DOCS) }).map(({ d, p }) => ({ namespace: 'Doc', object: d, relation: 'parents', subject: { set: { namespace: 'Doc', object: p, relation: '' } } })),
  fc.record({ d: fc.constantFrom(...DOCS), u: fc.constantFrom(...USERS) }).map(({ d, u }) => ({ namespace: 'Doc', object: d, relation: 'viewers', subject: { id: u } })),
  fc.record({ d: fc.constantFrom(...DOCS), g: fc.constantFrom(...GROUPS) }).map(({ d, g }) => ({ namespace: 'Doc', object: d, relation: 'viewers', subject: { set: { namespace: 'Group', object: g, relation: 'members' } } })),
  fc.record({ d: fc.constantFrom(...DOCS), u: fc.constantFrom(...USERS) }).map(({ d, u }) => ({ namespace: 'Doc', object: d, relation: 'banned', subject: { id: u } })),
)

/** Least fixpoint of the model: who views which doc. */
function oracle(tuples: Tuple[]): Map<string, Set<string>> {
  const members = new Map(GROUPS.map((g) => [g, new Set<string>()]))
  const view = new Map(DOCS.map((d) => [d, new Set<string>()]))
  for (let changed = true; changed; ) {
    changed = false
    const add = (s: Set<string>, u: string) => {
      if (!s.has(u)) {
        s.add(u)
        changed = true
      }
    }
    for (const t of tuples) {
      if (t.namespace === 'Group') {
        const target = members.get(t.object)!
        if ('id' in t.subject) add(target, t.subject.id)
        else for (const u of members.get(t.subject.set.object)!) add(target, u)
      }
    }
    for (const d of DOCS) {
      const banned = new Set(tuples.filter((t) => t.namespace === 'Doc' && t.object === d && t.relation === 'banned' && 'id' in t.subject).map((t) => (t.subject as { id: string }).id))
      for (const t of tuples.filter((t) => t.namespace === 'Doc' && t.object === d)) {
        let reach: Iterable<string> = []
        if (t.relation === 'viewers') reach = 'id' in t.subject ? [t.subject.id] : members.get(t.subject.set.object)!
        if (t.relation === 'parents' && 'set' in t.subject) reach = view.get(t.subject.set.object)!
        for (const u of [...reach]) if (!banned.has(u)) add(view.get(d)!, u)
      }
    }
  }
  return view
}

for (const driver of drivers('permissions-list')) {
  describe.skipIf(!driver.enabled)(`list-objects and list-subjects (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let kernel: Kernel
    let admin: Awaited<ReturnType<typeof bootApps>>['admin']
    const model = parseOpl(MODEL).model!

    beforeAll(async () => {
      scratch = await driver.create()
      ;({ kernel, admin } = await bootApps([permissions({ namespaces: MODEL, maxReadDepth: 50 })], { database: scratch.db }))
    })
    afterAll(async () => {
      await kernel.stop()
      await scratch.drop()
    })

    it('agree with check and with a brute-force fixpoint on random graphs (property)', async () => {
      let run = 0
      await fc.assert(
        fc.asyncProperty(fc.array(tupleArb, { maxLength: 14 }), async (tuples) => {
          // every run in its own tenant: no clean-up, and tenants must not see each other
          const db = kernel.storage.scoped(`prop-${run++}`)
          const store = new TupleStore(db)
          for (const t of tuples) await store.insert(t)
          const engine = new Engine(store, model)
          const expected = oracle(tuples)
          const known = new Set(tuples.flatMap((t) => (t.namespace === 'Doc' ? [t.object, ...('set' in t.subject ? [t.subject.set.object] : [])] : [])))
          const subjects = new Set(tuples.flatMap((t) => ('id' in t.subject ? [t.subject.id] : [])))
          for (const u of USERS) {
            for (const d of DOCS) expect(await engine.check({ namespace: 'Doc', object: d, relation: 'view', subject: { id: u } }, 50)).toBe(expected.get(d)!.has(u))
            const objs = await engine.listObjects('Doc', 'view', { id: u }, 50, 100)
            expect(objs.items).toEqual(DOCS.filter((d) => known.has(d) && expected.get(d)!.has(u)))
          }
          for (const d of DOCS) {
            const subs = await engine.listSubjects('Doc', d, 'view', 50, 100)
            expect(subs.items).toEqual(USERS.filter((u) => subjects.has(u) && expected.get(d)!.has(u)))
          }
        }),
        { numRuns: driver.name === 'sqlite' ? 60 : 20, seed: 4242 },
      )
    })

    it('pages list-objects over HTTP with sealed tokens; an empty token marks the last page', async () => {
      await call(admin, 'PATCH', '/admin/relation-tuples', {
        body: ['a', 'b', 'c', 'd', 'e'].map((o) => ({ action: 'insert', relation_tuple: { namespace: 'Doc', object: o, relation: 'viewers', subject_id: 'reader' } })),
      })
      const seen: string[] = []
      let token = ''
      let pages = 0
      do {
        const r = await call(admin, 'GET', `/relation-tuples/list-objects?namespace=Doc&relation=view&subject_id=reader&page_size=2${token ? `&page_token=${token}` : ''}`)
        expect(r.status).toBe(200)
        seen.push(...r.json.objects)
        token = r.json.next_page_token
        pages++
      } while (token)
      expect([seen, pages]).toEqual([['a', 'b', 'c', 'd', 'e'], 3])
      const subs = await call(admin, 'GET', '/relation-tuples/list-subjects?namespace=Doc&object=c&relation=view')
      expect(subs.json).toEqual({ subject_ids: ['reader'], next_page_token: '' })
      expect((await call(admin, 'GET', '/relation-tuples/list-objects?namespace=Doc&relation=view&subject_id=reader&page_token=forged')).status).toBe(400)
      expect((await call(admin, 'GET', '/relation-tuples/list-objects?namespace=Doc')).status).toBe(400)
    })
  })
}

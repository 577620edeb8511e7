/** Security checklist: the engine stops at a depth cap, on cycles and at a lookup limit; page tokens fuzzed. */
import { describe, expect, it } from 'bun:test'
import fc from 'fast-check'
import { bootApps, call } from '../../test/helpers/app.ts'
import { permissions } from './index.ts'

describe('permissions limits', () => {
  it('stops a wide check at maxCheckLookups as denied (Keto internal/check/call_limit_test.go: the same class)', async () => {
    const setup = async (maxCheckLookups: number) => {
      const apps = await bootApps([permissions({ maxCheckLookups })])
      const patch = Array.from({ length: 20 }, (_, i) => ({ action: 'insert', relation_tuple: { namespace: 'g', object: 'all', relation: 'm', subject_set: { namespace: 'g', object: `sub${String(i).padStart(2, '0')}`, relation: 'm' } } }))
      patch.push({ action: 'insert', relation_tuple: { namespace: 'g', object: 'sub19', relation: 'm', subject_id: 'ada' } as never })
      expect((await call(apps.admin, 'PATCH', '/admin/relation-tuples', { body: patch })).status).toBe(204)
      return apps
    }
    const narrow = await setup(5)
    expect((await call(narrow.admin, 'GET', '/relation-tuples/check/openapi?namespace=g&object=all&relation=m&subject_id=ada')).json).toEqual({ allowed: false })
    const why = await call(narrow.admin, 'GET', '/relation-tuples/check/explain?namespace=g&object=all&relation=m&subject_id=ada')
    expect(why.json.reason).toContain('limit of 5 lookups')
    await narrow.kernel.stop()
    const wide = await setup(100)
    expect((await call(wide.admin, 'GET', '/relation-tuples/check/openapi?namespace=g&object=all&relation=m&subject_id=ada')).json).toEqual({ allowed: true })
    await wide.kernel.stop()
  })

  it('detects a cycle itself, before the depth cap, and an undetermined part under ! never allows (Keto: a negated unknown stays unknown)', async () => {
    const opl = `
class User implements Namespace {}
class Group implements Namespace { related: { members: (User | SubjectSet<Group, "members">)[] } }
class Doc implements Namespace {
  related: { viewers: User[]; blocked: (User | SubjectSet<Group, "members">)[] }
  permits = { view: (ctx: Context): boolean => this.related.viewers.includes(ctx.subject) && !this.related.blocked.includes(ctx.subject) }
}`
    const { kernel, admin } = await bootApps([permissions({ namespaces: opl, maxReadDepth: 20 })])
    const set = (object: string) => ({ namespace: 'Group', object, relation: 'members' })
    const patch = [
      { namespace: 'Group', object: 'a', relation: 'members', subject_set: set('b') },
      { namespace: 'Group', object: 'b', relation: 'members', subject_set: set('a') }, // a cycle
      { namespace: 'Doc', object: 'd', relation: 'viewers', subject_id: 'ada' },
      { namespace: 'Doc', object: 'open', relation: 'viewers', subject_id: 'ada' },
      { namespace: 'Doc', object: 'd', relation: 'blocked', subject_set: set('a') }, // whether ada is blocked runs into the cycle
    ].map((relation_tuple) => ({ action: 'insert', relation_tuple }))
    expect((await call(admin, 'PATCH', '/admin/relation-tuples', { body: patch })).status).toBe(204)
    const q = (object: string) => `namespace=Doc&object=${object}&relation=view&subject_id=ada&max-depth=20`
    // with a depth cap of 20, only cycle detection can have cut the search: explain says so
    const why = await call(admin, 'GET', `/relation-tuples/check/explain?${q('d')}`)
    expect(why.json.allowed).toBe(false)
    expect(why.json.reason).toStartWith('undetermined')
    expect(JSON.stringify(why.json.path)).toContain('Group:a#members: cycle')
    // the blocked part is undetermined, so !blocked is too: ada may not view d, though she may view open
    expect((await call(admin, 'GET', `/relation-tuples/check/openapi?${q('d')}`)).json).toEqual({ allowed: false })
    expect((await call(admin, 'GET', `/relation-tuples/check/openapi?${q('open')}`)).json).toEqual({ allowed: true })
    await kernel.stop()
  })

  it('bounds the work of one list-objects page by maxListCandidates; following the tokens still finds everything', async () => {
    const { kernel, admin } = await bootApps([permissions({ maxListCandidates: 2 })])
    const patch = ['a', 'b', 'c', 'd', 'e'].map((o) => ({ action: 'insert', relation_tuple: { namespace: 'n', object: o, relation: 'r', subject_id: o === 'e' ? 'ada' : 'bob' } }))
    await call(admin, 'PATCH', '/admin/relation-tuples', { body: patch })
    const pages: string[][] = []
    let token = ''
    do {
      const r = await call(admin, 'GET', `/relation-tuples/list-objects?namespace=n&relation=r&subject_id=ada${token ? `&page_token=${token}` : ''}`)
      pages.push(r.json.objects)
      token = r.json.next_page_token
    } while (token && pages.length < 10)
    expect(pages).toEqual([[], [], ['e']])
    await kernel.stop()
  })

  it('answers any page token it did not issue with 400, never 500 (Keto GHSA-c38g-mx2c-9wf2: forged page tokens)', async () => {
    const { kernel, admin } = await bootApps([permissions()])
    await call(admin, 'PUT', '/admin/relation-tuples', { body: { namespace: 'n', object: 'o', relation: 'r', subject_id: 's' } })
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.base64String(), fc.stringMatching(/^[A-Za-z0-9_-]{20,120}$/)), async (token) => {
        fc.pre(token.length > 0)
        const r = await call(admin, 'GET', `/relation-tuples?namespace=n&page_token=${encodeURIComponent(token)}`)
        expect(r.status).toBe(400)
        const o = await call(admin, 'GET', `/relation-tuples/list-objects?namespace=n&relation=r&subject_id=s&page_token=${encodeURIComponent(token)}`)
        expect(o.status).toBe(400)
      }),
      { numRuns: 200, seed: 7 },
    )
    await kernel.stop()
  })
})

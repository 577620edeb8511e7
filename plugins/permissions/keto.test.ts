/**
 * Keto semantics an Ory user relies on, matched against Keto's own engine and tests (ory/keto
 * internal/check/engine_test.go, internal/check/step/, internal/expand/, internal/relationtuple/, internal/e2e/).
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { type TestApps, bootApps, call } from '../../test/helpers/app.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { permissions } from './index.ts'

/** Modelled on Keto's documented folder/document example: view and edit inherited from parent folders. */
const FOLDERS_OPL = `
import { Namespace, SubjectSet, Context } from "@ory/keto-namespace-types"

class User implements Namespace {}

class Group implements Namespace {
  related: { members: (User | SubjectSet<Group, "members">)[] }
}

class Folder implements Namespace {
  related: {
    parents: Folder[]
    owners: (User | SubjectSet<Group, "members">)[]
    viewers: (User | SubjectSet<Group, "members">)[]
  }
  permits = {
    view: (ctx: Context): boolean =>
      this.related.viewers.includes(ctx.subject) ||
      this.permits.edit(ctx) ||
      this.related.parents.traverse((p) => p.permits.view(ctx)),
    edit: (ctx: Context): boolean =>
      this.related.owners.includes(ctx.subject) || this.related.parents.traverse((p) => p.permits.edit(ctx)),
  }
}

class Document implements Namespace {
  related: {
    parents: Folder[]
    owners: (User | SubjectSet<Group, "members">)[]
    viewers: (User | SubjectSet<Group, "members">)[]
  }
  permits = {
    view: (ctx: Context): boolean =>
      this.related.viewers.includes(ctx.subject) ||
      this.permits.edit(ctx) ||
      this.related.parents.traverse((p) => p.permits.view(ctx)),
    edit: (ctx: Context): boolean =>
      this.related.owners.includes(ctx.subject) || this.related.parents.traverse((p) => p.permits.edit(ctx)),
  }
}

class Resource implements Namespace {
  related: {
    deepRel: (User | SubjectSet<Group, "members">)[]
    shortRel: (User | SubjectSet<Group, "members">)[]
  }
  permits = {
    union: (ctx: Context) => this.related.deepRel.includes(ctx.subject) || this.related.shortRel.includes(ctx.subject),
    intersection: (ctx: Context) => this.related.deepRel.includes(ctx.subject) && this.related.shortRel.includes(ctx.subject),
    shortButNotDeep: (ctx: Context) => this.related.shortRel.includes(ctx.subject) && !this.related.deepRel.includes(ctx.subject),
    notEither: (ctx: Context) => !this.permits.union(ctx),
  }
}

class Note implements Namespace {}
`

const tuple = (s: string) => {
  // Keto's tuple notation: ns:obj#rel@subject_id or ns:obj#rel@ns:obj#rel
  const m = /^([^:]+):([^#]+)#([^@]+)@(.+)$/.exec(s)!
  const [, namespace, object, relation, subject] = m as unknown as [string, string, string, string, string]
  const set = /^([^:]+):([^#]+)#(.*)$/.exec(subject)
  return set
    ? { namespace, object, relation, subject_set: { namespace: set[1]!, object: set[2]!, relation: set[3]! } }
    : { namespace, object, relation, subject_id: subject }
}

for (const driver of drivers('permissions-keto')) {
  describe.skipIf(!driver.enabled)(`permissions: Keto semantics (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: TestApps

    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps([permissions({ namespaces: FOLDERS_OPL, maxReadDepth: 10 })], { database: scratch.db })
      const tuples = [
        // Keto engine_test.go "Expansion Recursive": company ⊃ engineering ⊃ backend ∋ Alice
        'Group:company#members@Group:engineering#members',
        'Group:engineering#members@Group:backend#members',
        'Group:backend#members@Alice',
        // Keto engine_test.go "Depth Limit"
        'Resource:doc#deepRel@Group:deep#members',
        'Resource:doc#shortRel@Group:short#members',
        'Group:deep#members@Group:deep1#members',
        'Group:deep1#members@Group:deep2#members',
        'Group:deep2#members@Group:deep3#members',
        'Group:deep3#members@Group:deep4#members',
        'Group:deep4#members@Alice',
        'Group:short#members@Group:short1#members',
        'Group:short1#members@Group:short2#members',
        'Group:short2#members@Alice',
        'Group:short2#members@Charlie',
        // folders: report lies in q3, q3 in finance, finance in root; finance is owned by the admins group, root by ada
        'Document:report#parents@Folder:q3#',
        'Folder:q3#parents@Folder:finance#',
        'Folder:finance#parents@Folder:root#',
        'Folder:finance#owners@Group:admins#members',
        'Group:admins#members@bob',
        'Folder:root#owners@ada',
      ]
      const r = await call(apps.admin, 'PATCH', '/admin/relation-tuples', { body: tuples.map((s) => ({ action: 'insert', relation_tuple: tuple(s) })) })
      expect(r.status).toBe(204)
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    const allowed = async (s: string, depth?: number) => {
      const t = tuple(s)
      const q = new URLSearchParams({ namespace: t.namespace, object: t.object, relation: t.relation, ...(t.subject_id !== undefined ? { subject_id: t.subject_id } : {}) })
      if (depth !== undefined) q.set('max-depth', String(depth))
      return (await call(apps.admin, 'GET', `/relation-tuples/check/openapi?${q}`)).json.allowed as boolean
    }

    it("counts depth as Keto does for subject sets: a subject set's direct members are seen from the level above", async () => {
      expect(await allowed('Group:company#members@Alice', 1)).toBe(false) // Keto: depth=1 is not enough for a 2-hop chain
      expect(await allowed('Group:company#members@Alice', 2)).toBe(true) // Keto: depth=2 is enough
      expect(await allowed('Group:backend#members@Alice', 1)).toBe(true)
    })

    it("evaluates a permission's operands at the permission's depth (Keto TestDepthLimit)", async () => {
      expect(await allowed('Resource:doc#union@Alice', 2)).toBe(false)
      expect(await allowed('Resource:doc#union@Alice', 3)).toBe(false)
      expect(await allowed('Resource:doc#union@Alice', 4)).toBe(true)
      expect(await allowed('Resource:doc#intersection@Alice', 4)).toBe(false)
      expect(await allowed('Resource:doc#intersection@Alice', 5)).toBe(true)
      expect(await allowed('Resource:doc#shortButNotDeep@Alice', 4)).toBe(false)
      expect(await allowed('Resource:doc#shortButNotDeep@Charlie', 7)).toBe(true)
      expect(await allowed('Resource:doc#notEither@Alice', 2)).toBe(false)
      // an undetermined union under ! stays undetermined: Bob is in no branch, but depth 2 cannot show it
      expect(await allowed('Resource:doc#notEither@Bob', 2)).toBe(false)
      expect(await allowed('Resource:doc#notEither@Bob', 10)).toBe(true)
    })

    it('refuses DELETE /admin/relation-tuples without namespace or with an unknown query parameter (400), deleting nothing', async () => {
      const count = async () => (await call(apps.admin, 'GET', '/relation-tuples?namespace=Group&page_size=1000')).json.relation_tuples.length
      const before = await count()
      const typo = await call(apps.admin, 'DELETE', '/admin/relation-tuples?namespace=Group&subjectId=Alice')
      expect([typo.status, typo.json.error.reason]).toEqual([400, 'query parameter key "subjectId" unknown'])
      const noNamespace = await call(apps.admin, 'DELETE', '/admin/relation-tuples?object=company')
      expect([noNamespace.status, noNamespace.json.error.reason]).toEqual([400, 'query parameters must specify at least one of the following: namespace'])
      expect(await count()).toBe(before)
      // a namespace alone deletes the namespace's tuples, as in Keto
      await call(apps.admin, 'PUT', '/admin/relation-tuples', { body: tuple('Note:n1#anything@ada') })
      expect((await call(apps.admin, 'DELETE', '/admin/relation-tuples?namespace=Note')).status).toBe(204)
      expect((await call(apps.admin, 'GET', '/relation-tuples?namespace=Note')).json.relation_tuples).toEqual([])
      expect(await count()).toBe(before)
    })

    it('accepts any relation as a plain one in a class that declares none (Keto README: class Document implements Namespace {})', async () => {
      expect((await call(apps.admin, 'PUT', '/admin/relation-tuples', { body: tuple('Note:secret#read@tom') })).status).toBe(201)
      expect(await allowed('Note:secret#read@tom')).toBe(true)
      expect(await allowed('Note:secret#read@jerry')).toBe(false)
      // a class with relations still refuses an undeclared one
      expect((await call(apps.admin, 'PUT', '/admin/relation-tuples', { body: tuple('Group:x#read@tom') })).status).toBe(400)
    })

    it('answers 404 for a subject set in an unknown namespace, and reads a subject_set without relation as empty (cat-videos example)', async () => {
      const unknown = await call(apps.admin, 'PUT', '/admin/relation-tuples', { body: tuple('Document:x#viewers@Nope:y#members') })
      expect([unknown.status, unknown.json.error.reason]).toEqual([404, 'Unknown namespace with name "Nope".'])
      const patch = await call(apps.admin, 'PATCH', '/admin/relation-tuples', { body: [{ action: 'insert', relation_tuple: tuple('Document:x#viewers@Nope:y#members') }] })
      expect(patch.status).toBe(404)
      const noRelation = { namespace: 'Document', object: 'cats', relation: 'parents', subject_set: { namespace: 'Folder', object: 'videos' } }
      const created = await call(apps.admin, 'PUT', '/admin/relation-tuples', { body: noRelation })
      expect([created.status, created.json.subject_set]).toEqual([201, { namespace: 'Folder', object: 'videos', relation: '' }])
    })

    it('decodes a JSON body whatever the Content-Type, as Keto does (curl -d sends a form type)', async () => {
      const form = { 'content-type': 'application/x-www-form-urlencoded' }
      const put = await call(apps.admin, 'PUT', '/admin/relation-tuples', { body: JSON.stringify(tuple('Note:form#read@ann')), headers: form })
      expect(put.status).toBe(201)
      const check = await call(apps.admin, 'POST', '/relation-tuples/check/openapi', { body: JSON.stringify(tuple('Note:form#read@ann')), headers: form })
      expect([check.status, check.json]).toEqual([200, { allowed: true }])
      const batch = await call(apps.admin, 'POST', '/relation-tuples/batch/check', { body: JSON.stringify({ tuples: [tuple('Note:form#read@ann')] }), headers: form })
      expect([batch.status, batch.json]).toEqual([200, { results: [{ allowed: true }] }])
      const patch = await call(apps.admin, 'PATCH', '/admin/relation-tuples', { body: JSON.stringify([{ action: 'delete', relation_tuple: tuple('Note:form#read@ann') }]), headers: form })
      expect(patch.status).toBe(204)
      expect(await allowed('Note:form#read@ann')).toBe(false)
      const bad = await call(apps.admin, 'PUT', '/admin/relation-tuples', { body: 'namespace=Note', headers: form })
      expect(bad.status).toBe(400)
    })

    it("words errors as Keto's e2e tests pin them: an unknown namespace in a batch entry, an unclosed OPL comment", async () => {
      const batch = await call(apps.admin, 'POST', '/relation-tuples/batch/check', { body: { tuples: [tuple('Nope:x#y@z')] } })
      expect(batch.json.results[0].allowed).toBe(false)
      expect(batch.json.results[0].error).toContain('The requested resource could not be found')
      const opl = await call(apps.admin, 'POST', '/opl/syntax/check', { body: '/* unclosed comment', headers: { 'content-type': 'text/plain' } })
      expect(opl.json.errors).toHaveLength(1)
      expect(opl.json.errors[0].message).toContain('unclosed comment')
    })

    it("expands as Keto's documented example: a subject set at the last level is a leaf, subject nodes carry only the subject", async () => {
      const own = await driver.create()
      const legacy = await bootApps([permissions({ namespaces: [{ name: 'files' }, { name: 'directories' }] })], { database: own.db })
      try {
        // Keto contrib/docs-code-samples/expand-api-display-access
        const tuples = [
          'directories:/photos#owner@maureen',
          'files:/photos/beach.jpg#owner@maureen',
          'directories:/photos#access@laura',
          'directories:/photos#access@directories:/photos#owner',
          'files:/photos/beach.jpg#access@files:/photos/beach.jpg#owner',
          'files:/photos/beach.jpg#access@directories:/photos#access',
        ]
        await call(legacy.admin, 'PATCH', '/admin/relation-tuples', { body: tuples.map((x) => ({ action: 'insert', relation_tuple: tuple(x) })) })
        const tree = await call(legacy.admin, 'GET', '/relation-tuples/expand?namespace=files&relation=access&object=/photos/beach.jpg&max-depth=3')
        const node = (subject: object) => ({ namespace: '', object: '', relation: '', ...subject })
        const set = (namespace: string, object: string, relation: string) => node({ subject_set: { namespace, object, relation } })
        // Keto gives children in storage order: compare them sorted
        type Node = { type: string; tuple: object; children?: Node[] }
        const sorted = (n: Node): Node => (n.children ? { ...n, children: n.children.map(sorted).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))) } : n)
        expect(sorted(tree.json)).toEqual(sorted({
          type: 'union',
          tuple: set('files', '/photos/beach.jpg', 'access'),
          children: [
            { type: 'union', tuple: set('files', '/photos/beach.jpg', 'owner'), children: [{ type: 'leaf', tuple: node({ subject_id: 'maureen' }) }] },
            {
              type: 'union',
              tuple: set('directories', '/photos', 'access'),
              children: [{ type: 'leaf', tuple: node({ subject_id: 'laura' }) }, { type: 'leaf', tuple: set('directories', '/photos', 'owner') }],
            },
          ],
        }))
      } finally {
        await legacy.kernel.stop()
        await own.drop()
      }
    })

    it("lets a folder's owner two and three levels up view a document at the default max-depth of 5", async () => {
      // the same tuples, on a kernel with the default max_read_depth (a kernel's stop closes its database: not the shared one)
      const own = await driver.create()
      const atDefault = await bootApps([permissions({ namespaces: FOLDERS_OPL })], { database: own.db })
      const rows = (await call(apps.admin, 'GET', '/relation-tuples?page_size=1000')).json.relation_tuples as object[]
      await call(atDefault.admin, 'PATCH', '/admin/relation-tuples', { body: rows.map((relation_tuple) => ({ action: 'insert', relation_tuple })) })
      try {
        const check = async (s: string) => {
          const t = tuple(s)
          return (await call(atDefault.admin, 'GET', `/relation-tuples/check/openapi?namespace=${t.namespace}&object=${t.object}&relation=${t.relation}&subject_id=${t.subject_id}`)).json.allowed
        }
        expect(await check('Document:report#view@bob')).toBe(true) // finance's owners, through the admins group
        expect(await check('Document:report#edit@bob')).toBe(true)
        expect(await check('Document:report#view@ada')).toBe(true) // root's owner, three levels up
        expect(await check('Document:report#view@mallory')).toBe(false)
      } finally {
        await atDefault.kernel.stop()
        await own.drop()
      }
    })
  })
}

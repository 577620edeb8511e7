import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { Configuration, PermissionApi, RelationshipApi, ResponseError } from '@ory/client-fetch'
import type { AnyElysia } from 'elysia'
import { type TestApps, bootApps, call } from '../../test/helpers/app.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { REWRITES_OPL } from './fixtures.ts'
import { permissions } from './index.ts'
import { ScopedDb } from '../../core/storage/scoped.ts'
import { type Tuple, TupleStore, stepKey } from './store.ts'

const sdk = (app: AnyElysia) => {
  const config = new Configuration({
    basePath: 'http://localhost',
    fetchApi: (input, init) => app.handle(new Request(input as string, init)),
  })
  return { relationships: new RelationshipApi(config), permissions: new PermissionApi(config) }
}

const t = (namespace: string, object: string, relation: string, subject: string | [string, string, string]) =>
  typeof subject === 'string'
    ? { namespace, object, relation, subject_id: subject }
    : { namespace, object, relation, subject_set: { namespace: subject[0], object: subject[1], relation: subject[2] } }

for (const driver of drivers('permissions')) {
  describe.skipIf(!driver.enabled)(`permissions plugin (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: TestApps
    let api: ReturnType<typeof sdk>

    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps([permissions({ namespaces: REWRITES_OPL })], { database: scratch.db })
      api = sdk(apps.admin)
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    const allowed = async (namespace: string, object: string, relation: string, subjectId: string, maxDepth?: number) =>
      (await api.permissions.checkPermission({ namespace, object, relation, subjectId, maxDepth })).allowed

    it('serves check on the public listener when reads are configured public, and then not on the admin one', async () => {
      const pub = await bootApps([permissions({ namespaces: REWRITES_OPL, read: 'public' })])
      try {
        const q = '/relation-tuples/check/openapi?namespace=Group&object=nobody&relation=members&subject_id=x'
        expect((await call(pub.public, 'GET', q)).json).toEqual({ allowed: false })
        expect((await call(pub.admin, 'GET', q)).status).toBe(404)
      } finally {
        await pub.kernel.stop()
      }
    })

    it("answers a step's subject-set closure in one statement exactly as step by step, and gives up beyond its row limit", async () => {
      const store = new TupleStore(new ScopedDb('closure-test', scratch.db))
      const set = (namespace: string, object: string, relation: string) => ({ set: { namespace, object, relation } })
      const tuples: Tuple[] = [
        { namespace: 'Doc', object: 'd', relation: 'viewers', subject: set('Group', 'org', 'members') },
        { namespace: 'Doc', object: 'd', relation: 'viewers', subject: { id: 'eve' } },
        { namespace: 'Group', object: 'org', relation: 'members', subject: set('Group', 'team', 'members') },
        { namespace: 'Group', object: 'org', relation: 'members', subject: set('Group', 'ops', 'members'), condition: { eq: [{ context: 'organization' }, 'acme'] } },
        { namespace: 'Group', object: 'team', relation: 'members', subject: { id: 'ann' } },
        { namespace: 'Group', object: 'team', relation: 'members', subject: set('Group', 'org', 'members') }, // a cycle
      ]
      for (const t of tuples) await store.insert(t)
      const ann = { id: 'ann' }
      const closure = await store.closure('Doc', 'd', 'viewers', ann, 5)
      expect(closure).not.toBeNull()
      // every node reached, including one with no tuples (ops), answers as a step would
      const nodes = [['Doc', 'd', 'viewers'], ['Group', 'org', 'members'], ['Group', 'team', 'members'], ['Group', 'ops', 'members']] as const
      expect([...closure!.keys()].sort()).toEqual(nodes.map(([n, o, r]) => stepKey(n, o, r)).sort())
      const bySet = (a: { namespace: string; object: string }, b: { namespace: string; object: string }) => `${a.namespace}:${a.object}`.localeCompare(`${b.namespace}:${b.object}`)
      for (const [n, o, r] of nodes) {
        const step = await store.step(n, o, r, ann)
        const fetched = closure!.get(stepKey(n, o, r))!
        expect({ node: `${n}:${o}#${r}`, direct: fetched.direct, sets: fetched.sets.toSorted(bySet) }).toEqual({ node: `${n}:${o}#${r}`, direct: step.direct, sets: step.sets.toSorted(bySet) })
      }
      // a depth of 1 reaches only the start; a row limit that is reached gives up (the engine then goes step by step)
      expect([...(await store.closure('Doc', 'd', 'viewers', ann, 1))!.keys()]).toEqual([stepKey('Doc', 'd', 'viewers')])
      expect(await store.closure('Doc', 'd', 'viewers', ann, 5, 3)).toBeNull()
    })

    it('writes a tuple with PUT and lists it back through the SDK', async () => {
      const created = await api.relationships.createRelationship({ createRelationshipBody: t('Group', 'developer', 'members', 'patrik') })
      expect(created.subject_id).toBe('patrik')
      const list = await api.relationships.getRelationships({ namespace: 'Group', object: 'developer' })
      expect(list.relation_tuples).toEqual([{ namespace: 'Group', object: 'developer', relation: 'members', subject_id: 'patrik' }])
      expect(list.next_page_token).toBe('')
    })

    it('answers Keto rewrites-example checks: direct, subject sets, traverse, computed, intersection, exclusion', async () => {
      await api.relationships.patchRelationships({
        relationshipPatch: [
          t('Group', 'admin', 'members', ['Group', 'developer', 'members']),
          t('Folder', 'keto', 'viewers', ['Group', 'developer', 'members']),
          t('File', 'keto/README.md', 'parents', ['Folder', 'keto', '']),
          t('File', 'keto/README.md', 'owners', 'henning'),
          t('File', 'private', 'owners', 'henning'),
          t('File', 'private', 'banned', 'henning'),
          t('File', 'private', 'viewers', 'patrik'),
        ].map((relation_tuple) => ({ action: 'insert' as const, relation_tuple })),
      })
      // direct tuple and subject-set membership
      expect(await allowed('Group', 'developer', 'members', 'patrik')).toBe(true)
      expect(await allowed('Group', 'admin', 'members', 'patrik')).toBe(true)
      expect(await allowed('Group', 'admin', 'members', 'henning')).toBe(false)
      // Folder view through a subject set, File view through traverse of the parent folder
      expect(await allowed('Folder', 'keto', 'view', 'patrik')).toBe(true)
      expect(await allowed('File', 'keto/README.md', 'view', 'patrik')).toBe(true)
      // computed userset: owners can edit, and edit implies view
      expect(await allowed('File', 'keto/README.md', 'edit', 'henning')).toBe(true)
      expect(await allowed('File', 'keto/README.md', 'view', 'henning')).toBe(true)
      expect(await allowed('File', 'keto/README.md', 'edit', 'patrik')).toBe(false)
      // exclusion: a banned owner cannot view; intersection: audit needs view and edit
      expect(await allowed('File', 'private', 'view', 'henning')).toBe(false)
      expect(await allowed('File', 'private', 'view', 'patrik')).toBe(true)
      expect(await allowed('File', 'private', 'audit', 'henning')).toBe(false)
      expect(await allowed('File', 'keto/README.md', 'audit', 'henning')).toBe(true)
      expect(await allowed('File', 'keto/README.md', 'audit', 'patrik')).toBe(false)
    })

    it('answers 200 or 403 on /check and always 200 on /check/openapi, for GET and POST', async () => {
      const ok = await call(apps.admin, 'GET', '/relation-tuples/check?namespace=Group&object=developer&relation=members&subject_id=patrik')
      expect([ok.status, ok.json]).toEqual([200, { allowed: true }])
      expect(ok.headers.get('content-type')).toBe('application/json;charset=utf-8')
      // the one-pass query reading agrees with the schema: the last repeated parameter wins, max-depth is read
      const repeated = await call(apps.admin, 'GET', '/relation-tuples/check?namespace=Group&object=developer&relation=members&subject_id=mallory&subject_id=patrik&max-depth=3')
      expect([repeated.status, repeated.json]).toEqual([200, { allowed: true }])
      const badDepth = await call(apps.admin, 'GET', '/relation-tuples/check?namespace=Group&object=developer&relation=members&subject_id=patrik&max-depth=3&max-depth=x')
      expect(badDepth.status).toBe(400)
      const badPage = await call(apps.admin, 'GET', '/relation-tuples/check?namespace=Group&object=developer&relation=members&subject_id=patrik&page_size=0')
      expect(badPage.status).toBe(400)
      const no = await call(apps.admin, 'GET', '/relation-tuples/check?namespace=Group&object=developer&relation=members&subject_id=mallory')
      expect([no.status, no.json]).toEqual([403, { allowed: false }])
      const post = await call(apps.admin, 'POST', '/relation-tuples/check', { body: t('Group', 'developer', 'members', 'mallory') })
      expect([post.status, post.json]).toEqual([403, { allowed: false }])
      const oa = await call(apps.admin, 'POST', '/relation-tuples/check/openapi', { body: t('Group', 'developer', 'members', 'mallory') })
      expect([oa.status, oa.json]).toEqual([200, { allowed: false }])
      await expect(api.permissions.checkPermissionOrError({ namespace: 'Group', object: 'developer', relation: 'members', subjectId: 'mallory' })).rejects.toBeInstanceOf(ResponseError)
      const viaSdk = await api.permissions.postCheckPermission({ postCheckPermissionBody: t('Group', 'developer', 'members', 'patrik') })
      expect(viaSdk.allowed).toBe(true)
      // a malformed body is a 400, a body that is not a tuple a 400 naming the problem, another method a 404
      const malformed = await call(apps.admin, 'POST', '/relation-tuples/check', { body: '{"namespace":', headers: { 'content-type': 'application/json' } })
      expect([malformed.status, malformed.json.error.code]).toEqual([400, 400])
      const notATuple = await call(apps.admin, 'POST', '/relation-tuples/check/openapi', { body: { namespace: 'Group' } })
      expect(notATuple.status).toBe(400)
      expect((await call(apps.admin, 'PUT', '/relation-tuples/check', { body: t('Group', 'developer', 'members', 'patrik') })).status).toBe(404)
      // reads live on the admin listener by default: not on the public one
      expect((await call(apps.public, 'GET', '/relation-tuples/check?namespace=Group&object=developer&relation=members&subject_id=patrik')).status).toBe(404)
    })

    it('explains an allowed check with its derivation and a denied one with its reason', async () => {
      const ok = await call(apps.admin, 'GET', '/relation-tuples/check/explain?namespace=File&object=keto/README.md&relation=view&subject_id=patrik')
      expect(ok.status).toBe(200)
      expect(ok.json).toEqual({
        allowed: true,
        path: {
          step: 'File:keto/README.md#view is a permission',
          because: [
            {
              step: 'intersection: every part holds',
              because: [
                {
                  step: 'traverse tuple File:keto/README.md#parents@Folder:keto',
                  because: [
                    {
                      step: 'Folder:keto#view is a permission',
                      because: [{ step: 'tuple Folder:keto#viewers@Group:developer#members', because: [{ step: 'tuple Group:developer#members@patrik' }] }],
                    },
                  ],
                },
                { step: 'exclusion: banned does not hold' },
              ],
            },
          ],
        },
      })
      const banned = await call(apps.admin, 'POST', '/relation-tuples/check/explain', { body: t('File', 'private', 'view', 'henning') })
      expect(banned.json.allowed).toBe(false)
      expect(banned.json.reason).toBe('no relation tuple or rewrite connects the subject to the object')
      expect(JSON.stringify(banned.json.path)).toContain('tuple File:private#banned@henning')
      const deep = await call(apps.admin, 'GET', '/relation-tuples/check/explain?namespace=File&object=keto/README.md&relation=view&subject_id=patrik&max-depth=2')
      expect(deep.json.allowed).toBe(false)
      expect(deep.json.reason).toContain('max-depth 2')
    })

    it('checks a subject set as the subject', async () => {
      const r = await api.permissions.checkPermission({
        namespace: 'Group', object: 'admin', relation: 'members', subjectSetNamespace: 'Group', subjectSetObject: 'developer', subjectSetRelation: 'members',
      })
      expect(r.allowed).toBe(true)
    })

    it('batch-checks in order, with an error for a tuple in an unknown namespace', async () => {
      const r = await api.permissions.batchCheckPermission({
        batchCheckPermissionBody: {
          tuples: [t('File', 'keto/README.md', 'view', 'patrik'), t('File', 'private', 'view', 'henning'), t('Nope', 'x', 'y', 'z')],
        },
      })
      expect(r.results.map((x) => x.allowed)).toEqual([true, false, false])
      expect(r.results[2]!.error).toContain('Unknown namespace')
      const big = await call(apps.admin, 'POST', '/relation-tuples/batch/check', { body: { tuples: Array(11).fill(t('File', 'a', 'view', 'b')) } })
      expect(big.status).toBe(400)
    })

    it('stops at max-depth: Keto default 5, request values capped to it', async () => {
      // Group chain g0 <- g1 <- ... <- g6: patrik is a member of g0; g(i+1)#members includes g(i)#members
      await api.relationships.patchRelationships({
        relationshipPatch: [
          { action: 'insert', relation_tuple: t('Group', 'g0', 'members', 'patrik') },
          ...[0, 1, 2, 3, 4, 5].map((i) => ({ action: 'insert' as const, relation_tuple: t('Group', `g${i + 1}`, 'members', ['Group', `g${i}`, 'members']) })),
        ],
      })
      // as in Keto, a subject set's direct members are seen from the level above: g1 needs 1, g(k) needs k
      expect(await allowed('Group', 'g0', 'members', 'patrik', 1)).toBe(true)
      expect(await allowed('Group', 'g1', 'members', 'patrik', 1)).toBe(true)
      expect(await allowed('Group', 'g2', 'members', 'patrik', 1)).toBe(false)
      expect(await allowed('Group', 'g2', 'members', 'patrik', 2)).toBe(true)
      expect(await allowed('Group', 'g5', 'members', 'patrik')).toBe(true)
      expect(await allowed('Group', 'g6', 'members', 'patrik')).toBe(false)
      expect(await allowed('Group', 'g6', 'members', 'patrik', 100)).toBe(false)
    })

    it('terminates on cycles of subject sets and denies (security checklist: cycles)', async () => {
      await api.relationships.patchRelationships({
        relationshipPatch: [
          { action: 'insert', relation_tuple: t('Group', 'a', 'members', ['Group', 'b', 'members']) },
          { action: 'insert', relation_tuple: t('Group', 'b', 'members', ['Group', 'a', 'members']) },
          { action: 'insert', relation_tuple: t('Group', 'b', 'members', 'cyclist') },
        ],
      })
      expect(await allowed('Group', 'a', 'members', 'cyclist')).toBe(true)
      expect(await allowed('Group', 'a', 'members', 'stranger')).toBe(false)
    })

    it('pages through tuples with sealed page tokens; forged, mangled or reused-with-other-filters tokens are 400', async () => {
      await api.relationships.patchRelationships({
        relationshipPatch: Array.from({ length: 7 }, (_, i) => ({ action: 'insert' as const, relation_tuple: t('Folder', `p${i}`, 'viewers', `u${i}`) })),
      })
      const seen: string[] = []
      let token: string | undefined
      let pages = 0
      do {
        const page = await api.relationships.getRelationships({ namespace: 'Folder', relation: 'viewers', pageSize: 3, pageToken: token })
        seen.push(...page.relation_tuples!.map((x) => x.object))
        token = page.next_page_token || undefined
        pages++
      } while (token)
      expect(pages).toBe(3)
      expect(seen.filter((o) => o.startsWith('p'))).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6'])

      const first = await call(apps.admin, 'GET', '/relation-tuples?namespace=Folder&relation=viewers&page_size=3')
      const good = first.json.next_page_token as string
      const mangled = `${good.slice(0, -2)}${good.endsWith('AA') ? 'BB' : 'AA'}`
      for (const bad of [mangled, 'not-a-token', '!!!', 'eyJmIjp7fSwiYyI6W119']) {
        const r = await call(apps.admin, 'GET', `/relation-tuples?namespace=Folder&relation=viewers&page_size=3&page_token=${encodeURIComponent(bad)}`)
        expect(r.status).toBe(400)
        expect(r.json.error.code).toBe(400)
      }
      const other = await call(apps.admin, 'GET', `/relation-tuples?namespace=File&page_size=3&page_token=${good}`)
      expect(other.status).toBe(400)
    })

    it('refuses a page token issued for another tenant (security checklist: page tokens)', async () => {
      const first = await call(apps.admin, 'GET', '/relation-tuples?namespace=Folder&page_size=1')
      const token = first.json.next_page_token as string
      expect(token).not.toBe('')
      const other = await apps.kernel.requestContext(new Request('http://localhost/'))
      expect(other.tenant).toBe('default')
      // the token is sealed with the tenant as additional data: opening it for another tenant fails
      expect(await apps.kernel.secrets.system.open('permissions.page_token', token, 'other-tenant')).toBeNull()
      expect(await apps.kernel.secrets.system.open('permissions.page_token', token, 'default')).not.toBeNull()
    })

    it('lists and deletes by subject: subject_id and subject_set.* filter exactly', async () => {
      await api.relationships.patchRelationships({
        relationshipPatch: [
          t('Folder', 'sf1', 'viewers', 'sub-ann'),
          t('Folder', 'sf2', 'viewers', 'sub-ann'),
          t('Folder', 'sf2', 'viewers', 'sub-bob'),
          t('Folder', 'sf3', 'viewers', ['Group', 'sub-team', 'members']),
        ].map((relation_tuple) => ({ action: 'insert' as const, relation_tuple })),
      })
      const objects = async (q: string) => ((await call(apps.admin, 'GET', `/relation-tuples?namespace=Folder&${q}`)).json.relation_tuples as { object: string }[]).map((x) => x.object)
      expect(await objects('subject_id=sub-ann')).toEqual(['sf1', 'sf2'])
      expect(await objects('subject_set.namespace=Group&subject_set.object=sub-team&subject_set.relation=members')).toEqual(['sf3'])
      expect((await call(apps.admin, 'DELETE', '/admin/relation-tuples?namespace=Folder&subject_id=sub-ann')).status).toBe(204)
      expect(await objects('subject_id=sub-ann')).toEqual([])
      expect(await objects('subject_id=sub-bob')).toEqual(['sf2'])
      expect(await objects('subject_set.namespace=Group&subject_set.object=sub-team&subject_set.relation=members')).toEqual(['sf3'])
    })

    it('deletes tuples by filter and through PATCH delete', async () => {
      await api.relationships.createRelationship({ createRelationshipBody: t('Folder', 'tmp', 'viewers', 'x') })
      await api.relationships.patchRelationships({ relationshipPatch: [{ action: 'delete', relation_tuple: t('Folder', 'tmp', 'viewers', 'x') }] })
      expect(await allowed('Folder', 'tmp', 'view', 'x')).toBe(false)
      await api.relationships.createRelationship({ createRelationshipBody: t('Folder', 'tmp', 'viewers', 'y') })
      expect(await allowed('Folder', 'tmp', 'view', 'y')).toBe(true)
      await api.relationships.deleteRelationships({ namespace: 'Folder', object: 'tmp' })
      expect(await allowed('Folder', 'tmp', 'view', 'y')).toBe(false)
      expect((await call(apps.admin, 'DELETE', '/admin/relation-tuples')).status).toBe(400)
    })

    it('rolls back a PATCH whose later patch is invalid', async () => {
      const r = await call(apps.admin, 'PATCH', '/admin/relation-tuples', {
        body: [
          { action: 'insert', relation_tuple: t('Folder', 'atomic', 'viewers', 'z') },
          { action: 'insert', relation_tuple: t('Nope', 'atomic', 'viewers', 'z') },
        ],
      })
      expect(r.status).toBe(404)
      expect(await allowed('Folder', 'atomic', 'view', 'z')).toBe(false)
    })

    it('answers a check on a relation its namespace does not declare with 400, as Keto; permissions and relations are checkable', async () => {
      for (const [method, path, body] of [
        ['GET', '/relation-tuples/check?namespace=Folder&object=strict&relation=owners&subject_id=ann', undefined],
        ['GET', '/relation-tuples/check/openapi?namespace=Folder&object=strict&relation=owners&subject_id=ann', undefined],
        ['POST', '/relation-tuples/check', t('Folder', 'strict', 'owners', 'ann')],
        ['GET', '/relation-tuples/check/explain?namespace=Folder&object=strict&relation=owners&subject_id=ann', undefined],
      ] as const) {
        const r = await call(apps.admin, method, path, body ? { body } : {})
        expect({ path, status: r.status, reason: r.json.error?.reason }).toEqual({ path, status: 400, reason: 'relation "owners" does not exist in namespace "Folder"' })
      }
      const batch = await call(apps.admin, 'POST', '/relation-tuples/batch/check', { body: { tuples: [t('Folder', 'strict', 'owners', 'ann'), t('Folder', 'strict', 'view', 'ann')] } })
      expect(batch.json.results).toEqual([{ allowed: false, error: 'relation "owners" does not exist in namespace "Folder"' }, { allowed: false }])
      // a malformed tuple in a batch is named in words, not in valibot's ("Invalid key: …")
      const malformed = await call(apps.admin, 'POST', '/relation-tuples/batch/check', { body: { tuples: [{ namespace: 'Folder', object: 'strict', subject_id: 'ann' }] } })
      expect(malformed.json.results).toEqual([{ allowed: false, error: 'relation: is required but missing' }])
      expect((await call(apps.admin, 'GET', '/relation-tuples/check/openapi?namespace=Folder&object=strict&relation=viewers&subject_id=ann')).status).toBe(200)
    })

    it('refuses writes on an undeclared relation or on a permission with 400, as Keto (namespace.ASTRelationFor: "relation does not exist")', async () => {
      const undeclared = await call(apps.admin, 'PUT', '/admin/relation-tuples', { body: t('Folder', 'strict', 'owners', 'ann') })
      expect(undeclared.status).toBe(400)
      expect(undeclared.json.error.reason).toBe('relation "owners" does not exist in namespace "Folder"')
      const permission = await call(apps.admin, 'PUT', '/admin/relation-tuples', { body: t('Folder', 'strict', 'view', 'ann') })
      expect(permission.status).toBe(400)
      expect(permission.json.error.reason).toContain('is a permission')
      // a PATCH with one such insert writes nothing
      const patch = await call(apps.admin, 'PATCH', '/admin/relation-tuples', {
        body: [
          { action: 'insert', relation_tuple: t('Folder', 'strict', 'viewers', 'ann') },
          { action: 'insert', relation_tuple: t('Folder', 'strict', 'view', 'ann') },
        ],
      })
      expect(patch.status).toBe(400)
      expect(await allowed('Folder', 'strict', 'view', 'ann')).toBe(false)
      // deleting by such a relation stays possible (cleanup after a model change)
      const del = await call(apps.admin, 'PATCH', '/admin/relation-tuples', { body: [{ action: 'delete', relation_tuple: t('Folder', 'strict', 'owners', 'ann') }] })
      expect(del.status).toBe(204)
      // declared relations still write, through the SDK too
      await api.relationships.createRelationship({ createRelationshipBody: t('Folder', 'strict', 'viewers', 'ann') })
      expect(await allowed('Folder', 'strict', 'view', 'ann')).toBe(true)
    })

    it('answers an unknown namespace as Keto: denied on check, an error per entry in batch check, 404 on write, list, expand', async () => {
      const q = 'namespace=Nope&object=x&relation=y&subject_id=z'
      expect((await call(apps.admin, 'GET', `/relation-tuples/check?${q}`)).status).toBe(403)
      expect((await call(apps.admin, 'GET', `/relation-tuples/check/openapi?${q}`)).json).toEqual({ allowed: false })
      expect((await call(apps.admin, 'GET', '/relation-tuples/expand?namespace=Nope&object=x&relation=y')).status).toBe(404)
      expect((await call(apps.admin, 'GET', '/relation-tuples?namespace=Nope')).status).toBe(404)
      expect((await call(apps.admin, 'GET', '/relation-tuples/list-objects?namespace=Nope&relation=y&subject_id=z')).status).toBe(404)
      expect((await call(apps.admin, 'GET', '/relation-tuples/list-subjects?namespace=Nope&object=x&relation=y')).status).toBe(404)
      expect((await call(apps.admin, 'PUT', '/admin/relation-tuples', { body: t('Nope', 'x', 'y', 'z') })).status).toBe(404)
      expect((await call(apps.admin, 'DELETE', '/admin/relation-tuples?namespace=Nope')).status).toBe(404)
    })

    it('answers bad input with 400 in Ory error shape, never 500', async () => {
      const cases: [string, string, unknown?][] = [
        ['PUT', '/admin/relation-tuples', { namespace: 'Group', object: 'x', relation: 'members' }],
        ['PUT', '/admin/relation-tuples', { namespace: 'Group', object: 'x', relation: 'members', subject_id: 'a', subject_set: { namespace: 'Group', object: 'y', relation: 'members' } }],
        ['PUT', '/admin/relation-tuples', '{not json'],
        ['PUT', '/admin/relation-tuples', [1, 2]],
        ['PATCH', '/admin/relation-tuples', [{ action: 'upsert', relation_tuple: t('Group', 'a', 'members', 'b') }]],
        ['GET', '/relation-tuples/check?namespace=Group&object=x'],
        ['GET', '/relation-tuples/check?namespace=Group&object=x&relation=members&subject_set.namespace=Group'],
        ['GET', '/relation-tuples/check?namespace=Group&object=x&relation=members&subject_id=a&max-depth=abc'],
        ['GET', '/relation-tuples?page_size=-1'],
        ['POST', '/relation-tuples/check', { namespace: 42 }],
        ['POST', '/relation-tuples/batch/check', { tuples: 'x' }],
        ['GET', '/relation-tuples/expand?namespace=Group'],
        ['PUT', '/admin/relation-tuples', { namespace: 'Group', object: 'x'.repeat(1025), relation: 'members', subject_id: 'a' }],
        ['GET', `/relation-tuples?object=${'x'.repeat(1025)}`],
      ]
      for (const [method, path, body] of cases) {
        const r = await call(apps.admin, method, path, body === undefined ? {} : { body: typeof body === 'string' ? body : body, headers: typeof body === 'string' ? { 'content-type': 'application/json' } : {} })
        expect({ method, path, status: r.status }).toEqual({ method, path, status: 400 })
        expect(r.json.error.code).toBe(400)
      }
      const unknown = await call(apps.admin, 'PUT', '/admin/relation-tuples', { body: t('Nope', 'x', 'y', 'z') })
      expect(unknown.status).toBe(404)
      expect(unknown.json.error.message).toBeString()
    })

    it('expands a subject set into Keto\'s tree', async () => {
      const tree = await api.permissions.expandPermissions({ namespace: 'Group', object: 'admin', relation: 'members', maxDepth: 3 })
      expect(tree.type).toBe('union')
      expect(tree.children).toEqual([
        {
          type: 'union',
          tuple: { namespace: '', object: '', relation: '', subject_set: { namespace: 'Group', object: 'developer', relation: 'members' } },
          children: [{ type: 'leaf', tuple: { namespace: '', object: '', relation: '', subject_id: 'patrik' } }],
        },
      ] as never)
      const perm = await call(apps.admin, 'GET', '/relation-tuples/expand?namespace=File&object=keto/README.md&relation=edit')
      expect(perm.json.type).toBe('computed_subject_set')
      expect(perm.json.children[0].children[0].tuple.subject_id).toBe('henning')
      expect((await call(apps.admin, 'GET', '/relation-tuples/expand?namespace=Group&object=nobody&relation=members')).status).toBe(404)
    })

    it("expands a permission's rewrites into intersection, union, tuple_to_subject_set, computed_subject_set and not nodes", async () => {
      await api.relationships.createRelationship({ createRelationshipBody: t('File', 'keto/README.md', 'banned', 'mallory') })
      type Node = { type: string; tuple?: { subject_id?: string }; children?: Node[] }
      const tree = (await call(apps.admin, 'GET', '/relation-tuples/expand?namespace=File&object=keto/README.md&relation=view&max-depth=5')).json as Node
      const leaves = (n: Node): string[] => (n.type === 'leaf' ? [n.tuple?.subject_id ?? '?'] : (n.children ?? []).flatMap(leaves))
      // view = (parents.traverse(view) || viewers.includes || permits.edit) && !banned.includes
      expect(tree.type).toBe('intersection')
      const [anyOf, not] = tree.children!
      expect([anyOf!.type, not!.type]).toEqual(['union', 'not'])
      expect(anyOf!.children!.map((c) => c.type)).toEqual(['tuple_to_subject_set', 'computed_subject_set', 'computed_subject_set'])
      const [viaParent, viewers, viaEdit] = anyOf!.children!
      expect(leaves(viaParent!)).toEqual(['patrik']) // Folder keto is viewable by Group developer's members
      expect(leaves(viewers!)).toEqual([]) // no direct viewers
      expect(leaves(viaEdit!)).toEqual(['henning']) // owners can edit, and edit implies view
      expect(leaves(not!)).toEqual(['mallory'])
    })

    it('lists the namespaces of the OPL model', async () => {
      const r = await api.relationships.listRelationshipNamespaces()
      expect(r.namespaces!.map((n) => n.name)).toEqual(['User', 'Group', 'Folder', 'File'])
    })

    it('keeps tenants apart: tuples of one tenant never answer another', async () => {
      const svc = apps.kernel.services.get('permissions.check')!
      expect(await svc.check('default', { namespace: 'Group', object: 'developer', relation: 'members', subject: { id: 'patrik' } })).toBe(true)
      expect(await svc.check('acme', { namespace: 'Group', object: 'developer', relation: 'members', subject: { id: 'patrik' } })).toBe(false)
    })

    it('serves no permission API on the public listener by default', async () => {
      expect((await call(apps.public, 'GET', '/relation-tuples/check?namespace=Group&object=developer&relation=members&subject_id=patrik')).status).toBe(404)
      expect((await call(apps.public, 'PUT', '/admin/relation-tuples', { body: t('Group', 'x', 'members', 'y') })).status).toBe(404)
    })
  })
}

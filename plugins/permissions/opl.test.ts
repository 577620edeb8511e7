import { describe, expect, it } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Configuration, PermissionApi, RelationshipApi } from '@ory/client-fetch'
import { bootApps, bootKernel, call } from '../../test/helpers/app.ts'
import { and, defineNamespaces, includes, not, or, permissions, permitsOf, subjectSet, traverse } from './index.ts'
import { parseOpl } from './opl.ts'
import { REWRITES_OPL } from './fixtures.ts'

describe('Ory Permission Language parser', () => {
  it('parses Keto\'s rewrites example into namespaces, relations and rewrites', () => {
    const r = parseOpl(REWRITES_OPL)
    expect(r.errors).toEqual([])
    const file = r.model!.get('File')!
    expect([...file.relations.keys()]).toEqual(['parents', 'viewers', 'owners', 'banned'])
    expect(file.relations.get('viewers')).toEqual([{ namespace: 'User' }, { namespace: 'Group', relation: 'members' }])
    expect(file.permits.get('edit')).toEqual({ op: 'computed', relation: 'owners' })
    expect(file.permits.get('view')).toEqual({
      op: 'and',
      children: [
        {
          op: 'or',
          children: [
            { op: 'ttu', relation: 'parents', computed: 'view' },
            { op: 'computed', relation: 'viewers' },
            { op: 'computed', relation: 'edit' },
          ],
        },
        { op: 'not', child: { op: 'computed', relation: 'banned' } },
      ],
    })
  })

  it('accepts Array<…> types, block bodies, traverse to a relation and unparenthesised arrow parameters', () => {
    const r = parseOpl(`
      class User implements Namespace {}
      class Doc implements Namespace {
        related: { owners: Array<User>; parents: Array<Doc> }
        permits = {
          read: (ctx: Context): boolean => { return this.related.owners.includes(ctx.subject) },
          inherit: (ctx) => this.related.parents.traverse(p => p.related.owners.includes(ctx.subject)),
        }
      }`)
    expect(r.errors).toEqual([])
  })

  it('reports a syntax error with its line and column', () => {
    const r = parseOpl('class User implements Namespace {}\nclass Doc Namespace {}')
    expect(r.errors).toEqual([{ message: 'expected "implements", got "Namespace"', start: { Line: 2, column: 11 }, end: { Line: 2, column: 20 } }])
  })

  it('reports an unterminated string and an unexpected character', () => {
    expect(parseOpl('class A implements Namespace { related: { x: SubjectSet<A, "x>[] } }').errors[0]!.message).toBe('unterminated string')
    const r = parseOpl('class A implements Namespace {\n  related: { x: A[] }\n  #\n}')
    expect(r.errors[0]).toMatchObject({ message: 'unexpected character "#"', start: { Line: 3, column: 3 } })
  })

  it('reports references to undeclared namespaces and relations', () => {
    const r = parseOpl(`class Doc implements Namespace {
  related: { viewers: (User | SubjectSet<Group, "members">)[] }
  permits = { view: (ctx: Context): boolean => this.related.editors.includes(ctx.subject) || this.permits.read(ctx) }
}`)
    expect(r.errors.map((e) => [e.message, e.start.Line])).toEqual([
      ['namespace "User" was not declared', 2],
      ['namespace "Group" was not declared', 2],
      ['relation "editors" was not declared in namespace "Doc"', 3],
      ['permission "read" was not declared in namespace "Doc"', 3],
    ])
  })

  it('reports a traverse to a permission the target namespace lacks', () => {
    const r = parseOpl(`class Folder implements Namespace {}
class File implements Namespace {
  related: { parents: Folder[] }
  permits = { view: (ctx: Context): boolean => this.related.parents.traverse((p) => p.permits.view(ctx)) }
}`)
    expect(r.errors.map((e) => e.message)).toEqual(['relation "view" was not declared in namespace "Folder"'])
  })

  it('loads namespaces from a file, as JSON/YAML configs do', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opl-'))
    try {
      const file = join(dir, 'namespaces.ts')
      writeFileSync(file, REWRITES_OPL)
      const { kernel, admin } = await bootApps([permissions({ namespacesFile: file })])
      expect((await call(admin, 'GET', '/namespaces')).json.namespaces).toHaveLength(4)
      await kernel.stop()
      await expect(bootKernel([permissions({ namespacesFile: join(dir, 'missing.ts') })])).rejects.toThrow('namespacesFile: cannot read')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses to boot with invalid namespaces, naming line and column', async () => {
    await expect(bootKernel([permissions({ namespaces: 'class X implements {}' })])).rejects.toThrow('line 1, column 20')
  })
})

describe('POST /opl/syntax/check', () => {
  it('answers 200 with no errors for valid OPL and the positions of errors otherwise (through the SDK)', async () => {
    const { kernel, admin } = await bootApps([permissions()])
    const api = new RelationshipApi(new Configuration({ basePath: 'http://localhost', fetchApi: (i, init) => admin.handle(new Request(i as string, init)) }))
    expect((await api.checkOplSyntax({ body: REWRITES_OPL })).errors).toEqual([])
    const bad = await api.checkOplSyntax({ body: 'class A implements Namespace {\n  permits = { x: (ctx) => this.nope }\n}' })
    expect(bad.errors).toEqual([{ message: 'expected "related" or "permits", got "nope"', start: { Line: 2, column: 32 }, end: { Line: 2, column: 36 } }] as never)
    await kernel.stop()
  })
})

describe('Keto docs: cat videos example (legacy namespace list)', () => {
  it('answers the example\'s checks and expand', async () => {
    const { kernel, admin } = await bootApps([permissions({ namespaces: [{ name: 'videos' }] })])
    const config = new Configuration({ basePath: 'http://localhost', fetchApi: (i, init) => admin.handle(new Request(i as string, init)) })
    const rel = new RelationshipApi(config)
    const perm = new PermissionApi(config)
    const set = (object: string, relation: string) => ({ namespace: 'videos', object, relation })
    const tuples = [
      { ...set('/cats/1.mp4', 'owner'), subject_set: set('/cats', 'owner') },
      { ...set('/cats/1.mp4', 'view'), subject_set: set('/cats/1.mp4', 'owner') },
      { ...set('/cats/1.mp4', 'view'), subject_id: '*' },
      { ...set('/cats/2.mp4', 'owner'), subject_set: set('/cats', 'owner') },
      { ...set('/cats/2.mp4', 'view'), subject_set: set('/cats/2.mp4', 'owner') },
      { ...set('/cats', 'owner'), subject_id: 'cat lady' },
      { ...set('/cats', 'view'), subject_set: set('/cats', 'owner') },
    ]
    await rel.patchRelationships({ relationshipPatch: tuples.map((relation_tuple) => ({ action: 'insert', relation_tuple })) })
    const check = async (object: string, relation: string, subjectId: string) =>
      (await perm.checkPermission({ namespace: 'videos', object, relation, subjectId })).allowed
    expect(await check('/cats/1.mp4', 'view', 'cat lady')).toBe(true)
    expect(await check('/cats/2.mp4', 'view', 'cat lady')).toBe(true)
    expect(await check('/cats/1.mp4', 'view', '*')).toBe(true)
    expect(await check('/cats/2.mp4', 'view', 'dog lover')).toBe(false)
    expect(await check('/cats/2.mp4', 'owner', 'cat lady')).toBe(true)

    const tree = await perm.expandPermissions({ namespace: 'videos', object: '/cats/2.mp4', relation: 'view' })
    // Keto's tree: subject nodes carry only the subject (namespace, object and relation empty)
    const none = { namespace: '', object: '', relation: '' }
    expect(tree).toEqual({
      type: 'union',
      tuple: { ...none, subject_set: set('/cats/2.mp4', 'view') },
      children: [
        {
          type: 'union',
          tuple: { ...none, subject_set: set('/cats/2.mp4', 'owner') },
          children: [
            {
              type: 'union',
              tuple: { ...none, subject_set: set('/cats', 'owner') },
              children: [{ type: 'leaf', tuple: { ...none, subject_id: 'cat lady' } }],
            },
          ],
        },
      ],
    } as never)
    expect((await call(admin, 'GET', '/namespaces')).json).toEqual({ namespaces: [{ name: 'videos' }] })
    await kernel.stop()
  })
})

describe('typed namespace builder', () => {
  it('produces the same model as Keto\'s rewrites example written in OPL', () => {
    const built = defineNamespaces({
      User: {},
      Group: { related: { members: ['User', subjectSet('Group', 'members')] } },
      Folder: {
        related: { parents: ['Folder'], viewers: ['User', subjectSet('Group', 'members')] },
        permits: { view: or(includes('viewers'), traverse('parents', 'view')) },
      },
      File: {
        related: {
          parents: ['File', 'Folder'],
          viewers: ['User', subjectSet('Group', 'members')],
          owners: ['User', subjectSet('Group', 'members')],
          banned: ['User'],
        },
        permits: {
          view: and(or(traverse('parents', 'view'), includes('viewers'), permitsOf('edit')), not(includes('banned'))),
          edit: includes('owners'),
          audit: and(permitsOf('view'), permitsOf('edit')),
        },
      },
    })
    const fromBuilder = parseOpl(built)
    expect(fromBuilder.errors).toEqual([])
    expect(fromBuilder.model).toEqual(parseOpl(REWRITES_OPL).model!)
    expect(() => defineNamespaces({ 'Bad Name': {} })).toThrow('must be an identifier')
  })
})

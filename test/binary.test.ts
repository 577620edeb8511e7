/**
 * The single binary: `bun build --compile` (what `bun run build` runs) makes a standalone executable that,
 * run from a directory outside the repository with no node_modules, serves every first-party plugin and a
 * plugin file named in a YAML config (which imports `tessera` and `valibot` as the docs show).
 *
 * Plugin files named in a config also load from source, where `tessera` resolves normally.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Ajv from 'ajv'
import YAML from 'yaml'
import { catalog } from '../plugins/catalog.ts'
import { postgresAvailable, scratchPostgres } from './helpers/databases.ts'
import { REPO, SECRET, cleanEnv, runCli, scratchDir, startServer } from './helpers/process.ts'

const identitySchema = await Bun.file(join(REPO, 'schemas/identity.default.json')).json()

/** A plugin file as docs/plugins.md writes one: imports from `tessera` and `valibot`, a route, an Ory-shaped error. */
const HELLO_PLUGIN = `import * as v from 'valibot'
import { NotFoundError, definePlugin } from 'tessera'

export const hello = definePlugin({
  id: 'hello',
  options: v.object({ greeting: v.pipe(v.string(), v.minLength(1)) }),
  routes: {
    public: (app, ctx) =>
      app.get('/hello/:name', ({ params }) => {
        if (params.name === 'nobody') throw new NotFoundError('nobody is not here')
        return { greeting: \`\${ctx.options.greeting}, \${params.name}\` }
      }),
  },
})
`

const RULES = `- id: open
  match: { url: "<http|https>://<[^/]+>/open/<.*>", methods: [GET] }
  authenticators: [{ handler: anonymous, config: { subject: visitor } }]
  authorizer: { handler: allow }
  mutators: [{ handler: header, config: { headers: { X-User: "{{ print .Subject }}" } } }]
`

/** Every first-party plugin (plugins/catalog.ts) and the plugin file; `module` is the plugin file's path. */
const config = (module: string, dsn = 'sqlite://tessera.sqlite', port = 0) => `dsn: "${dsn}"
serve:
  public: { port: ${port}${port ? `, baseUrl: "http://127.0.0.1:${port}"` : ''} }
  admin: { port: 0 }
migrations: { auto: true }
plugins:
  - use: identity
    options:
      schemas: [{ id: default, schema: ${JSON.stringify(identitySchema)} }]
  - use: password
    options: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } }
  - permissions
  - use: proxy
    options: { rule_files: [./rules.yaml], serve: { enabled: false } }
  - module: ${module}
    options: { greeting: Hello }
  - courier
  - code
  - oauth2
  - use: webauthn
    options: { rp: { id: localhost, name: Tessera, origins: ["http://localhost"] } }
  - totp
  - lookup-secret
  - ui
`

const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

describe('single binary', () => {
  // outside the repository: no node_modules in this directory or any above it
  const dir = mkdtempSync(join(tmpdir(), 'tessera-binary-'))
  const write = (name: string, text: string) => {
    const p = join(dir, name)
    writeFileSync(p, text)
    return p
  }
  const out = join(dir, 'tessera')
  let pkg: { version: string; scripts: { build: string } }

  beforeAll(async () => {
    pkg = await Bun.file(join(REPO, 'package.json')).json()
    // the same command as `bun run build`, with another output path; built once for every test below
    const buildCmd = pkg.scripts.build.replace('--outfile dist/tessera', `--outfile ${out}`).split(' ')
    const build = Bun.spawnSync(buildCmd, { cwd: REPO, stdout: 'pipe', stderr: 'pipe' })
    if (build.exitCode !== 0) throw new Error(`bun run build failed: ${build.stderr.toString()}`)
    write('hello-plugin.ts', HELLO_PLUGIN)
    write('rules.yaml', RULES)
  }, 120_000)
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  /** Serve with every plugin and exercise one real request of each. */
  async function exercise(dsn: string) {
    expect(await Bun.file(join(dir, 'node_modules')).exists()).toBe(false)
    // a known public port and base URL: the ui renders its pages by calling the public API at that URL
    const probe = Bun.serve({ port: 0, fetch: () => new Response() })
    const port = probe.port!
    probe.stop(true)
    const cfg = write('tessera.yaml', config('./hello-plugin.ts', dsn, port))
    // --migrate: PostgreSQL is migrated explicitly (migrations.auto is honoured on SQLite only)
    const server = await startServer([out, 'serve', '--migrate', '--config', cfg], { cwd: dir, env: { SECRETS_SYSTEM: SECRET } })
    try {
      const pub = server.publicUrl
      const admin = server.adminUrl!
      const ready = await fetch(`${pub}/health/ready`)
      expect(ready.status).toBe(200)
      expect(await ready.json()).toEqual({ status: 'ok' })
      expect((await (await fetch(`${admin}/version`)).json()).version).toBe(`v${pkg.version}`)

      // identity: an API registration flow; password: submit it, get a session token, whoami
      const flow = await fetch(`${pub}/self-service/registration/api`)
      expect(flow.status).toBe(200)
      const { id: flowId } = await flow.json()
      // the bundled common-password list is there: a variation of a listed password is refused (4000005)
      const weak = await (await fetch(`${pub}/self-service/registration?flow=${flowId}`, json({ method: 'password', traits: { email: 'ada@example.com' }, password: 'P@ssw0rd!' }))).json()
      expect(weak.ui.nodes.find((n: { attributes: { name: string } }) => n.attributes.name === 'password').messages[0].id).toBe(4000005)
      const reg = await fetch(`${pub}/self-service/registration?flow=${flowId}`, json({ method: 'password', traits: { email: 'ada@example.com' }, password: 'a long and unusual passphrase 42' }))
      expect(reg.status).toBe(200)
      const { session_token: token, identity } = await reg.json()
      expect(identity.traits.email).toBe('ada@example.com')
      const whoami = await fetch(`${pub}/sessions/whoami`, { headers: { 'X-Session-Token': token } })
      expect(whoami.status).toBe(200)
      expect((await whoami.json()).identity.id).toBe(identity.id)
      expect((await fetch(`${pub}/sessions/whoami`, { headers: { 'X-Session-Token': 'not-a-token' } })).status).toBe(401)

      // permissions: write a tuple on the admin listener, then check it (and one that was not written)
      const tuple = { namespace: 'documents', object: 'plan', relation: 'view', subject_id: identity.id }
      const put = await fetch(`${admin}/admin/relation-tuples`, { ...json(tuple), method: 'PUT' })
      expect(put.status).toBe(201)
      const check = (t: typeof tuple) => fetch(`${admin}/relation-tuples/check`, json(t))
      const allowed = await check(tuple)
      expect(allowed.status).toBe(200)
      expect(await allowed.json()).toEqual({ allowed: true })
      expect((await check({ ...tuple, relation: 'edit' })).status).toBe(403)

      // proxy: /decisions on the admin listener, with the rule file read from the working directory
      const decision = await fetch(`${admin}/decisions/open/report`)
      expect(decision.status).toBe(200)
      expect(decision.headers.get('x-user')).toBe('visitor')
      expect((await fetch(`${admin}/decisions/closed/report`)).status).toBe(404)

      // code: a login by code queues the message (a sent code answers 400 with the flow, as Kratos);
      // courier: the admin message list shows it (no channel is configured here, so it waits in the queue)
      const codeFlow = await (await fetch(`${pub}/self-service/login/api`)).json()
      const sent = await fetch(`${pub}/self-service/login?flow=${codeFlow.id}`, json({ method: 'code', identifier: 'ada@example.com' }))
      expect(sent.status).toBe(400)
      expect((await sent.json()).state).toBe('sent_email')
      // the code method hands the message to the courier without waiting (a known and an unknown address answer
      // alike): it is queued a moment after the answer
      const queued = async () => (await (await fetch(`${admin}/admin/courier/messages?recipient=ada%40example.com`)).json()) as { template_type: string; status: string }[]
      let messages = await queued()
      for (let i = 0; i < 50 && messages.length === 0; i++) messages = (await Bun.sleep(20), await queued())
      expect(messages.map((m: { template_type: string; status: string }) => [m.template_type, m.status])).toContainEqual(['login_code_valid', 'queued'])
      expect(JSON.stringify(messages)).not.toMatch(/\b\d{6}\b/) // codes are redacted at the admin API

      // totp and lookup-secret: a settings flow offers enrolment (a QR code as a data URL) and recovery codes
      const settings = await (await fetch(`${pub}/self-service/settings/api`, { headers: { 'X-Session-Token': token } })).json()
      const groups = new Set((settings.ui.nodes as { group: string }[]).map((n) => n.group))
      expect(groups.has('totp') && groups.has('lookup_secret')).toBe(true)
      const qr = (settings.ui.nodes as { attributes: { id?: string; src?: string } }[]).find((n) => n.attributes.id === 'totp_qr')
      expect(qr?.attributes.src).toStartWith('data:image/png;base64,')

      // ui: the sign-in page, rendered from a login flow, with its CSP nonce
      // (follow the redirects as a browser would, with its cookies)
      const jar = new Map<string, string>()
      let shown = await fetch(`${pub}/ui/login`, { redirect: 'manual' })
      for (let hop = 0; hop < 5 && shown.status >= 300 && shown.status < 400; hop++) {
        for (const c of shown.headers.getSetCookie()) jar.set(c.split('=')[0]!, c.split(';')[0]!)
        shown = await fetch(new URL(shown.headers.get('location')!, pub), { redirect: 'manual', headers: { cookie: [...jar.values()].join('; ') } })
      }
      expect(shown.status).toBe(200)
      expect(shown.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
      expect(await shown.text()).toContain('name="password"')

      // webauthn: the browser script the ui nodes reference, bundled into the binary at build time
      const script = await fetch(`${pub}/.well-known/ory/webauthn.js`)
      expect(script.status).toBe(200)
      expect(script.headers.get('content-type')).toContain('javascript')
      expect((await script.text()).length).toBeGreaterThan(1000)

      // oauth2: a client created on the admin listener gets a client_credentials token, which introspects as active
      const created = await fetch(`${admin}/admin/clients`, json({ client_name: 'binary', grant_types: ['client_credentials'], response_types: [], scope: 'read' }))
      expect(created.status).toBe(201)
      const client = await created.json()
      const tokenRes = await fetch(`${pub}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}` },
        body: 'grant_type=client_credentials&scope=read',
      })
      expect(tokenRes.status).toBe(200)
      const issued = await tokenRes.json()
      expect(issued).toMatchObject({ token_type: 'bearer', scope: 'read' })
      const introspected = await fetch(`${admin}/admin/oauth2/introspect`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${issued.access_token}` })
      expect(await introspected.json()).toMatchObject({ active: true, client_id: client.client_id })

      // the plugin file: its route, its options, and an error it throws rendered in Ory's shape (it shares the kernel's `tessera`)
      const hello = await fetch(`${pub}/hello/ada`)
      expect(hello.status).toBe(200)
      expect(await hello.json()).toEqual({ greeting: 'Hello, ada' })
      const missing = await fetch(`${pub}/hello/nobody`)
      expect(missing.status).toBe(404)
      expect((await missing.json()).error).toMatchObject({ code: 404, status: 'Not Found', reason: 'nobody is not here' })
    } finally {
      expect(await server.stop()).toBe(0)
    }
  }

  it('serves every first-party plugin and a plugin file from a YAML config, from a directory with no node_modules (SQLite)', async () => {
    // every plugin in the catalog is in the config (a new first-party plugin must be added here, with a request)
    const used = (YAML.parse(config('./x.ts')).plugins as (string | { use?: string })[]).map((p) => (typeof p === 'string' ? p : p.use)).filter(Boolean)
    expect(used.sort()).toEqual(Object.keys(catalog).sort())
    await exercise('sqlite://tessera.sqlite')
    const version = Bun.spawnSync([out, 'version'], { cwd: dir })
    expect(version.stdout.toString()).toBe(`tessera v${pkg.version}\n`)
  }, 60_000)

  it.skipIf(!postgresAvailable('binary'))('serves the same on PostgreSQL', async () => {
    const pg = await scratchPostgres('binary')
    try {
      await exercise(pg.dsn)
    } finally {
      await pg.drop()
    }
  }, 60_000)

  it('config check names a plugin file that does not exist in one line and exits 1', () => {
    const cfg = write('typo.yaml', config('./hello-plugn.ts'))
    const r = Bun.spawnSync([out, 'config', 'check', '--config', cfg], { cwd: dir, env: cleanEnv({ SECRETS_SYSTEM: SECRET }), stdout: 'pipe', stderr: 'pipe' })
    expect(r.exitCode).toBe(1)
    expect(r.stderr.toString()).toBe(
      `tessera: invalid configuration: plugins[4].module: ./hello-plugn.ts does not exist (looked for ${join(dir, 'hello-plugn.ts')})\n`,
    )
    const ok = Bun.spawnSync([out, 'config', 'check', '--config', write('good.yaml', config('./hello-plugin.ts'))], { cwd: dir, env: cleanEnv({ SECRETS_SYSTEM: SECRET }), stdout: 'pipe', stderr: 'pipe' })
    expect(ok.stderr.toString()).toBe('')
    expect(ok.exitCode).toBe(0)
  })
})

describe('plugin files named in a config, from source', () => {
  // inside the repository's .tmp, so `tessera` and `valibot` resolve normally
  const scratch = scratchDir('plugin-file')
  afterAll(() => scratch.remove())
  const check = (module: string) => {
    const cfg = scratch.write(`check-${Bun.hash(module)}.yaml`, `dsn: "sqlite::memory:"\nplugins:\n  - permissions\n  - module: ${module}\n    options: { greeting: Hello }\n`)
    return runCli(['config', 'check', '--config', cfg], { cwd: scratch.dir, env: { SECRETS_SYSTEM: SECRET } })
  }
  const problem = async (module: string) => {
    const r = await check(module)
    expect(r.code).toBe(1)
    expect(r.stderr.split('\n').length).toBe(2) // one line and its newline
    return r.stderr
  }

  it('loads the same plugin file with normal resolution', async () => {
    scratch.write('hello-plugin.ts', HELLO_PLUGIN)
    const cfg = scratch.write('serve.yaml', config('./hello-plugin.ts').replace('./rules.yaml', join(scratch.dir, 'rules.yaml')))
    scratch.write('rules.yaml', RULES)
    const server = await startServer(['bun', join(REPO, 'bin/tessera.ts'), 'serve', '--config', cfg], { cwd: scratch.dir, env: { SECRETS_SYSTEM: SECRET } })
    try {
      expect(await (await fetch(`${server.publicUrl}/hello/ada`)).json()).toEqual({ greeting: 'Hello, ada' })
      expect((await fetch(`${server.publicUrl}/hello/nobody`)).status).toBe(404)
    } finally {
      expect(await server.stop()).toBe(0)
    }
  }, 30_000)

  it('reports a module that exports no plugin, a syntax error and a module that throws, each in one line naming the config path', async () => {
    scratch.write('no-plugin.ts', 'export const answer = 42\n')
    expect(await problem('./no-plugin.ts')).toBe(
      'tessera: invalid configuration: plugins[1].module: ./no-plugin.ts exports no plugin: export default definePlugin({ ... }) (or a named export of one)\n',
    )
    scratch.write('broken.ts', "import { definePlugin } from 'tessera'\nexport default definePlugin({ id: 'x' ]\n")
    expect(await problem('./broken.ts')).toMatch(/^tessera: invalid configuration: plugins\[1\]\.module: cannot load \.\/broken\.ts: .+ \(line 2, column \d+\)\n$/)
    scratch.write('throws.ts', "throw new Error('no database for you')\n")
    expect(await problem('./throws.ts')).toBe('tessera: invalid configuration: plugins[1].module: cannot load ./throws.ts: no database for you\n')
    scratch.write('two.ts', "import { definePlugin } from 'tessera'\nexport const a = definePlugin({ id: 'a' })\nexport const b = definePlugin({ id: 'b' })\n")
    expect(await problem('./two.ts')).toBe('tessera: invalid configuration: plugins[1].module: ./two.ts exports several plugins (a, b); make one the default export\n')
  })

  it('schemas/config.schema.json accepts the config above and refuses a module entry without a path', async () => {
    const validate = new Ajv({ strict: false, logger: false }).compile(await Bun.file(join(REPO, 'schemas/config.schema.json')).json())
    expect(validate(YAML.parse(config('./hello-plugin.ts')))).toBe(true)
    expect(validate({ plugins: [{ module: '' }] })).toBe(false)
    expect(validate({ plugins: [{ module: './x.ts', option: {} }] })).toBe(false)
  })

  it('refuses an entry with both "use" and "module"', async () => {
    const cfg = scratch.write('both.yaml', 'dsn: "sqlite::memory:"\nplugins:\n  - { use: identity, module: ./hello-plugin.ts }\n')
    const r = await runCli(['config', 'check', '--config', cfg], { cwd: scratch.dir, env: { SECRETS_SYSTEM: SECRET } })
    expect(r.code).toBe(1)
    expect(r.stderr).toBe('tessera: invalid configuration: plugins[0]: give either "use" (a first-party plugin) or "module" (a plugin file), not both\n')
  })
})

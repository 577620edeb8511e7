import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as v from 'valibot'
import { captureLog } from '../../test/helpers/app.ts'
import { ConfigError } from '../errors.ts'
import { type PluginInstance, definePlugin } from '../plugin.ts'
import { keptDevSecret } from '../../drivers/sqlite.ts'
import { loadConfig, resolveConfig } from './load.ts'

const SECRET = 'a-very-long-secret-value-1'
const problemsOf = (f: () => unknown) => {
  try {
    f()
  } catch (e) {
    if (e instanceof ConfigError) return e.problems
    throw e
  }
  throw new Error('expected a ConfigError')
}
const asyncProblemsOf = async (p: Promise<unknown>) => {
  const e = await p.then(
    () => {
      throw new Error('expected a ConfigError')
    },
    (e) => e,
  )
  if (!(e instanceof ConfigError)) throw e
  return e.problems
}

describe('config: defaults and validation', () => {
  it('fills in the documented defaults', () => {
    const c = resolveConfig({ secrets: { system: [SECRET] } }, { env: {} })
    expect(c.dsn).toBe('sqlite://tessera.sqlite')
    expect(c.serve.public).toEqual({ host: '0.0.0.0', port: 4433, reusePort: false })
    expect(c.serve.admin).toEqual({ host: '127.0.0.1', port: 4434, enabled: true, reusePort: false })
    expect(c.serve.shutdownTimeout).toBe(10_000)
    expect(c.log).toEqual({ level: 'info', format: 'json' })
    expect(c.tenancy.default).toBe('default')
    expect(c.secrets).toEqual({ system: [SECRET], cookie: [SECRET], ephemeral: false })
  })

  it('names the path and what was expected', () => {
    expect(problemsOf(() => resolveConfig({ secrets: { system: [SECRET] }, serve: { public: { port: 70000 } } }, { env: {} }))).toEqual([
      'serve.public.port: expected a port number from 0 to 65535, received 70000',
    ])
    expect(problemsOf(() => resolveConfig({ secrets: { system: [SECRET] }, log: { level: 'loud' as never } }, { env: {} }))).toEqual([
      'log.level: expected one of debug, info, warn, error, fatal, received "loud"',
    ])
  })

  it('names an unknown key and lists the known ones', () => {
    expect(problemsOf(() => resolveConfig({ secrets: { system: [SECRET] }, serve: { publc: {} } as never }, { env: {} }))).toEqual([
      'serve.publc: unknown option; did you mean `public`? expected one of: public, admin, shutdownTimeout, maxRequestBodySize, trustedProxies',
    ])
  })

  it('reports every problem at once', () => {
    const problems = problemsOf(() =>
      resolveConfig({ secrets: { system: ['short'] }, serve: { admin: { port: -1 } }, dsn: '' }, { env: {} }),
    )
    expect(problems).toHaveLength(3)
    expect(problems).toContain('secrets.system[0]: expected a secret of at least 16 characters')
    // a secret's value is never echoed back
    expect(problems.join()).not.toContain('short')
  })
})

describe('config: environment overrides', () => {
  it('lets the environment override the file (12-factor)', () => {
    const c = resolveConfig(
      { dsn: 'sqlite://file.sqlite', serve: { public: { port: 1 } } },
      {
        env: {
          DSN: 'postgres://u:p@db:5432/tessera',
          SECRETS_SYSTEM: `${SECRET}-new, ${SECRET}-old`,
          SECRETS_COOKIE: `${SECRET}-cookie`,
          SERVE_PUBLIC_PORT: '8080',
          SERVE_ADMIN_PORT: '8081',
          SERVE_PUBLIC_BASE_URL: 'https://auth.example.com/',
          LOG_LEVEL: 'debug',
          LOG_FORMAT: 'text',
        },
      },
    )
    expect(c.dsn).toBe('postgres://u:p@db:5432/tessera')
    expect(c.secrets.system).toEqual([`${SECRET}-new`, `${SECRET}-old`])
    expect(c.secrets.cookie).toEqual([`${SECRET}-cookie`])
    expect(c.serve.public.port).toBe(8080)
    expect(c.serve.admin.port).toBe(8081)
    expect(c.serve.public.baseUrl).toBe('https://auth.example.com/')
    expect(c.log).toEqual({ level: 'debug', format: 'text' })
  })

  it('names the variable when an override is invalid', () => {
    expect(problemsOf(() => resolveConfig({ secrets: { system: [SECRET] } }, { env: { SERVE_PUBLIC_PORT: 'eighty' } }))).toEqual([
      'SERVE_PUBLIC_PORT (serve.public.port): expected a port number, received "eighty"',
    ])
    expect(problemsOf(() => resolveConfig({ secrets: { system: [SECRET] } }, { env: { LOG_FORMAT: 'xml' } }))).toEqual([
      'LOG_FORMAT (log.format): expected json or text, received "xml"',
    ])
  })
})

describe('config: secrets', () => {
  it('refuses to start without a system secret outside dev mode, naming the variable', () => {
    const [problem] = problemsOf(() => resolveConfig({}, { env: {} }))
    expect(problem).toStartWith('secrets.system is not set: set the SECRETS_SYSTEM environment variable')
  })

  it('uses an ephemeral secret in dev mode, with a loud warning', () => {
    const log = captureLog('warn')
    const c = resolveConfig({ dev: true }, { env: {}, log: log.logger })
    expect(c.secrets.ephemeral).toBe(true)
    expect(c.secrets.system[0]!.length).toBeGreaterThanOrEqual(32)
    expect(log.lines).toHaveLength(1)
    expect(log.lines[0]!.level).toBe('warn')
    expect(String(log.lines[0]!.msg)).toContain('DEVELOPMENT MODE')
    // the secret itself never reaches the log
    expect(JSON.stringify(log.lines)).not.toContain(c.secrets.system[0]!)
  })

  it('turns dev mode on from TESSERA_DEV', () => {
    expect(resolveConfig({}, { env: { TESSERA_DEV: 'true' } }).secrets.ephemeral).toBe(true)
  })
})

describe('config: plugin options are strict', () => {
  const identityLike = definePlugin({
    id: 'identity-like',
    options: v.object({
      session: v.optional(v.object({ lifespan: v.optional(v.string()), cookie: v.optional(v.object({ name: v.optional(v.string()) })) })),
      schemas: v.optional(v.array(v.object({ id: v.string(), schema: v.record(v.string(), v.unknown()) }))),
      extra: v.optional(v.looseObject({ known: v.optional(v.string()) })),
      metadata: v.optional(v.unknown()),
      mode: v.optional(v.union([v.literal('off'), v.object({ ttl: v.number() })])),
    }),
  })
  const check = (options: unknown) => problemsOf(() => resolveConfig({ secrets: { system: [SECRET] }, plugins: [identityLike(options as never)] }, { env: {} }))

  it('names an unknown option and the nearest known one', () => {
    expect(check({ sesion: {} })).toEqual([
      'plugins[0].options.sesion: unknown option; did you mean `session`? expected one of: session, schemas, extra, metadata, mode',
    ])
  })

  it('names a nested unknown option, in arrays and unions too', () => {
    expect(check({ session: { cookie: { nmae: 'x' } }, schemas: [{ id: 'a', schema: {}, url: 'x' }], mode: { ttl: 1, tll: 2 } })).toEqual([
      'plugins[0].options.session.cookie.nmae: unknown option; did you mean `name`? expected one of: name',
      'plugins[0].options.schemas[0].url: unknown option; expected one of: id, schema',
      'plugins[0].options.mode.tll: unknown option; did you mean `ttl`? expected one of: ttl',
    ])
  })

  it('leaves records, loose objects and unknown values open', () => {
    const c = resolveConfig(
      { secrets: { system: [SECRET] }, plugins: [identityLike({ schemas: [{ id: 'a', schema: { anything: 1 } }], extra: { other: 1 }, metadata: { free: true }, mode: 'off' } as never)] },
      { env: {} },
    )
    expect(c.plugins).toHaveLength(1)
  })

  it('reports a wrong value and an unknown option of the same plugin together', () => {
    expect(check({ session: { lifespan: 5, lifespn: '1h' } })).toEqual([
      'plugins[0].options.session.lifespan: expected string, received 5',
      'plugins[0].options.session.lifespn: unknown option; did you mean `lifespan`? expected one of: lifespan, cookie',
    ])
  })

  it('words a union of objects by its closest option', () => {
    const when = definePlugin({
      id: 'when',
      options: v.object({ when: v.union([v.strictObject({ eq: v.string() }), v.strictObject({ window: v.strictObject({ from: v.string(), to: v.string() }) })]) }),
    })
    const problems = (options: unknown) => problemsOf(() => resolveConfig({ secrets: { system: [SECRET] }, plugins: [when(options as never)] }, { env: {} }))
    expect(problems({ when: { eqq: 'x' } })).toEqual(['plugins[0].options.when.eqq: unknown option; did you mean `eq`? expected one of: eq, window'])
    expect(problems({ when: { window: { from: 'a', too: 'b' } } })).toEqual([
      'plugins[0].options.when.window.to: is required but missing; plugins[0].options.when.window.too: unknown option; did you mean `to`? expected one of: from, to',
    ])
  })

  it('names a missing required key without valibot wording', () => {
    const problems = check({ schemas: [{ id: 'a' }] })
    expect(problems).toEqual(['plugins[0].options.schemas[0].schema: is required but missing'])
  })
})

describe('config: files', () => {
  let dir: string
  const pluginWithOptions = definePlugin({ id: 'greeter', options: v.object({ greeting: v.string() }) })
  const catalog = { greeter: pluginWithOptions }
  beforeAll(() => {
    // inside the repository, so a code config's `import 'tessera'` resolves as in a user's project
    mkdirSync(join(import.meta.dir, '../../.tmp'), { recursive: true })
    dir = mkdtempSync(join(import.meta.dir, '../../.tmp/config-'))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const write = (name: string, text: string) => {
    const p = join(dir, name)
    writeFileSync(p, text)
    return p
  }

  it('reads JSON with plugins by name', async () => {
    const path = write('a.json', JSON.stringify({ dsn: 'sqlite::memory:', secrets: { system: [SECRET] }, plugins: [{ use: 'greeter', options: { greeting: 'hi' } }] }))
    const c = await loadConfig({ path, env: {}, catalog })
    expect(c.dsn).toBe('sqlite::memory:')
    expect(c.source).toBe(path)
    expect((c.plugins[0] as PluginInstance).input).toEqual({ greeting: 'hi' })
  })

  it('reads YAML with the same schema', async () => {
    const path = write('a.yaml', `dsn: "sqlite::memory:"\nsecrets:\n  system: ["${SECRET}"]\nserve:\n  public:\n    port: 5000\nplugins:\n  - use: greeter\n    options: { greeting: hello }\n`)
    const c = await loadConfig({ path, env: {}, catalog })
    expect(c.serve.public.port).toBe(5000)
    expect(c.plugins).toHaveLength(1)
  })

  it('reads a TypeScript config made with defineConfig', async () => {
    const path = write(
      'tessera.config.ts',
      `import { defineConfig } from 'tessera'\nexport default defineConfig({ dsn: 'sqlite::memory:', secrets: { system: ['${SECRET}'] }, serve: { admin: { enabled: false } } })\n`,
    )
    const c = await loadConfig({ path, env: {} })
    expect(c.serve.admin.enabled).toBe(false)
  })

  it('keeps the development secret the entry point keeps for the database (the SQLite driver: beside the file) for every process; a memory database gets a new one each time', async () => {
    const sub = mkdtempSync(join(dir, 'dev-'))
    const db = join(sub, 'dev.sqlite')
    const path = write('dev.json', JSON.stringify({ dev: true, dsn: `sqlite://${db}?mode=rwc` }))
    const log = captureLog('warn')
    const a = await loadConfig({ path, env: {}, log: log.logger, devSecret: keptDevSecret })
    const b = await loadConfig({ path, env: {}, devSecret: keptDevSecret })
    expect(a.secrets.ephemeral).toBe(true)
    expect(b.secrets.system).toEqual(a.secrets.system)
    expect(readFileSync(`${db}.dev-secret`, 'utf8').trim()).toBe(a.secrets.system[0]!)
    expect(statSync(`${db}.dev-secret`).mode & 0o077).toBe(0) // readable by its owner only
    expect(readdirSync(sub)).toEqual(['dev.sqlite.dev-secret']) // no draft left behind
    expect(String(log.lines[0]!.msg)).toContain(`kept in ${db}.dev-secret`)
    expect(JSON.stringify(log.lines)).not.toContain(a.secrets.system[0]!)
    // where the file cannot be written (no such directory), the secret is the process's own, and the warning says so
    const nowhere = write('nowhere.json', JSON.stringify({ dev: true, dsn: `sqlite://${sub}/missing/dev.sqlite` }))
    const log2 = captureLog('warn')
    const c = await loadConfig({ path: nowhere, env: {}, log: log2.logger, devSecret: keptDevSecret })
    expect(c.secrets.system[0]!.length).toBeGreaterThanOrEqual(32)
    expect(String(log2.lines[0]!.msg)).toContain('will not survive a restart')
    const memory = write('mem.json', JSON.stringify({ dev: true, dsn: 'sqlite::memory:' }))
    const [m1, m2] = [await loadConfig({ path: memory, env: {}, devSecret: keptDevSecret }), await loadConfig({ path: memory, env: {}, devSecret: keptDevSecret })]
    expect(m1.secrets.system).not.toEqual(m2.secrets.system)
    // without the option (code embedding, tests), nothing is kept
    const plain = await loadConfig({ path, env: {} })
    expect(plain.secrets.system).not.toEqual(a.secrets.system)
  })

  it('finds tessera.config.* in the working directory, and TESSERA_CONFIG over it', async () => {
    const sub = mkdtempSync(join(dir, 'cwd-'))
    writeFileSync(join(sub, 'tessera.config.json'), JSON.stringify({ secrets: { system: [SECRET] }, dsn: 'sqlite://found.sqlite' }))
    const other = write('other.json', JSON.stringify({ secrets: { system: [SECRET] }, dsn: 'sqlite://other.sqlite' }))
    expect((await loadConfig({ cwd: sub, env: {} })).dsn).toBe('sqlite://found.sqlite')
    expect((await loadConfig({ cwd: sub, env: { TESSERA_CONFIG: other } })).dsn).toBe('sqlite://other.sqlite')
  })

  it('names a missing config file and where its name came from', async () => {
    expect(await asyncProblemsOf(loadConfig({ path: 'nope.yaml', cwd: dir, env: {} }))).toEqual([
      'config file nope.yaml does not exist (from --config)',
    ])
  })

  it('points at the line of a JSON syntax error', async () => {
    const path = write('bad.json', '{\n  "dsn": "x",\n  "serve": {,\n}')
    const [problem] = await asyncProblemsOf(loadConfig({ path, env: {} }))
    expect(problem).toMatch(/bad\.json line 3: not valid JSON \(/)
  })

  it('reports YAML syntax errors', async () => {
    const path = write('bad.yaml', 'serve:\n  public: [\n')
    const [problem] = await asyncProblemsOf(loadConfig({ path, env: {} }))
    expect(problem).toMatch(/bad\.yaml line 3: could not parse \(flow sequence/)
  })

  it('names the line and the fix of an unquoted value with a colon in YAML', async () => {
    const path = write('colon.yaml', `secrets: { system: ["${SECRET}"] }\ndsn: sqlite::memory:\n`)
    expect(await asyncProblemsOf(loadConfig({ path, env: {} }))).toEqual([
      expect.stringMatching(
        /colon\.yaml line 2: could not parse `dsn: sqlite::memory:` \(.*\); values containing ': ' or starting with a special character .* must be quoted \(e\.g\. dsn: "sqlite::memory:"\)$/,
      ),
    ])
  })

  it('does not echo a secret from a YAML line it cannot parse', async () => {
    const path = write('secret.yaml', 'secrets:\n  system: [a: b: c]\n')
    const problems = await asyncProblemsOf(loadConfig({ path, env: {} }))
    expect(problems.join('\n')).not.toContain('a: b: c')
  })

  it('reports core and plugin problems together', async () => {
    const path = write('both.yaml', `secrets: { system: ["${SECRET}"] }\nserve: { public: { port: 99999 } }\nplugins:\n  - use: greeter\n    options: { greeting: hi, greting: hi }\n`)
    expect(await asyncProblemsOf(loadConfig({ path, env: {}, catalog }))).toEqual([
      'serve.public.port: expected a port number from 0 to 65535, received 99999',
      'plugins[0].options.greting: unknown option; did you mean `greeting`? expected one of: greeting',
    ])
  })

  it('names an unknown plugin and lists the first-party ones', async () => {
    const path = write('unknown.json', JSON.stringify({ secrets: { system: [SECRET] }, plugins: [{ use: 'greeter', options: { greeting: 'x' } }, { use: 'nope' }] }))
    expect(await asyncProblemsOf(loadConfig({ path, env: {}, catalog }))).toEqual([
      'plugins[1].use: unknown plugin "nope"; first-party plugins are: greeter',
    ])
  })

  it('a name the catalog object inherits (toString, constructor) is an unknown plugin too, not a function called as one', async () => {
    const path = write('inherited.json', JSON.stringify({ secrets: { system: [SECRET] }, plugins: [{ use: 'toString' }, { use: 'constructor' }] }))
    expect(await asyncProblemsOf(loadConfig({ path, env: {}, catalog }))).toEqual([
      'plugins[0].use: unknown plugin "toString"; first-party plugins are: greeter',
      'plugins[1].use: unknown plugin "constructor"; first-party plugins are: greeter',
    ])
  })

  it('loads a first-party plugin given as a loader (the CLI\'s catalog imports a plugin only when a config names it)', async () => {
    let loads = 0
    const lazy = { ...catalog, later: async () => (loads++, catalog.greeter!) } as typeof catalog
    const unused = write('unused.json', JSON.stringify({ secrets: { system: [SECRET] }, plugins: [{ use: 'greeter', options: { greeting: 'x' } }] }))
    await loadConfig({ path: unused, env: {}, catalog: lazy })
    expect(loads).toBe(0)
    const used = write('used.json', JSON.stringify({ secrets: { system: [SECRET] }, plugins: [{ use: 'later', options: { greeting: 'x' } }] }))
    const c = await loadConfig({ path: used, env: {}, catalog: lazy })
    expect(loads).toBe(1)
    expect(c.plugins).toHaveLength(1)
  })

  it('loads a plugin from a module path relative to the config file', async () => {
    write('my-plugin.ts', `import { definePlugin } from 'tessera'\nexport default definePlugin({ id: 'mine' })\n`)
    const path = write('with-path.yaml', `secrets: { system: ["${SECRET}"] }\nplugins:\n  - use: ./my-plugin.ts\n`)
    const c = await loadConfig({ path, env: {} })
    expect((c.plugins[0] as { id: string }).id).toBe('mine')
  })
})

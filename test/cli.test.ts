/**
 * The `tessera` command line, run as a user runs it.
 */
import { afterAll, describe, expect, it } from 'bun:test'
import postgres from 'postgres'
import { Database } from 'bun:sqlite'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { postgresAvailable, scratchPostgres } from './helpers/databases.ts'
import { FIXTURE_NOTES, REPO, SECRET, runCli, scratchDir } from './helpers/process.ts'

const scratch = scratchDir('cli')
afterAll(() => scratch.remove())

describe('tessera help and version', () => {
  it('prints readable help listing every command', async () => {
    const r = await runCli(['--help'])
    expect(r.code).toBe(0)
    for (const cmd of ['serve', 'migrate up', 'migrate status', 'config check', 'version', 'help']) expect(r.stdout).toContain(cmd)
    expect(r.stdout).toContain('SECRETS_SYSTEM')
    expect((await runCli(['help', 'serve'])).stdout).toContain('SIGTERM')
    expect((await runCli(['migrate', '--help'])).stdout).toContain('advisory lock')
  })

  it('prints the version', async () => {
    const r = await runCli(['version'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^tessera v\d+\.\d+\.\d+\n$/)
  })

  it('rejects an unknown command or flag with one line and exit code 2', async () => {
    for (const args of [['frobnicate'], ['serve', '--port', '1'], ['migrate', 'sideways']]) {
      const r = await runCli(args)
      expect(r.code).toBe(2)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
      expect(r.stderr).toStartWith('tessera: ')
    }
  })
})

describe('tessera serve: the plugins a process loads', () => {
  it('imports only the first-party plugins its config names (the catalog loads each on demand), yet help lists every plugin command', async () => {
    // a plugin file that reports which plugin directories are loaded once every plugin is set up, and exits
    scratch.write('probe.ts', `import { definePlugin } from 'tessera'
export default definePlugin({ id: 'probe', setup() {
  const dirs = Object.keys(require.cache).filter((m) => m.includes('/plugins/') && !m.endsWith('/plugins/catalog.ts')).map((m) => m.split('/plugins/')[1].split('/')[0])
  console.error('LOADED ' + JSON.stringify([...new Set(dirs)].sort()))
  process.exit(0)
} })
`)
    const config = scratch.write('only-oauth2.yaml', `dsn: "sqlite::memory:"\nsecrets: { system: ["${SECRET}"] }\nserve: { public: { port: 0 }, admin: { port: 0 } }\nplugins:\n  - use: oauth2\n  - module: ./probe.ts\n`)
    const r = await runCli(['serve', '--migrate', '--config', config])
    expect(r.code).toBe(0)
    expect(JSON.parse(/LOADED (.*)/.exec(r.stderr)![1]!)).toEqual(['oauth2'])
    const help = await runCli(['help'])
    for (const cmd of ['clients', 'identities', 'permissions']) expect(help.stdout).toContain(`  ${cmd} `)
  })
})

describe('tessera config check', () => {
  it('accepts a valid config and summarises it', async () => {
    const config = scratch.write('ok.yaml', `dsn: "sqlite::memory:"\nsecrets: { system: ["${SECRET}"] }\nplugins:\n  - use: ${FIXTURE_NOTES}\n`)
    const r = await runCli(['config', 'check', '--config', config])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('configuration is valid')
    expect(r.stdout).toContain('[fixture-notes]')
  })

  it('names the path and what was expected, in one line, and exits 1', async () => {
    const config = scratch.write('bad.yaml', `secrets: { system: ["${SECRET}"] }\nserve: { public: { port: "http" } }\nplugins:\n  - use: ${FIXTURE_NOTES}\n    options: { greeting: 42 }\n`)
    const r = await runCli(['config', 'check', '--config', config])
    expect(r.code).toBe(1)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain('serve.public.port: expected a port number, received "http"')
    const r2 = await runCli(['config', 'check', '--config', scratch.write('bad2.yaml', `secrets: { system: ["${SECRET}"] }\nplugins:\n  - use: ${FIXTURE_NOTES}\n    options: { greeting: 42 }\n`)])
    expect(r2.stderr.trim()).toBe('tessera: invalid configuration: plugins[0].options.greeting: expected string, received 42')
  })

  it('reads the config from TESSERA_CONFIG and secrets from the environment', async () => {
    const config = scratch.write('env.json', JSON.stringify({ dsn: 'sqlite::memory:' }))
    const r = await runCli(['config', 'check'], { env: { TESSERA_CONFIG: config, SECRETS_SYSTEM: SECRET } })
    expect(r.code).toBe(0)
  })

  it('names a bad DSN without connecting', async () => {
    const r = await runCli(['config', 'check'], { env: { TESSERA_CONFIG: scratch.write('dsn.json', '{}'), SECRETS_SYSTEM: SECRET, DSN: 'oracle://x' } })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('dsn: no storage driver for scheme "oracle"')
  })
})

describe('tessera config check: strict plugin options and clear errors', () => {
  const person = JSON.parse(readFileSync(join(REPO, 'schemas/identity.default.json'), 'utf8'))
  const identityWith = (options: Record<string, unknown>) => ({ use: 'identity', options: { schemas: [{ id: 'default', schema: person }], ...options } })
  const check = (name: string, config: Record<string, unknown>) =>
    runCli(['config', 'check', '--config', scratch.write(name, JSON.stringify({ dsn: 'sqlite::memory:', secrets: { system: [SECRET] }, ...config }))])

  it('names an unknown plugin option and the nearest known one, and exits 1', async () => {
    const r = await check('sesion.json', { plugins: [identityWith({ sesion: { lifespan: 60 } }), 'password'] })
    expect(r.code).toBe(1)
    expect(r.stderr).toStartWith('tessera: invalid configuration: plugins[0].options.sesion: unknown option; did you mean `session`? expected one of: schemas, ')
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
  })

  it('names a nested unknown option', async () => {
    const r = await check('nested.json', { plugins: [identityWith({ session: { lifespn: 60 } })] })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('plugins[0].options.session.lifespn: unknown option; did you mean `lifespan`?')
  })

  it('reports core and plugin problems in the same run, for config check and serve', async () => {
    const config = { serve: { public: { port: 'http' } }, plugins: [identityWith({ sesion: {} })] }
    for (const args of [['config', 'check'], ['serve']]) {
      const r = await runCli([...args, '--config', scratch.write('both.json', JSON.stringify({ dsn: 'sqlite::memory:', secrets: { system: [SECRET] }, ...config }))])
      expect(r.code).toBe(1)
      expect(r.stderr).toStartWith('tessera: invalid configuration (2 problems): ')
      expect(r.stderr).toContain('serve.public.port: expected a port number, received "http"')
      expect(r.stderr).toContain('plugins[0].options.sesion: unknown option; did you mean `session`?')
    }
  })

  it('names the line and the fix of an unquoted colon in YAML', async () => {
    const r = await runCli(['config', 'check', '--config', scratch.write('tessera.yaml', `dsn: sqlite::memory:\nsecrets: { system: ["${SECRET}"] }\n`)])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('tessera.yaml line 1: could not parse `dsn: sqlite::memory:`')
    expect(r.stderr).toContain('must be quoted (e.g. dsn: "sqlite::memory:")')
    expect(r.stderr).not.toMatch(/Nested mappings|Invalid (type|key)/)
  })

  it('names a proxy rule without match.methods by its path in the rule file', async () => {
    scratch.write('rules.json', JSON.stringify([{ id: 'r', match: { url: 'http://api.example.com/<.*>' }, authenticators: [{ handler: 'anonymous' }], authorizer: { handler: 'allow' } }]))
    const config = scratch.write('proxy.json', JSON.stringify({ dsn: 'sqlite::memory:', secrets: { system: [SECRET] }, plugins: [{ use: 'proxy', options: { rule_files: ['./rules.json'] } }] }))
    const r = await runCli(['config', 'check', '--config', config], { cwd: scratch.dir })
    expect(r.code).toBe(1)
    expect(r.stderr.trim()).toBe('tessera: invalid configuration: ./rules.json[0].match.methods: is required but missing')
  })

  it('still accepts the documented configurations of every first-party plugin', async () => {
    scratch.write('ok-rules.yaml', '- id: orders\n  match: { url: "https://api.example.com/orders/<[0-9]+>", methods: [GET, POST] }\n  authenticators: [{ handler: anonymous }]\n  authorizer: { handler: allow }\n')
    const config = scratch.write(
      'all.json',
      JSON.stringify({
        dsn: 'sqlite::memory:',
        secrets: { system: [SECRET] },
        plugins: [
          identityWith({
            selfservice: { uiUrl: 'https://auth.example.com', defaultReturnUrl: 'https://app.example.com/', allowedReturnUrls: ['https://*.example.com/'] },
            session: { tokenizers: { api: { ttl: 60 } } },
          }),
          'password',
          {
            use: 'permissions',
            options: {
              namespaces: 'class User implements Namespace {}\nclass Report implements Namespace { related: { viewers: User[] } permits = { export: (ctx: Context): boolean => this.related.viewers.includes(ctx.subject) } }',
              relationConditions: { 'Report#export': { in: [{ context: 'plan' }, ['pro', 'enterprise']] } },
            },
          },
          {
            use: 'proxy',
            options: {
              rule_files: ['./ok-rules.yaml'],
              trusted_proxies: ['10.0.0.0/8'],
              authenticators: { jwt: { config: { jwks_urls: ['https://issuer.example.com/.well-known/jwks.json'] } } },
            },
          },
        ],
      }),
    )
    const r = await runCli(['config', 'check', '--config', config], { cwd: scratch.dir })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('[identity, password, permissions, proxy]')
    const own = await runCli(['config', 'check', '--config', 'tessera.config.ts'])
    expect(own.stderr).toBe('')
    expect(own.code).toBe(0)
  })
})

describe('tessera migrate (SQLite)', () => {
  it('lists pending migrations, applies them, and is a no-op the second time', async () => {
    const file = `${scratch.dir}/migrate.sqlite`
    const config = scratch.write('migrate.yaml', `dsn: "sqlite://${file}"\nplugins:\n  - use: ${FIXTURE_NOTES}\n`)
    const before = await runCli(['migrate', 'status', '--config', config])
    expect(before.code).toBe(0)
    expect(before.stdout).toMatch(/fixture-notes\/0001_init\s+pending/)
    expect(before.stdout).toContain('2 pending: run tessera migrate up')
    const up = await runCli(['migrate', 'up', '--config', config])
    expect(up.code).toBe(0)
    expect(up.stdout).toContain('applied 2 migration(s)')
    const again = await runCli(['migrate', 'up', '--config', config])
    expect(again.stdout).toContain('nothing to migrate')
    const after = await runCli(['migrate', 'status', '--config', config, '--json'])
    expect(JSON.parse(after.stdout).map((s: { state: string }) => s.state)).toEqual(['applied', 'applied'])
  })

  it('applies each migration once when two processes migrate the same SQLite file at once', async () => {
    const file = `${scratch.dir}/concurrent.sqlite`
    const config = scratch.write('concurrent.yaml', `dsn: "sqlite://${file}"\nplugins:\n  - use: ${FIXTURE_NOTES}\n`)
    const [a, b] = await Promise.all([runCli(['migrate', 'up', '--config', config]), runCli(['migrate', 'up', '--config', config])])
    expect({ a: a.code, b: b.code, errA: a.stderr, errB: b.stderr }).toEqual({ a: 0, b: 0, errA: '', errB: '' })
    const db = new Database(file)
    const rows = db.query('SELECT plugin, id FROM tessera_migrations ORDER BY id').all()
    db.close()
    expect(rows).toEqual([{ plugin: 'fixture-notes', id: '0001_init' }, { plugin: 'fixture-notes', id: '0002_index' }])
  })
})

describe.skipIf(!postgresAvailable('cli'))('tessera migrate (PostgreSQL)', () => {
  it('applies each migration exactly once when two processes run migrate up at the same time (advisory lock)', async () => {
    const pg = await scratchPostgres('cli')
    await pg.db.close()
    try {
      const config = scratch.write('pg.yaml', `dsn: "${pg.dsn}"\nplugins:\n  - use: ${FIXTURE_NOTES}\n`)
      const [a, b] = await Promise.all([runCli(['migrate', 'up', '--config', config]), runCli(['migrate', 'up', '--config', config])])
      expect({ a: a.code, b: b.code, errA: a.stderr, errB: b.stderr }).toEqual({ a: 0, b: 0, errA: '', errB: '' })
      // one process applied both, the other found nothing to do
      expect([a.stdout, b.stdout].filter((o) => o.includes('applied 2 migration(s)'))).toHaveLength(1)
      expect([a.stdout, b.stdout].filter((o) => o.includes('nothing to migrate'))).toHaveLength(1)
      const u = new URL(pg.dsn)
      const schema = u.searchParams.get('search_path')!
      u.searchParams.delete('search_path')
      const sql = postgres(u.toString(), { max: 1, onnotice: () => {} })
      const rows = await sql.unsafe(`SELECT plugin, id FROM "${schema}".tessera_migrations ORDER BY id`)
      await sql.end()
      expect([...rows] as unknown[]).toEqual([{ plugin: 'fixture-notes', id: '0001_init' }, { plugin: 'fixture-notes', id: '0002_index' }])
    } finally {
      await pg.drop()
    }
  })

  it('says the database is unavailable in one line when it cannot connect', async () => {
    const config = scratch.write('pgdown.yaml', `dsn: "postgres://nobody@127.0.0.1:1/none"\nplugins:\n  - use: ${FIXTURE_NOTES}\n`)
    const r = await runCli(['migrate', 'up', '--config', config])
    expect(r.code).toBe(1)
    expect(r.stderr.trim().split('\n')).toHaveLength(1)
    expect(r.stderr).toContain('the database is unavailable')
  })
})

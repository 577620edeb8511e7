/**
 * The `tessera` command line, run as a user runs it.
 */
import { afterAll, describe, expect, it } from 'bun:test'
import postgres from 'postgres'
import { Database } from 'bun:sqlite'
import { postgresAvailable, scratchPostgres } from './helpers/databases.ts'
import { FIXTURE_NOTES, SECRET, runCli, scratchDir } from './helpers/process.ts'

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

/**
 * `tessera identities …` and `tessera sessions …`, run as a user runs them: the real CLI in a child process
 * against a SQLite file (and PostgreSQL when TESSERA_TEST_POSTGRES_URL is set), with `tessera serve` on the
 * same database for the login flow.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { postgresAvailable, scratchPostgres } from '../../test/helpers/databases.ts'
import { quickstartSchema } from '../../test/helpers/identity.ts'
import { CLI, type CliResult, SECRET, type ServerProcess, cleanEnv, runCli, scratchDir, startServer } from '../../test/helpers/process.ts'

const scratch = scratchDir('identity-cli')
afterAll(() => scratch.remove())

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** A config file for the identity and password plugins on `dsn` (cheap hashing, no breach check). */
function writeConfig(dsn: string): string {
  return scratch.write(
    `config-${crypto.randomUUID()}.json`,
    JSON.stringify({
      dsn,
      serve: { public: { host: '127.0.0.1', port: 0 }, admin: { port: 0 } },
      plugins: [
        { use: 'identity', options: { schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: { uiUrl: 'http://ui.test', loginAfter: [] } } },
        { use: 'password', options: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } } },
      ],
    }),
  )
}

const env = { SECRETS_SYSTEM: SECRET }

function tessera(config: string, ...args: string[]): Promise<CliResult> {
  return runCli([...args, '--config', config], { env })
}

/** The CLI with `text` on standard input. */
async function tesseraStdin(config: string, text: string, ...args: string[]): Promise<CliResult> {
  const p = Bun.spawn(['bun', CLI, ...args, '--config', config], { env: cleanEnv(env), stdin: new TextEncoder().encode(text), stdout: 'pipe', stderr: 'pipe' })
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  return { code, stdout, stderr }
}

const lines = (s: string) => s.split('\n').filter(Boolean)

/** 2,000 entries: most valid (every tenth with a password), and one of each kind of mistake at known indexes. */
function importFile(prefix: string) {
  const entries: unknown[] = []
  for (let i = 0; i < 2000; i++) {
    entries.push({
      schema_id: 'default',
      traits: { email: `${prefix}${i}@example.com`, name: { first: `User ${i}` } },
      metadata_admin: { row: i },
      ...(i % 10 === 0 ? { credentials: { password: { config: { password: `correct horse battery ${i}` } } } } : {}),
    })
  }
  entries[3] = { traits: { email: 'not an email' } }
  entries[777] = { schema_id: 'nope', traits: { email: `${prefix}777@example.com` } }
  entries[1200] = 'just a string'
  // the same password identifier as entry 10
  entries[1999] = { traits: { email: `${prefix}10@example.com` }, credentials: { password: { config: { password: 'another long passphrase' } } } }
  return entries
}

async function checkImport(config: string, file: string) {
  const r = await tessera(config, 'identities', 'import', file)
  expect(r.code).toBe(1)
  const ids = lines(r.stdout)
  expect(ids).toHaveLength(1996)
  for (const id of ids) expect(id).toMatch(UUID)
  expect(new Set(ids).size).toBe(1996)
  const err = lines(r.stderr)
  const name = file.split('/').pop()
  expect(err.find((l) => l.includes('[3]: '))).toBe(`${file}[3]: traits.email: "not an email" is not valid "email"`)
  expect(err.find((l) => l.includes('[777]: '))).toBe(`${file}[777]: Identity schema "nope" does not exist.`)
  expect(err.find((l) => l.includes('[1200]: '))).toStartWith(`${file}[1200]: expected Object`)
  expect(err.find((l) => l.includes('[1999]: '))).toBe(`${file}[1999]: An identity with the same identifier exists already`)
  expect(err.filter((l) => l.includes(`${name}[`))).toHaveLength(4)
  expect(err.at(-1)).toBe('imported 1996 of 2000 identities; 4 failed')
  return ids
}

describe('tessera identities and sessions (SQLite file)', () => {
  let config: string
  let server: ServerProcess
  beforeAll(async () => {
    config = writeConfig(`sqlite://${scratch.dir}/cli-${crypto.randomUUID()}.sqlite`)
    const up = await tessera(config, 'migrate', 'up')
    expect(up.code).toBe(0)
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('imports 2,000 identities, reports each invalid one by its index, keeps the rest and exits 1', async () => {
    const file = scratch.write('identities.json', JSON.stringify(importFile('bulk')))
    const ids = await checkImport(config, file)

    // every created identity is there, as the file had it; the invalid ones are not
    const first = await tessera(config, 'identities', 'list', '--page-size', '1000', '--format', 'json')
    expect(first.code).toBe(0)
    const page1 = JSON.parse(first.stdout)
    expect(page1.identities).toHaveLength(1000)
    const second = JSON.parse((await tessera(config, 'identities', 'list', '--page-size', '1000', '--format', 'json', '--page-token', page1.next_page_token)).stdout)
    expect(second.identities).toHaveLength(996)
    expect(second.next_page_token).toBe('')
    const all = [...page1.identities, ...second.identities] as { id: string; traits: { email: string; name: { first: string } }; metadata_admin: { row: number } }[]
    expect(all.map((i) => i.id).sort()).toEqual([...ids].sort())
    const byEmail = new Map(all.map((i) => [i.traits.email, i]))
    expect(byEmail.size).toBe(1996)
    expect(byEmail.get('bulk42@example.com')?.traits.name.first).toBe('User 42')
    expect(byEmail.get('bulk42@example.com')?.metadata_admin).toEqual({ row: 42 })
    for (const i of [3, 777, 1200, 1999]) expect(byEmail.has(`bulk${i}@example.com`)).toBe(false)
  })

  it('lists a page as a table with the next page token', async () => {
    const r = await tessera(config, 'identities', 'list', '--page-size', '2')
    expect(r.code).toBe(0)
    const [header, row1, row2, blank, next] = r.stdout.trimEnd().split('\n')
    expect(header).toMatch(/^ID\s+EXTERNAL ID\s+VERIFIED ADDRESSES\s+RECOVERY ADDRESSES\s+SCHEMA ID\s+SCHEMA URL$/)
    expect(row1).toMatch(/^\S{36}\s+<none>\s+(bulk\d+@example\.com)\s+\1\s+default\s+http:\/\/\S+\/schemas\/default$/)
    expect(row2).toMatch(/^\S{36}\s+<none>\s+bulk\d+@example\.com\s/)
    expect(blank).toBe('')
    expect(next).toMatch(/^NEXT PAGE TOKEN\s+\S{20,}$/)
  })

  it('imports a password hash from standard input, and that password logs in through the API', async () => {
    const hash = await Bun.password.hash('imported passphrase 42', { algorithm: 'bcrypt', cost: 4 })
    const body = { traits: { email: 'hashed@example.com' }, credentials: { password: { config: { hashed_password: hash } } } }
    const r = await tesseraStdin(config, JSON.stringify(body), 'identities', 'import', '-', '--format', 'json')
    expect(r.stderr).toBe('imported 1 of 1 identity\n')
    expect(r.code).toBe(0)
    const [created] = JSON.parse(r.stdout)
    expect(created.traits.email).toBe('hashed@example.com')

    server = await startServer(['bun', CLI, 'serve', '--config', config], { env })
    const login = async (password: string) => {
      const flow = await (await fetch(`${server.publicUrl}/self-service/login/api`)).json()
      return fetch(`${server.publicUrl}/self-service/login?flow=${flow.id}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ method: 'password', identifier: 'hashed@example.com', password }),
      })
    }
    expect((await login('a wrong passphrase')).status).toBe(400)
    const ok = await login('imported passphrase 42')
    expect(ok.status).toBe(200)
    const { session_token: token, session } = await ok.json()
    const whoami = () => fetch(`${server.publicUrl}/sessions/whoami`, { headers: { 'x-session-token': token } }).then((x) => x.status)
    expect(await whoami()).toBe(200)

    // the session as the CLI lists it
    const mine = await tessera(config, 'sessions', 'list', '--identity', created.id, '--format', 'json')
    expect(mine.code).toBe(0)
    expect(JSON.parse(mine.stdout).sessions.map((s: { id: string; active: boolean }) => [s.id, s.active])).toEqual([[session.id, true]])
    const all = await tessera(config, 'sessions', 'list', '--active')
    expect(all.code).toBe(0)
    expect(lines(all.stdout)[0]).toMatch(/^ID\s+IDENTITY ID\s+ACTIVE\s+AAL\s+AUTHENTICATED AT\s+EXPIRES AT$/)
    expect(lines(all.stdout)[1]).toMatch(new RegExp(`^${session.id}\\s+${created.id}\\s+true\\s+aal1\\s`))

    // revoked by id: the token stops working
    const revoked = await tessera(config, 'sessions', 'revoke', session.id)
    expect([revoked.code, revoked.stdout, revoked.stderr]).toEqual([0, `revoked ${session.id}\n`, ''])
    expect(await whoami()).toBe(401)
    expect(JSON.parse((await tessera(config, 'sessions', 'list', '--identity', created.id, '--active', '--format', 'json')).stdout).sessions).toEqual([])

    // every session of the identity
    const tokens = await Promise.all([login('imported passphrase 42'), login('imported passphrase 42')].map(async (p) => (await (await p).json()).session_token as string))
    const statusOf = (t: string) => fetch(`${server.publicUrl}/sessions/whoami`, { headers: { 'x-session-token': t } }).then((x) => x.status)
    expect(await Promise.all(tokens.map(statusOf))).toEqual([200, 200])
    const all2 = await tessera(config, 'sessions', 'revoke', '--identity', created.id)
    expect([all2.code, all2.stdout]).toEqual([0, `revoked every session of identity ${created.id}\n`])
    expect(await Promise.all(tokens.map(statusOf))).toEqual([401, 401])

    const unknown = await tessera(config, 'sessions', 'revoke', '01a21837-0000-7000-8000-000000000000')
    expect([unknown.code, unknown.stderr]).toEqual([1, 'tessera: 01a21837-0000-7000-8000-000000000000: no such session\n'])
  })

  it('gets an identity, with its credentials only when asked', async () => {
    const file = scratch.write('one.json', JSON.stringify({ traits: { email: 'one@example.com' }, external_id: 'crm-1', credentials: { password: { config: { password: 'one long passphrase' } } } }))
    const imported = await tessera(config, 'identities', 'import', file)
    expect(imported.code).toBe(0)
    const id = imported.stdout.trim()
    expect(id).toMatch(UUID)
    const plain = await tessera(config, 'identities', 'get', id)
    expect(plain.code).toBe(0)
    const identity = JSON.parse(plain.stdout)
    expect(identity.traits.email).toBe('one@example.com')
    expect(identity.credentials.password.identifiers).toEqual(['one@example.com'])
    expect(identity.credentials.password.config).toBeUndefined()
    const full = JSON.parse((await tessera(config, 'identities', 'get', id, '--include-credentials')).stdout)
    expect(full.credentials.password.config.hashed_password).toStartWith('$argon2id$')
    const row = await tessera(config, 'identities', 'get', id, '--format', 'table')
    expect(lines(row.stdout)[1]).toMatch(new RegExp(`^${id}\\s+crm-1\\s+one@example\\.com\\s`))
  })

  it('deletes identities, naming the ones it could not find, and exits 1 if any', async () => {
    const ids = JSON.parse((await tessera(config, 'identities', 'list', '--page-size', '2', '--format', 'json')).stdout).identities.map((i: { id: string }) => i.id)
    const missing = '01a21837-0000-7000-8000-000000000001'
    const r = await tessera(config, 'identities', 'delete', ids[0], missing, ids[1])
    expect(r.code).toBe(1)
    expect(lines(r.stdout)).toEqual(ids)
    expect(r.stderr).toBe(`tessera: ${missing}: no such identity\n`)
    const gone = await tessera(config, 'identities', 'get', ids[0])
    expect([gone.code, gone.stdout, gone.stderr]).toEqual([1, '', `tessera: ${ids[0]}: no such identity\n`])
    const again = await tessera(config, 'identities', 'delete', ids[1])
    expect(again.code).toBe(1)
  })

  it('answers a usage mistake with one line naming the usage, exit 2', async () => {
    const cases: [string[], string][] = [
      [['identities'], 'expected a subcommand'],
      [['identities', 'frobnicate'], 'unknown subcommand "frobnicate"'],
      [['identities', 'import'], 'name a file to import'],
      [['identities', 'list', '--page-size', '5000'], '--page-size is an integer from 1 to 1000'],
      [['identities', 'list', '--format', 'xml'], '--format is one of table, json, json-pretty'],
      [['identities', 'get'], 'name the identity id'],
      [['identities', 'delete', '--force', 'x'], "Unknown option '--force'"],
      [['sessions', 'revoke'], 'name a session id, or --identity <id>'],
      [['sessions', 'revoke', 'a', '--identity', 'b'], 'give session ids or --identity, not both'],
    ]
    for (const [args, reason] of cases) {
      const r = await tessera(config, ...args)
      expect(r.code).toBe(2)
      expect(lines(r.stderr)).toHaveLength(1)
      expect(r.stderr).toStartWith(`tessera: ${reason}`)
      expect(r.stderr).toContain(`; usage: tessera ${args[0]} `)
    }
  })

  it('shows usage for help and --help', async () => {
    for (const args of [['help', 'identities'], ['identities', '--help'], ['identities', 'import', '-h']]) {
      const r = await runCli(args)
      expect(r.code).toBe(0)
      expect(r.stdout).toContain('tessera identities import <file|->')
      expect(r.stdout).toContain('tessera identities get <id> [--include-credentials]')
    }
    const s = await runCli(['sessions', '--help'])
    expect(s.stdout).toContain('tessera sessions revoke <session-id>... | --identity <id>')
    const main = await runCli(['help'])
    expect(main.stdout).toMatch(/identities\s+import, list, get and delete identities/)
  })

  it('fails with one line on a file that cannot be read or is not JSON', async () => {
    const missing = await tessera(config, 'identities', 'import', 'no-such-file.json')
    expect([missing.code, missing.stderr]).toEqual([1, 'tessera: no-such-file.json: cannot read: no such file\n'])
    const bad = await tessera(config, 'identities', 'import', scratch.write('bad.json', '{"traits": '))
    expect(bad.code).toBe(1)
    expect(bad.stderr).toStartWith('tessera: ')
    expect(bad.stderr).toContain('bad.json: not valid JSON')
    const scalar = await tessera(config, 'identities', 'import', scratch.write('scalar.json', '42'))
    expect(scalar.stderr).toContain('expected an identity object or an array of identities')
  })

  it('refuses to run on a database whose migrations are not applied', async () => {
    const fresh = writeConfig(`sqlite://${scratch.dir}/fresh-${crypto.randomUUID()}.sqlite`)
    const r = await tessera(fresh, 'identities', 'list')
    expect(r.code).toBe(1)
    expect(lines(r.stderr)).toHaveLength(1)
    expect(r.stderr).toContain('run tessera migrate up')
  })
})

describe.skipIf(!postgresAvailable('identity CLI'))('tessera identities import (PostgreSQL)', () => {
  let pg: Awaited<ReturnType<typeof scratchPostgres>>
  let config: string
  beforeAll(async () => {
    pg = await scratchPostgres('idcli')
    config = writeConfig(pg.dsn)
    expect((await tessera(config, 'migrate', 'up')).code).toBe(0)
  })
  afterAll(async () => {
    await pg?.drop()
  })

  it('imports 2,000 identities and reports the invalid ones by index', async () => {
    const file = scratch.write('identities-pg.json', JSON.stringify(importFile('pg')))
    const ids = await checkImport(config, file)
    const listed = JSON.parse((await tessera(config, 'identities', 'list', '--page-size', '1000', '--format', 'json')).stdout)
    expect(listed.identities.map((i: { id: string }) => i.id)).toEqual([...ids].sort().slice(0, 1000))
    expect(listed.next_page_token).not.toBe('')
  })
})

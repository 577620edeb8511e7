/**
 * `tessera clients`, `tessera keys` and `tessera token client`, run as a user runs them: the real CLI in a child
 * process against a SQLite file.
 */
import { afterAll, describe, expect, it } from 'bun:test'
import { exportJWK, generateKeyPair } from 'jose'
import { existsSync, statSync } from 'node:fs'
import { CLI, SECRET, runCli, scratchDir, startServer } from '../../test/helpers/process.ts'

const scratch = scratchDir('oauth2-cli')
afterAll(() => scratch.remove())
const config = scratch.write('config.json', JSON.stringify({ dsn: `sqlite://${scratch.dir}/db.sqlite`, plugins: [{ use: 'oauth2' }] }))
const tessera = (...args: string[]) => runCli([...args, '--config', config], { env: { SECRETS_SYSTEM: SECRET } })

describe('oauth2 CLI', () => {
  it('creates a client, gets a token for it, lists, rotates keys and deletes the client', async () => {
    const created = await tessera('clients', 'create', '--name', 'backend', '--grant-type', 'client_credentials', '--scope', 'read write', '--format', 'json')
    expect(created.code).toBe(0)
    const c = JSON.parse(created.stdout.trim().split('\n').at(-1)!)
    expect(c.client_secret).toBeTruthy()
    const tok = await tessera('token', 'client', '--client-id', c.client_id, '--client-secret', c.client_secret, '--scope', 'read')
    expect(tok.code).toBe(0)
    expect(tok.stdout.trim().split('\n').at(-1)).toStartWith('ory_at_')
    const wrong = await tessera('token', 'client', '--client-id', c.client_id, '--client-secret', 'wrong-secret')
    expect(wrong.code).not.toBe(0)
    expect(wrong.stderr).toContain('invalid_client')
    const list = await tessera('clients', 'list')
    expect(list.stdout).toContain(c.client_id)
    expect(list.stdout).not.toContain(c.client_secret)
    const rotated = await tessera('keys', 'rotate', 'hydra.openid.id-token')
    expect(rotated.code).toBe(0)
    expect(rotated.stdout).toContain('signs from')
    const keys = await tessera('keys', 'list')
    expect(keys.stdout.split('\n').filter((l) => l.startsWith('hydra.openid.id-token')).length).toBeGreaterThanOrEqual(1)
    const del = await tessera('clients', 'delete', c.client_id)
    expect(del.code).toBe(0)
    expect((await tessera('clients', 'get', c.client_id)).code).not.toBe(0)
  })

  it('trusts a JWT-bearer issuer, lists it and deletes it (tessera trust)', async () => {
    const { publicKey } = await generateKeyPair('ES256')
    const jwkFile = scratch.write('issuer.jwk.json', JSON.stringify({ ...(await exportJWK(publicKey)), kid: 'partner-1', alg: 'ES256', use: 'sig' }))
    const created = await tessera('trust', 'create', '--issuer', 'https://partner.example.com', '--subject', 'svc@partner', '--scope', 'read write', '--jwk-file', jwkFile, '--expires-in', '30d', '--format', 'json')
    expect(created.code).toBe(0)
    const t = JSON.parse(created.stdout.trim().split('\n').at(-1)!)
    expect(t.issuer).toBe('https://partner.example.com')
    expect(t.scope).toEqual(['read', 'write'])
    expect(t.public_key.kid).toBe('partner-1')
    expect(Date.parse(t.expires_at) - Date.now()).toBeGreaterThan(29 * 86400 * 1000)
    const list = await tessera('trust', 'list')
    expect(list.code).toBe(0)
    expect(list.stdout).toContain(t.id)
    expect(list.stdout).toContain('svc@partner')
    // the same issuer, subject and key twice is refused; a missing subject is a usage error
    const dup = await tessera('trust', 'create', '--issuer', 'https://partner.example.com', '--subject', 'svc@partner', '--scope', 'read', '--jwk-file', jwkFile)
    expect(dup.code).not.toBe(0)
    const usage = await tessera('trust', 'create', '--issuer', 'https://partner.example.com', '--jwk-file', jwkFile)
    expect(usage.code).toBe(2)
    expect((await tessera('trust', 'delete', t.id)).code).toBe(0)
    expect((await tessera('trust', 'list')).stdout).not.toContain(t.id)
    expect((await tessera('trust', 'delete', t.id)).code).toBe(1)
  })
})

describe('oauth2 CLI beside a development server (no SECRETS_SYSTEM)', () => {
  it('creates a client whose secret the running dev server accepts, as the README tour does; a restart keeps it', async () => {
    // development mode on an SQLite file keeps its generated secret beside the file: the server and every CLI
    // process use the same one (before, each process had its own, and the CLI's client secret was invalid_client)
    const db = `${scratch.dir}/dev.sqlite`
    const devConfig = scratch.write('dev.json', JSON.stringify({ dev: true, dsn: `sqlite://${db}`, migrations: { auto: true },
      serve: { public: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } }, plugins: [{ use: 'oauth2' }] }))
    const token = (base: string, id: string, secret: string) =>
      fetch(`${base}/oauth2/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials' }),
        headers: { authorization: `Basic ${btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)}` } })
    let server = await startServer(['bun', CLI, 'serve', '--config', devConfig])
    try {
      expect(server.lines.some((l) => l.level === 'warn' && String(l.msg).includes(`kept in ${db}.dev-secret`))).toBe(true)
      const created = await runCli(['clients', 'create', '--grant-type', 'client_credentials', '--format', 'json', '--config', devConfig])
      expect(created.code).toBe(0)
      const c = JSON.parse(created.stdout.trim().split('\n').at(-1)!)
      const first = await token(server.publicUrl, c.client_id, c.client_secret)
      expect(first.status).toBe(200)
      expect(((await first.json()) as { access_token: string }).access_token).toStartWith('ory_at_')
      expect((await token(server.publicUrl, c.client_id, 'not-the-secret')).status).toBe(401)
      expect(await server.stop()).toBe(0)
      server = await startServer(['bun', CLI, 'serve', '--config', devConfig])
      expect((await token(server.publicUrl, c.client_id, c.client_secret)).status).toBe(200)
      expect(statSync(`${db}.dev-secret`).mode & 0o077).toBe(0) // readable by its owner only
    } finally {
      await server.stop()
    }
    // a secret from the environment is used as given: nothing is written
    const prod = scratch.write('prod.json', JSON.stringify({ dev: true, dsn: `sqlite://${scratch.dir}/prod.sqlite`, plugins: [{ use: 'oauth2' }] }))
    expect((await runCli(['clients', 'list', '--config', prod], { env: { SECRETS_SYSTEM: SECRET } })).code).toBe(0)
    expect(existsSync(`${scratch.dir}/prod.sqlite.dev-secret`)).toBe(false)
  })
})

/**
 * `tessera clients`, `tessera keys` and `tessera token client`, run as a user runs them: the real CLI in a child
 * process against a SQLite file.
 */
import { afterAll, describe, expect, it } from 'bun:test'
import { exportJWK, generateKeyPair } from 'jose'
import { SECRET, runCli, scratchDir } from '../../test/helpers/process.ts'

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

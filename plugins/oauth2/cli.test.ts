/**
 * `tessera clients`, `tessera keys` and `tessera token client`, run as a user runs them: the real CLI in a child
 * process against a SQLite file.
 */
import { afterAll, describe, expect, it } from 'bun:test'
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
})

import { describe, expect, it } from 'bun:test'
import { Elysia } from 'elysia'
import { compilePipeline, definePlugin, sha256Hex } from 'tessera'
import { tessera } from 'tessera/elysia'
import { basicHandlers, testApp } from 'tessera/testing'
import { apiKeys } from './index.ts'

const KEY = 'tk_live_9f8e7d6c5b4a'
const keys = async () => [{ id: 'ci', sha256: await sha256Hex(KEY), subject: 'ci-bot', scopes: ['deploy'] }]

describe('api-keys example plugin', () => {
  it('authenticates a request with a configured key and gives its subject and scopes', async () => {
    const used: string[] = []
    const audit = definePlugin({ id: 'audit', on: { 'api_key.used': (e) => void used.push(e.keyId) } })
    // basicHandlers() gives the rule an `allow` authorizer without installing the proxy
    const app = await testApp([apiKeys({ keys: await keys() }), basicHandlers(), audit()])
    const rule = compilePipeline({ id: 'deploy', authenticators: [{ handler: 'api_key' }], authorizer: { handler: 'allow' }, mutators: [] }, app.kernel.registries)
    const req = (headers: Record<string, string>) => ({ method: 'POST', url: new URL('http://localhost/deploy'), headers: new Headers(headers), tenant: 'default' })

    const ok = await rule.run(req({ 'x-api-key': KEY }))
    expect(ok.allowed).toBe(true)
    expect(ok.session.subject).toBe('ci-bot')
    expect(ok.session.extra).toEqual({ api_key: 'ci', scopes: ['deploy'] })
    expect(used).toEqual(['ci'])

    const wrong = await rule.run(req({ 'x-api-key': `${KEY}x` }))
    expect(wrong.allowed).toBe(false)
    if (!wrong.allowed) expect(wrong.error.reasonId).toBe('api_key_unknown')

    const none = await rule.run(req({}))
    expect(none.allowed).toBe(false)
    if (!none.allowed) expect(none.error.reasonId).toBe('no_authenticator_responsible')
    await app.stop()
  })

  it('refuses a key configured in plain text instead of its hash', async () => {
    await expect(testApp([apiKeys({ keys: [{ id: 'x', sha256: KEY, subject: 's' }] })])).rejects.toThrow(
      'plugins[0].options.keys[0].sha256: expected the SHA-256 of the key as 64 lower-case hex digits',
    )
  })

  it('lists the keys on the admin listener without their hashes', async () => {
    const app = await testApp([apiKeys({ keys: await keys() })])
    const r = await app.admin.get('/admin/api-keys')
    expect(r.json).toEqual([{ id: 'ci', subject: 'ci-bot', scopes: ['deploy'] }])
    expect((await app.public.get('/admin/api-keys')).status).toBe(404)
    await app.stop()
  })

  it('gives an embedding host app the key as its subject', async () => {
    const auth = await tessera({ dsn: 'sqlite::memory:', secrets: { system: ['embed-secret-0123456789'] }, plugins: [apiKeys({ keys: await keys() })] }, { env: {} })
    const app = new Elysia().use(auth).get('/whoami', ({ subject }) => ({ id: subject.id, type: subject.type }), { session: true })
    const res = await app.handle(new Request('http://localhost/whoami', { headers: { 'x-api-key': KEY } }))
    expect(await res.json()).toEqual({ id: 'ci-bot', type: 'api_key' })
    const anon = await app.handle(new Request('http://localhost/whoami'))
    expect(anon.status).toBe(401)
    await auth.decorator.tesseraKernel.stop()
  })
})

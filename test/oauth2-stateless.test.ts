/**
 * Stateless processes (12-factor): two `tessera serve` processes on one PostgreSQL database (a scratch schema)
 * behind one public base URL. A code issued by one is redeemed at the other; a refresh token rotated at one is
 * refused at the other; a key added at one is published by both at once (the JWKS is read through on every
 * request; the per-process caches — clients 5 s, signing key 10 s — never decide what is published or valid).
 * Skipped without TESSERA_TEST_POSTGRES_URL. Two processes on one SQLite file (always run): a revocation at one
 * is seen by the other's introspection at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { type ScratchDatabase, postgresAvailable, scratchPostgres } from './helpers/databases.ts'
import { authorizeCode, sdk, tokenAt } from './helpers/oauth2-rp.ts'
import { CLI, SECRET, type ServerProcess, scratchDir, startServer } from './helpers/process.ts'

const BASE = 'http://issuer.test'
const APP = 'https://app.example.com/callback'

describe.skipIf(!postgresAvailable('oauth2-stateless'))('oauth2: two processes on one PostgreSQL database', () => {
  const scratch = scratchDir('oauth2-stateless')
  let pg: ScratchDatabase
  let a: ServerProcess
  let b: ServerProcess
  let client: { id: string; secret: string }

  beforeAll(async () => {
    pg = await scratchPostgres('oauth2stateless')
    const config = scratch.write('config.json', JSON.stringify({
      dsn: pg.dsn,
      serve: { public: { host: '127.0.0.1', port: 0, baseUrl: BASE }, admin: { host: '127.0.0.1', port: 0 } },
      plugins: [{ use: 'oauth2', options: { urls: { login: 'https://login.example.com/login', consent: 'https://login.example.com/consent' }, rateLimit: { enabled: false } } }],
    }))
    a = await startServer(['bun', CLI, 'serve', '--migrate', '--config', config], { env: { SECRETS_SYSTEM: SECRET } })
    b = await startServer(['bun', CLI, 'serve', '--config', config], { env: { SECRETS_SYSTEM: SECRET } })
    // created at A, used at once at B
    const c = await sdk(a.adminUrl!).oauth2.createOAuth2Client({ oAuth2Client: { grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], scope: 'openid offline_access', redirect_uris: [APP] } })
    client = { id: c.client_id!, secret: c.client_secret! }
  })
  afterAll(async () => {
    await a?.stop()
    await b?.stop()
    await pg?.drop()
    scratch.remove()
  })

  const codeAt = (auth: ServerProcess, login: ServerProcess, consent: ServerProcess, finish: ServerProcess) =>
    authorizeCode({
      base: BASE,
      steps: { auth: auth.publicUrl, login: { url: login.publicUrl, api: sdk(login.adminUrl!).oauth2 }, consent: { url: consent.publicUrl, api: sdk(consent.adminUrl!).oauth2 }, finish: finish.publicUrl },
      params: { client_id: client.id, response_type: 'code', redirect_uri: APP, scope: 'openid offline_access', state: 'state-123456', nonce: 'nonce-123456' },
      subject: 'user-1',
    })

  it('a code issued by one process is redeemed at the other (and the login and consent may hop between them)', async () => {
    const code = await codeAt(a, b, a, b)
    const t = await tokenAt(b.publicUrl, client, { grant_type: 'authorization_code', code, redirect_uri: APP })
    expect(t.status).toBe(200)
    // the ID token B signed verifies with the JWKS A publishes
    const jwks = createLocalJWKSet((await (await fetch(`${a.publicUrl}/.well-known/jwks.json`)).json()) as never)
    expect((await jwtVerify(t.json.id_token, jwks, { issuer: BASE, audience: client.id })).payload.sub).toBe('user-1')
    // redeemed once: A refuses it too
    const again = await tokenAt(a.publicUrl, client, { grant_type: 'authorization_code', code, redirect_uri: APP })
    expect(again.status).toBe(400)
    expect(again.json.error).toBe('invalid_grant')
  })

  it('a refresh token rotated at one process is refused at the other', async () => {
    const code = await codeAt(a, a, a, a)
    const t = await tokenAt(a.publicUrl, client, { grant_type: 'authorization_code', code, redirect_uri: APP })
    expect(t.status).toBe(200)
    const rotated = await tokenAt(a.publicUrl, client, { grant_type: 'refresh_token', refresh_token: t.json.refresh_token })
    expect(rotated.status).toBe(200)
    const replay = await tokenAt(b.publicUrl, client, { grant_type: 'refresh_token', refresh_token: t.json.refresh_token })
    expect(replay.status).toBe(400)
    expect(replay.json.error).toBe('invalid_grant')
    // the replay revoked the chain: the rotated token is refused at both (RFC 9700 §4.14.2)
    expect((await tokenAt(b.publicUrl, client, { grant_type: 'refresh_token', refresh_token: rotated.json.refresh_token })).status).toBe(400)
    const intro = await fetch(`${a.adminUrl}/admin/oauth2/introspect`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: rotated.json.access_token }) })
    expect(((await intro.json()) as { active: boolean }).active).toBe(false)
  })

  it('a key added at one process is published by both at once', async () => {
    const kids = async (p: ServerProcess) => ((await (await fetch(`${p.publicUrl}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid).sort()
    const before = await kids(b)
    expect(await kids(a)).toEqual(before)
    const set = await sdk(a.adminUrl!).jwk.createJsonWebKeySet({ set: 'hydra.openid.id-token', createJsonWebKeySet: { alg: 'RS256', use: 'sig', kid: 'added-at-a' } })
    expect(set.keys![0]!.kid).toBe('added-at-a')
    expect(await kids(b)).toContain('added-at-a')
    expect(await kids(a)).toEqual(await kids(b))
    // B signs with it once its signing-key cache (10 s) has turned over; until then its tokens verify either way
    const code = await codeAt(b, b, b, b)
    const t = await tokenAt(b.publicUrl, client, { grant_type: 'authorization_code', code, redirect_uri: APP })
    const jwks = createLocalJWKSet((await (await fetch(`${a.publicUrl}/.well-known/jwks.json`)).json()) as never)
    expect((await jwtVerify(t.json.id_token, jwks, { issuer: BASE, audience: client.id })).payload.sub).toBe('user-1')
  })
})

// SQLite's driver may answer an introspection from its memo of the last read (Queryable.querySync `memo`): exact
// only if a commit by another process ends it, which this shows across two real processes on one file
describe('oauth2: two processes on one SQLite file', () => {
  const scratch = scratchDir('oauth2-stateless-sqlite')
  let a: ServerProcess
  let b: ServerProcess
  let client: { id: string; secret: string }

  beforeAll(async () => {
    const config = scratch.write('config.json', JSON.stringify({
      dsn: `sqlite://${scratch.dir}/tessera.sqlite`,
      serve: { public: { host: '127.0.0.1', port: 0, baseUrl: BASE }, admin: { host: '127.0.0.1', port: 0 } },
      plugins: [{ use: 'oauth2', options: { rateLimit: { enabled: false } } }],
    }))
    a = await startServer(['bun', CLI, 'serve', '--migrate', '--config', config], { env: { SECRETS_SYSTEM: SECRET } })
    b = await startServer(['bun', CLI, 'serve', '--config', config], { env: { SECRETS_SYSTEM: SECRET } })
    const c = await sdk(a.adminUrl!).oauth2.createOAuth2Client({ oAuth2Client: { grant_types: ['client_credentials'], response_types: [], scope: 'read' } })
    client = { id: c.client_id!, secret: c.client_secret! }
  })
  afterAll(async () => {
    await a?.stop()
    await b?.stop()
    scratch.remove()
  })

  const activeAt = async (p: ServerProcess, token: string) => {
    const res = await fetch(`${p.adminUrl}/admin/oauth2/introspect`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }) })
    return ((await res.json()) as { active: boolean }).active
  }

  it('a token introspected again and again at one process is inactive there as soon as the other revokes it', async () => {
    const t = await tokenAt(a.publicUrl, client, { grant_type: 'client_credentials', scope: 'read' })
    expect(t.status).toBe(200)
    for (let i = 0; i < 3; i++) expect(await activeAt(b, t.json.access_token)).toBe(true)
    const revoked = await fetch(`${a.publicUrl}/oauth2/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa(`${client.id}:${client.secret}`)}` },
      body: new URLSearchParams({ token: t.json.access_token }),
    })
    expect(revoked.status).toBe(200)
    expect(await activeAt(b, t.json.access_token)).toBe(false)
    expect(await activeAt(a, t.json.access_token)).toBe(false)
  })

  it('a client whose tokens the other process deleted has none active here', async () => {
    const t = await tokenAt(b.publicUrl, client, { grant_type: 'client_credentials', scope: 'read' })
    expect(await activeAt(b, t.json.access_token)).toBe(true)
    expect(await activeAt(a, t.json.access_token)).toBe(true)
    expect((await fetch(`${a.adminUrl}/admin/oauth2/tokens?client_id=${encodeURIComponent(client.id)}`, { method: 'DELETE' })).status).toBe(204)
    expect(await activeAt(b, t.json.access_token)).toBe(false)
  })
})

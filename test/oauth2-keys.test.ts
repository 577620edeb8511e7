/**
 * Key rotation as an operator does it: `tessera keys rotate` (its own process) while `tessera serve` runs, on
 * SQLite and PostgreSQL. The new key is published at /.well-known/jwks.json before it signs; every ID token and
 * JWT access token signed before (or by a server that had not yet noticed the rotation) keeps verifying through
 * the JWKS until it expires; the retired key leaves the JWKS after that.
 *
 * Short lifespans (4 s), a 3 s overlap: the test takes ~20 s per driver, most of it waiting for the server's
 * signing-key cache (10 s) and the tokens' lifetimes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose'
import { type ScratchDatabase, drivers, scratchPostgres } from './helpers/databases.ts'
import { authorizeCode, sdk, tokenAt } from './helpers/oauth2-rp.ts'
import { CLI, SECRET, type ServerProcess, runCli, scratchDir, startServer } from './helpers/process.ts'

const BASE = 'http://issuer.test'
const APP = 'https://app.example.com/callback'
const LIFESPAN = 4
const OVERLAP = 3

const scratch = scratchDir('oauth2-keys')
afterAll(() => scratch.remove())

for (const driver of drivers('oauth2-keys')) {
  describe.skipIf(!driver.enabled)(`oauth2 key rotation across processes (${driver.name})`, () => {
    let pg: ScratchDatabase | undefined
    let server: ServerProcess
    let config: string
    let client: { id: string; secret: string }

    const jwks = async () => (await (await fetch(`${server.publicUrl}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }
    const verify = async (jwt: string) => jwtVerify(jwt, createLocalJWKSet((await jwks()) as never), { issuer: BASE })
    const accessToken = async () => {
      const t = await tokenAt(server.publicUrl, client, { grant_type: 'client_credentials' })
      expect(t.status).toBe(200)
      return t.json.access_token as string
    }
    const idToken = async () => {
      const api = sdk(server.adminUrl!).oauth2
      const step = { url: server.publicUrl, api }
      const code = await authorizeCode({ base: BASE, steps: { auth: server.publicUrl, login: step, consent: step, finish: server.publicUrl }, params: { client_id: client.id, response_type: 'code', redirect_uri: APP, scope: 'openid', state: 'state-123456', nonce: 'nonce-123456' }, subject: 'user-1' })
      const t = await tokenAt(server.publicUrl, client, { grant_type: 'authorization_code', code, redirect_uri: APP })
      expect(t.status).toBe(200)
      return t.json.id_token as string
    }

    beforeAll(async () => {
      let dsn: string
      if (driver.name === 'postgres') {
        pg = await scratchPostgres('oauth2keys')
        dsn = pg.dsn
      } else dsn = `sqlite://${scratch.dir}/${crypto.randomUUID()}.sqlite`
      config = scratch.write(`${driver.name}.json`, JSON.stringify({
        dsn,
        serve: { public: { host: '127.0.0.1', port: 0, baseUrl: BASE }, admin: { host: '127.0.0.1', port: 0 } },
        migrations: { auto: true },
        plugins: [{ use: 'oauth2', options: { accessTokenStrategy: 'jwt', lifespans: { accessToken: LIFESPAN, idToken: LIFESPAN }, keys: { overlapSeconds: OVERLAP }, urls: { login: 'https://login.example.com/login', consent: 'https://login.example.com/consent' }, rateLimit: { enabled: false } } }],
      }))
      server = await startServer(['bun', CLI, 'serve', '--migrate', '--config', config], { env: { SECRETS_SYSTEM: SECRET } })
      const c = await sdk(server.adminUrl!).oauth2.createOAuth2Client({ oAuth2Client: { grant_types: ['client_credentials', 'authorization_code'], response_types: ['code'], scope: 'openid', redirect_uris: [APP] } })
      client = { id: c.client_id!, secret: c.client_secret! }
    })
    afterAll(async () => {
      await server?.stop()
      await pg?.drop()
    })

    it('publishes the new key before it signs; tokens signed before keep verifying through the JWKS until they expire', async () => {
      const beforeAt = await accessToken()
      const beforeId = await idToken()
      const oldAt = decodeProtectedHeader(beforeAt).kid!
      const oldId = decodeProtectedHeader(beforeId).kid!
      expect(decodeProtectedHeader(beforeAt).typ).toBe('at+jwt')

      for (const set of ['hydra.openid.id-token', 'hydra.jwt.access-token']) {
        const r = await runCli(['keys', 'rotate', set, '--config', config], { env: { SECRETS_SYSTEM: SECRET } })
        expect(r.code).toBe(0)
      }
      const rotatedAt = Date.now()
      // published at once by the running server (it reads the JWKS through), both the old and the new keys
      const published = (await jwks()).keys.map((k) => k.kid)
      expect(published).toContain(oldAt)
      expect(published).toContain(oldId)
      expect(published.length).toBe(4)
      const newKids = published.filter((k) => k !== oldAt && k !== oldId)
      // the tokens signed before the rotation verify through the JWKS
      expect((await verify(beforeAt)).payload.client_id).toBe(client.id)
      expect((await verify(beforeId)).payload.sub).toBe('user-1')

      // keep issuing until the new key signs; every token must verify through the JWKS for as long as it lives
      const issued: { jwt: string; kid: string; exp: number }[] = []
      while (Date.now() - rotatedAt < 25_000) {
        const jwt = await accessToken()
        const kid = decodeProtectedHeader(jwt).kid!
        // a key signs only once it is published
        expect((await jwks()).keys.map((k) => k.kid)).toContain(kid)
        issued.push({ jwt, kid, exp: decodeJwt(jwt).exp! })
        if (newKids.includes(kid)) break
        await Bun.sleep(500)
      }
      const signedByNew = issued.at(-1)!
      expect(newKids).toContain(signedByNew.kid)
      // the new key did not sign before the overlap had passed
      for (const t of issued) if (newKids.includes(t.kid)) expect(decodeJwt(t.jwt).iat! * 1000).toBeGreaterThanOrEqual(rotatedAt + OVERLAP * 1000 - 2000)
      // the last token the old key signed still verifies just before it expires
      const lastOld = issued.filter((t) => t.kid === oldAt).at(-1)
      if (lastOld) {
        const wait = lastOld.exp * 1000 - 700 - Date.now()
        if (wait > 0) await Bun.sleep(wait)
        expect((await verify(lastOld.jwt)).payload.client_id).toBe(client.id)
      }
      expect((await verify(signedByNew.jwt)).payload.client_id).toBe(client.id)

      // once every token the old keys can have signed has expired, they leave the JWKS
      const gone = rotatedAt + (OVERLAP + 10 + LIFESPAN + 1) * 1000 - Date.now()
      if (gone > 0) await Bun.sleep(gone)
      const left = (await jwks()).keys.map((k) => k.kid)
      expect(left).not.toContain(oldAt)
      expect(left).not.toContain(oldId)
      expect(await verify(beforeId).catch((e) => e)).toBeInstanceOf(Error)
    }, 60_000)
  })
}

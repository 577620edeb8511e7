/**
 * The password method: breached-password check through a real local
 * k-anonymity range server (HIBP's range API format,
 * https://haveibeenpwned.com/API/v3#SearchingPwnedPasswordsByRange), fail
 * open/closed, legacy hash import with re-hash on login, and Kratos'
 * `revoke_active_sessions` hook — on SQLite and PostgreSQL.
 */
import { scryptSync } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { call } from '../../test/helpers/app.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { boot, rangeServer } from '../../test/helpers/identity.ts'

type Apps = Awaited<ReturnType<typeof boot>>
const PW = 'legacy password 2019'

async function registerApi(apps: Apps, email: string, password: string) {
  const flow = (await call(apps.public, 'GET', '/self-service/registration/api')).json
  return call(apps.public, 'POST', `/self-service/registration?flow=${flow.id}`, { body: { method: 'password', password, traits: { email } } })
}
async function login(apps: Apps, identifier: string, password: string) {
  const flow = (await call(apps.public, 'GET', '/self-service/login/api')).json
  return call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'password', identifier, password } })
}
const pwMessage = (r: { json: any }) => r.json.ui.nodes.find((n: any) => n.attributes.name === 'password').messages[0]

async function legacyHashes(): Promise<Record<string, string>> {
  const salt = crypto.getRandomValues(new Uint8Array(16))
  const b64 = (b: ArrayBuffer | Uint8Array) => Buffer.from(b as ArrayBuffer).toString('base64')
  const pbkdf2 = async (hash: 'SHA-256' | 'SHA-512') => {
    const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(PW), 'PBKDF2', false, ['deriveBits'])
    return b64(await crypto.subtle.deriveBits({ name: 'PBKDF2', hash, salt, iterations: 1000 }, key, 256))
  }
  const ssha = (alg: 'sha256' | 'sha512') => b64(Buffer.concat([new Bun.CryptoHasher(alg).update(Buffer.concat([Buffer.from(PW), salt])).digest(), salt]))
  return {
    bcrypt: await Bun.password.hash(PW, { algorithm: 'bcrypt', cost: 4 }),
    argon2i: await Bun.password.hash(PW, { algorithm: 'argon2i', memoryCost: 64, timeCost: 1 }),
    pbkdf2_sha256: `$pbkdf2-sha256$i=1000,l=32$${b64(salt)}$${await pbkdf2('SHA-256')}`,
    pbkdf2_sha512: `$pbkdf2-sha512$i=1000,l=32$${b64(salt)}$${await pbkdf2('SHA-512')}`,
    scrypt: `$scrypt$ln=1024,r=8,p=1$${b64(salt)}$${b64(scryptSync(PW, salt, 32, { N: 1024, r: 8, p: 1 }))}`,
    ssha256: `{SSHA256}${ssha('sha256')}`,
    ssha512: `{SSHA512}${ssha('sha512')}`,
  }
}

for (const driver of drivers('password')) {
  describe.skipIf(!driver.enabled)(`password method (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: Apps
    let range: ReturnType<typeof rangeServer>
    beforeAll(async () => {
      scratch = await driver.create()
      range = rangeServer(['Tr0ub4dor&3 horse'])
      apps = await boot(scratch.db, {
        identity: { selfservice: { loginAfter: ['revoke_active_sessions'] } },
        password: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: true, url: range.url, failOpen: true } },
      })
    })
    afterAll(async () => {
      await apps.kernel.stop()
      range.stop()
      await scratch.drop()
    })

    it('refuses a breached password (4000034) and sends only the 5-hex SHA-1 prefix to the range API', async () => {
      const r = await registerApi(apps, 'hibp@example.com', 'Tr0ub4dor&3 horse')
      expect(r.status).toBe(400)
      expect(pwMessage(r).id).toBe(4000034)
      const sha1 = new Bun.CryptoHasher('sha1').update('Tr0ub4dor&3 horse').digest('hex').toUpperCase()
      expect(range.requested).toContain(sha1.slice(0, 5))
      expect(range.requested.every((p) => /^[0-9A-F]{5}$/.test(p))).toBe(true)
      expect((await registerApi(apps, 'hibp@example.com', 'an unbreached passphrase')).status).toBe(200)
    })

    it('fails open or closed when the range API cannot be reached, as configured', async () => {
      const dead = 'http://127.0.0.1:9/range'
      const closed = await boot(undefined, { password: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: true, url: dead, failOpen: false, timeoutMs: 500 } } })
      const r = await registerApi(closed, 'closed@example.com', 'an unbreached passphrase')
      expect(r.status).toBe(400)
      expect(pwMessage(r).id).toBe(4000005)
      await closed.kernel.stop()
      const open = await boot(undefined, { password: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: true, url: dead, failOpen: true, timeoutMs: 500 } } })
      expect((await registerApi(open, 'open@example.com', 'an unbreached passphrase')).status).toBe(200)
      await open.kernel.stop()
    })

    it('imports legacy hashes (bcrypt, argon2i, PBKDF2-SHA256/512, scrypt, salted SHA-256/512) and re-hashes them with argon2id on login', async () => {
      for (const [name, hashed] of Object.entries(await legacyHashes())) {
        const email = `legacy-${name.replace('_', '-')}@example.com`
        const c = await call(apps.admin, 'POST', '/admin/identities', { body: { traits: { email }, credentials: { password: { config: { hashed_password: hashed } } } } })
        expect(c.status).toBe(201)
        expect((await login(apps, email, 'wrong password here')).status).toBe(400)
        const ok = await login(apps, email, PW)
        expect(ok.status, name).toBe(200)
        const stored = await call(apps.admin, 'GET', `/admin/identities/${c.json.id}?include_credential=password`)
        expect(stored.json.credentials.password.config.hashed_password, name).toStartWith('$argon2id$')
        expect((await login(apps, email, PW)).status, name).toBe(200)
      }
      const bad = await call(apps.admin, 'POST', '/admin/identities', { body: { traits: { email: 'bad-hash@example.com' }, credentials: { password: { config: { hashed_password: 'md5:abc' } } } } })
      expect(bad.status).toBe(400)
    })

    it("Kratos' revoke_active_sessions hook signs out the other sessions on login", async () => {
      await registerApi(apps, 'revoke@example.com', 'an unbreached passphrase')
      const first = await login(apps, 'revoke@example.com', 'an unbreached passphrase')
      const second = await login(apps, 'revoke@example.com', 'an unbreached passphrase')
      expect((await call(apps.public, 'GET', '/sessions/whoami', { headers: { 'x-session-token': first.json.session_token } })).status).toBe(401)
      expect((await call(apps.public, 'GET', '/sessions/whoami', { headers: { 'x-session-token': second.json.session_token } })).status).toBe(200)
    })
  })
}

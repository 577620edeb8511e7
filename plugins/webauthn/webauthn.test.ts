/**
 * The webauthn plugin's server-side ceremonies, on SQLite and PostgreSQL, without a browser: a software
 * authenticator in this file (P-256 keys from node:crypto, CBOR from @simplewebauthn/server's helpers) registers
 * passkeys and security keys and signs assertions, honest and forged. Security regressions follow
 * ../shared/reference/security-checklist.md (WebAuthn) and W3C WebAuthn Level 2 §7.1 (registration) and §7.2
 * (authentication). The browser journey (Chromium's virtual authenticator) is test/e2e/webauthn.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { isoCBOR } from '@simplewebauthn/server/helpers'
import { bootApps, call, captureLog } from '../../test/helpers/app.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { quickstartSchema, testSelfservice } from '../../test/helpers/identity.ts'
import { identity } from '../identity/index.ts'
import { password } from '../password/index.ts'
import { webauthn } from './index.ts'

const ORIGIN = 'https://login.example.com'
const RP = 'example.com'
const b64u = (b: Uint8Array | Buffer) => Buffer.from(b).toString('base64url')
const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest()

/** A software authenticator: one credential, a counter, and flags to forge. */
class SoftAuthenticator {
  readonly id = randomBytes(16)
  readonly keys = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  counter = 0
  userHandle = ''
  backupEligible = false

  private cose(): Uint8Array {
    const jwk = this.keys.publicKey.export({ format: 'jwk' })
    return isoCBOR.encode(new Map<number, number | Uint8Array>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')]]))
  }

  private authData(rpId: string, uv: boolean, attested: boolean): Buffer {
    const flags = 0x01 | (uv ? 0x04 : 0) | (this.backupEligible ? 0x08 : 0) | (attested ? 0x40 : 0)
    const count = Buffer.alloc(4)
    count.writeUInt32BE(this.counter)
    const parts = [sha256(rpId), Buffer.from([flags]), count]
    if (attested) {
      const len = Buffer.alloc(2)
      len.writeUInt16BE(this.id.length)
      parts.push(Buffer.alloc(16), len, this.id, Buffer.from(this.cose()))
    }
    return Buffer.concat(parts)
  }

  /** navigator.credentials.create(), answered as the browser script sends it. */
  create(options: any, o: { origin?: string; rpId?: string; uv?: boolean } = {}) {
    this.userHandle = options.user.id
    const clientData = Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin: o.origin ?? ORIGIN, crossOrigin: false }))
    const attestationObject = isoCBOR.encode(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', this.authData(o.rpId ?? RP, o.uv ?? true, true)]]) as never)
    return JSON.stringify({ id: b64u(this.id), rawId: b64u(this.id), type: 'public-key', response: { attestationObject: b64u(attestationObject), clientDataJSON: b64u(clientData) }, clientExtensionResults: {} })
  }

  /** navigator.credentials.get(). */
  get(options: any, o: { origin?: string; rpId?: string; uv?: boolean; counter?: number; userHandle?: string; id?: Buffer } = {}) {
    this.counter = o.counter ?? this.counter + 1
    const clientData = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge: options.challenge, origin: o.origin ?? ORIGIN, crossOrigin: false }))
    const authData = this.authData(o.rpId ?? RP, o.uv ?? true, false)
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientData)]), this.keys.privateKey)
    const id = o.id ?? this.id
    return JSON.stringify({ id: b64u(id), rawId: b64u(id), type: 'public-key', response: { authenticatorData: b64u(authData), clientDataJSON: b64u(clientData), signature: b64u(signature), userHandle: o.userHandle ?? this.userHandle }, clientExtensionResults: {} })
  }
}

const node = (flow: any, name: string) => flow.ui.nodes.find((n: any) => n.attributes.name === name)
const valueOf = (flow: any, name: string) => JSON.parse(node(flow, name).attributes.value)

for (const driver of drivers('webauthn')) {
  describe.skipIf(!driver.enabled)(`webauthn and passkey methods (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: Awaited<ReturnType<typeof bootApps>>
    const log = captureLog()
    beforeAll(async () => {
      scratch = await driver.create()
      const schema = structuredClone(quickstartSchema) as any
      schema.properties.traits.properties.email['ory.sh/kratos'].credentials.webauthn = { identifier: true }
      apps = await bootApps(
        [
          identity({ schemas: [{ id: 'default', schema }], selfservice: { ...testSelfservice, privilegedSessionMaxAge: 600 } }),
          password({ hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } }),
          webauthn({ rp: { id: RP, name: 'Example', origins: [ORIGIN] }, passwordless: true }),
        ],
        { database: scratch.db, log: log.logger },
      )
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    /** Register with a passkey through an API flow; the authenticator and the response. */
    async function registerPasskey(email: string, key = new SoftAuthenticator(), o: Parameters<SoftAuthenticator['create']>[1] = {}) {
      const flow = (await call(apps.public, 'GET', '/self-service/registration/api')).json as any
      const create = valueOf(flow, 'passkey_create_data')
      expect(create.credentialOptions.publicKey.authenticatorSelection).toMatchObject({ residentKey: 'required', userVerification: 'required' })
      expect(create.credentialOptions.publicKey.attestation).toBe('none')
      expect(create.credentialOptions.publicKey.rp).toEqual({ id: RP, name: 'Example' })
      const r = await call(apps.public, 'POST', `/self-service/registration?flow=${flow.id}`, { body: { method: 'passkey', traits: { email }, passkey_register: key.create(create.credentialOptions.publicKey, o) } })
      return { key, r, flow }
    }

    async function passkeyLogin(sign: (options: any) => string) {
      const flow = (await call(apps.public, 'GET', '/self-service/login/api')).json as any
      const options = valueOf(flow, 'passkey_challenge').publicKey
      expect(options.allowCredentials ?? []).toEqual([])
      expect(options.userVerification).toBe('required')
      const r = await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'passkey', passkey_login: sign(options) } })
      return { r, flow, options }
    }

    it('registers a passkey and logs in with it without an identifier (aal1, method passkey)', async () => {
      const { key, r } = await registerPasskey('pk@example.com')
      expect(r.status).toBe(200)
      const login = await passkeyLogin((opts) => key.get(opts))
      expect(login.r.status).toBe(200)
      const session = (login.r.json as any).session
      expect(session.identity.traits.email).toBe('pk@example.com')
      expect(session.authenticator_assurance_level).toBe('aal1')
      expect(session.authentication_methods[0].method).toBe('passkey')
    })

    it('serves the login nodes Kratos has: passkey_challenge, passkey_login (autofill), the trigger, the identifier for conditional UI', async () => {
      const flow = (await call(apps.public, 'GET', '/self-service/login/browser', { headers: { accept: 'application/json' } })).json as any
      expect(node(flow, 'passkey_login').attributes).toMatchObject({ type: 'hidden', onloadTrigger: 'oryPasskeyLoginAutocompleteInit', onload: 'window.oryPasskeyLoginAutocompleteInit()' })
      expect(node(flow, 'passkey_login_trigger')).toMatchObject({ group: 'passkey', meta: { label: { id: 1010021 } }, attributes: { type: 'button', onclickTrigger: 'oryPasskeyLogin' } })
      expect(node(flow, 'identifier').attributes.autocomplete).toBe('username webauthn')
      const script = flow.ui.nodes.find((n: any) => n.type === 'script')
      expect(script.attributes).toMatchObject({ id: 'webauthn_script', type: 'text/javascript', crossorigin: 'anonymous' })
      expect(script.attributes.src).toEndWith('/.well-known/ory/webauthn.js')
      const js = await apps.public.handle(new Request('http://localhost/.well-known/ory/webauthn.js'))
      expect(js.headers.get('content-type')).toStartWith('text/javascript')
      const body = await js.text()
      expect(body).toContain('oryPasskeyLoginAutocompleteInit')
      // the integrity attribute is the script's SHA-512
      expect(script.attributes.integrity).toBe(`sha512-${createHash('sha512').update(body).digest('base64')}`)
    })

    it('refuses a reused challenge: the same signed assertion twice, or a second try on a flow (W3C §7.2 step 12)', async () => {
      const { key } = await registerPasskey('replay@example.com')
      const flow = (await call(apps.public, 'GET', '/self-service/login/api')).json as any
      const signed = key.get(valueOf(flow, 'passkey_challenge').publicKey)
      const first = await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'passkey', passkey_login: signed } })
      expect(first.status).toBe(200)
      // another flow: the old challenge is not its challenge
      const other = (await call(apps.public, 'GET', '/self-service/login/api')).json as any
      const again = await call(apps.public, 'POST', `/self-service/login?flow=${other.id}`, { body: { method: 'passkey', passkey_login: signed } })
      expect(again.status).toBe(400)
      expect((again.json as any).ui.messages[0].id).toBe(4000043)
      // a failed try consumes the challenge: the flow carries a new one
      expect(valueOf(again.json, 'passkey_challenge').publicKey.challenge).not.toBe(valueOf(other, 'passkey_challenge').publicKey.challenge)
    })

    it('refuses an assertion from another origin or for another rp id (security checklist: WebAuthn)', async () => {
      const { key } = await registerPasskey('origin@example.com')
      expect((await passkeyLogin((o) => key.get(o, { origin: 'https://evil.example.net' }))).r.status).toBe(400)
      expect((await passkeyLogin((o) => key.get(o, { rpId: 'evil.example.net' }))).r.status).toBe(400)
      expect(log.lines.some((l) => String(l.msg ?? '').includes('passkey ceremony refused') && l['tessera.reason_id'] === 'webauthn_assertion_invalid')).toBe(true)
      // the honest one still works
      expect((await passkeyLogin((o) => key.get(o))).r.status).toBe(200)
    })

    it('refuses a registration from another origin, for another rp id, or without user verification', async () => {
      expect((await registerPasskey('o1@example.com', undefined, { origin: 'https://evil.example.net' })).r.status).toBe(400)
      expect((await registerPasskey('o2@example.com', undefined, { rpId: 'evil.example.net' })).r.status).toBe(400)
      expect((await registerPasskey('o3@example.com', undefined, { uv: false })).r.status).toBe(400)
    })

    it('refuses a passkey assertion with UV=0 (user verification is required)', async () => {
      const { key } = await registerPasskey('uv@example.com')
      const out = await passkeyLogin((o) => key.get(o, { uv: false }))
      expect(out.r.status).toBe(400)
      expect((out.r.json as any).session).toBeUndefined()
    })

    it("refuses an assertion for another user's credential (user handle of A, credential of B)", async () => {
      const a = await registerPasskey('alice-pk@example.com')
      const b = await registerPasskey('bob-pk@example.com')
      // Bob's authenticator signs, claiming Alice's user handle
      const out = await passkeyLogin((o) => b.key.get(o, { userHandle: a.key.userHandle }))
      expect(out.r.status).toBe(400)
      expect((out.r.json as any).session).toBeUndefined()
    })

    it('refuses a cloned authenticator: a signature counter that does not grow is refused, logged and marked', async () => {
      const { key, r } = await registerPasskey('clone@example.com')
      const id = (r.json as any).identity.id
      expect((await passkeyLogin((o) => key.get(o, { counter: 5 }))).r.status).toBe(200)
      const cloned = await passkeyLogin((o) => key.get(o, { counter: 5 }))
      expect(cloned.r.status).toBe(400)
      expect(log.lines.some((l) => l['tessera.reason_id'] === 'webauthn_counter_regression' && l['tessera.identity_id'] === id)).toBe(true)
      const admin = await call(apps.admin, 'GET', `/admin/identities/${id}`)
      expect((admin.json as any).credentials.passkey.type).toBe('passkey')
      // the admin response names the type, never the key material
      expect(JSON.stringify(admin.json)).not.toContain('public_key')
    })

    it('refuses a credential id already registered (W3C §7.1 step 22)', async () => {
      const key = new SoftAuthenticator()
      expect((await registerPasskey('dup1@example.com', key)).r.status).toBe(200)
      const second = await registerPasskey('dup2@example.com', key)
      expect(second.r.status).toBe(400)
      expect((second.r.json as any).ui.messages[0].id).toBe(4000007)
    })

    it('passwordless webauthn: the identifier first, then an assertion of a key with UV (aal1)', async () => {
      // register by password, add a passwordless security key in settings (browser flow, privileged session)
      const jar = new Map<string, string>()
      const cookie = () => [...jar.values()].join('; ')
      const keep = (h: Headers) => { for (const c of h.getSetCookie()) jar.set(c.split('=')[0]!, c.split(';')[0]!) }
      const reg0 = (await call(apps.public, 'GET', '/self-service/registration/browser', { headers: { accept: 'application/json' } }))
      keep(reg0.headers)
      const csrf = (f: any) => node(f, 'csrf_token').attributes.value
      const reg = await call(apps.public, 'POST', `/self-service/registration?flow=${(reg0.json as any).id}`, { headers: { accept: 'application/json', cookie: cookie() }, body: { method: 'password', csrf_token: csrf(reg0.json), password: 'correct horse battery staple', traits: { email: 'pwl@example.com' } } })
      expect(reg.status).toBe(200)
      keep(reg.headers)
      const s0 = await call(apps.public, 'GET', '/self-service/settings/browser', { headers: { accept: 'application/json', cookie: cookie() } })
      keep(s0.headers)
      const settings = s0.json as any
      const trigger = node(settings, 'webauthn_register_trigger')
      expect(trigger.attributes).toMatchObject({ type: 'button', onclickTrigger: 'oryWebAuthnRegistration' })
      expect(trigger.meta.label.id).toBe(1050012)
      expect(node(settings, 'webauthn_register_displayname').meta.label.id).toBe(1050013)
      const key = new SoftAuthenticator()
      const added = await call(apps.public, 'POST', `/self-service/settings?flow=${settings.id}`, { headers: { accept: 'application/json', cookie: cookie() }, body: { method: 'webauthn', csrf_token: csrf(settings), webauthn_register_displayname: 'My key', webauthn_register: key.create(JSON.parse(trigger.attributes.value).publicKey) } })
      expect(added.status).toBe(200)
      const remove = node(added.json, 'webauthn_remove')
      expect(remove.attributes.value).toBe(key.id.toString('hex'))
      expect(remove.meta.label).toMatchObject({ id: 1050018, text: 'Remove security key "My key"' })

      // a new browser: login by identifier, then the key
      const jar2 = new Map<string, string>()
      const cookie2 = () => [...jar2.values()].join('; ')
      const l0 = await call(apps.public, 'GET', '/self-service/login/browser', { headers: { accept: 'application/json' } })
      for (const c of l0.headers.getSetCookie()) jar2.set(c.split('=')[0]!, c.split(';')[0]!)
      const step1 = await call(apps.public, 'POST', `/self-service/login?flow=${(l0.json as any).id}`, { headers: { accept: 'application/json', cookie: cookie2() }, body: { method: 'webauthn', csrf_token: csrf(l0.json), identifier: 'pwl@example.com' } })
      // the identifier step asks the browser back to the UI with the assertion options: 400 with the flow, as
      // Kratos answers any strategy that returns to the UI (flow.ErrStrategyAsksToReturnToUI)
      expect(step1.status).toBe(400)
      expect((step1.json as any).ui.messages[0].id).toBe(1010012)
      const opts = JSON.parse(node(step1.json, 'webauthn_login_trigger').attributes.value).publicKey
      expect(opts.allowCredentials.map((c: any) => c.id)).toEqual([b64u(key.id)])
      expect(opts.userVerification).toBe('required')
      // UV=0 is refused for passwordless
      const noUv = await call(apps.public, 'POST', `/self-service/login?flow=${(l0.json as any).id}`, { headers: { accept: 'application/json', cookie: cookie2() }, body: { method: 'webauthn', csrf_token: csrf(l0.json), identifier: 'pwl@example.com', webauthn_login: key.get(opts, { uv: false }) } })
      expect(noUv.status).toBe(400)
      const opts2 = JSON.parse(node(noUv.json, 'webauthn_login_trigger').attributes.value).publicKey
      const ok = await call(apps.public, 'POST', `/self-service/login?flow=${(l0.json as any).id}`, { headers: { accept: 'application/json', cookie: cookie2() }, body: { method: 'webauthn', csrf_token: csrf(l0.json), identifier: 'pwl@example.com', webauthn_login: key.get(opts2) } })
      expect(ok.status).toBe(200)
      expect((ok.json as any).session.authentication_methods[0]).toMatchObject({ method: 'webauthn', aal: 'aal1' })
    })

    it('imports webauthn and passkey credentials in Kratos’ shape; the admin response lists the types without key material', async () => {
      const key = new SoftAuthenticator()
      const jwkKeyless = { id: key.id.toString('base64'), public_key: Buffer.from('a5010203262001215820', 'hex').toString('base64'), attestation_type: 'none', authenticator: { aaguid: Buffer.alloc(16).toString('base64'), sign_count: 0, clone_warning: false }, display_name: 'imported', added_at: new Date().toISOString(), is_passwordless: true, flags: { user_present: true, user_verified: true, backup_eligible: false, backup_state: false } }
      const created = await call(apps.admin, 'POST', '/admin/identities', { body: { schema_id: 'default', traits: { email: 'import-wa@example.com' }, credentials: { passkey: { config: { credentials: [jwkKeyless], user_handle: randomBytes(16).toString('base64') } } } } })
      expect(created.status).toBe(201)
      const shown = await call(apps.admin, 'GET', `/admin/identities/${(created.json as any).id}?include_credential=passkey`)
      expect((shown.json as any).credentials.passkey).toMatchObject({ type: 'passkey', version: expect.any(Number) })
      expect(JSON.stringify(shown.json)).not.toContain(jwkKeyless.public_key)
      // the same credential id again is refused
      const dup = await call(apps.admin, 'POST', '/admin/identities', { body: { schema_id: 'default', traits: { email: 'import-wa2@example.com' }, credentials: { webauthn: { config: { credentials: [jwkKeyless], user_handle: randomBytes(16).toString('base64') } } } } })
      expect(dup.status).toBe(400)
      const bad = await call(apps.admin, 'POST', '/admin/identities', { body: { schema_id: 'default', traits: { email: 'import-wa3@example.com' }, credentials: { webauthn: { config: { credentials: [{ id: '%%%' }] } } } } })
      expect(bad.status).toBe(400)
    })
  })

  describe.skipIf(!driver.enabled)(`webauthn as a second factor (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: Awaited<ReturnType<typeof bootApps>>
    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps(
        [
          identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: { ...testSelfservice, privilegedSessionMaxAge: 600 } }),
          password({ hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } }),
          webauthn({ rp: { id: RP, name: 'Example', origins: [ORIGIN] } }),
        ],
        { database: scratch.db },
      )
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    /** A browser: a cookie jar, JSON answers. */
    function browser() {
      const jar = new Map<string, string>()
      const headers = () => ({ accept: 'application/json', cookie: [...jar.values()].join('; ') })
      const go = async (method: string, path: string, body?: Record<string, unknown>) => {
        const r = await call(apps.public, method, path, { headers: headers(), ...(body ? { body } : {}) })
        for (const c of r.headers.getSetCookie()) jar.set(c.split('=')[0]!, c.split(';')[0]!)
        return r
      }
      return { go, jar }
    }
    const csrf = (f: any) => node(f, 'csrf_token').attributes.value

    /** Register with a password and add a security key in settings; the browser is signed in at aal1. */
    async function enrolled(email: string) {
      const b = browser()
      const reg0 = await b.go('GET', '/self-service/registration/browser')
      const reg = await b.go('POST', `/self-service/registration?flow=${(reg0.json as any).id}`, { method: 'password', csrf_token: csrf(reg0.json), password: 'correct horse battery staple', traits: { email } })
      expect(reg.status).toBe(200)
      const settings = (await b.go('GET', '/self-service/settings/browser')).json as any
      const options = JSON.parse(node(settings, 'webauthn_register_trigger').attributes.value).publicKey
      // a security key, not a passkey: user verification preferred, no resident key required
      expect(options.authenticatorSelection.userVerification).not.toBe('required')
      const key = new SoftAuthenticator()
      const added = await b.go('POST', `/self-service/settings?flow=${settings.id}`, { method: 'webauthn', csrf_token: csrf(settings), webauthn_register_displayname: 'YubiKey', webauthn_register: key.create(options, { uv: false }) })
      expect(added.status).toBe(200)
      return { b, key, identityId: (reg.json as any).identity.id as string }
    }

    async function passwordLogin(email: string) {
      const b = browser()
      const f = (await b.go('GET', '/self-service/login/browser')).json as any
      const r = await b.go('POST', `/self-service/login?flow=${f.id}`, { method: 'password', csrf_token: csrf(f), identifier: email, password: 'correct horse battery staple' })
      expect(r.status).toBe(200)
      expect((r.json as any).session.authenticator_assurance_level).toBe('aal1')
      return b
    }

    it('password, then the security key: the same session reaches aal2 with both methods (Kratos: webauthn 2FA gives aal2)', async () => {
      const { key } = await enrolled('2fa-key@example.com')
      const b = await passwordLogin('2fa-key@example.com')
      const denied = await b.go('GET', '/sessions/whoami')
      expect(denied.status).toBe(403)
      expect((denied.json as any).error.id).toBe('session_aal2_required')

      const flow = (await b.go('GET', '/self-service/login/browser?aal=aal2')).json as any
      expect(flow.requested_aal).toBe('aal2')
      const trigger = node(flow, 'webauthn_login_trigger')
      expect(trigger).toMatchObject({ group: 'webauthn', attributes: { type: 'button', onclickTrigger: 'oryWebAuthnLogin' } })
      const options = JSON.parse(trigger.attributes.value).publicKey
      expect(options.allowCredentials.map((c: any) => c.id)).toEqual([b64u(key.id)])
      // the aal2 flow offers no password and no identifier
      expect(node(flow, 'password')).toBeUndefined()
      const done = await b.go('POST', `/self-service/login?flow=${flow.id}`, { method: 'webauthn', csrf_token: csrf(flow), webauthn_login: key.get(options, { uv: false }) })
      expect(done.status).toBe(200)
      const who = await b.go('GET', '/sessions/whoami')
      expect(who.status).toBe(200)
      expect((who.json as any).authenticator_assurance_level).toBe('aal2')
      expect((who.json as any).authentication_methods.map((m: any) => [m.method, m.aal])).toEqual([['password', 'aal1'], ['webauthn', 'aal2']])
    })

    it("refuses another identity's security key at aal2, and a key from another origin", async () => {
      const a = await enrolled('2fa-alice@example.com')
      const mallory = await enrolled('2fa-mallory@example.com')
      const b = await passwordLogin('2fa-alice@example.com')
      const flow = (await b.go('GET', '/self-service/login/browser?aal=aal2')).json as any
      const options = JSON.parse(node(flow, 'webauthn_login_trigger').attributes.value).publicKey
      const other = await b.go('POST', `/self-service/login?flow=${flow.id}`, { method: 'webauthn', csrf_token: csrf(flow), webauthn_login: mallory.key.get(options) })
      expect(other.status).toBe(400)
      const options2 = JSON.parse(node(other.json, 'webauthn_login_trigger').attributes.value).publicKey
      const foreign = await b.go('POST', `/self-service/login?flow=${flow.id}`, { method: 'webauthn', csrf_token: csrf(flow), webauthn_login: a.key.get(options2, { origin: 'https://evil.example.net' }) })
      expect(foreign.status).toBe(400)
      expect((await b.go('GET', '/sessions/whoami')).status).toBe(403)
    })

    it('a security key is not a first factor: it is not offered at aal1 and its identity keeps its password', async () => {
      const { identityId } = await enrolled('2fa-first@example.com')
      const flow = (await browser().go('GET', '/self-service/login/browser')).json as any
      expect(node(flow, 'webauthn_login_trigger')).toBeUndefined()
      // removing the password would leave only a second factor: refused (admin)
      const del = await call(apps.admin, 'DELETE', `/admin/identities/${identityId}/credentials/password`)
      expect(del.status).toBe(400)
    })
  })
}

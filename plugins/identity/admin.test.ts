/**
 * The identity admin API (Kratos' IdentityApi paths and shapes, kratos.openapi.json),
 * sessions, subject resolution and tenant isolation — on SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { sql } from 'tessera'
import { call } from '../../test/helpers/app.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { boot } from '../../test/helpers/identity.ts'

type Apps = Awaited<ReturnType<typeof boot>>
const T = (tenant: string) => ({ 'x-tenant': tenant })

async function login(apps: Apps, identifier: string, password: string, tenant = 'default') {
  const flow = (await call(apps.public, 'GET', '/self-service/login/api', { headers: T(tenant) })).json
  return call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: 'password', identifier, password }, headers: T(tenant) })
}

for (const driver of drivers('identityadmin')) {
  describe.skipIf(!driver.enabled)(`identity admin API (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: Apps
    beforeAll(async () => {
      scratch = await driver.create()
      apps = await boot(scratch.db, {
        identity: { selfservice: { loginAfter: [] } },
        config: { tenancy: { default: 'default', resolve: (r: Request) => r.headers.get('x-tenant') } },
      })
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    const create = (body: Record<string, unknown>, tenant = 'default') => call(apps.admin, 'POST', '/admin/identities', { body, headers: T(tenant) })

    it('creates, gets, updates (PUT), patches (JSON Patch) and deletes an identity', async () => {
      const c = await create({ schema_id: 'default', traits: { email: 'crud@example.com' }, metadata_public: { plan: 'free' }, metadata_admin: { note: 'vip' }, external_id: 'crm-1' })
      expect(c.status).toBe(201)
      expect(c.json.schema_url).toContain('/schemas/default')
      expect(c.json.state).toBe('active')
      expect(c.json.metadata_admin).toEqual({ note: 'vip' })
      const id = c.json.id
      expect((await call(apps.admin, 'GET', `/admin/identities/${id}`)).json.traits.email).toBe('crud@example.com')
      expect((await call(apps.admin, 'GET', '/admin/identities/by/external/crm-1')).json.id).toBe(id)
      expect((await create({ traits: { email: 'other@example.com' }, external_id: 'crm-1' })).status).toBe(409)

      const put = await call(apps.admin, 'PUT', `/admin/identities/${id}`, { body: { schema_id: 'default', state: 'active', traits: { email: 'crud2@example.com', name: { first: 'Grace' } }, metadata_public: { plan: 'pro' } } })
      expect(put.status).toBe(200)
      expect(put.json.traits.name.first).toBe('Grace')
      expect(put.json.metadata_public).toEqual({ plan: 'pro' })

      const patch = await call(apps.admin, 'PATCH', `/admin/identities/${id}`, { body: [{ op: 'replace', path: '/traits/name/first', value: 'Ada' }, { op: 'add', path: '/metadata_admin', value: { tier: 2 } }] })
      expect(patch.status).toBe(200)
      expect(patch.json.traits.name.first).toBe('Ada')
      expect(patch.json.metadata_admin).toEqual({ tier: 2 })
      expect((await call(apps.admin, 'PATCH', `/admin/identities/${id}`, { body: [{ op: 'replace', path: '/id', value: 'x' }] })).status).toBe(400)
      const invalid = await call(apps.admin, 'PATCH', `/admin/identities/${id}`, { body: [{ op: 'replace', path: '/traits/email', value: 'not-an-email' }] })
      expect(invalid.status).toBe(400)

      expect((await call(apps.admin, 'DELETE', `/admin/identities/${id}`)).status).toBe(204)
      expect((await call(apps.admin, 'GET', `/admin/identities/${id}`)).status).toBe(404)
      expect((await call(apps.public, 'POST', '/admin/identities', { body: {} })).status).toBe(404)
    })

    it('refuses traits that do not match the schema with a 400 naming the field', async () => {
      const r = await create({ traits: { email: 'x@example.com', unknown: 1 } })
      expect(r.status).toBe(400)
      const r2 = await create({ traits: {} })
      expect(r2.json.error.details.issues[0].path).toBe('traits.email')
    })

    it('lists with page_size, Link headers and page tokens; a forged page token is a 400 (security checklist)', async () => {
      for (let i = 0; i < 5; i++) await create({ traits: { email: `page${i}@example.com` } }, 'pages')
      const first = await call(apps.admin, 'GET', '/admin/identities?page_size=2', { headers: T('pages') })
      expect(first.json.length).toBe(2)
      const next = /<([^>]+)>; rel="next"/.exec(first.headers.get('link')!)![1]!
      const second = await call(apps.admin, 'GET', next, { headers: T('pages') })
      expect(second.json.length).toBe(2)
      expect(second.json[0].id > first.json[1].id).toBe(true)
      const token = new URL(next, 'http://x').searchParams.get('page_token')!
      for (const forged of ['garbage', `${token.slice(0, -2)}AA`, 'A'.repeat(60)]) {
        const r = await call(apps.admin, 'GET', `/admin/identities?page_size=2&page_token=${forged}`, { headers: T('pages') })
        expect(r.status).toBe(400)
      }
      // A token minted for one tenant opens nothing in another.
      expect((await call(apps.admin, 'GET', next, { headers: T('other') })).status).toBe(400)
      expect((await call(apps.admin, 'GET', '/admin/identities?page_size=0', { headers: T('pages') })).status).toBe(400)
    })

    it('filters by credentials_identifier and imports a password credential', async () => {
      await create({ traits: { email: 'find.me@example.com' }, credentials: { password: { config: { password: 'a long enough secret' } } } })
      const r = await call(apps.admin, 'GET', '/admin/identities?credentials_identifier=Find.Me@example.com')
      expect(r.json.length).toBe(1)
      expect(r.json[0].credentials.password.identifiers).toEqual(['find.me@example.com'])
      expect(r.json[0].credentials.password.config).toBeUndefined()
      expect((await login(apps, 'find.me@example.com', 'a long enough secret')).status).toBe(200)
    })

    it('refuses an import of an unknown credential type, or a bad config, with a 400 that names it', async () => {
      const unknown = await create({ traits: { email: 'unknown-type@example.com' }, credentials: { carrier_pigeon: { config: { coo: 1 } } } })
      expect(unknown.status).toBe(400)
      expect(unknown.json.error.reason).toContain('Unknown credential type "carrier_pigeon"')
      const badConfig = await create({ traits: { email: 'bad-config@example.com' }, credentials: { password: { config: { password: 42 } } } })
      expect(badConfig.status).toBe(400)
      expect(badConfig.json.error.reason).toContain('credentials.password.config.password')
      // Nothing was stored for either.
      expect((await call(apps.admin, 'GET', '/admin/identities?credentials_identifier=unknown-type@example.com')).json).toEqual([])
      expect((await call(apps.admin, 'GET', '/admin/identities?credentials_identifier=bad-config@example.com')).json).toEqual([])
    })

    it('keeps the identifiers of a credential in step with the traits the schema marks', async () => {
      const c = await create({ traits: { email: 'before@example.com' }, credentials: { password: { config: { password: 'a long enough secret' } } } })
      const put = await call(apps.admin, 'PUT', `/admin/identities/${c.json.id}`, { body: { schema_id: 'default', state: 'active', traits: { email: 'After@Example.com' } } })
      expect(put.status).toBe(200)
      expect(put.json.credentials.password.identifiers).toEqual(['after@example.com'])
      expect((await login(apps, 'before@example.com', 'a long enough secret')).status).toBe(400)
      expect((await login(apps, 'after@example.com', 'a long enough secret')).status).toBe(200)
    })

    it('an inactive identity cannot log in, and deactivation ends its sessions', async () => {
      const c = await create({ traits: { email: 'inactive@example.com' }, credentials: { password: { config: { password: 'a long enough secret' } } } })
      const s = await login(apps, 'inactive@example.com', 'a long enough secret')
      expect(s.status).toBe(200)
      await call(apps.admin, 'PATCH', `/admin/identities/${c.json.id}`, { body: [{ op: 'replace', path: '/state', value: 'inactive' }] })
      expect((await call(apps.public, 'GET', '/sessions/whoami', { headers: { 'x-session-token': s.json.session_token } })).status).toBe(401)
      const again = await login(apps, 'inactive@example.com', 'a long enough secret')
      expect(again.status).toBe(400)
      expect(again.json.ui.messages[0].id).toBe(4000006)
    })

    it('whoami shows an identity change made on the admin API right away', async () => {
      const c = await create({ traits: { email: 'snap@example.com' }, credentials: { password: { config: { password: 'a long enough secret' } } } })
      const s = await login(apps, 'snap@example.com', 'a long enough secret')
      await call(apps.admin, 'PATCH', `/admin/identities/${c.json.id}`, { body: [{ op: 'add', path: '/traits/name', value: { first: 'Changed' } }, { op: 'add', path: '/metadata_public', value: { v: 2 } }] })
      const who = await call(apps.public, 'GET', '/sessions/whoami', { headers: { 'x-session-token': s.json.session_token } })
      expect(who.json.identity.traits.name.first).toBe('Changed')
      expect(who.json.identity.metadata_public).toEqual({ v: 2 })
      expect(who.json.identity.metadata_admin).toBeUndefined()
    })

    it('lists, gets, extends and revokes sessions on the admin API', async () => {
      const c = await create({ traits: { email: 'sess@example.com' }, credentials: { password: { config: { password: 'a long enough secret' } } } })
      const s = await login(apps, 'sess@example.com', 'a long enough secret')
      const list = await call(apps.admin, 'GET', `/admin/identities/${c.json.id}/sessions`)
      expect(list.json.map((x: any) => x.id)).toEqual([s.json.session.id])
      const one = await call(apps.admin, 'GET', `/admin/sessions/${s.json.session.id}`)
      expect(one.json.identity.id).toBe(c.json.id)
      expect(one.json.devices.length).toBe(1)
      // about to expire: a minute left; extending gives it a whole lifespan again, and whoami shows the new expiry
      const soon = new Date(Date.now() + 60_000)
      await scratch.db.exec(sql`UPDATE sessions SET expires_at = ${soon} WHERE id = ${s.json.session.id}`)
      const ext = await call(apps.admin, 'PATCH', `/admin/sessions/${s.json.session.id}/extend`)
      expect(ext.status).toBe(200)
      expect(new Date(ext.json.expires_at).getTime()).toBeGreaterThan(soon.getTime() + 3_600_000)
      const who = await call(apps.public, 'GET', '/sessions/whoami', { headers: { 'x-session-token': s.json.session_token } })
      expect(who.json.expires_at).toBe(ext.json.expires_at)
      expect((await call(apps.admin, 'GET', '/admin/sessions?page_size=1')).headers.get('link')).toContain('rel="first"')
      expect((await call(apps.admin, 'DELETE', `/admin/sessions/${s.json.session.id}`)).status).toBe(204)
      expect((await call(apps.public, 'GET', '/sessions/whoami', { headers: { 'x-session-token': s.json.session_token } })).status).toBe(401)
      // Kratos' deleteIdentityCredentials: the last first-factor credential is not removed.
      const del = await call(apps.admin, 'DELETE', `/admin/identities/${c.json.id}/credentials/password`)
      expect(del.status).toBe(400)
      expect(del.json.error.reason).toBe('You cannot remove the last first factor credential.')
      expect((await call(apps.admin, 'DELETE', `/admin/identities/${c.json.id}/credentials/totp`)).status).toBe(404)
      expect((await login(apps, 'sess@example.com', 'a long enough secret')).status).toBe(200)
    })

    it('JSON Patch remove takes effect: /traits is refused by the schema (400), removed metadata is gone (Kratos: the patched document is the identity)', async () => {
      const c = await create({ traits: { email: 'patch-rm@example.com' }, metadata_public: { a: 1 }, metadata_admin: { b: 2 }, external_id: 'rm-1' })
      const rm = await call(apps.admin, 'PATCH', `/admin/identities/${c.json.id}`, { body: [{ op: 'remove', path: '/traits' }] })
      expect(rm.status).toBe(400)
      expect(rm.json.error.reason).toContain('traits')
      expect((await call(apps.admin, 'GET', `/admin/identities/${c.json.id}`)).json.traits).toEqual({ email: 'patch-rm@example.com' })
      const meta = await call(apps.admin, 'PATCH', `/admin/identities/${c.json.id}`, {
        body: [{ op: 'remove', path: '/metadata_public' }, { op: 'remove', path: '/metadata_admin' }, { op: 'remove', path: '/external_id' }],
      })
      expect(meta.status).toBe(200)
      expect(meta.json.metadata_public).toBeNull()
      expect(meta.json.metadata_admin).toBeNull()
      expect(meta.json.external_id).toBeUndefined()
      const state = await call(apps.admin, 'PATCH', `/admin/identities/${c.json.id}`, { body: [{ op: 'remove', path: '/state' }] })
      expect(state.status).toBe(400)
      const schema = await call(apps.admin, 'PATCH', `/admin/identities/${c.json.id}`, { body: [{ op: 'remove', path: '/schema_id' }] })
      expect(schema.status).toBe(400)
    })

    it('extends an expired session as Kratos does (ExtendSession has no expiry check); a revoked one stays revoked (404); a malformed id is a 400', async () => {
      await create({ traits: { email: 'ext@example.com' }, credentials: { password: { config: { password: 'a long enough secret' } } } })
      const s = await login(apps, 'ext@example.com', 'a long enough secret')
      const id = s.json.session.id
      await scratch.db.exec(sql`UPDATE sessions SET expires_at = ${new Date(Date.now() - 60_000)} WHERE id = ${id}`)
      const whoami = () => call(apps.public, 'GET', '/sessions/whoami', { headers: { 'x-session-token': s.json.session_token } })
      expect((await whoami()).status).toBe(401)
      const ext = await call(apps.admin, 'PATCH', `/admin/sessions/${id}/extend`)
      expect(ext.status).toBe(200)
      expect(ext.json.active).toBe(true)
      expect((await whoami()).status).toBe(200)
      // Revoked is final: extending it neither revives it nor pretends to.
      expect((await call(apps.admin, 'DELETE', `/admin/sessions/${id}`)).status).toBe(204)
      expect((await call(apps.admin, 'PATCH', `/admin/sessions/${id}/extend`)).status).toBe(404)
      expect((await whoami()).status).toBe(401)
      const bad = await call(apps.admin, 'PATCH', '/admin/sessions/not-a-uuid/extend')
      expect(bad.status).toBe(400)
      expect((await call(apps.admin, 'PATCH', `/admin/sessions/${crypto.randomUUID()}/extend`)).status).toBe(404)
    })

    it('batch-creates identities (PATCH /admin/identities), reporting each failure', async () => {
      const r = await call(apps.admin, 'PATCH', '/admin/identities', { body: { identities: [{ create: { traits: { email: 'b1@example.com' } } }, { create: { traits: {} } }] } })
      expect(r.status).toBe(200)
      expect(r.json.identities[0].action).toBe('create')
      expect(r.json.identities[1].action).toBe('error')
    })

    it('provides identity.sessions and resolves the subject of a request', async () => {
      await create({ traits: { email: 'svc@example.com' }, credentials: { password: { config: { password: 'a long enough secret' } } } })
      const s = await login(apps, 'svc@example.com', 'a long enough secret')
      const svc = apps.kernel.services.get('identity.sessions')!
      const active = await svc.fromRequest(new Request('http://x/', { headers: { cookie: `${svc.cookieName}=${s.json.session_token}` } }), 'default')
      expect(active?.identityId).toBe(s.json.session.identity.id)
      expect(await svc.fromToken(s.json.session_token, 'other')).toBeNull()
      const subject = await apps.kernel.resolveSubject(new Request('http://x/', { headers: { authorization: `Bearer ${s.json.session_token}` } }))
      expect(subject?.type).toBe('identity')
      expect(subject?.id).toBe(s.json.session.identity.id)
    })

    it('tenant isolation: identities, credentials and sessions of one tenant are invisible to another', async () => {
      const a = await create({ traits: { email: 'iso@example.com' }, credentials: { password: { config: { password: 'a long enough secret' } } } }, 'tenant-a')
      expect((await call(apps.admin, 'GET', `/admin/identities/${a.json.id}`, { headers: T('tenant-b') })).status).toBe(404)
      expect((await login(apps, 'iso@example.com', 'a long enough secret', 'tenant-b')).status).toBe(400)
      const s = await login(apps, 'iso@example.com', 'a long enough secret', 'tenant-a')
      expect(s.status).toBe(200)
      expect((await call(apps.public, 'GET', '/sessions/whoami', { headers: { 'x-session-token': s.json.session_token, ...T('tenant-b') } })).status).toBe(401)
      // The same identifier can exist in both tenants.
      expect((await create({ traits: { email: 'iso@example.com' } }, 'tenant-b')).status).toBe(201)
    })
  })
}

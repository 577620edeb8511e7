/**
 * Ory's own SDK (@ory/client-fetch: FrontendApi, IdentityApi) drives Tessera
 * unchanged: its fetchApi calls the apps in-process with app.handle(request).
 * On SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { Configuration, FrontendApi, IdentityApi, ResponseError } from '@ory/client-fetch'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { boot } from '../../test/helpers/identity.ts'

for (const driver of drivers('identitysdk')) {
  describe.skipIf(!driver.enabled)(`@ory/client-fetch against Tessera (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: Awaited<ReturnType<typeof boot>>
    let frontend: FrontendApi
    let admin: IdentityApi
    beforeAll(async () => {
      scratch = await driver.create()
      apps = await boot(scratch.db)
      frontend = new FrontendApi(new Configuration({ basePath: 'http://localhost', fetchApi: (input, init) => apps.public.handle(new Request(input as string, init)) }))
      admin = new IdentityApi(new Configuration({ basePath: 'http://localhost', fetchApi: (input, init) => apps.admin.handle(new Request(input as string, init)) }))
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    it('FrontendApi: register, whoami, list sessions, log in, log out', async () => {
      const reg = await frontend.createNativeRegistrationFlow()
      expect(reg.ui.nodes.some((n) => (n.attributes as { name?: string }).name === 'traits.email')).toBe(true)
      const done = await frontend.updateRegistrationFlow({
        flow: reg.id,
        updateRegistrationFlowBody: { method: 'password', password: 'correct horse battery staple', traits: { email: 'sdk@example.com', name: { first: 'S', last: 'DK' } } },
      })
      expect(done.identity.traits.email).toBe('sdk@example.com')
      expect(done.session_token).toBeTruthy()

      const me = await frontend.toSession({ xSessionToken: done.session_token! })
      expect(me.identity?.id).toBe(done.identity.id)
      expect(me.authenticator_assurance_level).toBe('aal1')

      const login = await frontend.createNativeLoginFlow()
      const ok = await frontend.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'password', identifier: 'sdk@example.com', password: 'correct horse battery staple' } })
      expect(ok.session_token).not.toBe(done.session_token)
      const mine = await frontend.listMySessions({ xSessionToken: ok.session_token! })
      expect(mine.map((s) => s.id)).toEqual([done.session!.id])

      await frontend.performNativeLogout({ performNativeLogoutBody: { session_token: ok.session_token! } })
      const gone = await frontend.toSession({ xSessionToken: ok.session_token! }).catch((e) => e)
      expect(gone).toBeInstanceOf(ResponseError)
      expect((gone as ResponseError).response.status).toBe(401)
    })

    it('FrontendApi: a wrong password comes back as a 400 with the flow and message 4000006', async () => {
      const login = await frontend.createNativeLoginFlow()
      const e = (await frontend.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'password', identifier: 'nobody@example.com', password: 'whatever password' } }).catch((x) => x)) as ResponseError
      expect(e.response.status).toBe(400)
      const flow = await e.response.json()
      expect(flow.ui.messages[0].id).toBe(4000006)
      expect((await frontend.getLoginFlow({ id: login.id })).id).toBe(login.id)
    })

    it('IdentityApi: create, get, list, patch, list sessions, delete', async () => {
      const created = await admin.createIdentity({
        createIdentityBody: { schema_id: 'default', traits: { email: 'admin-sdk@example.com' }, metadata_public: { a: 1 }, credentials: { password: { config: { password: 'a long enough secret' } } } },
      })
      expect(created.schema_id).toBe('default')
      expect((await admin.getIdentity({ id: created.id })).traits.email).toBe('admin-sdk@example.com')
      const listed = await admin.listIdentities({ credentialsIdentifier: 'admin-sdk@example.com' })
      expect(listed.map((i) => i.id)).toEqual([created.id])
      expect((await admin.listIdentities({ ids: [created.id] })).length).toBe(1)
      const patched = await admin.patchIdentity({ id: created.id, jsonPatch: [{ op: 'replace', path: '/metadata_public', value: { a: 2 } }] })
      expect(patched.metadata_public).toEqual({ a: 2 })
      const login = await frontend.createNativeLoginFlow()
      await frontend.updateLoginFlow({ flow: login.id, updateLoginFlowBody: { method: 'password', identifier: 'admin-sdk@example.com', password: 'a long enough secret' } })
      expect((await admin.listIdentitySessions({ id: created.id })).length).toBe(1)
      await admin.deleteIdentity({ id: created.id })
      const e = (await admin.getIdentity({ id: created.id }).catch((x) => x)) as ResponseError
      expect(e.response.status).toBe(404)
    })
  })
}

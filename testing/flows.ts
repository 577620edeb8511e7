/**
 * `tessera/testing/flows`: the flow suite — what every credential method must do through the identity plugin's
 * flow engine, written once and run per method (this repository runs it in test/flow-suite.test.ts for
 * `password` and the hardware-token example), on SQLite and, when TESSERA_TEST_POSTGRES_URL is set, PostgreSQL. It knows a method only by
 * what the caller passes: how to register, how to log in, a wrong credential, an admin import.
 *
 * It covers the API flow and the browser flow (CSRF double submit) for registration and login, a wrong
 * credential (Kratos 4000006, the same answer for an unknown identifier), identifiers derived from the
 * identity schema and normalised, an admin import of the method's credential (and what include_credential
 * shows of it), and whoami after login.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { buildListenerApp } from '../core/http/app.ts'
import type { PluginInstance } from '../core/plugin.ts'
import { identity } from '../plugins/identity/index.ts'
import { type ScratchDatabase, bootKernel, call, drivers } from './index.ts'

export interface FlowSuiteMethod {
  /** The credential method id (`method=<id>` in submissions; the credential type). */
  id: string
  /** The plugins that provide the method (the identity plugin is added by the suite). */
  plugins(): PluginInstance[]
  /** An identity schema whose `email` trait (format email, required) the method takes as its identifier. */
  schema: Record<string, unknown>
  /** The method's fields in a registration submission (besides `method`, `traits`, `csrf_token`). */
  registration(): Record<string, unknown>
  /** The method's fields in a login submission that succeeds for an identity registered with `registration()`. */
  login(identifier: string): Record<string, unknown>
  /** The same, with a wrong credential. */
  wrong(identifier: string): Record<string, unknown>
  /** `credentials.<id>.config` for an admin import, and the login fields that succeed after it. */
  import(): { config: Record<string, unknown>; login(identifier: string): Record<string, unknown> }
  /** The config fields `include_credential=<id>` shows (what the method reveals). */
  revealed: string[]
  /** The assurance level a login gives (default aal1). */
  aal?: string
}

/** The identity plugin with the method's schema, beside the method's plugins, and its two listeners' apps. */
async function bootWithMethods(database: ScratchDatabase['db'], schema: Record<string, unknown>, methods: PluginInstance[]) {
  const selfservice = { uiUrl: 'http://ui.test', defaultReturnUrl: 'https://app.example.com/', allowedReturnUrls: ['https://*.example.com/'] }
  const kernel = await bootKernel([identity({ schemas: [{ id: 'default', schema }], selfservice }), ...methods], { database })
  return { kernel, public: buildListenerApp(kernel, 'public'), admin: buildListenerApp(kernel, 'admin') }
}

type Apps = Awaited<ReturnType<typeof bootWithMethods>>

const cookiesOf = (h: Headers) => Object.fromEntries(h.getSetCookie().map((c) => c.split(';')[0]!.split('=') as [string, string]))
const cookieHeader = (jar: Record<string, string>) => Object.entries(jar).map(([k, v]) => `${k}=${v}`).join('; ')
const messageIds = (r: { json: any }) => [...(r.json?.ui?.messages ?? []), ...(r.json?.ui?.nodes ?? []).flatMap((n: any) => n.messages)].map((m: any) => m.id)
const form = (fields: Record<string, unknown>) => new URLSearchParams(Object.entries(fields).map(([k, v]) => [k, String(v)])).toString()

let seq = 0
/** A fresh address, written in mixed case (the engine stores it lower-cased). */
const freshEmail = (tag: string) => `${tag}.${Date.now().toString(36)}${seq++}@Example.COM`

export function flowSuite(m: FlowSuiteMethod): void {
  for (const driver of drivers(`flows${m.id}`)) {
    describe.skipIf(!driver.enabled)(`flow suite: ${m.id} (${driver.name})`, () => {
      let scratch: ScratchDatabase
      let apps: Apps
      beforeAll(async () => {
        scratch = await driver.create()
        apps = await bootWithMethods(scratch.db, m.schema, m.plugins())
      })
      afterAll(async () => {
        await apps.kernel.stop()
        await scratch.drop()
      })

      async function registerApi(email: string) {
        const flow = (await call(apps.public, 'GET', '/self-service/registration/api')).json
        return call(apps.public, 'POST', `/self-service/registration?flow=${flow.id}`, { body: { method: m.id, traits: { email }, ...m.registration() } })
      }
      async function loginApi(fields: Record<string, unknown>) {
        const flow = (await call(apps.public, 'GET', '/self-service/login/api')).json
        return call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { body: { method: m.id, ...fields } })
      }
      const whoami = (headers: Record<string, string>) => call(apps.public, 'GET', '/sessions/whoami', { headers })

      it('offers the method on new login and registration flows', async () => {
        for (const kind of ['login', 'registration']) {
          const flow = (await call(apps.public, 'GET', `/self-service/${kind}/api`)).json
          const submit = flow.ui.nodes.find((n: any) => n.attributes.name === 'method' && n.attributes.value === m.id)
          expect(submit, kind).toBeDefined()
        }
      })

      it('API flow: registers, logs in, and whoami shows the identity, the method and its assurance level', async () => {
        const email = freshEmail('api')
        const reg = await registerApi(email)
        expect(reg.status).toBe(200)
        expect(reg.json.identity.traits.email).toBe(email)
        expect(reg.json.session_token).toStartWith('ory_st_')
        const login = await loginApi(m.login(email))
        expect(login.status).toBe(200)
        const who = await whoami({ 'x-session-token': login.json.session_token })
        expect(who.status).toBe(200)
        expect(who.json.identity.id).toBe(reg.json.identity.id)
        expect(who.json.authentication_methods.map((x: any) => x.method)).toEqual([m.id])
        expect(who.json.authenticator_assurance_level).toBe(m.aal ?? 'aal1')
      })

      it('stores the identifiers the schema marks for the method, normalised, and finds the identity by any spelling of them', async () => {
        const email = freshEmail('ident')
        const reg = await registerApi(email)
        const got = await call(apps.admin, 'GET', `/admin/identities/${reg.json.identity.id}`)
        expect(got.json.credentials[m.id].identifiers).toEqual([email.toLowerCase()])
        expect(got.json.credentials[m.id].config).toBeUndefined()
        expect((await loginApi(m.login(email.toLowerCase()))).status).toBe(200)
        expect((await loginApi(m.login(` ${email.toUpperCase()} `))).status).toBe(200)
        // A second registration with the same identifier is refused (Kratos 4000007).
        const again = await registerApi(email.toLowerCase())
        expect(again.status).toBe(400)
        expect(messageIds(again)).toContain(4000007)
      })

      it('answers a wrong credential, and an unknown identifier, with Kratos 4000006 and no session', async () => {
        const email = freshEmail('wrong')
        await registerApi(email)
        for (const fields of [m.wrong(email), m.login(freshEmail('nobody'))]) {
          const r = await loginApi(fields)
          expect(r.status).toBe(400)
          expect(r.json.session_token).toBeUndefined()
          expect(messageIds(r)).toContain(4000006)
        }
      })

      it('browser flow: registration and login need the CSRF cookie and the same token in the form (double submit)', async () => {
        const email = freshEmail('browser')
        async function browserFlow(kind: 'registration' | 'login') {
          const start = await call(apps.public, 'GET', `/self-service/${kind}/browser`)
          expect(start.status).toBe(303)
          const jar = cookiesOf(start.headers)
          const id = new URL(start.headers.get('location')!).searchParams.get('flow')!
          const flow = await call(apps.public, 'GET', `/self-service/${kind}/flows?id=${id}`, { headers: { cookie: cookieHeader(jar) } })
          const csrf = flow.json.ui.nodes.find((n: any) => n.attributes.name === 'csrf_token').attributes.value as string
          return { id, jar, csrf }
        }
        const post = (kind: string, id: string, fields: Record<string, unknown>, cookie: string) =>
          call(apps.public, 'POST', `/self-service/${kind}?flow=${id}`, { body: form(fields), headers: { 'content-type': 'application/x-www-form-urlencoded', cookie } })

        const reg = await browserFlow('registration')
        const regFields = { method: m.id, 'traits.email': email, ...m.registration() }
        expect((await post('registration', reg.id, regFields, cookieHeader(reg.jar))).status).toBe(403)
        expect((await post('registration', reg.id, { ...regFields, csrf_token: reg.csrf }, '')).status).toBe(403)
        const registered = await post('registration', reg.id, { ...regFields, csrf_token: reg.csrf }, cookieHeader(reg.jar))
        expect(registered.status).toBe(303)
        expect(registered.headers.get('location')).toBe('https://app.example.com/')

        const login = await browserFlow('login')
        const loginFields = { method: m.id, ...m.login(email) }
        const forged = await post('login', login.id, { ...loginFields, csrf_token: 'forged' }, cookieHeader(login.jar))
        expect(forged.status).toBe(403)
        expect(forged.json.error.id).toBe('security_csrf_violation')
        const wrong = await post('login', login.id, { method: m.id, ...m.wrong(email), csrf_token: login.csrf }, cookieHeader(login.jar))
        expect(wrong.status).toBe(303)
        expect(new URL(wrong.headers.get('location')!).pathname).toBe('/login')
        const shown = await call(apps.public, 'GET', `/self-service/login/flows?id=${login.id}`, { headers: { cookie: cookieHeader(login.jar) } })
        expect(messageIds(shown)).toContain(4000006)
        const ok = await post('login', login.id, { ...loginFields, csrf_token: login.csrf }, cookieHeader(login.jar))
        expect(ok.status).toBe(303)
        const session = cookiesOf(ok.headers).tessera_session!
        expect(session).toBeTruthy()
        const who = await whoami({ cookie: `tessera_session=${session}` })
        expect(who.json.identity.traits.email).toBe(email)
      })

      it("imports the method's credential on the admin API, shows only what the method reveals, and the import logs in", async () => {
        const email = freshEmail('import')
        const imp = m.import()
        const created = await call(apps.admin, 'POST', '/admin/identities', { body: { traits: { email }, credentials: { [m.id]: { config: imp.config } } } })
        expect(created.status).toBe(201)
        const got = await call(apps.admin, 'GET', `/admin/identities/${created.json.id}?include_credential=${m.id}`)
        expect(got.json.credentials[m.id].identifiers).toEqual([email.toLowerCase()])
        expect(Object.keys(got.json.credentials[m.id].config ?? {}).sort()).toEqual([...m.revealed].sort())
        expect((await loginApi(imp.login(email))).status).toBe(200)
        expect((await loginApi(m.wrong(email))).status).toBe(400)
        const unknown = await call(apps.admin, 'POST', '/admin/identities', { body: { traits: { email: freshEmail('unknown') }, credentials: { [`${m.id}-nope`]: { config: {} } } } })
        expect(unknown.status).toBe(400)
        expect(unknown.json.error.reason).toContain(`"${m.id}-nope"`)
      })
    })
  }
}

/**
 * What SPAs and Ory Elements rely on, on SQLite and PostgreSQL: a browser flow submitted as JSON answers with
 * `continue_with: [{ action: 'redirect_browser_to', … }]` (Kratos' login and registration hooks, hook.go), the
 * expired-flow error carries `use_flow_id` at the top level (Kratos' ExpiredError, `selfServiceFlowExpiredError`
 * in kratos.openapi.json), and the login identifier is labelled from the identity schema (Kratos'
 * GetIdentifierLabelFromSchema: message 1070002 with the trait's title and name).
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { sql } from 'tessera'
import { call } from '../../test/helpers/app.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { boot, bootWithMethods } from '../../test/helpers/identity.ts'
import { password } from '../password/index.ts'

type Apps = Awaited<ReturnType<typeof boot>>

const jarOf = (h: Headers) => h.getSetCookie().map((c) => c.split(';')[0]!).join('; ')
const JSON_HEADERS = { accept: 'application/json', 'content-type': 'application/json' }

/** An SPA's browser flow: created with Accept: application/json, its CSRF cookie kept. */
async function spaFlow(apps: Apps, kind: 'login' | 'registration', returnTo?: string) {
  const q = returnTo ? `?return_to=${encodeURIComponent(returnTo)}` : ''
  const r = await call(apps.public, 'GET', `/self-service/${kind}/browser${q}`, { headers: { accept: 'application/json' } })
  expect(r.status).toBe(200)
  const csrf = r.json.ui.nodes.find((n: any) => n.attributes.name === 'csrf_token').attributes.value
  return { flow: r.json, cookie: jarOf(r.headers), csrf }
}

for (const driver of drivers('identityspa')) {
  describe.skipIf(!driver.enabled)(`browser flows submitted as JSON (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: Apps
    beforeAll(async () => {
      scratch = await driver.create()
      apps = await boot(scratch.db)
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    const register = async (email: string, returnTo?: string) => {
      const { flow, cookie, csrf } = await spaFlow(apps, 'registration', returnTo)
      return call(apps.public, 'POST', `/self-service/registration?flow=${flow.id}`, {
        headers: { ...JSON_HEADERS, cookie },
        body: { method: 'password', csrf_token: csrf, password: 'correct horse battery staple', traits: { email, name: { first: 'Ada', last: 'L' } } },
      })
    }

    it('registration answers continue_with redirect_browser_to the return_to, or the default return URL', async () => {
      const r = await register('spa-reg@example.com', 'https://shop.test/app/cart')
      expect(r.status).toBe(200)
      expect(r.json.session.identity.traits.email).toBe('spa-reg@example.com')
      expect(r.json.continue_with).toEqual([{ action: 'redirect_browser_to', redirect_browser_to: 'https://shop.test/app/cart' }])
      const d = await register('spa-reg2@example.com')
      expect(d.json.continue_with).toEqual([{ action: 'redirect_browser_to', redirect_browser_to: 'https://app.example.com/' }])
    })

    it('login answers continue_with redirect_browser_to the return_to, or the default return URL', async () => {
      await register('spa-login@example.com')
      for (const [returnTo, expected] of [
        ['https://a.example.com/next', 'https://a.example.com/next'],
        [undefined, 'https://app.example.com/'],
      ] as const) {
        const { flow, cookie, csrf } = await spaFlow(apps, 'login', returnTo)
        const r = await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, {
          headers: { ...JSON_HEADERS, cookie },
          body: { method: 'password', csrf_token: csrf, identifier: 'spa-login@example.com', password: 'correct horse battery staple' },
        })
        expect(r.status).toBe(200)
        expect(r.json.session.identity.traits.email).toBe('spa-login@example.com')
        expect(r.json.continue_with).toEqual([{ action: 'redirect_browser_to', redirect_browser_to: expected }])
      }
    })

    it('API flows get no redirect (there is no browser to send), registration hands over the session token', async () => {
      const flow = (await call(apps.public, 'GET', '/self-service/registration/api')).json
      const r = await call(apps.public, 'POST', `/self-service/registration?flow=${flow.id}`, { body: { method: 'password', password: 'correct horse battery staple', traits: { email: 'spa-api@example.com' } } })
      expect(r.status).toBe(200)
      expect(r.json.continue_with).toEqual([{ action: 'set_ory_session_token', ory_session_token: r.json.session_token }])
    })

    it('an expired flow answers 410 with use_flow_id, expired_at and since at the top level (ExpiredError)', async () => {
      const { flow, cookie, csrf } = await spaFlow(apps, 'login', 'https://a.example.com/keep')
      const expiredAt = new Date(Date.now() - 60_000)
      await scratch.db.exec(sql`UPDATE selfservice_flows SET expires_at = ${expiredAt} WHERE nid = ${'default'} AND id = ${flow.id}`)
      for (const r of [
        await call(apps.public, 'POST', `/self-service/login?flow=${flow.id}`, { headers: { ...JSON_HEADERS, cookie }, body: { method: 'password', csrf_token: csrf, identifier: 'x@example.com', password: 'whatever it is' } }),
        await call(apps.public, 'GET', `/self-service/login/flows?id=${flow.id}`, { headers: { cookie } }),
      ]) {
        expect(r.status).toBe(410)
        expect(r.json.error.id).toBe('self_service_flow_expired')
        expect(r.json.error.code).toBe(410)
        expect(r.json.error.details?.use_flow_id).toBeUndefined()
        expect(r.json.use_flow_id).toMatch(/^[0-9a-f-]{36}$/)
        expect(r.json.use_flow_id).not.toBe(flow.id)
        expect(new Date(r.json.expired_at).getTime()).toBe(new Date(flow.expires_at).getTime())
        expect(typeof r.json.since).toBe('number')
        // The new flow keeps return_to and says why it was restarted.
        const next = await call(apps.public, 'GET', `/self-service/login/flows?id=${r.json.use_flow_id}`, { headers: { cookie } })
        expect(next.json.return_to).toBe('https://a.example.com/keep')
        expect(next.json.ui.messages[0].id).toBe(4010001)
      }
    })
  })
}

describe('the login identifier label comes from the identity schema (Kratos: GetIdentifierLabelFromSchema)', () => {
  const schema = (traits: Record<string, unknown>) => ({ $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { traits: { type: 'object', properties: traits } } })
  const pw = { password: { identifier: true } }
  const labelOf = async (traits: Record<string, unknown>) => {
    const apps = await bootWithMethods(undefined, schema(traits), [password({ hasher: { memoryCost: 64 }, breachCheck: { enabled: false } })])
    try {
      const flow = (await call(apps.public, 'GET', '/self-service/login/api')).json
      return flow.ui.nodes.find((n: any) => n.attributes.name === 'identifier').meta.label
    } finally {
      await apps.kernel.stop()
    }
  }

  it('one identifier trait with a title: its title, message 1070002 with title and name', async () => {
    expect(await labelOf({ email: { type: 'string', format: 'email', title: 'E-Mail', 'ory.sh/kratos': { credentials: pw } } })).toEqual({
      id: 1070002,
      text: 'E-Mail',
      type: 'info',
      context: { title: 'E-Mail', name: 'traits.email' },
    })
  })

  it('no title, or several identifier traits: the generic "ID" (1070004)', async () => {
    expect(await labelOf({ email: { type: 'string', format: 'email', 'ory.sh/kratos': { credentials: pw } } })).toEqual({ id: 1070004, text: 'ID', type: 'info' })
    expect(
      await labelOf({
        email: { type: 'string', format: 'email', title: 'E-Mail', 'ory.sh/kratos': { credentials: pw } },
        username: { type: 'string', title: 'Username', 'ory.sh/kratos': { credentials: pw } },
      }),
    ).toEqual({ id: 1070004, text: 'ID', type: 'info' })
  })
})

describe('the CSRF cookie of browser flows', () => {
  const attrs = (setCookie: string) => setCookie.split(';').map((a) => a.trim().toLowerCase())

  it('behind an https public base URL: Secure, with the __Host- prefix (Path=/, no Domain)', async () => {
    const apps = await boot(undefined, { config: { serve: { public: { baseUrl: 'https://id.example.com' } } } })
    try {
      // TLS ends at the proxy: the request itself arrives over http.
      const r = await call(apps.public, 'GET', '/self-service/login/browser', { headers: { accept: 'application/json' } })
      const set = r.headers.getSetCookie().find((c) => c.includes('csrf'))!
      expect(set.startsWith('__Host-tessera_csrf_token=')).toBe(true)
      expect(attrs(set)).toContain('secure')
      expect(attrs(set)).toContain('path=/')
      expect(attrs(set).some((a) => a.startsWith('domain='))).toBe(false)
      const csrf = r.json.ui.nodes.find((n: any) => n.attributes.name === 'csrf_token').attributes.value
      const body = { method: 'password', csrf_token: csrf, identifier: 'nobody@example.com', password: 'wrong password here' }
      const headers = { accept: 'application/json', 'content-type': 'application/json' }
      const ok = await call(apps.public, 'POST', `/self-service/login?flow=${r.json.id}`, { headers: { ...headers, cookie: set.split(';')[0]! }, body })
      expect(ok.status).toBe(400) // the flow again, with 4000006: the CSRF check passed
      expect(ok.json.ui.messages[0].id).toBe(4000006)

      // Transition: a browser that still holds the old cookie (issued before the prefix) keeps its flows working,
      // and is given the new cookie with the same value.
      const legacy = `tessera_csrf_token=${csrf}`
      const again = await call(apps.public, 'POST', `/self-service/login?flow=${r.json.id}`, { headers: { ...headers, cookie: legacy }, body })
      expect(again.status).toBe(400)
      const next = await call(apps.public, 'GET', '/self-service/login/browser', { headers: { accept: 'application/json', cookie: legacy } })
      expect(next.headers.getSetCookie().find((c) => c.startsWith('__Host-'))!.split(';')[0]).toBe(`__Host-tessera_csrf_token=${csrf}`)
      expect((await call(apps.public, 'POST', `/self-service/login?flow=${r.json.id}`, { headers: { ...headers, cookie: 'tessera_csrf_token=forged' }, body })).status).toBe(403)
    } finally {
      await apps.kernel.stop()
    }
  })

  it('behind an http public base URL (development): the plain name, without Secure', async () => {
    const apps = await boot(undefined, { config: { serve: { public: { baseUrl: 'http://127.0.0.1:4433' } } } })
    try {
      const r = await call(apps.public, 'GET', '/self-service/login/browser', { headers: { accept: 'application/json' } })
      const set = r.headers.getSetCookie().find((c) => c.includes('csrf'))!
      expect(set.startsWith('tessera_csrf_token=')).toBe(true)
      expect(attrs(set)).not.toContain('secure')
    } finally {
      await apps.kernel.stop()
    }
  })
})

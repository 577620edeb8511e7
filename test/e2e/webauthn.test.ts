/**
 * WebAuthn and passkeys in real headless Chromium (playwright-core) with the DevTools virtual authenticator
 * (`WebAuthn.addVirtualAuthenticator`: ctap2, internal transport, resident keys, user verification): a passkey
 * registered and used to log in without typing an identifier, a passwordless security key added in settings and
 * used to log in, and a page on an origin the relying party does not list refused. The pages are a small UI that
 * renders ui nodes as Ory's UIs do, including the script node (Tessera's /.well-known/ory/webauthn.js) and the
 * buttons' onclick triggers. Without Chromium the suite says it was skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { existsSync } from 'node:fs'
import { identity } from '../../plugins/identity/index.ts'
import { password } from '../../plugins/password/index.ts'
import { webauthn } from '../../plugins/webauthn/index.ts'
import { bootApps, call, captureLog } from '../helpers/app.ts'
import { quickstartSchema } from '../helpers/identity.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const available = existsSync(CHROMIUM)
if (!available) console.warn(`[skipped] webauthn browser journey: no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`)

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** Render a flow's nodes: inputs, buttons with their onclick trigger, the script node. */
function render(flow: any): string {
  const fields = flow.ui.nodes
    .map((n: any) => {
      const a = n.attributes
      if (n.type === 'script') return `<script src="${esc(a.src)}" integrity="${esc(a.integrity)}" crossorigin="${esc(a.crossorigin)}"></script>`
      if (a.type === 'submit') return `<button type="submit" name="${esc(a.name)}" value="${esc(a.value)}">${esc(n.meta.label?.text)}</button>`
      if (a.type === 'button') return `<button type="button" name="${esc(a.name)}" onclick="${esc(a.onclick)}">${esc(n.meta.label?.text)}</button>`
      if (a.type === 'hidden') return `<input type="hidden" name="${esc(a.name)}" value="${esc(a.value)}">`
      return `<label>${esc(n.meta.label?.text ?? a.name)} <input name="${esc(a.name)}" type="${esc(a.type)}" value="${a.type === 'password' ? '' : esc(a.value)}" autocomplete="${esc(a.autocomplete)}"></label>`
    })
    .join('\n')
  const messages = [...(flow.ui.messages ?? []), ...flow.ui.nodes.flatMap((n: any) => n.messages)].map((m: any) => `<p class="message" data-id="${m.id}">${esc(m.text)}</p>`).join('')
  return `<!doctype html><title>flow</title>${messages}<form action="${esc(flow.ui.action)}" method="POST">${fields}</form>`
}

/** The API and a small UI on two local ports, the UI's origin the relying party's; `webauthn` options as given. */
async function boot(passwordless: boolean) {
  let handle: (r: Request) => Response | Promise<Response> = () => new Response('starting', { status: 503 })
  const apiServer = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (r) => handle(r) })
  const api = `http://localhost:${apiServer.port}`
  const uiServer = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const url = new URL(req.url)
      const cookie = req.headers.get('cookie') ?? ''
      const html = (body: string) => new Response(body, { headers: { 'content-type': 'text/html; charset=utf-8' } })
      const kind = url.pathname.slice(1)
      if (['registration', 'login', 'settings'].includes(kind)) {
        const r = await fetch(`${api}/self-service/${kind}/flows?id=${encodeURIComponent(url.searchParams.get('flow') ?? '')}`, { headers: { cookie } })
        const flow = (await r.json()) as any
        if (!flow.ui) return html(`<!doctype html><p id="error">${esc(JSON.stringify(flow))}</p>`)
        return html(render(flow))
      }
      const who = await fetch(`${api}/sessions/whoami`, { headers: { cookie } })
      if (!who.ok) return html(`<!doctype html><p id="who">anonymous</p><p id="status">${who.status} ${esc(((await who.json()) as any).error?.id)}</p>`)
      const s = await who.json()
      return html(`<!doctype html><p id="who">${esc(s.identity.traits.email)}</p><p id="method">${esc(s.authentication_methods.at(-1).method)}</p><p id="aal">${esc(s.authenticator_assurance_level)}</p><p id="methods">${esc(s.authentication_methods.map((m: any) => m.method).join(','))}</p>`)
    },
  })
  const ui = `http://localhost:${uiServer.port}`
  const log = captureLog()
  const schema = structuredClone(quickstartSchema) as any
  schema.properties.traits.properties.email['ory.sh/kratos'].credentials.webauthn = { identifier: true }
  const apps = await bootApps(
    [
      identity({ schemas: [{ id: 'default', schema }], selfservice: { uiUrl: ui, defaultReturnUrl: `${ui}/`, privilegedSessionMaxAge: 600 } }),
      password({ hasher: { memoryCost: 64 }, breachCheck: { enabled: false } }),
      webauthn({ rp: { id: 'localhost', name: 'Tessera test', origins: [ui] }, passwordless }),
    ],
    { config: { serve: { public: { baseUrl: api } } } as never, log: log.logger },
  )
  handle = (r) => apps.public.handle(r)
  return {
    api,
    ui,
    admin: apps.admin,
    log,
    stop: async () => {
      apiServer.stop(true)
      uiServer.stop(true)
      await apps.kernel.stop()
    },
  }
}

async function browserWithAuthenticator() {
  const { chromium } = await import('playwright-core')
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
  const page = await browser.newPage()
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('WebAuthn.enable')
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  })
  return { browser, page, cdp, authenticatorId }
}

describe.skipIf(!available)('webauthn and passkeys in the browser (headless Chromium, virtual authenticator)', () => {
  let api = ''
  let ui = ''
  let stop = async () => {}
  let admin: Awaited<ReturnType<typeof bootApps>>['admin']
  let log: ReturnType<typeof captureLog>

  beforeAll(async () => {
    ;({ api, ui, admin, log, stop } = await boot(true))
  })
  afterAll(() => stop())

  const identityByEmail = async (email: string) => {
    const list = await call(admin, 'GET', `/admin/identities?credentials_identifier=${encodeURIComponent(email)}`)
    return (list.json as any[])[0]
  }

  it('registers a passkey and logs in with it without typing an identifier', async () => {
    const { browser, page, cdp, authenticatorId } = await browserWithAuthenticator()
    try {
      await page.goto(`${api}/self-service/registration/browser`)
      await page.fill('input[name="traits.email"]', 'passkey-browser@example.com')
      await page.waitForFunction(() => typeof (window as any).oryPasskeyRegistration === 'function')
      await page.click('button[name="passkey_register_trigger"]')
      await page.waitForSelector('#who')
      expect(await page.textContent('#who')).toBe('passkey-browser@example.com')
      expect(await page.textContent('#method')).toBe('passkey')

      await page.context().clearCookies()
      await page.goto(`${api}/self-service/login/browser`)
      await page.waitForFunction(() => typeof (window as any).oryPasskeyLogin === 'function')
      await page.click('button[name="passkey_login_trigger"]')
      await page.waitForSelector('#who')
      expect(await page.textContent('#who')).toBe('passkey-browser@example.com')
      expect(await page.textContent('#method')).toBe('passkey')
      // a discoverable credential, used twice (registration and login): its counter moved
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
      expect(credentials).toHaveLength(1)
      expect(credentials[0]!.isResidentCredential).toBe(true)
    } finally {
      await browser.close()
    }
  }, 60_000)

  it('adds a security key in settings (privileged session) and logs in passwordless with it', async () => {
    const { browser, page } = await browserWithAuthenticator()
    try {
      await page.goto(`${api}/self-service/registration/browser`)
      await page.fill('input[name="traits.email"]', 'key-browser@example.com')
      await page.fill('input[name="password"]', 'correct horse battery staple')
      await page.click('button[name="method"][value="password"]')
      await page.waitForSelector('#who')

      await page.goto(`${api}/self-service/settings/browser`)
      await page.waitForFunction(() => typeof (window as any).oryWebAuthnRegistration === 'function')
      await page.fill('input[name="webauthn_register_displayname"]', 'Laptop')
      await page.click('button[name="webauthn_register_trigger"]')
      await page.waitForSelector('button[name="webauthn_remove"]')
      expect(await page.textContent('button[name="webauthn_remove"]')).toBe('Remove security key "Laptop"')
      const who = await identityByEmail('key-browser@example.com')
      const full = await call(admin, 'GET', `/admin/identities/${who.id}`)
      expect(Object.keys((full.json as any).credentials).sort()).toEqual(['password', 'webauthn'])

      await page.context().clearCookies()
      await page.goto(`${api}/self-service/login/browser`)
      await page.fill('input[name="identifier"]', 'key-browser@example.com')
      await page.click('button[name="method"][value="webauthn"]')
      await page.waitForSelector('.message[data-id="1010012"]')
      await page.waitForFunction(() => typeof (window as any).oryWebAuthnLogin === 'function')
      await page.click('button[name="webauthn_login_trigger"]')
      await page.waitForSelector('#who')
      expect(await page.textContent('#who')).toBe('key-browser@example.com')
      expect(await page.textContent('#method')).toBe('webauthn')
    } finally {
      await browser.close()
    }
  }, 60_000)

  it('refuses a cloned authenticator: the same passkey presenting a lower signature counter gets no session', async () => {
    const { browser, page, cdp, authenticatorId } = await browserWithAuthenticator()
    const loginWithPasskey = async () => {
      await page.context().clearCookies()
      await page.goto(`${api}/self-service/login/browser`)
      await page.waitForFunction(() => typeof (window as any).oryPasskeyLogin === 'function')
      await page.click('button[name="passkey_login_trigger"]')
      await page.waitForSelector('#who, .message')
    }
    try {
      await page.goto(`${api}/self-service/registration/browser`)
      await page.fill('input[name="traits.email"]', 'cloned-browser@example.com')
      await page.waitForFunction(() => typeof (window as any).oryPasskeyRegistration === 'function')
      await page.click('button[name="passkey_register_trigger"]')
      await page.waitForSelector('#who')
      const id = ((await (await page.context().request.get(`${api}/sessions/whoami`)).json()) as any).identity.id

      // an honest login: the authenticator's counter rises, and the server stores it
      await loginWithPasskey()
      expect(await page.textContent('#who')).toBe('cloned-browser@example.com')
      const [original] = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials
      expect(original!.signCount).toBeGreaterThan(0)

      // the clone: the same key pair, credential id and user handle, its counter back at 0
      await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: original!.credentialId })
      await cdp.send('WebAuthn.addCredential', {
        authenticatorId,
        credential: {
          credentialId: original!.credentialId,
          isResidentCredential: true,
          rpId: original!.rpId,
          privateKey: original!.privateKey,
          userHandle: original!.userHandle,
          signCount: 0,
        },
      })
      await loginWithPasskey()
      expect(await page.$('#who')).toBeNull()
      const message = await page.$('.message[data-id="4000043"]')
      expect(message).not.toBeNull()
      expect(await message!.textContent()).toBe('The provided web authn login is invalid, please try again.')
      // no session was issued: whoami with the browser's cookies is 401
      const whoami = await page.context().request.get(`${api}/sessions/whoami`)
      expect(whoami.status()).toBe(401)
      // refused as a counter regression and logged against the identity
      expect(log.lines.some((l) => l['tessera.reason_id'] === 'webauthn_counter_regression' && l['tessera.identity_id'] === id)).toBe(true)
      const sessions = await call(admin, 'GET', `/admin/identities/${id}/sessions`)
      expect((sessions.json as any[]).length).toBe(2)
    } finally {
      await browser.close()
    }
  }, 60_000)

  it('refuses a ceremony from an origin the relying party does not list', async () => {
    const { browser, page } = await browserWithAuthenticator()
    try {
      // the same UI on 127.0.0.1: not a listed origin, and not under the rp id `localhost`
      const foreign = ui.replace('localhost', '127.0.0.1')
      const flow = (await (await fetch(`${api}/self-service/login/api`)).json()) as any
      await page.goto(`${foreign}/`)
      const outcome = await page.evaluate(async (opts) => {
        try {
          await navigator.credentials.get({ publicKey: { challenge: Uint8Array.from(atob(opts.challenge.replaceAll('-', '+').replaceAll('_', '/')), (c) => c.charCodeAt(0)), rpId: 'localhost', userVerification: 'required' } })
          return 'asserted'
        } catch (e) {
          return (e as Error).name
        }
      }, JSON.parse(flow.ui.nodes.find((n: any) => n.attributes.name === 'passkey_challenge').attributes.value).publicKey)
      expect(outcome).toBe('SecurityError')
    } finally {
      await browser.close()
    }
  }, 60_000)
})

describe.skipIf(!available)('webauthn as a second factor in the browser (headless Chromium, virtual authenticator)', () => {
  let api = ''
  let stop = async () => {}
  beforeAll(async () => {
    ;({ api, stop } = await boot(false))
  })
  afterAll(() => stop())

  it('password login, whoami 403 session_aal2_required, step-up with the security key, whoami 200 at aal2', async () => {
    const { browser, page } = await browserWithAuthenticator()
    try {
      await page.goto(`${api}/self-service/registration/browser`)
      await page.fill('input[name="traits.email"]', 'second-factor@example.com')
      await page.fill('input[name="password"]', 'correct horse battery staple')
      await page.click('button[name="method"][value="password"]')
      await page.waitForSelector('#who')

      await page.goto(`${api}/self-service/settings/browser`)
      await page.waitForFunction(() => typeof (window as any).oryWebAuthnRegistration === 'function')
      await page.fill('input[name="webauthn_register_displayname"]', 'Security key')
      await page.click('button[name="webauthn_register_trigger"]')
      // enrolled: the settings flow itself now asks this aal1 session for the second factor (required_aal highest_available)
      await page.waitForSelector('#error')
      expect(await page.textContent('#error')).toContain('session_aal2_required')

      // a new login with the password: aal1, and whoami (highest_available) asks for the second factor
      await page.context().clearCookies()
      await page.goto(`${api}/self-service/login/browser`)
      await page.fill('input[name="identifier"]', 'second-factor@example.com')
      await page.fill('input[name="password"]', 'correct horse battery staple')
      await page.click('button[name="method"][value="password"]')
      // the login sends the browser on to step up: the aal2 flow offers the key, not the password
      await page.waitForSelector('button[name="webauthn_login_trigger"]')
      expect(await page.$('input[name="password"]')).toBeNull()
      // whoami with the browser's cookies
      const whoami = await page.context().request.get(`${api}/sessions/whoami`)
      expect(whoami.status()).toBe(403)
      expect(((await whoami.json()) as any).error.id).toBe('session_aal2_required')

      await page.waitForFunction(() => typeof (window as any).oryWebAuthnLogin === 'function')
      await page.click('button[name="webauthn_login_trigger"]')
      await page.waitForSelector('#aal')
      expect(await page.textContent('#who')).toBe('second-factor@example.com')
      expect(await page.textContent('#aal')).toBe('aal2')
      expect(await page.textContent('#methods')).toBe('password,webauthn')
      const after = await page.context().request.get(`${api}/sessions/whoami`)
      expect(after.status()).toBe(200)
    } finally {
      await browser.close()
    }
  }, 60_000)
})

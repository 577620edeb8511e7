/**
 * Two more journeys through the ui plugin's pages in real headless Chromium against a real `tessera serve`
 * (identity, password, webauthn with passkeys, oauth2, ui): a passkey added in settings with the DevTools virtual
 * authenticator and used to sign in without typing an identifier; and an OAuth2 authorization (code + PKCE) signed
 * in and consented on the ui's pages, landing on the client's redirect URI with a code — in English and with
 * `?lang=de`. Every page: axe-core (from node_modules) without serious or critical violations, at most 60 kB on the
 * wire, no request leaving the origin, a screenshot in .tmp/artifacts/ui/. Without Chromium the suite says it was
 * skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, chromium } from 'playwright-core'
import { REPO, SECRET, type ServerProcess, scratchDir, startServer } from '../helpers/process.ts'
import { quickstartSchema } from '../helpers/identity.ts'
import { ARTIFACTS, watchedPage } from './ui-checks.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const available = existsSync(CHROMIUM)
if (!available) console.warn(`[skipped] ui journeys in the browser: no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`)

const PASSWORD = 'correct horse battery staple'
const CALLBACK = 'https://notes.example.com/callback'

describe.skipIf(!available)('ui journeys in headless Chromium: passkey, oauth2 consent', () => {
  let server: ServerProcess
  let browser: Browser
  let scratch: ReturnType<typeof scratchDir>
  let api = ''

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true })
    scratch = scratchDir('ui-journeys')
    const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
    const port = probe.port
    probe.stop(true)
    // `localhost`, not an IP: a WebAuthn relying party id is a domain
    api = `http://localhost:${port}`
    const config = {
      dev: true,
      dsn: 'sqlite://tessera.sqlite',
      serve: { public: { port, baseUrl: api }, admin: { port: 0 } },
      migrations: { auto: true },
      plugins: [
        { use: 'identity', options: { schemas: [{ id: 'default', schema: quickstartSchema }], flowRateLimit: { enabled: false } } },
        { use: 'password', options: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } } },
        { use: 'webauthn', options: { rp: { id: 'localhost', name: 'Tessera', origins: [api] } } },
        { use: 'oauth2' },
        { use: 'ui' },
      ],
    }
    const cfg = scratch.write('tessera.json', JSON.stringify(config))
    server = await startServer(['bun', join(REPO, 'bin/tessera.ts'), 'serve', '--dev', '--migrate', '--config', cfg], { cwd: scratch.dir, env: { SECRETS_SYSTEM: SECRET } })
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await server?.stop()
    scratch?.remove()
  })

  /** A browser context whose every page is watched (see ui-checks.ts): origin, bytes, axe, a screenshot. */
  const open = (prefix: string, lang = 'en') => watchedPage(browser, { origin: api, locale: 'en', lang, prefix, sizeAt: 'check' })

  it('signs up, adds a passkey in settings, signs out and signs in with it without an identifier', async () => {
    const email = 'grace@example.com'
    const { context, page, check, visit, reset } = await open('passkey')
    const cdp = await context.newCDPSession(page)
    await cdp.send('WebAuthn.enable')
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    })
    try {
      await visit(`${api}/ui/registration`)
      await check('registration')
      const reg = page.locator('#form-password')
      await reg.locator('input[name="traits.email"]').fill(email)
      await reg.locator('input[name="password"]').fill(PASSWORD)
      reset()
      await reg.locator('button[type=submit]').click()
      await page.waitForURL(/\/ui\/?(\?|$)/)
      await check('home')
      await expect(page.locator('#who').textContent()).resolves.toContain(email)
      // settings: add a passkey (the session is fresh, so privileged)
      await visit(`${api}/ui/settings`)
      await check('settings')
      await page.waitForFunction(() => typeof (window as any).oryPasskeySettingsRegistration === 'function')
      reset()
      await page.locator('button[data-trigger="oryPasskeySettingsRegistration"]').click()
      await page.waitForURL(/\/ui\/settings\?flow=/)
      await page.locator('button[name="passkey_remove"]').first().waitFor()
      await check('settings-passkey')
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId })
      expect(credentials).toHaveLength(1)
      expect(credentials[0]!.isResidentCredential).toBe(true)
      // sign out
      await visit(`${api}/ui/`)
      reset()
      await page.locator('#logout').click()
      await page.waitForURL(/\/ui\/?$/)
      await expect(page.locator('#who').textContent()).resolves.toBe('You are not signed in.')
      // sign in with the passkey: no identifier typed. The page also offers the passkey to autofill (conditional
      // mediation), which the virtual authenticator would answer at once: no presence while the page is checked.
      await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled: false })
      await visit(`${api}/ui/login`)
      await check('login')
      await page.waitForFunction(() => typeof (window as any).oryPasskeyLogin === 'function')
      reset()
      await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled: true })
      await page.locator('button[data-trigger="oryPasskeyLogin"]').click({ noWaitAfter: true }).catch(() => {}) // the autofill may answer first
      await page.waitForURL(/\/ui\/?$/)
      await check('signed-in-with-passkey')
      await expect(page.locator('#who').textContent()).resolves.toContain(email)
      const who = (await (await context.request.get(`${api}/sessions/whoami`)).json()) as any
      expect(who.authentication_methods.at(-1).method).toBe('passkey')
    } finally {
      await context.close()
    }
  }, 60_000)

  for (const [lang, heading] of [
    ['en', 'Allow access?'],
    ['de', 'Zugriff erlauben?'],
  ] as const) {
    it(`authorizes an oauth2 client through the ui's sign-in and consent pages (${lang})`, async () => {
      const email = `oauth-${lang}@example.com`
      const admin = async (path: string, body: unknown) => (await fetch(`${server.adminUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as Promise<any>
      await admin('/admin/identities', { schema_id: 'default', traits: { email }, credentials: { password: { config: { password: PASSWORD } } } })
      const client = await admin('/admin/clients', { client_name: 'Acme Notes', grant_types: ['authorization_code'], response_types: ['code'], scope: 'openid profile email', redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' })
      expect(client.client_id).toBeTruthy()
      const verifier = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
      const challenge = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))).toString('base64url')

      const { context, page, check, visit, foreign, reset } = await open(`oauth2-${lang}`, lang)
      // the client's redirect URI: intercepted, so nothing leaves the machine
      let landed = ''
      await page.route(`${CALLBACK}**`, (route) => {
        landed = route.request().url()
        return route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><html lang="en"><title>Acme Notes</title><p id="back">back</p></html>' })
      })
      try {
        if (lang !== 'en') await visit(`${api}/ui/?lang=${lang}`) // the ui remembers the language chosen with ?lang=
        const query = new URLSearchParams({ client_id: client.client_id, response_type: 'code', redirect_uri: CALLBACK, scope: 'openid profile email', state: 'state-0123456789', code_challenge: challenge, code_challenge_method: 'S256' })
        await visit(`${api}/oauth2/auth?${query}`)
        await page.waitForURL(/\/ui\/login\?flow=/)
        await check('login')
        await page.locator('#form-password input[name="identifier"]').fill(email)
        await page.locator('#form-password input[name="password"]').fill(PASSWORD)
        reset()
        await page.locator('#form-password button[type=submit]').click()
        await page.waitForURL(/\/oauth2\/consent/)
        await check('consent')
        await expect(page.locator('h1').textContent()).resolves.toBe(heading)
        await expect(page.locator('#client').textContent()).resolves.toContain('Acme Notes')
        await expect(page.locator('#scopes li').evaluateAll((els) => els.map((e) => e.getAttribute('data-scope')))).resolves.toEqual(['openid', 'profile', 'email'])
        await page.locator('#accept').click()
        await page.waitForURL(`${CALLBACK}**`)
        expect([...new Set(foreign)]).toEqual([landed])
        const back = new URL(landed)
        expect(back.searchParams.get('state')).toBe('state-0123456789')
        const code = back.searchParams.get('code')!
        expect(code).toBeTruthy()
        // the code is real: the client exchanges it with its PKCE verifier
        const tokens = (await (await fetch(`${api}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, client_id: client.client_id, code_verifier: verifier }) })).json()) as any
        expect(tokens.access_token).toBeTruthy()
        expect(tokens.id_token).toBeTruthy()
      } finally {
        await context.close()
      }
    }, 60_000)
  }
})

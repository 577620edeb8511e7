/**
 * A passkey journey through the ui plugin's pages in real headless Chromium against a real `tessera serve`
 * (identity, password, webauthn with passkeys, oauth2, ui): a passkey added in settings with the DevTools virtual
 * authenticator and used to sign in without typing an identifier. Every page: axe-core (from node_modules) without
 * serious or critical violations, at most 60 kB on the wire, no request leaving the origin, a screenshot in
 * .tmp/artifacts/ui/. Without Chromium the suite says it was skipped. (The OAuth2 journeys: ui-oauth2.test.ts.)
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

describe.skipIf(!available)('ui journeys in headless Chromium: passkey', () => {
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
})

/**
 * The ui plugin's pages work with JavaScript off (issue 15: "it works with JavaScript off except for WebAuthn and
 * passkeys"): in headless Chromium with `javaScriptEnabled: false`, against a real `tessera serve` (identity,
 * password, courier with the outbox, code, totp, lookup-secret, webauthn, ui): sign up, see a field error, verify
 * by the code from the outbox, change a trait in settings, sign out, sign in again. The passkey buttons are the
 * only part that needs a script. Without Chromium the suite says it was skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { existsSync } from 'node:fs'
import { type Browser, chromium } from 'playwright-core'
import { quickstartSchema } from '../helpers/identity.ts'
import { type UiServer, accountPlugins, startUiServer } from './ui-server.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const available = existsSync(CHROMIUM)
if (!available) console.warn(`[skipped] ui pages without JavaScript: no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`)

const PASSWORD = 'correct horse battery staple'

describe.skipIf(!available)('ui pages with JavaScript off', () => {
  let server: UiServer['server']
  let browser: Browser
  let scratch: UiServer['scratch']
  let api = ''

  beforeAll(async () => {
    const schema = structuredClone(quickstartSchema) as any
    schema.properties.traits.properties.name = { type: 'string', title: 'Name', maxLength: 100 }
    ;({ server, scratch, api } = await startUiServer('ui-nojs', { host: 'localhost', plugins: (api) => accountPlugins(api, schema) }))
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await server?.stop()
    scratch?.remove()
  })

  it('signs up, verifies, edits the profile, signs out and in without running a script', async () => {
    const email = 'nojs@example.com'
    const context = await browser.newContext({ javaScriptEnabled: false, locale: 'en' })
    const page = await context.newPage()
    try {
      await page.goto(`${api}/ui/registration`)
      const reg = page.locator('#form-password')
      // a field error first: the password is refused, the form comes back with the message and the typed address
      await reg.locator('input[name="traits.email"]').fill(email)
      await reg.locator('input[name="password"]').fill('short')
      await reg.locator('button[type=submit]').click()
      await page.locator('#form-password [data-id]').first().waitFor() // the page that came back, with the message
      await expect(page.locator('#form-password input[name="traits.email"]').inputValue()).resolves.toBe(email)
      await page.locator('#form-password input[name="password"]').fill(PASSWORD)
      await page.locator('#form-password button[type=submit]').click()
      await page.waitForURL(/\/ui\/?(\?|$)/)
      await expect(page.locator('#who').textContent()).resolves.toContain(email)

      // verify by the code in the development outbox
      await page.locator('#addresses a').first().click()
      await page.waitForURL(/\/ui\/verification/)
      const outbox = async () => (await (await fetch(`${api}/ui/outbox`)).text()).split('<article').filter((m) => m.includes('data-to="nojs@example.com"'))
      let before = 0
      const emailInput = page.locator('form input[name="email"]')
      if (await emailInput.count()) {
        before = (await outbox()).length // a new code replaces the one sent at registration: wait for the new mail
        await emailInput.first().fill(email)
        await page.locator('form button[type=submit]').first().click()
      }
      let code = ''
      for (let i = 0; i < 200 && !code; i++) {
        const mails = await outbox() // newest first
        if (mails.length > before) code = /^\s*(\d{6})\s*$/m.exec(mails[0]!)?.[1] ?? ''
        if (!code) await Bun.sleep(100)
      }
      expect(code).toMatch(/^\d{6}$/)
      await page.locator('input[name="code"]').fill(code)
      await page.locator('button[type=submit][name="method"]').first().click()
      // the answer page says the address is verified (waiting for it: the click's navigation may not have begun yet)
      await page.locator('[data-id="1080002"]').waitFor()

      // settings: change the name trait
      await page.goto(`${api}/ui/settings`)
      await page.locator('#form-profile input[name="traits.name"]').fill('Nora Jones')
      await page.locator('#form-profile button[type=submit]').click()
      // the saved page (Kratos' 1050001 "Your changes have been saved"), not the page the click left
      await page.locator('[data-id="1050001"]').waitFor()
      await expect(page.locator('#form-profile input[name="traits.name"]').inputValue()).resolves.toBe('Nora Jones')
      const who = (await (await context.request.get(`${api}/sessions/whoami`)).json()) as any
      expect(who.identity.traits.name).toBe('Nora Jones')
      // the passkey part is the one that needs a script: its button is there, inert without JavaScript
      await expect(page.locator('button[data-trigger="oryPasskeySettingsRegistration"]').count()).resolves.toBe(1)
      // and the page's own script really did not run (with JavaScript on it defines this function)
      expect(await page.evaluate(() => typeof (window as any).oryPasskeySettingsRegistration)).toBe('undefined')

      // sign out (a link) and in again (a form)
      await page.goto(`${api}/ui/`)
      await page.locator('#logout').click()
      await page.locator('#who', { hasText: 'You are not signed in.' }).waitFor()
      await page.goto(`${api}/ui/login`)
      await page.locator('#form-password input[name="identifier"]').fill(email)
      await page.locator('#form-password input[name="password"]').fill(PASSWORD)
      await page.locator('#form-password button[type=submit]').click()
      await page.waitForURL(/\/ui\/?$/)
      await expect(page.locator('#who').textContent()).resolves.toContain(email)
    } finally {
      await context.close()
    }
  }, 90_000)
})

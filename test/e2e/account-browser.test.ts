/**
 * The account flows in real headless Chromium (playwright-core, /usr/bin/chromium) against a real `tessera serve`
 * (identity, password, code, courier) with the courier's SMTP pointed at a local receiver, through the browser
 * flows and the minimal UI of test/e2e/ui.ts: register → verification mail → verify; forgot password → recovery
 * code → settings → new password → the old one refused; passwordless login by code and by magic link, and the
 * link opened in a second browser context shows the code and logs nobody in. Without Chromium it says it was skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { existsSync } from 'node:fs'
import type { Browser, Page } from 'playwright-core'
import { type AccountStack, codeIn, linkIn, startAccountStack } from './account-stack.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const available = existsSync(CHROMIUM)
if (!available) console.warn(`[skipped] account browser journeys: no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`)

const PW = 'correct horse battery staple'
const NEW_PW = 'a brand new and rather long passphrase'

describe.skipIf(!available)('account journeys in headless Chromium, real SMTP', () => {
  let stack: AccountStack
  let browser: Browser
  beforeAll(async () => {
    stack = await startAccountStack()
    const { chromium } = await import('playwright-core')
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
  }, 30_000)
  afterAll(async () => {
    await browser?.close()
    await stack?.stop()
  })

  const who = async (page: Page) => {
    await page.goto(`${stack.uiUrl}/`)
    return page.textContent('#who')
  }
  async function register(page: Page, email: string) {
    await page.goto(`${stack.api}/self-service/registration/browser`)
    await page.fill('#form-password input[name="traits.email"]', email)
    await page.fill('#form-password input[name="password"]', PW)
    await page.click('#form-password button[value="password"]')
    await page.waitForSelector('#who')
    expect(await page.textContent('#who')).toBe(email)
  }

  it('registers, gets the verification mail, and its link verifies the address', async () => {
    const page = await browser.newPage()
    await register(page, 'browser-verify@example.com')
    expect(await page.getAttribute('#addresses li', 'data-verified')).toBe('false')
    const mail = await stack.mailWith('browser-verify@example.com', 'Please verify your email address')
    await page.goto(linkIn(mail, '/self-service/verification?'))
    await page.waitForSelector('.message[data-id="1080002"]') // "You successfully verified your email address."
    await who(page)
    expect(await page.getAttribute('#addresses li', 'data-verified')).toBe('true')
    await page.close()
  }, 60_000)

  it('recovers a forgotten password: code by mail, settings, new password; the old one is refused', async () => {
    const email = 'browser-recover@example.com'
    const setup = await browser.newContext()
    await register(await setup.newPage(), email)
    await setup.close()

    const ctx = await browser.newContext()
    const page = await ctx.newPage()
    await page.goto(`${stack.api}/self-service/recovery/browser`)
    await page.fill('#form-code input[name="email"]', email)
    await page.click('#form-code button[name="method"]')
    await page.waitForSelector('.message[data-id="1060003"]')
    const mail = await stack.mailWith(email, 'Recover access to your account')
    await page.fill('#form-code input[name="code"]', codeIn(mail))
    await page.click('#form-code button[name="method"]')
    // recovered: signed in, on the settings page, asked to set a new password
    await page.waitForSelector('#form-password')
    expect(new URL(page.url()).pathname).toBe('/settings')
    expect(await page.locator('.message[data-id="1060001"]').count()).toBe(1)
    await page.fill('#form-password input[name="password"]', NEW_PW)
    await page.click('#form-password button[value="password"]')
    await page.waitForSelector('.message[data-id="1050001"]')

    const fresh = await (await browser.newContext()).newPage()
    const login = async (password: string) => {
      await fresh.goto(`${stack.api}/self-service/login/browser`)
      await fresh.fill('#form-password input[name="identifier"]', email)
      await fresh.fill('#form-password input[name="password"]', password)
      await fresh.click('#form-password button[value="password"]')
    }
    await login(PW)
    await fresh.waitForSelector('.message[data-id="4000006"]')
    await login(NEW_PW)
    await fresh.waitForSelector('#who')
    expect(await fresh.textContent('#who')).toBe(email)
    await ctx.close()
  }, 60_000)

  it('logs in by a code typed from the mail, and by the magic link; the link in another browser shows the code and logs nobody in', async () => {
    const email = 'browser-code@example.com'
    const setup = await browser.newContext()
    await register(await setup.newPage(), email)
    await setup.close()

    const startCodeLogin = async (page: Page) => {
      await page.goto(`${stack.api}/self-service/login/browser`)
      await page.fill('#form-code input[name="identifier"]', email)
      await page.click('#form-code button[value="code"]')
      await page.waitForSelector('.message[data-id="1010014"]')
      return stack.mailWith(email, 'Login to your account')
    }

    // by code
    const a = await (await browser.newContext()).newPage()
    const typed = await startCodeLogin(a)
    await a.fill('#form-code input[name="code"]', codeIn(typed))
    await a.click('#form-code button[name="method"]')
    await a.waitForSelector('#who')
    expect(await a.textContent('#who')).toBe(email)

    // by link: first opened in another browser (a mail scanner, a forwarded mail) — it only shows the code
    const b = await (await browser.newContext()).newPage()
    const mail = await startCodeLogin(b)
    const link = linkIn(mail, '/self-service/login?')
    const other = await (await browser.newContext()).newPage()
    await other.goto(link)
    expect(await other.textContent('body')).toContain(codeIn(mail))
    expect(await who(other)).toBe('anonymous')
    // then in the browser that started the flow: signed in
    await b.goto(link)
    await b.waitForSelector('#who')
    expect(await b.textContent('#who')).toBe(email)
  }, 60_000)
})

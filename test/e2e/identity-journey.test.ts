/**
 * The browser journey in real headless Chromium (playwright-core, /usr/bin/chromium):
 * register, whoami, logout, login — through the browser flows, the CSRF cookie
 * and token, and a minimal UI that renders ui nodes (test/e2e/ui.ts).
 * Without Chromium the suite says it was skipped.
 */
import { describe, expect, it } from 'bun:test'
import { existsSync } from 'node:fs'
import { useJourneyStack } from './ui.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const available = existsSync(CHROMIUM)
if (!available) console.warn(`[skipped] browser journey: no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`)

describe.skipIf(!available)('browser journey (headless Chromium)', () => {
  const stack = useJourneyStack()

  it('registers, sees whoami, logs out and logs in again', async () => {
    const { chromium } = await import('playwright-core')
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
    try {
      const page = await browser.newPage()
      await page.goto(`${stack.api}/self-service/registration/browser`)
      await page.fill('input[name="traits.email"]', 'browser@example.com')
      await page.fill('input[name="password"]', 'correct horse battery staple')
      await page.click('button[name="method"]')
      await page.waitForSelector('#who')
      expect(await page.textContent('#who')).toBe('browser@example.com')

      await page.click('#logout')
      await page.waitForSelector('#who')
      expect(await page.textContent('#who')).toBe('anonymous')

      await page.goto(`${stack.api}/self-service/login/browser`)
      await page.fill('input[name="identifier"]', 'browser@example.com')
      await page.fill('input[name="password"]', 'wrong password here')
      await page.click('button[name="method"]')
      await page.waitForSelector('.message[data-id="4000006"]')

      await page.fill('input[name="password"]', 'correct horse battery staple')
      await page.click('button[name="method"]')
      await page.waitForSelector('#who')
      expect(await page.textContent('#who')).toBe('browser@example.com')
    } finally {
      await browser.close()
    }
  }, 60_000)
})

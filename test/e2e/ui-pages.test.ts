/**
 * The ui plugin's pages in real headless Chromium against a real `tessera serve` (identity, password, courier with
 * the development outbox, code, totp, lookup-secret, ui): sign up, verify through the outbox, sign out, sign in,
 * enrol TOTP in settings and step up with it, recover — in English — and a sign-up with verification in German,
 * Russian and Chinese. Every page: axe-core (from node_modules, no network) without serious or critical
 * violations, at most 60 kB on the wire, no request leaving the origin, a screenshot in .tmp/artifacts/ui/.
 * Without Chromium the suite says it was skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import * as OTPAuth from 'otpauth'
import { type Browser, type Page, chromium } from 'playwright-core'
import { REPO, SECRET, type ServerProcess, scratchDir, startServer } from '../helpers/process.ts'
import { quickstartSchema } from '../helpers/identity.ts'
import { ARTIFACTS, watchedPage } from './ui-checks.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const available = existsSync(CHROMIUM)
if (!available) console.warn(`[skipped] ui pages in the browser: no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`)

const PASSWORD = 'correct horse battery staple'

describe.skipIf(!available)('ui plugin pages in headless Chromium', () => {
  let server: ServerProcess
  let browser: Browser
  let scratch: ReturnType<typeof scratchDir>
  let api = ''

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true })
    scratch = scratchDir('ui-pages')
    const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
    const port = probe.port
    probe.stop(true)
    api = `http://127.0.0.1:${port}`
    const config = {
      dev: true,
      dsn: 'sqlite://tessera.sqlite',
      serve: { public: { port, baseUrl: api }, admin: { port: 0 } },
      migrations: { auto: true },
      plugins: [
        { use: 'identity', options: { schemas: [{ id: 'default', schema: quickstartSchema }], flowRateLimit: { enabled: false } } },
        { use: 'password', options: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } } },
        { use: 'courier', options: { outbox: true, worker: { intervalSeconds: 0.1 } } },
        { use: 'code', options: { resend: { perAddress: 1000 } } },
        { use: 'totp' },
        { use: 'lookup-secret' },
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

  /** A browser context whose every page is watched (see ui-checks.ts); the size is measured on each visit. */
  const open = (lang: string) => watchedPage(browser, { origin: api, locale: lang === 'zh' ? 'zh-CN' : lang, lang: lang === 'zh' ? 'zh-Hans' : lang, prefix: lang, sizeAt: 'visit' })

  /** The newest code in the outbox for `to`, read from the outbox page in a second tab. */
  async function outboxCode(p: Page, to: string, after = 0): Promise<string> {
    const tab = await p.context().newPage()
    try {
      for (let i = 0; i < 100; i++) {
        await tab.goto(`${api}/ui/outbox`)
        const mails = await tab.locator(`article[data-to="${to}"] pre`).allTextContents()
        if (mails.length > after) return /^\s*(\d{6})\s*$/m.exec(mails[0]!)?.[1] ?? ''
        await Bun.sleep(100)
      }
      throw new Error(`no mail to ${to}`)
    } finally {
      await tab.close()
    }
  }

  async function signUpAndVerify(lang: string, email: string) {
    const b = await open(lang)
    const { page, check, visit } = b
    await visit(`${api}/ui/registration`)
    await check('registration')
    const reg = page.locator('#form-password')
    await reg.locator('input[name="traits.email"]').fill(email)
    await reg.locator('input[name="password"]').fill(PASSWORD)
    await reg.locator('button[type=submit]').click()
    await page.waitForURL(/\/ui\/?(\?|$)/)
    await check('home')
    await expect(page.locator('#who').textContent()).resolves.toContain(email)
    // verify through the development outbox
    await page.locator('#addresses a').first().click()
    await page.waitForURL(/\/ui\/verification/)
    await check('verification')
    const form = page.locator('form').first()
    const emailInput = form.locator('input[name="email"]')
    if (await emailInput.count()) {
      await emailInput.fill(email)
      await form.locator('button[type=submit]').first().click()
      await page.waitForURL(/\/ui\/verification/)
    }
    const code = await outboxCode(page, email)
    expect(code).toMatch(/^\d{6}$/)
    await page.locator('input[name="code"]').fill(code)
    await page.locator('button[type=submit][name="method"]').first().click()
    await page.waitForLoadState('load')
    await expect(page.locator('[data-id="1080002"]').count()).resolves.toBe(1)
    await check('verified')
    return b
  }

  it('signs up, verifies, signs out and in, enrols TOTP and steps up with it, recovers — in English', async () => {
    const email = 'ada@example.com'
    const { page, check, visit, context } = await signUpAndVerify('en', email)
    await visit(`${api}/ui/outbox`)
    await check('outbox')
    // sign out, sign in with a wrong then the right password
    await visit(`${api}/ui/`)
    await page.locator('#logout').click()
    await page.waitForURL(/\/ui\/?$/)
    await expect(page.locator('#who').textContent()).resolves.toBe('You are not signed in.')
    await visit(`${api}/ui/login`)
    await check('login')
    await page.locator('#form-password input[name="identifier"]').fill(email)
    await page.locator('#form-password input[name="password"]').fill('not the password at all')
    await page.locator('#form-password button[type=submit]').click()
    await page.waitForURL(/\/ui\/login/)
    await expect(page.locator('[data-id="4000006"]').textContent()).resolves.toContain('credentials are invalid')
    await check('login-error')
    await page.locator('#form-password input[name="identifier"]').fill(email)
    await page.locator('#form-password input[name="password"]').fill(PASSWORD)
    await page.locator('#form-password button[type=submit]').click()
    await page.waitForURL(/\/ui\/?$/)
    // settings: enrol TOTP from the secret the page shows
    await visit(`${api}/ui/settings`)
    await check('settings')
    const secret = (await page.locator('#totp_secret_key .secret').textContent())!.trim()
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30 })
    await page.locator('#form-totp input[name="totp_code"]').fill(totp.generate())
    await page.locator('#form-totp button[type=submit]').click()
    // the identity now has a second factor: settings ask this aal1 session to step up with it first
    await page.waitForURL(/\/ui\/login\?flow=/)
    await check('settings-step-up')
    await Bun.sleep(Math.max(0, 30_000 - (Date.now() % 30_000)) + 200) // the next time step (a used step is refused)
    await page.locator('#form-totp input[name="totp_code"]').fill(totp.generate())
    await page.locator('#form-totp button[type=submit]').click()
    await page.waitForLoadState('load')
    await visit(`${api}/ui/settings`)
    await expect(page.locator('button[value="true"][name="totp_unlink"], [data-id="1050004"], button:has-text("Unlink")').count()).resolves.toBeGreaterThan(0)
    await check('settings-saved')
    // a new browser: password, then the second factor
    const second = await open('en')
    await second.visit(`${api}/ui/login`)
    await second.page.locator('#form-password input[name="identifier"]').fill(email)
    await second.page.locator('#form-password input[name="password"]').fill(PASSWORD)
    await second.page.locator('#form-password button[type=submit]').click()
    await second.page.waitForURL(/\/ui\/login\?flow=/)
    await second.check('login-aal2')
    await Bun.sleep(Math.max(0, 30_000 - (Date.now() % 30_000)) + 200) // the next time step (a used step is refused)
    await second.page.locator('#form-totp input[name="totp_code"]').fill(totp.generate())
    await second.page.locator('#form-totp button[type=submit]').click()
    await second.page.waitForURL(/\/ui\/?$/)
    await expect(second.page.locator('#who').textContent()).resolves.toContain(email)
    // the first browser sees the second device and signs it out
    await visit(`${api}/ui/settings`)
    await expect(page.locator('#sessions form.session').count()).resolves.toBe(1)
    await page.locator('#sessions form.session button').click()
    await page.waitForURL(/\/ui\/settings\?flow=/)
    await expect(page.locator('#sessions form.session').count()).resolves.toBe(0)
    await second.visit(`${api}/ui/`)
    await expect(second.page.locator('#who').textContent()).resolves.toBe('You are not signed in.')
    await second.context.close()
    // recovery in a fresh browser
    const third = await open('en')
    await third.visit(`${api}/ui/recovery`)
    await third.check('recovery')
    const mails = await (await fetch(`${api}/ui/outbox`)).text()
    const before = (mails.match(/data-to="ada@example.com"/g) ?? []).length
    await third.page.locator('input[name="email"]').fill(email)
    await third.page.locator('button[type=submit]').first().click()
    await third.page.waitForURL(/\/ui\/recovery\?flow=/)
    const code = await outboxCode(third.page, email, before)
    await third.page.locator('input[name="code"]').fill(code)
    await third.page.locator('button[type=submit][name="method"]').first().click()
    await third.page.waitForLoadState('load')
    await third.check('recovered')
    await third.context.close()
    await context.close()
  }, 120_000)

  for (const [lang, word] of [
    ['de', 'Du bist als'],
    ['ru', 'Вы вошли как'],
    ['zh', '你已以'],
  ] as const) {
    it(`signs up and verifies in ${lang}`, async () => {
      const { page, context } = await signUpAndVerify(lang, `${lang}@example.com`)
      await page.goto(`${api}/ui/`)
      await expect(page.locator('#who').textContent()).resolves.toContain(word)
      await context.close()
    }, 60_000)
  }
})

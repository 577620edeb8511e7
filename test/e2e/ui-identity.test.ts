/**
 * The ui plugin's identity journeys in real headless Chromium against a real `tessera serve` (identity, password,
 * courier with the development outbox, code, totp, lookup-secret, webauthn with passkeys, ui), in English, German,
 * Russian and Chinese — English and Russian chosen by the browser's Accept-Language, German and Chinese by `?lang=`
 * in browsers that ask for English (the ui remembers the choice in a cookie). Each language, one person, two devices:
 *
 *   sign up (first with a too-short password: the field's error, announced), verify the address with the code from
 *   the development outbox, sign out, fail to sign in (the error announced), sign in; in settings change a profile
 *   trait and the password, add a passkey (the DevTools virtual authenticator), sign out and in with it, enrol TOTP
 *   and step up with it, make backup codes; on the second device the old password fails, the new one and TOTP sign
 *   in, then the new one and a backup code; the first device sees the second and signs it out, and removes the
 *   passkey; the second recovers the account with a code from the outbox (and a backup code, the second factor);
 *   the error page for a flow of another browser, for an unknown error, and for a page that does not exist.
 *
 * Every page checked (each kind of page once per language): the language's texts (its `<h1>`, `<html lang>`, no
 * English left), axe-core without serious or critical violations, every field labelled, every error announced, at
 * most 60 kB on the wire, no request leaving the origin, and a screenshot in .tmp/artifacts/ui/<lang>-NN-<step>.png
 * (see ui-checks.ts). TOTP codes are made for the step before the clock's, then the next ones (the totp plugin takes
 * ±1 step, each later than the last), so no test waits for a clock. The journeys run one at a time, each in a
 * Chromium of its own. Without Chromium the suite says it was skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { existsSync, mkdirSync } from 'node:fs'
import * as OTPAuth from 'otpauth'
import { type CDPSession, type Page, chromium } from 'playwright-core'
import { catalogues, type Language } from '../../i18n/index.ts'
import { type UiServer, accountPlugins, startUiServer } from './ui-server.ts'
import { ARTIFACTS, watchedPage } from './ui-checks.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const available = existsSync(CHROMIUM)
if (!available) console.warn(`[skipped] ui identity journeys in the browser: no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`)

type Key = keyof (typeof catalogues)['en']['ui']

/** How each language is chosen: the browser's locale (Accept-Language), or `?lang=` in a browser asking for English. */
const LANGS: { lang: Language; locale: string; query: boolean }[] = [
  { lang: 'en', locale: 'en-US', query: false },
  { lang: 'de', locale: 'en-US', query: true },
  { lang: 'ru', locale: 'ru-RU', query: false },
  { lang: 'zh', locale: 'en-US', query: true },
]

describe.skipIf(!available)('ui identity journeys in headless Chromium, in en, de, ru and zh', () => {
  let server: UiServer['server']
  let scratch: UiServer['scratch']
  let api = ''

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true })
    // `localhost`, not an IP: a WebAuthn relying party id is a domain
    ;({ server, scratch, api } = await startUiServer('ui-identity', { host: 'localhost', plugins: (api) => accountPlugins(api) }))
  }, 60_000)

  afterAll(async () => {
    await server?.stop()
    scratch?.remove()
  })

  /** One person's whole journey in one language, in two browsers of its own. */
  async function journey({ lang, locale, query }: (typeof LANGS)[number]) {
    const t = catalogues[lang].ui
    const en = catalogues.en.ui
    const email = `${lang}-person@example.com`
    const first = 'correct horse battery staple'
    const second = `${lang} staple battery horse correct`
    const shots = { n: 0 }
    const opened: { context: { close(): Promise<void> } }[] = []
    // a Chromium of its own: two journeys on one browser connection at once met Playwright's "Object with guid
    // request@… was not bound in the connection" in CI
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })

    /** A new browser (context) speaking the language: Accept-Language, or `?lang=` on its first page. */
    async function device() {
      const w = await watchedPage(browser, { origin: api, locale, lang: lang === 'zh' ? 'zh-Hans' : lang, prefix: lang, sizeAt: 'check', shots })
      opened.push(w)
      let chosen = !query
      const go = async (path: string) => {
        const url = new URL(`${api}${path}`)
        if (!chosen) url.searchParams.set('lang', lang)
        chosen = true
        await w.visit(url.toString())
      }
      return { ...w, go }
    }
    /** The page's heading is the language's text for `key` (and, but in English, not the English one). */
    const title = async (page: Page, key: Key) => {
      const h1 = await page.locator('h1').textContent()
      expect(h1).toBe(t[key])
      if (lang !== 'en') expect(h1).not.toBe(en[key])
    }
    /** The language's text for `key` with `{name}`s filled. */
    const text = (key: Key, vars: Record<string, string> = {}) => t[key].replace(/\{([a-z_]+)\}/g, (_, k: string) => vars[k] ?? '')
    /**
     * Do what leaves the page (a click that submits a form, a script's submit), then wait for the new page at `url`:
     * the page is marked first, so a new page whose address looks like the old one's is not mistaken for it.
     */
    const leave = async (page: Page, act: () => Promise<unknown>, url: RegExp | ((u: URL) => boolean)) => {
      await page.evaluate(() => ((window as any).__before = true))
      await act()
      try {
        await page.waitForFunction(() => !(window as any).__before)
        await page.waitForURL(url)
        await page.waitForLoadState('load')
      } catch (e) {
        throw new Error(`${String(e).split('\n')[0]} (on ${page.url()}: ${await page.locator('h1').textContent({ timeout: 1000 }).catch(() => '?')})`)
      }
    }
    /** Submit a form with one of its buttons; then `leave`. */
    const submit = (page: Page, button: string, url: RegExp | ((u: URL) => boolean)) => leave(page, () => page.locator(button).click(), url)
    /** The mails to this person in the development outbox, newest first (the page a developer reads them on). */
    const mails = async () => [...(await (await fetch(`${api}/ui/outbox`)).text()).matchAll(/<article class="mail" data-to="([^"]*)">[\s\S]*?<pre>([\s\S]*?)<\/pre>/g)].filter((m) => m[1] === email).map((m) => m[2]!)
    /** The code in the newest mail after the first `after`, once the courier has delivered it. */
    async function outboxCode(after: number): Promise<string> {
      for (let i = 0; i < 200; i++) {
        const all = await mails()
        if (all.length > after) return /^\s*(\d{6})\s*$/m.exec(all[0]!)?.[1] ?? ''
        await Bun.sleep(100)
      }
      throw new Error(`no mail to ${email}`)
    }
    /** A DevTools virtual authenticator (a platform passkey that verifies its user) in the browser of `page`. */
    async function authenticator(page: Page): Promise<{ cdp: CDPSession; id: string }> {
      const cdp = await page.context().newCDPSession(page)
      await cdp.send('WebAuthn.enable')
      const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
      })
      return { cdp, id: authenticatorId }
    }
    const home = new RegExp(`^${api}/ui/?(\\?|$)`)
    const signIn = async (page: Page, password: string, then: RegExp) => {
      await page.locator('#form-password input[name="identifier"]').fill(email)
      await page.locator('#form-password input[name="password"]').fill(password)
      await submit(page, '#form-password button[type=submit]', then)
    }
    const signOut = (page: Page) => submit(page, '#logout', home)
    const flowPage = (kind: string) => new RegExp(`/ui/${kind}\\?flow=`)

    try {
      const a = await device()
      const { page, check, go } = a
      const passkey = await authenticator(page)

      // sign up: a password too short is refused with the field's own error, announced; then a good one
      await go('/ui/registration')
      await title(page, 'title.registration')
      // each way to sign up is a form of its own under its own heading (the profile fields repeat in each)
      const forms = await page.locator('main form').count()
      expect(forms).toBeGreaterThan(1)
      await expect(page.locator('main section[aria-labelledby]:has(> h2) form').count()).resolves.toBe(forms)
      await check('registration')
      await page.locator('#form-password input[name="traits.email"]').fill(email)
      await page.locator('#form-password input[name="password"]').fill('short')
      await submit(page, '#form-password button[type=submit]', flowPage('registration'))
      const tooShort = page.locator('#form-password [data-id="4000032"]')
      await expect(tooShort.textContent()).resolves.toBe(text('4000032' as Key, { min_length: '8', actual_length: '5' }))
      await expect(page.locator('#form-password input[name="password"]').getAttribute('aria-invalid')).resolves.toBe('true')
      await title(page, 'title.registration')
      await check('registration-error')
      await page.locator('#form-password input[name="password"]').fill(first)
      await submit(page, '#form-password button[type=submit]', home)
      await title(page, 'title.home')
      await expect(page.locator('#who').textContent()).resolves.toBe(text('home.signedInAs', { name: email }))
      await expect(page.locator('#addresses li').textContent()).resolves.toContain(t['home.unverified'])
      await check('home')

      // verify the address with the code the outbox shows
      await submit(page, '#addresses a', flowPage('verification'))
      await title(page, 'title.verification')
      await check('verification')
      const emailInput = page.locator('form input[name="email"]')
      // a new flow that asks for the address sends a new code: wait for that mail, not the sign-up's (the courier
      // delivers from its queue, so the new one may not be in the outbox yet when the page answers)
      let sent = 0
      if (await emailInput.count()) {
        sent = (await mails()).length
        await emailInput.first().fill(email)
        await submit(page, 'form button[type=submit]', flowPage('verification'))
      }
      const code = await outboxCode(sent)
      expect(code).toMatch(/^\d{6}$/)
      await page.locator('input[name="code"]').fill(code)
      await submit(page, 'button[type=submit][name="method"]', flowPage('verification'))
      await expect(page.locator('[data-id="1080002"]').textContent()).resolves.toBe(t['1080002' as Key])
      await check('verified')
      await go('/ui/outbox')
      await title(page, 'title.outbox')
      // the mail is in the language the browser asked for when the flow began (Accept-Language)
      if (lang === 'ru') await expect(page.locator(`article[data-to="${email}"] h2`).first().textContent()).resolves.toMatch(/[А-Яа-яЁё]/)
      await check('outbox')

      // sign out, then a wrong password (announced), then the right one
      await go('/ui/')
      await expect(page.locator('#addresses li').textContent()).resolves.toContain(t['home.verified'])
      await signOut(page)
      await expect(page.locator('#who').textContent()).resolves.toBe(t['home.anonymous'])
      await check('signed-out')
      await go('/ui/login')
      await title(page, 'title.login')
      await check('login')
      await signIn(page, 'not the password at all', flowPage('login'))
      await expect(page.locator('[data-id="4000006"]').textContent()).resolves.toBe(t['4000006' as Key])
      await expect(page.locator('[role=alert] [data-id="4000006"]').count()).resolves.toBe(1)
      await check('login-error')
      await signIn(page, first, home)
      await expect(page.locator('#who').textContent()).resolves.toBe(text('home.signedInAs', { name: email }))

      // settings: a profile trait, then the password
      await go('/ui/settings')
      await title(page, 'title.settings')
      await check('settings')
      await page.locator('#form-profile input[name="traits.name.first"]').fill(`Name-${lang}`)
      await submit(page, '#form-profile button[type=submit]', flowPage('settings'))
      await expect(page.locator('#messages [data-id="1050001"]').textContent()).resolves.toBe(t['1050001' as Key])
      await expect(page.locator('#form-profile input[name="traits.name.first"]').inputValue()).resolves.toBe(`Name-${lang}`)
      await check('settings-saved')
      await page.locator('#form-password input[name="password"]').fill(second)
      await submit(page, '#form-password button[type=submit]', flowPage('settings'))
      await expect(page.locator('#messages [data-id="1050001"]').textContent()).resolves.toBe(t['1050001' as Key])

      // a passkey, added in settings
      await page.waitForFunction(() => typeof (window as any).oryPasskeySettingsRegistration === 'function')
      await submit(page, 'button[data-trigger="oryPasskeySettingsRegistration"]', flowPage('settings'))
      await expect(page.locator('button[name="passkey_remove"]').count()).resolves.toBe(1)
      const { credentials } = await passkey.cdp.send('WebAuthn.getCredentials', { authenticatorId: passkey.id })
      expect(credentials).toHaveLength(1)

      // sign out and in with the passkey, no identifier typed. The login page also offers the passkey to autofill
      // (conditional mediation), which the virtual authenticator would answer at once: no presence until clicked.
      await go('/ui/')
      await signOut(page)
      await passkey.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: passkey.id, enabled: false })
      await go('/ui/login')
      await page.waitForFunction(() => typeof (window as any).oryPasskeyLogin === 'function')
      await passkey.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: passkey.id, enabled: true })
      await leave(page, () => page.locator('button[data-trigger="oryPasskeyLogin"]').click().catch(() => {}), home) // the autofill may answer first
      await expect(page.locator('#who').textContent()).resolves.toBe(text('home.signedInAs', { name: email }))
      const who = (await (await a.context.request.get(`${api}/sessions/whoami`)).json()) as any
      expect(who.authentication_methods.at(-1).method).toBe('passkey')

      // TOTP: enrolled from the secret the page shows
      await go('/ui/settings')
      const secret = (await page.locator('#totp_secret_key .secret').textContent())!.trim()
      const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30 })
      // The totp plugin takes the steps one before to one after its clock's, each later than the last it took: a
      // code for the previous step (while this one has 15 s or more to run, else for this step), then the next
      // steps in turn, so three codes are used at once, and a slow run, whose clock moves on, uses current ones.
      let last = -Infinity
      const nextCode = async () => {
        for (;;) {
          const now = Date.now() / 30_000
          const step = Math.max(last + 1, Math.floor(now) - (now % 1 < 0.5 ? 1 : 0))
          if (step <= Math.floor(now) + 1) {
            last = step
            return totp.generate({ timestamp: step * 30_000 })
          }
          await Bun.sleep(1000) // only when codes are used faster than one step in 30 s
        }
      }
      await page.locator('#form-totp input[name="totp_code"]').fill(await nextCode())
      // the identity now has a second factor: settings ask this aal1 session to step up with it first
      await submit(page, '#form-totp button[type=submit]', flowPage('login'))
      await title(page, 'title.login.aal2')
      await check('step-up')
      await page.locator('#form-totp input[name="totp_code"]').fill(await nextCode())
      await submit(page, '#form-totp button[type=submit]', (u) => u.pathname.startsWith('/ui/') && !u.pathname.endsWith('/login'))
      await go('/ui/settings')
      await expect(page.locator('button[name="totp_unlink"]').count()).resolves.toBe(1)
      await check('settings-totp')

      // backup codes: made, shown, confirmed
      await submit(page, 'button[name="lookup_secret_regenerate"]', flowPage('settings'))
      const codes = (await page.locator('#form-lookup_secret ul.codes code').allTextContents()).map((c) => c.trim())
      expect(codes.length).toBeGreaterThan(1)
      await check('settings-backup-codes')
      await submit(page, 'button[name="lookup_secret_confirm"]', flowPage('settings'))
      await expect(page.locator('#messages [data-id="1050001"]').textContent()).resolves.toBe(t['1050001' as Key])

      // a second device: the old password no longer works, the new one does, then TOTP; signed out, a backup code
      const b = await device()
      await b.go('/ui/login')
      await signIn(b.page, first, flowPage('login'))
      await expect(b.page.locator('[data-id="4000006"]').count()).resolves.toBe(1)
      await signIn(b.page, second, flowPage('login'))
      await title(b.page, 'title.login.aal2')
      await b.check('second-device-aal2')
      await b.page.locator('#form-totp input[name="totp_code"]').fill(await nextCode())
      await submit(b.page, '#form-totp button[type=submit]', home)
      await expect(b.page.locator('#who').textContent()).resolves.toBe(text('home.signedInAs', { name: email }))
      await expect(b.page.locator('main .muted').first().textContent()).resolves.toBe(text('home.assurance', { aal: 'aal2' }))
      await signOut(b.page)
      await b.go('/ui/login')
      await signIn(b.page, second, flowPage('login'))
      await b.page.locator('#form-lookup_secret input[name="lookup_secret"]').fill(codes[0]!)
      await submit(b.page, '#form-lookup_secret button[type=submit]', home)
      await expect(b.page.locator('main .muted').first().textContent()).resolves.toBe(text('home.assurance', { aal: 'aal2' }))
      const bSession = ((await (await b.context.request.get(`${api}/sessions/whoami`)).json()) as any).id as string

      // the first device sees the second and signs it out
      await go('/ui/settings')
      await expect(page.locator('#sessions form.session input[name="session_id"]').getAttribute('value')).resolves.toBe(bSession)
      await check('settings-devices')
      await submit(page, '#sessions form.session button', flowPage('settings'))
      await expect(page.locator('#sessions form.session').count()).resolves.toBe(0)
      await expect(page.locator('#sessions [role=status]').textContent()).resolves.toBe(t['sessions.revoked'])
      // the passkey removed again (a plain button beside the passkey script's)
      await submit(page, 'button[name="passkey_remove"]', flowPage('settings'))
      await expect(page.locator('#messages [data-id="1050001"]').textContent()).resolves.toBe(t['1050001' as Key])
      await expect(page.locator('button[name="passkey_remove"]').count()).resolves.toBe(0)

      // the second device, signed out, recovers the account with the code the outbox shows
      await b.go('/ui/')
      await expect(b.page.locator('#who').textContent()).resolves.toBe(t['home.anonymous'])
      await b.go('/ui/recovery')
      await title(b.page, 'title.recovery')
      await b.check('recovery')
      const before = (await mails()).length
      await b.page.locator('input[name="email"]').fill(email)
      await submit(b.page, 'button[type=submit]', flowPage('recovery'))
      await b.check('recovery-code')
      const recoveryFlow = b.page.url()
      await b.page.locator('input[name="code"]').fill(await outboxCode(before))
      // recovered: the session must step up with the second factor (a backup code) before settings
      await submit(b.page, 'button[type=submit][name="method"]', flowPage('login'))
      await title(b.page, 'title.login.aal2')
      await b.page.locator('#form-lookup_secret input[name="lookup_secret"]').fill(codes[1]!)
      await submit(b.page, '#form-lookup_secret button[type=submit]', flowPage('settings'))
      await expect(b.page.locator('#messages [data-id="1060001"]').textContent()).resolves.toBe(t['1060001' as Key])
      await b.check('recovered')

      // the error pages: a flow of another browser (its CSRF cookie is there), an unknown error, no such page
      await a.visit(recoveryFlow)
      await title(page, 'title.error')
      // the catalogue's text for the error's id when it has one; else the API's message (English) or the generic text
      const own = (t as Record<string, string>)['error.security_csrf_violation']
      const shown = await page.locator('[role=alert] #error').textContent()
      if (own) expect(shown).toBe(own)
      else if (lang === 'en') expect(shown).toContain('Cross-Site-Request-Forgery')
      else expect(shown).toBe(t['error.generic'])
      await check('error-foreign-flow')
      await go(`/ui/error?id=${crypto.randomUUID()}`)
      await title(page, 'title.error')
      await expect(page.locator('[role=alert] #error').textContent()).resolves.toBe(t['error.generic'])
      await go('/ui/no-such-page')
      await title(page, 'title.error')
      await expect(page.locator('[role=alert] #error').textContent()).resolves.toBe(t['error.notFound'])
    } finally {
      for (const o of opened) await o.context.close()
      await browser.close()
    }
  }

  // One journey at a time. Two at once (on one browser or on two) timed out now and then in CI — a submit left
  // waiting 30 s, at a different step each time — and four at once often; one at a time takes longer because each
  // journey waits for the TOTP time steps it needs.
  for (const l of LANGS) {
    it(`signs up, verifies, signs in and out, changes settings, uses a passkey, TOTP and a backup code, signs a device out and recovers — in ${l.lang}${l.query ? ' (?lang=)' : ' (Accept-Language)'}`, () => journey(l), 300_000)
  }
})

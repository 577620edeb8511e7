/**
 * Bringing your own UI: Ory Elements (`@ory/elements-react` 1.2.1, exact-pinned dev dependency) against Tessera in
 * real headless Chromium (playwright-core, /usr/bin/chromium). Elements' own Login, Registration, Recovery,
 * Verification, Settings and Error components render Tessera's browser flows and complete every flow the built-in
 * pages cover: registration and verification by the code in the mail, password login (a failed one, return_to),
 * login by code, second factors at login (TOTP, a lookup secret) and the aal2 step-up settings asks for, recovery
 * by code into settings, settings (profile, password, TOTP enrolment with the secret Elements shows, lookup secrets,
 * a security key and a passkey with the DevTools virtual authenticator), passkey login, the error page and logout.
 * Each step asserts what the person sees and what Tessera recorded (whoami, the admin API, the courier's messages).
 *
 * The stack (test/e2e/elements/stack.ts) is one Tessera and one page server for the file, one browser, a fresh
 * context per test. Mail is read from the courier's admin API (its development outbox delivers it). Without
 * Chromium the suite says it was skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { existsSync } from 'node:fs'
import * as OTPAuth from 'otpauth'
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core'
import { type Stack, codeIn, startStack } from './elements/stack.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const available = existsSync(CHROMIUM)
if (!available) console.warn(`[skipped] Ory Elements suite: no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`)

const PASSWORD = 'correct horse battery staple'
const TIMEOUT = 20_000

describe.skipIf(!available)('Ory Elements (@ory/elements-react 1.2.1) on Tessera, headless Chromium', () => {
  let stack: Stack
  let browser: Browser

  beforeAll(async () => {
    const { chromium } = await import('playwright-core')
    ;[stack, browser] = await Promise.all([startStack(), chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })])
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
    await stack?.stop()
  })

  interface Session {
    context: BrowserContext
    page: Page
    /** Uncaught errors on the page (none expected). */
    errors: string[]
    cdp?: CDPSession
    authenticatorId?: string
  }

  /** A fresh browser context (no cookies); with `authenticator`, a DevTools virtual authenticator (ctap2, resident keys, UV). */
  async function open(opts: { authenticator?: boolean } = {}): Promise<Session> {
    const context = await browser.newContext()
    const page = await context.newPage()
    page.setDefaultTimeout(TIMEOUT)
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(String(e)))
    if (!opts.authenticator) return { context, page, errors }
    const cdp = await context.newCDPSession(page)
    await cdp.send('WebAuthn.enable')
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    })
    return { context, page, errors, cdp, authenticatorId }
  }

  /** Run a journey in a fresh context; page errors fail it and are named with any other failure. */
  async function journey(opts: { authenticator?: boolean }, body: (s: Session) => Promise<void>) {
    const s = await open(opts)
    try {
      await body(s)
      expect(s.errors).toEqual([])
    } catch (e) {
      throw new Error(`${e instanceof Error ? (e.stack ?? e.message) : e}\npage errors: ${s.errors.join('\n')}`)
    } finally {
      await s.context.close()
    }
  }

  const text = (page: Page) => page.locator('#root').innerText()
  const seeText = (page: Page, t: string) => page.getByText(t, { exact: false }).first().waitFor()

  /** The home page (whoami, rendered by the test page): who, the assurance level, the methods used. */
  async function home(page: Page) {
    await page.waitForURL(`${stack.page}/`)
    await page.locator('#who').waitFor()
    const shown = async (id: string) => ((await page.locator(id).count()) ? page.locator(id).innerText() : '')
    return { who: await shown('#who'), aal: await shown('#aal'), methods: await shown('#methods') }
  }

  /**
   * Press a button of Elements' settings: Tessera answers Elements' submit with the flow saved (Kratos' 1050001),
   * and Elements shows it (a toast; an earlier one may still be showing, so Tessera's answer is what is waited for).
   */
  async function saveSettings(page: Page, button: string) {
    const answer = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().startsWith(`${stack.api}/self-service/settings?flow=`))
    await page.locator(button).click()
    const r = await answer
    const flow = (await r.json()) as any
    expect(r.status()).toBe(200)
    expect(flow.state).toBe('success')
    expect(flow.ui.messages.map((m: { id: number }) => m.id)).toEqual([1050001])
    await seeText(page, 'Your changes have been saved!')
  }

  const whoami = async (page: Page) => {
    const r = await page.context().request.get(`${stack.api}/sessions/whoami`)
    return { status: r.status(), body: (await r.json()) as any }
  }

  /** An identity made through the admin API (Kratos' import shape), with a password and any other credentials. */
  async function person(email: string, credentials: Record<string, unknown> = {}) {
    const created = await stack.admin('POST', '/admin/identities', { schema_id: 'default', traits: { email }, credentials: { password: { config: { password: PASSWORD } }, ...credentials } })
    expect(created.id).toBeString()
    return created.id as string
  }

  /** Elements' login form, the password method. */
  async function passwordLogin(page: Page, email: string, password = PASSWORD, path = '/login') {
    await page.goto(`${stack.page}${path}`)
    await page.locator('input[name="identifier"]').fill(email)
    await page.locator('input[name="password"]').fill(password)
    await page.locator('button[type="submit"][value="password"]').click()
  }

  it('registers, verifies the address with the code from the mail, and continues home', async () => {
    await journey({}, async ({ page }) => {
      const email = 'verify@example.com'
      await page.goto(`${stack.page}/registration`)
      await page.locator('input[name="traits.email"]').fill(email)
      await page.locator('input[name="password"]').fill(PASSWORD)
      await page.locator('button[type="submit"][value="password"]').click()
      // continue_with show_verification_ui: Elements' Verification asks for the code that was mailed
      await page.waitForURL(/\/verification\?flow=/)
      await seeText(page, 'An email containing a verification code has been sent')
      const mail = await stack.message(email, 'verification_code_valid')
      expect(mail.subject).toBe('Please verify your email address')
      const code = codeIn(mail.body)
      expect(code).toMatch(/^\d{6}$/)
      // a wrong code is refused in the form (4070006), the right one verifies
      await page.locator('input[name="code"]').fill(code === '000000' ? '111111' : '000000')
      await page.locator('button[type="submit"][value="code"]').click()
      await seeText(page, 'The verification code is invalid or has already been used')
      await page.locator('input[name="code"]').fill(code)
      await page.locator('button[type="submit"][value="code"]').click()
      await seeText(page, 'You successfully verified your email address.')
      const id = (await stack.identityByEmail(email)).id
      const stored = await stack.admin('GET', `/admin/identities/${id}`)
      expect(stored.verifiable_addresses[0]).toMatchObject({ value: email, verified: true, status: 'completed' })
      // the registration signed the browser in; Elements' Continue goes home
      await page.getByText('Continue').click()
      expect((await home(page)).who).toBe(email)
    })
  }, 60_000)

  it("fails a login with Kratos' 4000006 in the form, logs in, and follows return_to", async () => {
    await journey({}, async ({ page, context }) => {
      const email = 'login@example.com'
      await person(email)
      await page.goto(`${stack.page}/login`)
      // the identifier is labelled from the identity schema's title
      await seeText(page, 'E-Mail')
      await passwordLogin(page, email, 'wrong password here')
      await seeText(page, 'The provided credentials are invalid')
      expect(new URL(page.url()).pathname).toBe('/login')
      await page.locator('input[name="password"]').fill(PASSWORD)
      await page.locator('button[type="submit"][value="password"]').click()
      expect(await home(page)).toMatchObject({ who: email, aal: 'aal1', methods: 'password' })
      // return_to survives the flow: Elements follows continue_with to it
      await context.clearCookies()
      await passwordLogin(page, email, PASSWORD, `/login?return_to=${encodeURIComponent(`${stack.page}/next`)}`)
      await page.waitForURL(`${stack.page}/next`)
      expect(await page.locator('#who').innerText()).toBe(email)
    })
  }, 60_000)

  it('logs in by a code sent by mail (passwordless)', async () => {
    await journey({}, async ({ page }) => {
      const email = 'code@example.com'
      await person(email)
      await page.goto(`${stack.page}/login`)
      await page.locator('input[name="identifier"]').fill(email)
      await page.locator('button[type="submit"][value="code"]').click()
      await seeText(page, 'A code was sent to the address you provided')
      // the flow says the code method is active: reloaded, Elements shows the code step again, not every method
      await page.reload()
      await page.locator('input[name="code"]').waitFor()
      expect(await page.locator('input[name="password"]').count()).toBe(0)
      const mail = await stack.message(email, 'login_code_valid')
      const code = codeIn(mail.body)
      await page.locator('input[name="code"]').fill(code === '000000' ? '111111' : '000000')
      await page.locator('button[type="submit"][value="code"]').click()
      await seeText(page, 'The login code is invalid or has already been used')
      await page.locator('input[name="code"]').fill(code)
      await page.locator('button[type="submit"][value="code"]').click()
      expect(await home(page)).toMatchObject({ who: email, aal: 'aal1', methods: 'code' })
    })
  }, 60_000)

  it('recovers an account by the code in the mail, lands in settings and sets a new password there', async () => {
    await journey({}, async ({ page, context }) => {
      const email = 'recover@example.com'
      const id = await person(email)
      await page.goto(`${stack.page}/recovery`)
      await page.locator('input[name="email"]').fill(email)
      await page.locator('button[type="submit"][value="code"]').click()
      await seeText(page, 'An email containing a recovery code has been sent')
      const mail = await stack.message(email, 'recovery_code_valid')
      await page.locator('input[name="code"]').fill(codeIn(mail.body))
      await page.locator('button[type="submit"][value="code"]').click()
      // continue_with show_settings_ui: Elements' Settings, with Kratos' message
      await page.waitForURL(/\/settings\?flow=/)
      await seeText(page, 'You successfully recovered your account')
      expect((await whoami(page)).body.authentication_methods.map((m: any) => m.method)).toEqual(['code_recovery'])
      await page.locator('input[name="password"]').fill('a new password for recovery')
      await saveSettings(page, 'button[type="submit"][value="password"]')
      // the new password logs in, the old one no more
      await context.clearCookies()
      await passwordLogin(page, email)
      await seeText(page, 'The provided credentials are invalid')
      await page.locator('input[name="password"]').fill('a new password for recovery')
      await page.locator('button[type="submit"][value="password"]').click()
      expect((await home(page)).who).toBe(email)
      expect((await whoami(page)).body.identity.id).toBe(id)
    })
  }, 60_000)

  it('settings: profile, password, TOTP enrolment, the aal2 step-up, lookup secrets, a security key, TOTP unlinked; logout from the user menu; the new password and a shown code log in', async () => {
    await journey({ authenticator: true }, async ({ page, cdp, authenticatorId }) => {
      const email = 'settings@example.com'
      const id = await person(email)
      await passwordLogin(page, email)
      await home(page)
      await page.goto(`${stack.page}/settings`)

      // profile: a trait
      await page.locator('input[name="traits.name.first"]').fill('Ada')
      await saveSettings(page, 'button[type="submit"][value="profile"]')
      expect((await stack.admin('GET', `/admin/identities/${id}`)).traits).toEqual({ email, name: { first: 'Ada' } })

      // password
      await page.locator('input[name="password"]').fill('another good password')
      await saveSettings(page, 'button[type="submit"][value="password"]')

      // TOTP: the secret Elements shows enrols an authenticator app. Tessera accepts a step once and ±1 step, so
      // the step-up below types the code of the step after this one (no waiting for the clock)
      const secret = await page.locator('input[name="totp_secret_key"]').inputValue()
      expect(secret).toMatch(/^[A-Z2-7]{32}$/)
      const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret) })
      const enrolledAt = Date.now()
      await page.locator('input[name="totp_code"]').fill(totp.generate({ timestamp: enrolledAt }))
      await saveSettings(page, 'button[type="submit"][value="totp"]')
      await seeText(page, 'You currently have an authenticator app connected.')
      await page.locator('button[name="totp_unlink"]').waitFor()
      expect(Object.keys((await stack.identityByEmail(email)).credentials).sort()).toEqual(['password', 'totp'])

      // the identity has a second factor now and the session is aal1: settings asks for the step-up
      // (Kratos' required_aal highest_available), Elements follows it to the aal2 login
      await page.locator('button[name="lookup_secret_regenerate"]').click()
      await page.waitForURL(/\/login\?flow=/)
      await seeText(page, 'Second factor authentication')
      await page.locator('input[name="totp_code"]').fill(totp.generate({ timestamp: enrolledAt + 30_000 }))
      await page.locator('button[type="submit"][value="totp"]').click()
      expect(await home(page)).toMatchObject({ aal: 'aal2', methods: 'password,totp' })

      // lookup secrets: generate, read, confirm
      await page.goto(`${stack.page}/settings`)
      await page.locator('button[name="lookup_secret_regenerate"]').click()
      const shown = page.locator('[data-testid="ory/screen/settings/group/recovery_code/codes"]')
      await shown.waitFor()
      const codes = (await shown.innerText()).split(/\s+/).filter(Boolean)
      expect(codes).toHaveLength(12)
      await saveSettings(page, 'button[name="lookup_secret_confirm"]')
      expect(Object.keys((await stack.identityByEmail(email)).credentials).sort()).toEqual(['lookup_secret', 'password', 'totp'])

      // a security key (WebAuthn, a second factor here): Tessera's webauthn.js runs the ceremony and posts the form
      await page.waitForFunction(() => typeof (window as any).oryWebAuthnRegistration === 'function')
      await page.locator('input[name="webauthn_register_displayname"]').fill('Desk key')
      await page.locator('button[name="webauthn_register_trigger"]').click()
      await page.locator('button[name="webauthn_remove"]').waitFor()
      await seeText(page, 'Desk key')
      const { credentials } = await cdp!.send('WebAuthn.getCredentials', { authenticatorId: authenticatorId! })
      expect(credentials).toHaveLength(1)
      const stored = (await stack.identityByEmail(email)).credentials
      expect(stored.webauthn.identifiers).toHaveLength(1)

      // unlink the authenticator app: the enrolment form is offered again
      await saveSettings(page, 'button[name="totp_unlink"]')
      await page.locator('input[name="totp_code"]').waitFor()
      expect(Object.keys((await stack.identityByEmail(email)).credentials).sort()).toEqual(['lookup_secret', 'password', 'webauthn'])

      // logout from Elements' user menu: Tessera's logout URL ends the session and sends the browser home
      await page.getByTitle('User Menu').click()
      await page.getByRole('menuitem', { name: 'Logout' }).click()
      expect((await home(page)).who).toBe('anonymous')
      expect(await stack.admin('GET', `/admin/identities/${id}/sessions?active=true`)).toEqual([])

      // the changed password and one of the codes Elements showed sign in at aal2
      await passwordLogin(page, email, 'another good password')
      await seeText(page, 'Choose a way to complete your second factor authentication')
      await page.getByText('Backup recovery code').first().click()
      await page.locator('input[name="lookup_secret"]').fill(codes[3]!)
      await page.locator('button[type="submit"][value="lookup_secret"]').click()
      expect(await home(page)).toMatchObject({ who: email, aal: 'aal2', methods: 'password,lookup_secret' })
    })
  }, 90_000)

  it('logs in with a second factor: TOTP, then a lookup secret, which is refused when used again', async () => {
    await journey({}, async ({ page }) => {
      const email = 'mfa@example.com'
      const secret = new OTPAuth.Secret({ size: 20 })
      const totp = new OTPAuth.TOTP({ issuer: 'Tessera', label: email, secret })
      await person(email, { totp: { config: { totp_url: totp.toString() } }, lookup_secret: { config: { lookup_secrets: [{ code: 'abcdefghijkl' }, { code: 'mnopqrstuvwx' }] } } })
      const toSecondFactor = async () => {
        await passwordLogin(page, email)
        await page.waitForURL(/\/login\?flow=/)
        await seeText(page, 'Choose a way to complete your second factor authentication')
      }
      await toSecondFactor()
      expect(await text(page)).toContain('Use your Authenticator App (TOTP)')
      await page.getByText('Use your Authenticator App (TOTP)').click()
      await page.locator('input[name="totp_code"]').fill(totp.generate())
      await page.locator('button[type="submit"][value="totp"]').click()
      expect(await home(page)).toMatchObject({ who: email, aal: 'aal2', methods: 'password,totp' })
      // log out with the logout URL Tessera gave (the home page's link)
      await page.locator('#logout').click()
      expect((await home(page)).who).toBe('anonymous')

      await toSecondFactor()
      await page.getByText('Backup recovery code').first().click()
      await page.locator('input[name="lookup_secret"]').fill('abcdefghijkl')
      await page.locator('button[type="submit"][value="lookup_secret"]').click()
      expect(await home(page)).toMatchObject({ aal: 'aal2', methods: 'password,lookup_secret' })
      await page.locator('#logout').click()
      expect((await home(page)).who).toBe('anonymous')

      await toSecondFactor()
      await page.getByText('Backup recovery code').first().click()
      await page.locator('input[name="lookup_secret"]').fill('abcdefghijkl')
      await page.locator('button[type="submit"][value="lookup_secret"]').click()
      await seeText(page, 'This backup recovery code has already been used.')
      // the session stays at aal1, which whoami does not accept for an identity with a second factor (Kratos)
      const me = await whoami(page)
      expect(me.status).toBe(403)
      expect(me.body.error.id).toBe('session_aal2_required')
    })
  }, 60_000)

  it('adds a passkey in settings and signs in with it without typing an identifier: by the autofill, and by the button', async () => {
    await journey({ authenticator: true }, async ({ page, cdp, authenticatorId }) => {
      const email = 'passkey@example.com'
      const id = await person(email)
      await passwordLogin(page, email)
      await home(page)
      // a settings page loaded for the purpose: Elements 1.2.1 keeps each settings section's hidden values from when
      // the page rendered, and a passkey challenge is renewed by every saved change (as in Kratos)
      await page.goto(`${stack.page}/settings`)
      await page.waitForFunction(() => typeof (window as any).oryPasskeySettingsRegistration === 'function')
      await page.locator('button[name="passkey_register_trigger"]').click()
      await page.locator('button[name="passkey_remove"]').waitFor()
      await seeText(page, email)
      const { credentials } = await cdp!.send('WebAuthn.getCredentials', { authenticatorId: authenticatorId! })
      expect(credentials).toHaveLength(1)
      expect(credentials[0]!.isResidentCredential).toBe(true)
      expect((await stack.identityByEmail(email)).credentials.passkey.identifiers).toHaveLength(1)

      await page.goto(`${stack.page}/`)
      await page.locator('#logout').click()
      expect((await home(page)).who).toBe('anonymous')
      // the passkey autofill (conditional mediation): Elements asks for a discoverable credential as soon as the login
      // page loads, without a button; the virtual authenticator (user present and verified) answers it, as a
      // browser does when the user picks the passkey from the identifier field's autofill
      const asked: string[] = []
      await page.exposeFunction('__noteCredentialGet', (mediation: string) => asked.push(mediation))
      await page.addInitScript(() => {
        const get = navigator.credentials.get.bind(navigator.credentials)
        navigator.credentials.get = (o?: CredentialRequestOptions) => {
          ;(window as any).__noteCredentialGet(o?.mediation ?? 'modal')
          return get(o)
        }
      })
      await page.goto(`${stack.page}/login`)
      expect(await home(page)).toMatchObject({ who: email, methods: 'passkey' })
      expect(asked).toEqual(['conditional']) // nothing but the autofill asked the authenticator
      await page.locator('#logout').click()
      expect((await home(page)).who).toBe('anonymous')
      // Elements starts the passkey autofill (conditional mediation, Tessera's onloadTrigger) as soon as the script
      // is there (it retries every 100 ms); the virtual authenticator would answer it at once, racing the button.
      // This reader ignores the autofill (its request waits until aborted) and presses the button.
      await page.addInitScript(() => {
        const w = window as any
        w.__credentialGets = []
        const get = navigator.credentials.get.bind(navigator.credentials)
        navigator.credentials.get = (o?: CredentialRequestOptions) => {
          w.__credentialGets.push(o?.mediation ?? 'modal')
          if (o?.mediation !== 'conditional') return get(o)
          return new Promise((_, reject) => o.signal?.addEventListener('abort', () => reject(new DOMException('The autofill was aborted', 'AbortError'))))
        }
      })
      await page.goto(`${stack.page}/login`)
      await page.waitForFunction(() => (window as any).__credentialGets.includes('conditional'))
      // Elements' "Sign in with passkey": it aborts the autofill and asks the authenticator itself
      await page.locator('button[name="passkey_login_trigger"]').click()
      expect(await home(page)).toMatchObject({ who: email, methods: 'passkey' })
      expect((await whoami(page)).body.identity.id).toBe(id)
    })
  }, 60_000)

  it("shows a self-service error in Elements' Error component, read from /self-service/errors", async () => {
    await journey({}, async ({ page }) => {
      // a return_to that is not allowed: Kratos stores the error and sends the browser to the error UI
      await page.goto(`${stack.api}/self-service/login/browser?return_to=${encodeURIComponent('https://evil.example/')}`)
      await page.waitForURL(/\/error\?id=/)
      const id = new URL(page.url()).searchParams.get('id')!
      await seeText(page, 'What happened?')
      expect(await page.locator('[data-testid="ory/screen/error/message"]').innerText()).toBe('Requested return_to URL "https://evil.example/" is not allowed.')
      const r = await page.context().request.get(`${stack.api}/self-service/errors?id=${id}`)
      expect(r.status()).toBe(200)
      const body = (await r.json()) as any
      expect(body).toMatchObject({ id, error: { code: 400, id: 'self_service_flow_return_to_forbidden' } })
      // "Go back" is the project's default URL
      await page.getByText('Go back').click()
      expect((await home(page)).who).toBe('anonymous')
    })
  }, 60_000)
})

/**
 * The OAuth2 journeys through the ui plugin's pages, in real headless Chromium against a real `tessera serve`
 * (identity, password, oauth2, ui), with `openid-client` (v6) as the relying party, in each of en, de, ru and zh:
 * en and ru by the browser's locale (Accept-Language), de and zh by the language link in the page's footer
 * (`?lang=`, then the cookie). Per language:
 *
 *  - code + PKCE: discovery, buildAuthorizationUrl (PKCE, state, nonce); the browser signs in on the ui's login
 *    page and allows on its consent page (client name, logo, scopes in plain words, "remember"); the redirect to
 *    the client's callback is intercepted; authorizationCodeGrant checks the ID token, fetchUserInfo works. A second
 *    authorization skips the remembered consent; one with prompt=consent is denied (access_denied).
 *  - RP-initiated logout: buildEndSessionUrl with id_token_hint and a registered post_logout_redirect_uri; the
 *    ui's confirmation page; yes ends the session and goes to the post_logout_redirect_uri.
 *  - an unknown client_id, an unregistered redirect_uri, a post_logout_redirect_uri without an id_token_hint: an
 *    error page, never a redirect.
 *  - the device flow: initiateDeviceAuthorization; a wrong user code first (the error is announced), then the
 *    right one, sign-in, consent, the "connected" page; pollDeviceAuthorizationGrant gets the tokens. A second
 *    device request, opened at verification_uri_complete (the code filled in), is denied: the denied page, and
 *    access_denied for the device.
 *
 * Every page: watchedPage().check (ui-checks.ts): axe-core without serious or critical violations, at most 60 kB
 * on the wire, no request leaving the origin (but the intercepted client callback), `<html lang>`, a screenshot in
 * .tmp/artifacts/ui/. Without Chromium the suite says it was skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { existsSync, mkdirSync } from 'node:fs'
import * as client from 'openid-client'
import { type Browser, type Page, chromium } from 'playwright-core'
import { catalogues } from '../../i18n/index.ts'
import { type Language, translator } from '../../plugins/ui/index.ts'
import { quickstartSchema } from '../helpers/identity.ts'
import { type UiServer, startUiServer } from './ui-server.ts'
import { ARTIFACTS, watchedPage } from './ui-checks.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const available = existsSync(CHROMIUM)
if (!available) console.warn(`[skipped] ui oauth2 journeys in the browser: no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`)

const PASSWORD = 'correct horse battery staple'
/** The relying party's origin: never reached, every request to it is intercepted in the browser. */
const APP = 'https://notes.example.com'
const CALLBACK = `${APP}/callback`
const AFTER_LOGOUT = `${APP}/logged-out`
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'
/** A client logo the page may show: a data: URL (a logo at another origin would be a request leaving it). */
const LOGO = `data:image/svg+xml,${encodeURIComponent('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48"><rect width="48" height="48" rx="10" fill="#0a7"/><path d="M14 34V14l20 20V14" stroke="#fff" stroke-width="4" fill="none"/></svg>')}`

interface Lang {
  lang: Language
  /** `<html lang>` of its pages. */
  html: string
  /** How the browser gets it: its locale (Accept-Language), or the footer's language link (`?lang=`, then the cookie). */
  by: 'locale' | 'link'
  locale: string
}
const LANGS: Lang[] = [
  { lang: 'en', html: 'en', by: 'locale', locale: 'en-US' },
  { lang: 'de', html: 'de', by: 'link', locale: 'en-US' },
  { lang: 'ru', html: 'ru', by: 'locale', locale: 'ru-RU' },
  { lang: 'zh', html: 'zh-Hans', by: 'link', locale: 'en-US' },
]

type MessageKey = Parameters<ReturnType<typeof translator>['t']>[0]
/** The text of `key` in `lang` as the catalogue has it (and it must have it: no fallback to English). */
function say(lang: Language, key: MessageKey, vars?: Record<string, unknown>): string {
  expect((catalogues[lang].ui as Record<string, string | undefined>)[key], `${lang} has ${key}`).toBeString()
  return translator(lang).t(key, vars)
}

describe.skipIf(!available)('the ui\'s oauth2 pages in headless Chromium, openid-client as the relying party', () => {
  let server: UiServer['server']
  let browser: Browser
  let scratch: UiServer['scratch']
  let api = ''
  /** The web app with a logo (en, de) and the one whose logo lives at another origin (ru, zh). */
  let apps: { name: string; logo: boolean; config: client.Configuration }[] = []
  let tv: client.Configuration

  const admin = async (path: string, body: unknown) => {
    const res = await fetch(`${server.adminUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    expect(res.status).toBe(201)
    return (await res.json()) as Record<string, any>
  }
  const discover = (id: string, auth: client.ClientAuth) => client.discovery(new URL(api), id, undefined, auth, { execute: [client.allowInsecureRequests] })

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true })
    let started: UiServer
    ;[started, browser] = await Promise.all([
      startUiServer('ui-oauth2', {
        host: '127.0.0.1',
        bind: '127.0.0.1',
        plugins: () => [
          { use: 'identity', options: { schemas: [{ id: 'default', schema: quickstartSchema }], flowRateLimit: { enabled: false } } },
          { use: 'password', options: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } } },
          // a device that polls every second, so the device journey does not wait five
          // (and enters more user codes a minute than a person would, from one address: 127.0.0.1)
          { use: 'oauth2', options: { rateLimit: { enabled: false }, device: { intervalSeconds: 1, attemptsPerMinute: 600, attemptsBurst: 100 } } },
          { use: 'ui' },
        ],
      }),
      chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] }),
    ])
    ;({ server, scratch, api } = started)
    const web = { grant_types: ['authorization_code'], response_types: ['code'], scope: 'openid profile email', redirect_uris: [CALLBACK], post_logout_redirect_uris: [AFTER_LOGOUT] }
    const notes = await admin('/admin/clients', { ...web, client_name: 'Acme Notes', logo_uri: LOGO })
    const globex = await admin('/admin/clients', { ...web, client_name: 'Globex Mail', logo_uri: 'https://cdn.globex.example/logo.png' })
    apps = [
      { name: 'Acme Notes', logo: true, config: await discover(notes.client_id, client.ClientSecretBasic(notes.client_secret)) },
      { name: 'Globex Mail', logo: false, config: await discover(globex.client_id, client.ClientSecretBasic(globex.client_secret)) },
    ]
    const device = await admin('/admin/clients', { client_name: 'Living-room TV', grant_types: [DEVICE_GRANT], response_types: [], scope: 'openid email', token_endpoint_auth_method: 'none' })
    tv = await discover(device.client_id, client.None())
    for (const l of LANGS) {
      await admin('/admin/identities', { schema_id: 'default', traits: { email: `oauth-${l.lang}@example.com` }, credentials: { password: { config: { password: PASSWORD } } } })
      await admin('/admin/identities', { schema_id: 'default', traits: { email: `device-${l.lang}@example.com` }, credentials: { password: { config: { password: PASSWORD } } } })
    }
  }, 90_000)

  afterAll(async () => {
    await browser?.close()
    await server?.stop()
    scratch?.remove()
  })

  /**
   * A watched browser context in `l`'s language (see ui-checks.ts), whose requests to the client's origin are
   * answered in the browser (`leave`).
   */
  async function open(l: Lang, journey: string) {
    const w = await watchedPage(browser, { origin: api, locale: l.locale, lang: l.html, prefix: `oauth2-${l.lang}-${journey}`, sizeAt: 'check' })
    const landed: string[] = []
    await w.page.route(`${APP}/**`, (route) => {
      landed.push(route.request().url())
      return route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><html lang="en"><title>Acme</title><p id="app">back at the app</p></html>' })
    })
    /** Do `act`, which ends at the app (`to`): where the browser landed there. Nothing else left the origin. */
    const leave = async (to: string, act: () => Promise<unknown>) => {
      const n = landed.length
      w.reset()
      await act()
      await w.page.waitForURL((u) => landed.length > n && u.href === landed.at(-1))
      expect(landed.at(-1)!.startsWith(to)).toBe(true)
      expect([...new Set(w.foreign)].filter((u) => !u.startsWith(`${APP}/`))).toEqual([])
      w.foreign.splice(0)
      return new URL(landed.at(-1)!)
    }
    /** De and zh: the reader picks the language in the footer (`?lang=`); the choice is kept in a cookie. */
    const pickLanguage = async () => {
      if (l.by !== 'link') return
      await w.page.locator(`footer a[lang="${l.html}"]`).click()
      await w.page.waitForURL(/[?&]lang=/)
    }
    const t = (key: MessageKey, vars?: Record<string, unknown>) => say(l.lang, key, vars)
    return { ...w, leave, pickLanguage, t }
  }

  async function signIn(page: Page, reset: () => void, email: string) {
    await page.locator('#form-password input[name="identifier"]').fill(email)
    await page.locator('#form-password input[name="password"]').fill(PASSWORD)
    reset()
    await page.locator('#form-password button[type=submit]').click()
  }

  const text = (page: Page, selector: string) => page.locator(selector).innerText()

  /** The header of someone signed in: a sign-out link, no sign-in or sign-up links. */
  async function expectSignedInHeader(page: Page) {
    expect(await page.locator('header #logout').count()).toBe(1)
    expect(await page.locator('header a[href$="/ui/login"], header a[href$="/ui/registration"]').count()).toBe(0)
  }

  for (const [i, l] of LANGS.entries()) {
    // a language's code and device journeys run side by side (each in its own browser context, as its own user);
    // the error pages after them, and the languages one after another
    it.concurrent(`code + PKCE with openid-client: sign in, consent, remembered consent, a denial, RP-initiated logout (${l.lang})`, async () => {
      const app = apps[i < 2 ? 0 : 1]!
      const email = `oauth-${l.lang}@example.com`
      const w = await open(l, 'code')
      const { page, check, reset, t } = w
      try {
        const verifier = client.randomPKCECodeVerifier()
        const nonce = client.randomNonce()
        const state = client.randomState()
        const scope = 'openid profile email'
        const authUrl = client.buildAuthorizationUrl(app.config, { redirect_uri: CALLBACK, scope, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', nonce, state })
        await w.visit(authUrl.href)
        await page.waitForURL(/\/ui\/login\?flow=/)
        await w.pickLanguage()
        await check('login')
        expect(await text(page, 'h1')).toBe(t('title.login'))
        await signIn(page, reset, email)
        await page.waitForURL(/\/oauth2\/consent\?/)
        await check('consent')
        expect(await text(page, 'h1')).toBe(t('title.consent'))
        expect(await text(page, '#client')).toBe(t('consent.asks', { client: app.name }))
        // whose account it is, and a header for someone signed in
        expect(await text(page, '#account')).toBe(t('consent.signedInAs', { name: email }))
        await expectSignedInHeader(page)
        // the logo: shown when the page can show it without leaving the origin, else the name's initial
        if (app.logo) expect(await page.locator('main img').getAttribute('src')).toBe(LOGO)
        else {
          expect(await page.locator('main img').count()).toBe(0)
          expect(await text(page, '.logo-fallback')).toBe(app.name.slice(0, 1))
        }
        // the scopes, each in plain words in this language
        expect(await page.locator('#scopes li').evaluateAll((els) => els.map((e) => [e.getAttribute('data-scope'), (e as HTMLElement).innerText]))).toEqual(
          ['openid', 'profile', 'email'].map((s) => [s, t(`scope.${s}` as MessageKey)]),
        )
        const remember = page.getByLabel(t('consent.remember'))
        expect(await remember.isChecked()).toBe(false)
        await remember.check()
        const back = await w.leave(CALLBACK, () => page.getByRole('button', { name: t('consent.allow') }).click())
        // openid-client checks state, iss (RFC 9207), the PKCE verifier, and the ID token (signature, iss, aud, nonce, exp)
        const tokens = await client.authorizationCodeGrant(app.config, back, { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state, idTokenExpected: true })
        const claims = tokens.claims()!
        expect(claims.nonce).toBe(nonce)
        const info = await client.fetchUserInfo(app.config, tokens.access_token, claims.sub)
        expect(info.email).toBe(email)

        // again: the consent was remembered, the browser goes straight back to the app
        const v2 = client.randomPKCECodeVerifier()
        const s2 = client.randomState()
        const seen: string[] = []
        const onNav = (f: { url(): string }) => seen.push(f.url())
        page.on('framenavigated', onNav)
        const url2 = client.buildAuthorizationUrl(app.config, { redirect_uri: CALLBACK, scope, code_challenge: await client.calculatePKCECodeChallenge(v2), code_challenge_method: 'S256', state: s2 })
        // (Playwright answers a routed redirect target by starting the navigation anew, so `goto` reports the first
        // navigation as failed: where the browser lands is what counts)
        const again = await w.leave(CALLBACK, () => page.goto(url2.href).catch(() => null))
        page.off('framenavigated', onNav)
        expect(seen.filter((u) => u.startsWith(api))).toEqual([])
        const second = await client.authorizationCodeGrant(app.config, again, { pkceCodeVerifier: v2, expectedState: s2, idTokenExpected: true })
        expect(second.claims()!.sub).toBe(claims.sub)

        // prompt=consent asks again; denying sends the app access_denied
        const s3 = client.randomState()
        await w.visit(client.buildAuthorizationUrl(app.config, { redirect_uri: CALLBACK, scope, code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256', state: s3, prompt: 'consent' }).href)
        await page.waitForURL(/\/oauth2\/consent\?/) // the page checked above
        expect(await text(page, 'h1')).toBe(t('title.consent'))
        const denied = await w.leave(CALLBACK, () => page.getByRole('button', { name: t('consent.deny') }).click())
        const refused = await client.authorizationCodeGrant(app.config, denied, { pkceCodeVerifier: client.randomPKCECodeVerifier(), expectedState: s3 }).catch((e) => e)
        expect(refused).toBeInstanceOf(client.AuthorizationResponseError)
        expect(refused.error).toBe('access_denied')

        // RP-initiated logout: the ui asks in this language; yes ends the session and goes to the app
        const bye = client.randomState()
        await w.visit(client.buildEndSessionUrl(app.config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: AFTER_LOGOUT, state: bye }).href)
        await check('logout')
        expect(await text(page, 'h1')).toBe(t('title.logout'))
        expect(await text(page, '#question')).toBe(t('logout.confirm', { client: app.name }))
        await expectSignedInHeader(page)
        expect((await w.context.request.get(`${api}/sessions/whoami`)).status()).toBe(200)
        const after = await w.leave(AFTER_LOGOUT, () => page.getByRole('button', { name: t('logout.yes') }).click())
        expect(after.searchParams.get('state')).toBe(bye)
        expect((await w.context.request.get(`${api}/sessions/whoami`)).status()).toBe(401)
        // the tokens of the ended session are revoked with it: userinfo refuses them
        expect(await client.fetchUserInfo(app.config, second.access_token, claims.sub).catch((e) => e)).toBeInstanceOf(Error)
      } finally {
        await w.context.close()
      }
    }, 90_000)

    it.concurrent(`the device flow with openid-client: a wrong code, then the right one, sign-in, consent; a denied device (${l.lang})`, async () => {
      const email = `device-${l.lang}@example.com`
      const w = await open(l, 'device')
      const { page, check, reset, t } = w
      const stop = new AbortController()
      try {
        const auth = await client.initiateDeviceAuthorization(tv, { scope: 'openid email' })
        expect(auth.verification_uri).toBe(`${api}/oauth2/device/verify`)
        // the device polls from the start: authorization_pending until the user is done
        const polled = client.pollDeviceAuthorizationGrant(tv, auth, undefined, { signal: stop.signal }).then((x) => x, (e) => e as Error)

        await w.visit(auth.verification_uri)
        await w.pickLanguage()
        await check('enter')
        expect(await text(page, 'h1')).toBe(t('title.device'))
        const code = page.getByLabel(t('device.code'))
        await code.fill('BBBB-BBBB')
        reset()
        await page.getByRole('button', { name: t('device.submit') }).click()
        await page.locator('#error').waitFor()
        await check('wrong-code')
        // the error is announced (role=alert), in this language, and tied to the field
        expect(await page.locator('[role=alert]').innerText()).toBe(t('device.invalid'))
        expect(await code.getAttribute('aria-invalid')).toBe('true')
        expect(await code.getAttribute('aria-describedby')).toBe('error')
        // what was typed stays, to be corrected
        expect(await code.inputValue()).toBe('BBBB-BBBB')
        await code.fill(auth.user_code)
        reset()
        await page.getByRole('button', { name: t('device.submit') }).click()
        await page.waitForURL(/\/ui\/login\?flow=/)
        await check('login')
        await signIn(page, reset, email)
        await page.waitForURL(/\/oauth2\/consent\?/)
        await check('consent')
        expect(await text(page, '#client')).toBe(t('consent.asks', { client: 'Living-room TV' }))
        reset()
        await page.getByRole('button', { name: t('consent.allow') }).click()
        await page.waitForURL(/\/oauth2\/fallbacks\/device\/done/)
        await check('done')
        expect(await text(page, '#done')).toBe(t('device.done'))
        const tokens = await polled
        if (tokens instanceof Error) throw tokens
        expect(tokens.claims()!.sub).toBeString()
        expect((await client.fetchUserInfo(tv, tokens.access_token, tokens.claims()!.sub)).email).toBe(email)

        // a second device, opened at verification_uri_complete (the code is filled in), is denied
        const next = await client.initiateDeviceAuthorization(tv, { scope: 'openid email' })
        await w.visit(next.verification_uri_complete!)
        await check('enter-complete')
        expect(await code.inputValue()).toBe(next.user_code)
        reset()
        await page.getByRole('button', { name: t('device.submit') }).click()
        await page.waitForURL(/\/oauth2\/consent\?/) // signed in already: straight to consent (the page checked above)
        reset()
        await page.getByRole('button', { name: t('consent.deny') }).click()
        await page.locator('#denied').waitFor()
        await check('denied')
        expect(await text(page, 'h1')).toBe(t('title.device'))
        expect(await text(page, '#denied')).toBe(t('device.denied'))
        await expectSignedInHeader(page)
        // the page answered a form post: its language links go to the code page, not back to the post's address
        expect(await page.locator('footer a').evaluateAll((as) => as.map((a) => new URL((a as HTMLAnchorElement).href).pathname))).toEqual(Array(4).fill('/oauth2/device/verify'))
        const refused = await client.pollDeviceAuthorizationGrant(tv, next, undefined, { signal: stop.signal }).catch((e) => e)
        expect(refused).toBeInstanceOf(client.ResponseBodyError)
        expect(refused.error).toBe('access_denied')
      } finally {
        stop.abort()
        await w.context.close()
      }
    }, 90_000)

    it(`an unknown client_id, an unregistered redirect_uri, an unvouched post_logout_redirect_uri: an error page in the reader's language, never a redirect (${l.lang})`, async () => {
      const app = apps[0]!
      const w = await open(l, 'error')
      const { page, check, t } = w
      try {
        const cases = [
          ['unknown-client', `${api}/oauth2/auth?${new URLSearchParams({ client_id: 'no-such-client', response_type: 'code', redirect_uri: CALLBACK, scope: 'openid', state: client.randomState() })}`, 'invalid_client'],
          ['unregistered-redirect', client.buildAuthorizationUrl(app.config, { redirect_uri: 'https://evil.example/callback', scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256', state: client.randomState() }).href, 'invalid_request'],
          // RP-initiated logout: a post_logout_redirect_uri without the id_token_hint that would vouch for it
          ['logout-unvouched-redirect', client.buildEndSessionUrl(app.config, { post_logout_redirect_uri: 'https://evil.example/bye' }).href, 'invalid_request'],
        ] as const
        for (const [name, url, error] of cases) {
          w.reset()
          const res = await page.goto(url)
          expect(res!.status()).toBe(400)
          if (name === 'unknown-client' && l.by === 'link') {
            // the reader picks the language on the error page itself
            await w.pickLanguage()
          }
          expect(new URL(page.url()).origin).toBe(api)
          await check(name)
          expect(await text(page, 'h1')).toBe(t('title.error'))
          expect(await text(page, '[role=alert]')).toBe(t('error.generic'))
          expect(await text(page, '#error-code')).toBe(error)
          expect(await page.locator('#error-description').getAttribute('lang')).toBe('en')
        }
      } finally {
        await w.context.close()
      }
    }, 60_000)
  }
})

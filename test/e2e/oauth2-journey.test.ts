/**
 * OpenID Connect in real headless Chromium (playwright-core, /usr/bin/chromium): an app sends the browser to
 * /oauth2/auth (code + PKCE), the identity plugin's login flow signs the user in, the oauth2 plugin's consent
 * page asks, the app exchanges the code for tokens and reads userinfo. Identity + password + oauth2 on a real
 * socket; without Chromium the suite says it was skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { existsSync } from 'node:fs'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { identity } from '../../plugins/identity/index.ts'
import { oauth2 } from '../../plugins/oauth2/index.ts'
import { password } from '../../plugins/password/index.ts'
import { bootApps, type TestApps } from '../helpers/app.ts'
import { quickstartSchema } from '../helpers/identity.ts'
import { uiServer } from './ui.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const available = existsSync(CHROMIUM)
if (!available) console.warn(`[skipped] oauth2 browser journey: no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`)

describe.skipIf(!available)('oauth2 browser journey (headless Chromium)', () => {
  let apps: TestApps
  let api: string
  let callback: string
  const servers: { stop(force?: boolean): void }[] = []

  beforeAll(async () => {
    let handle: (r: Request) => Response | Promise<Response> = () => new Response('starting', { status: 503 })
    const apiServer = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (r) => handle(r) })
    api = `http://127.0.0.1:${apiServer.port}`
    const ui = uiServer(api)
    const uiUrl = `http://127.0.0.1:${ui.port}`
    // the relying party's callback: shows what it got
    const app = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (r) => new Response(`<!doctype html><p id="code">${new URL(r.url).searchParams.get('code') ?? ''}</p><p id="state">${new URL(r.url).searchParams.get('state') ?? ''}</p>`, { headers: { 'content-type': 'text/html' } }) })
    callback = `http://127.0.0.1:${app.port}/callback`
    servers.push(apiServer, ui, app)
    apps = await bootApps(
      [
        identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: { uiUrl, defaultReturnUrl: `${uiUrl}/` } }),
        password({ hasher: { memoryCost: 64 }, breachCheck: { enabled: false } }),
        oauth2(),
      ],
      { config: { serve: { public: { baseUrl: api } } } as never },
    )
    handle = (r) => apps.public.handle(r)
  })
  afterAll(async () => {
    for (const s of servers) s.stop(true)
    await apps?.kernel.stop()
  })

  it('signs in through the identity login and the consent page, then gets tokens and userinfo (code + PKCE)', async () => {
    const admin = (path: string, body: unknown) => apps.admin.handle(new Request(`http://admin${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }))
    expect((await admin('/admin/identities', { schema_id: 'default', traits: { email: 'ada@example.com' }, credentials: { password: { config: { password: 'correct horse battery staple' } } } })).status).toBe(201)
    const client = (await (await admin('/admin/clients', { client_name: 'Demo app', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], scope: 'openid offline_access email', redirect_uris: [callback] })).json()) as { client_id: string; client_secret: string }

    const verifier = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
    const challenge = Buffer.from(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)))).toString('base64url')
    const auth = `${api}/oauth2/auth?${new URLSearchParams({ client_id: client.client_id, response_type: 'code', redirect_uri: callback, scope: 'openid offline_access email', state: 'state-1234567', nonce: 'nonce-1234567', code_challenge: challenge, code_challenge_method: 'S256' })}`

    const { chromium } = await import('playwright-core')
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
    let code: string
    try {
      const page = await browser.newPage()
      await page.goto(auth)
      await page.fill('input[name="identifier"]', 'ada@example.com')
      await page.fill('input[name="password"]', 'correct horse battery staple')
      await page.click('button[name="method"]')
      await page.waitForSelector('#accept')
      expect(await page.textContent('#client')).toBe('Demo app')
      await page.check('input[name="remember"]')
      await page.click('#accept')
      await page.waitForSelector('#code')
      code = (await page.textContent('#code'))!
      expect(await page.textContent('#state')).toBe('state-1234567')

      // a second authorization: the session and the remembered consent skip both pages
      await page.goto(auth.replace('state-1234567', 'state-again'))
      await page.waitForSelector('#code')
      expect(await page.textContent('#state')).toBe('state-again')
    } finally {
      await browser.close()
    }
    expect(code.startsWith('ory_ac_')).toBe(true)

    const tokenRes = await fetch(`${api}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: callback, code_verifier: verifier }),
    })
    expect(tokenRes.status).toBe(200)
    const tokens = (await tokenRes.json()) as { access_token: string; id_token: string; refresh_token: string }
    expect(tokens.refresh_token).toBeTruthy()
    const jwks = createLocalJWKSet((await (await fetch(`${api}/.well-known/jwks.json`)).json()) as never)
    const { payload } = await jwtVerify(tokens.id_token, jwks, { issuer: api, audience: client.client_id })
    expect(payload.nonce).toBe('nonce-1234567')
    expect(payload.acr).toBe('aal1')
    expect(payload.amr).toEqual(['password'])
    // the ID token stays narrow: the email is userinfo's
    expect(payload.email).toBeUndefined()
    const info = (await (await fetch(`${api}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).json()) as Record<string, unknown>
    expect(info.sub).toBe(payload.sub)
    expect(info.email).toBe('ada@example.com')
    expect(info.email_verified).toBe(false)
  }, 60_000)
})

/**
 * `openid-client` (v6, panva's certified relying party) against a real `tessera serve` (identity + password +
 * oauth2, a JSON config), the browser part in real headless Chromium (playwright-core): discovery, the code flow
 * with PKCE through the identity login and the consent page, ID token validation by openid-client, refresh
 * rotation, userinfo (GET and POST), introspection, revocation, client credentials and RP-initiated logout.
 * Hydra's SDK (`@ory/client-fetch`) creates the clients on the admin listener. Without Chromium the suite says
 * it was skipped. (The device flow has its own suite.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { existsSync } from 'node:fs'
import { Configuration as OryConfiguration, IdentityApi, OAuth2Api } from '@ory/client-fetch'
import * as client from 'openid-client'
import { type ScratchDatabase, drivers, scratchPostgres } from '../helpers/databases.ts'
import { quickstartSchema } from '../helpers/identity.ts'
import { CLI, SECRET, type ServerProcess, scratchDir, startServer } from '../helpers/process.ts'
import { uiServer } from './ui.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const available = existsSync(CHROMIUM)
if (!available) console.warn(`[skipped] openid-client relying party in a browser: no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`)

const EMAIL = 'rp@example.com'
const PASSWORD = 'correct horse battery staple'

for (const driver of drivers('oauth2-rp')) describe.skipIf(!available || !driver.enabled)(`openid-client as the relying party against tessera serve (headless Chromium, ${driver.name})`, () => {
  const scratch = scratchDir('oauth2-rp')
  let pg: ScratchDatabase | undefined
  const servers: { stop(force?: boolean): void }[] = []
  let server: ServerProcess
  let issuer: string
  let callback: string
  let oauth2: OAuth2Api

  beforeAll(async () => {
    // the public port is chosen first: the UI and the issuer need it before the server starts
    const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
    const port = probe.port
    probe.stop(true)
    issuer = `http://127.0.0.1:${port}`
    const ui = uiServer(issuer)
    const uiUrl = `http://127.0.0.1:${ui.port}`
    // the relying party's callback page
    const rp = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (r) => new Response(`<!doctype html><p id="path">${new URL(r.url).pathname}</p>`, { headers: { 'content-type': 'text/html' } }) })
    callback = `http://127.0.0.1:${rp.port}/callback`
    servers.push(ui, rp)
    if (driver.name === 'postgres') pg = await scratchPostgres('oauth2rp')
    const config = scratch.write('tessera.json', JSON.stringify({
      dsn: pg ? pg.dsn : `sqlite://${scratch.dir}/tessera.sqlite`,
      serve: { public: { host: '127.0.0.1', port, baseUrl: issuer }, admin: { host: '127.0.0.1', port: 0 } },
      plugins: [
        { use: 'identity', options: { schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: { uiUrl, defaultReturnUrl: `${uiUrl}/` } } },
        { use: 'password', options: { hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } } },
        { use: 'oauth2', options: { rateLimit: { enabled: false } } },
      ],
    }))
    server = await startServer(['bun', CLI, 'serve', '--migrate', '--config', config], { env: { SECRETS_SYSTEM: SECRET } })
    const ory = new OryConfiguration({ basePath: server.adminUrl! })
    oauth2 = new OAuth2Api(ory)
    await new IdentityApi(ory).createIdentity({ createIdentityBody: { schema_id: 'default', traits: { email: EMAIL }, credentials: { password: { config: { password: PASSWORD } } } } })
  })
  afterAll(async () => {
    await server?.stop()
    for (const s of servers) s.stop(true)
    await pg?.drop()
    scratch.remove()
  })

  async function discover(id: string, secret: string) {
    const config = await client.discovery(new URL(issuer), id, undefined, client.ClientSecretBasic(secret), { execute: [client.allowInsecureRequests] })
    return config
  }

  /** Introspection lives on the admin listener (Hydra's boundary), not in discovery: the RP is told where. */
  function introspector(config: client.Configuration, id: string, secret: string) {
    const meta = JSON.parse(JSON.stringify(config.serverMetadata())) as client.ServerMetadata
    const intro = new client.Configuration({ ...meta, introspection_endpoint: `${server.adminUrl}/admin/oauth2/introspect` }, id, undefined, client.ClientSecretBasic(secret))
    client.allowInsecureRequests(intro)
    return intro
  }

  it('discovery, code + PKCE through the identity login and consent, refresh, userinfo, introspection, revocation, logout', async () => {
    const c = await oauth2.createOAuth2Client({ oAuth2Client: { client_name: 'openid-client app', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], scope: 'openid offline_access email', redirect_uris: [callback], post_logout_redirect_uris: [`${callback}/bye`] } })
    const config = await discover(c.client_id!, c.client_secret!)
    const meta = config.serverMetadata()
    expect(meta.issuer).toBe(issuer)
    expect(meta.code_challenge_methods_supported).toContain('S256')

    const verifier = client.randomPKCECodeVerifier()
    const nonce = client.randomNonce()
    const state = client.randomState()
    const authUrl = client.buildAuthorizationUrl(config, { redirect_uri: callback, scope: 'openid offline_access email', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', nonce, state })

    const { chromium } = await import('playwright-core')
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
    let callbackUrl: string
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>
    try {
      const page = await browser.newPage()
      await page.goto(authUrl.href)
      await page.fill('input[name="identifier"]', EMAIL)
      await page.fill('input[name="password"]', PASSWORD)
      await page.click('button[name="method"]')
      await page.waitForSelector('#accept')
      expect(await page.textContent('#client')).toBe('openid-client app')
      await page.click('#accept')
      await page.waitForSelector('#path')
      callbackUrl = page.url()

      // openid-client checks state, iss (RFC 9207), PKCE, and the ID token: signature via the JWKS, iss, aud, nonce, exp
      tokens = await client.authorizationCodeGrant(config, new URL(callbackUrl), { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state, idTokenExpected: true })
      const claims = tokens.claims()!
      expect(claims.iss).toBe(issuer)
      expect(claims.aud).toContain(c.client_id!)
      expect(claims.nonce).toBe(nonce)
      const sub = claims.sub

      // userinfo, GET and POST
      const info = await client.fetchUserInfo(config, tokens.access_token, sub)
      expect(info).toMatchObject({ sub, email: EMAIL })
      const posted = await client.fetchProtectedResource(config, tokens.access_token, new URL(meta.userinfo_endpoint!), 'POST')
      expect(posted.status).toBe(200)
      expect(((await posted.json()) as { sub: string }).sub).toBe(sub)

      // refresh rotation: a new pair and a new ID token for the same user; the old refresh token is refused
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!)
      expect(refreshed.refresh_token).not.toBe(tokens.refresh_token)
      expect(refreshed.claims()!.sub).toBe(sub)
      const replay = await client.refreshTokenGrant(config, tokens.refresh_token!).catch((e) => e)
      expect(replay).toBeInstanceOf(client.ResponseBodyError)
      expect((replay as client.ResponseBodyError).error).toBe('invalid_grant')

      const intro = introspector(config, c.client_id!, c.client_secret!)
      // the replay revoked the whole chain (RFC 9700 §4.14.2)
      expect((await client.tokenIntrospection(intro, refreshed.access_token)).active).toBe(false)

      // a fresh grant (the session and consent are remembered only if asked: log in again through the page)
      const v2 = client.randomPKCECodeVerifier()
      const s2 = client.randomState()
      await page.goto(client.buildAuthorizationUrl(config, { redirect_uri: callback, scope: 'openid offline_access', code_challenge: await client.calculatePKCECodeChallenge(v2), code_challenge_method: 'S256', state: s2 }).href)
      await page.waitForSelector('#accept')
      await page.click('#accept')
      await page.waitForSelector('#path')
      const second = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: v2, expectedState: s2 })
      const active = await client.tokenIntrospection(intro, second.access_token)
      expect(active).toMatchObject({ active: true, client_id: c.client_id, sub })

      // revocation (RFC 7009): the refresh token, and with it its access token
      await client.tokenRevocation(config, second.refresh_token!)
      expect((await client.tokenIntrospection(intro, second.refresh_token!)).active).toBe(false)
      expect((await client.tokenIntrospection(intro, second.access_token)).active).toBe(false)
      expect(await client.fetchUserInfo(config, second.access_token, sub).catch((e) => e)).toBeInstanceOf(Error)

      // RP-initiated logout: back at the registered post-logout URI with the state
      const logoutState = client.randomState()
      await page.goto(client.buildEndSessionUrl(config, { id_token_hint: second.id_token!, post_logout_redirect_uri: `${callback}/bye`, state: logoutState }).href)
      await page.waitForSelector('#path')
      const bye = new URL(page.url())
      expect(bye.pathname).toBe('/callback/bye')
      expect(bye.searchParams.get('state')).toBe(logoutState)
      // the login is over: a new authorization shows the login form again
      await page.goto(authUrl.href)
      await page.waitForSelector('input[name="identifier"]')
    } finally {
      await browser.close()
    }
  }, 90_000)

  it('client credentials with openid-client; the token introspects as the client', async () => {
    const c = await oauth2.createOAuth2Client({ oAuth2Client: { grant_types: ['client_credentials'], response_types: [], scope: 'read write', audience: ['https://api.example.com'] } })
    const config = await discover(c.client_id!, c.client_secret!)
    const t = await client.clientCredentialsGrant(config, { scope: 'read', audience: 'https://api.example.com' })
    expect(t.token_type.toLowerCase()).toBe('bearer')
    expect(t.scope).toBe('read')
    const intro = introspector(config, c.client_id!, c.client_secret!)
    expect(await client.tokenIntrospection(intro, t.access_token)).toMatchObject({ active: true, client_id: c.client_id, scope: 'read', aud: ['https://api.example.com'] })
    const wrong = await discover(c.client_id!, 'not-the-secret')
    const refused = await client.clientCredentialsGrant(wrong, { scope: 'read' }).catch((e) => e)
    // RFC 6749 §5.2: a failed Basic authentication is 401 with a WWW-Authenticate challenge, which openid-client surfaces
    expect(refused).toBeInstanceOf(client.WWWAuthenticateChallengeError)
    expect((refused as client.WWWAuthenticateChallengeError).status).toBe(401)
    expect((refused as client.WWWAuthenticateChallengeError).cause[0]!.scheme).toBe('basic')
  })
})

/**
 * Ory Elements against Tessera in real headless Chromium (playwright-core, /usr/bin/chromium): `@ory/elements-react`
 * (exact-pinned dev dependency) renders Tessera's browser flows and completes a registration, a failed login, a
 * login and a `return_to` redirect — driven by what Elements reads: `continue_with` on success, the flow with its
 * messages on a 400, the CSRF cookie and token. Offline: the page (test/e2e/elements/page.ts) is bundled with
 * Bun.build at test time and served by a local Bun server on the same site as Tessera (127.0.0.1, another port),
 * and Elements' SDK points at Tessera's public listener. Without Chromium the suite says it was skipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { identity } from '../../plugins/identity/index.ts'
import { password } from '../../plugins/password/index.ts'
import { bootApps } from '../helpers/app.ts'
import { quickstartSchema } from '../helpers/identity.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const available = existsSync(CHROMIUM)
if (!available) console.warn(`[skipped] Ory Elements suite: no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`)

/**
 * Tessera on a real socket, and the Elements page on another port of the same host. Tessera has no CORS setting
 * of its own, so the socket in front of it answers the page origin's preflight and adds the CORS headers a
 * deployment's proxy would (credentials included, one origin).
 */
async function startStack() {
  const styles = Bun.resolveSync('@ory/elements-react/theme/styles.css', import.meta.dir)
  const built = await Bun.build({ entrypoints: [join(import.meta.dir, 'elements/page.ts'), styles], target: 'browser', minify: true, define: { 'process.env.NODE_ENV': '"production"' } })
  if (!built.success) throw new AggregateError(built.logs, 'bundling the Elements page failed')
  const js = built.outputs.find((o) => o.path.endsWith('.js'))!
  const css = built.outputs.find((o) => o.path.endsWith('.css'))
  const assets = { js: await js.text(), css: css ? await css.text() : '' }

  let handle: (r: Request) => Response | Promise<Response> = () => new Response('starting', { status: 503 })
  let pageOrigin = ''
  const cors = (res: Response) => {
    const h = new Headers(res.headers)
    h.set('access-control-allow-origin', pageOrigin)
    h.set('access-control-allow-credentials', 'true')
    h.append('vary', 'Origin')
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers: h })
  }
  const apiServer = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(r) {
      if (r.method === 'OPTIONS' && r.headers.get('origin') === pageOrigin) {
        return cors(new Response(null, { status: 204, headers: { 'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE', 'access-control-allow-headers': r.headers.get('access-control-request-headers') ?? '' } }))
      }
      const res = await handle(r)
      return r.headers.get('origin') === pageOrigin ? cors(res) : res
    },
  })
  const api = `http://127.0.0.1:${apiServer.port}`
  const page = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(r) {
      const path = new URL(r.url).pathname
      if (path === '/page.js') return new Response(assets.js, { headers: { 'content-type': 'text/javascript; charset=utf-8' } })
      if (path === '/page.css') return new Response(assets.css, { headers: { 'content-type': 'text/css; charset=utf-8' } })
      const html = `<!doctype html><meta charset="utf-8"><title>Tessera + Ory Elements</title><link rel="stylesheet" href="/page.css"><div id="root"></div><script>window.TESSERA = ${JSON.stringify({ api })}</script><script type="module" src="/page.js"></script>`
      return new Response(html, { headers: { 'content-type': 'text/html; charset=utf-8' } })
    },
  })
  pageOrigin = `http://127.0.0.1:${page.port}`
  const apps = await bootApps(
    [
      identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: { uiUrl: pageOrigin, defaultReturnUrl: `${pageOrigin}/`, allowedReturnUrls: [`${pageOrigin}/`] } }),
      password({ hasher: { memoryCost: 64 }, breachCheck: { enabled: false } }),
    ],
    { config: { serve: { public: { baseUrl: api } } } as never },
  )
  handle = (r) => apps.public.handle(r)
  return {
    api,
    page: pageOrigin,
    async stop() {
      apiServer.stop(true)
      page.stop(true)
      await apps.kernel.stop()
    },
  }
}

describe.skipIf(!available)('Ory Elements (@ory/elements-react) on Tessera, headless Chromium', () => {
  let stack: Awaited<ReturnType<typeof startStack>>
  beforeAll(async () => {
    stack = await startStack()
  }, 60_000)
  afterAll(async () => {
    await stack?.stop()
  })

  it('registers, fails a login, logs in, and follows return_to', async () => {
    const { chromium } = await import('playwright-core')
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
    const errors: string[] = []
    try {
      const context = await browser.newContext()
      const page = await context.newPage()
      page.on('pageerror', (e) => errors.push(String(e)))
      const submit = () => page.click('button[type="submit"][value="password"]')

      // Registration, rendered by Elements; continue_with sends the browser to the default return URL.
      await page.goto(`${stack.page}/registration`)
      await page.waitForSelector('input[name="traits.email"]', { timeout: 20_000 })
      await page.fill('input[name="traits.email"]', 'elements@example.com')
      await page.fill('input[name="password"]', 'correct horse battery staple')
      await submit()
      await page.waitForURL(`${stack.page}/`)
      await page.waitForSelector('#who')
      expect(await page.textContent('#who')).toBe('elements@example.com')

      // A fresh browser: a failed login shows Kratos' 4000006 in the form, then the right password gets in.
      await context.clearCookies()
      await page.goto(`${stack.page}/login`)
      await page.waitForSelector('input[name="identifier"]', { timeout: 20_000 })
      // The identifier is labelled from the identity schema's title.
      expect(await page.textContent('form')).toContain('E-Mail')
      await page.fill('input[name="identifier"]', 'elements@example.com')
      await page.fill('input[name="password"]', 'wrong password here')
      await submit()
      await page.waitForFunction(() => document.body.textContent?.includes('credentials are invalid'))
      expect(new URL(page.url()).pathname).toBe('/login')
      await page.fill('input[name="password"]', 'correct horse battery staple')
      await submit()
      await page.waitForURL(`${stack.page}/`)
      await page.waitForSelector('#who')
      expect(await page.textContent('#who')).toBe('elements@example.com')

      // return_to survives the flow: Elements follows continue_with to it.
      await context.clearCookies()
      await page.goto(`${stack.page}/login?return_to=${encodeURIComponent(`${stack.page}/next`)}`)
      await page.waitForSelector('input[name="identifier"]', { timeout: 20_000 })
      await page.fill('input[name="identifier"]', 'elements@example.com')
      await page.fill('input[name="password"]', 'correct horse battery staple')
      await submit()
      await page.waitForURL(`${stack.page}/next`)
      await page.waitForSelector('#who')
      expect(await page.textContent('#where')).toBe('/next')
      expect(await page.textContent('#who')).toBe('elements@example.com')
      expect(errors).toEqual([])
    } catch (e) {
      throw new Error(`${e}\npage errors: ${errors.join('\n')}`)
    } finally {
      await browser.close()
    }
  }, 120_000)
})

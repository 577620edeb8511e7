/**
 * The stack the Ory Elements suite runs against: Tessera in-process on a real socket (identity, password, code,
 * courier with its development outbox, totp, lookup-secret, webauthn), and the Elements page (page.ts, bundled
 * with Bun.build at start, no CDN) on another port of the same host. Both on `localhost`: the WebAuthn relying
 * party id is a domain, and cookies are per host, not per port, so the page's fetches carry Tessera's cookies.
 *
 * Tessera has no CORS setting of its own, so the socket in front of it answers the page origin's preflight and
 * adds the CORS headers a deployment's proxy would (credentials included, one origin).
 */
import { join } from 'node:path'
import type { BunPlugin } from 'bun'
import { code } from '../../../plugins/code/index.ts'
import { courier } from '../../../plugins/courier/index.ts'
import { identity } from '../../../plugins/identity/index.ts'
import { lookupSecret } from '../../../plugins/lookup-secret/index.ts'
import { password } from '../../../plugins/password/index.ts'
import { totp } from '../../../plugins/totp/index.ts'
import { webauthn } from '../../../plugins/webauthn/index.ts'
import { bootApps, call } from '../../helpers/app.ts'
import { quickstartSchema } from '../../helpers/identity.ts'

export interface CourierMessage {
  id: string
  status: string
  recipient: string
  subject: string
  body: string
  template_type: string
}

/**
 * Elements' dist files inline the messages of every one of its ~100 languages (5 MB of the page's script); the page
 * uses English, so the other languages' objects are left empty when bundling, as an app would split them off. Every
 * page load in the suite parses the script again, and on a busy machine this is most of a page's time.
 */
const englishOnly: BunPlugin = {
  name: 'elements-english-only',
  setup(build) {
    build.onLoad({ filter: /@ory[\\/]elements-react[\\/]dist[\\/].*\.mjs$/ }, async (args) => ({
      contents: (await Bun.file(args.path).text()).replace(/(\/\/ src\/locales\/([a-z-]+)\.json\nvar \w+ = )\{[\s\S]*?\n\};/g, (all, head: string, lang: string) => (lang === 'en' ? all : `${head}{};`)),
      loader: 'js',
    }))
  },
}

/** The page and its stylesheet. */
async function bundlePage() {
  const styles = Bun.resolveSync('@ory/elements-react/theme/styles.css', import.meta.dir)
  const built = await Bun.build({ entrypoints: [join(import.meta.dir, 'page.ts'), styles], target: 'browser', minify: true, plugins: [englishOnly], define: { 'process.env.NODE_ENV': '"production"' } })
  if (!built.success) throw new AggregateError(built.logs, 'bundling the Elements page failed')
  const js = built.outputs.find((o) => o.path.endsWith('.js'))!
  const css = built.outputs.find((o) => o.path.endsWith('.css'))
  return { js: await js.text(), css: css ? await css.text() : '' }
}

export async function startStack() {
  const assets = await bundlePage()
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
  const api = `http://localhost:${apiServer.port}`
  const pageServer = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(r) {
      const path = new URL(r.url).pathname
      const cache = 'public, max-age=3600, immutable'
      if (path === '/page.js') return new Response(assets.js, { headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': cache } })
      if (path === '/page.css') return new Response(assets.css, { headers: { 'content-type': 'text/css; charset=utf-8', 'cache-control': cache } })
      const html = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Tessera + Ory Elements</title><link rel="stylesheet" href="/page.css"><div id="root"></div><script>window.TESSERA = ${JSON.stringify({ api })}</script><script type="module" src="/page.js"></script></html>`
      return new Response(html, { headers: { 'content-type': 'text/html; charset=utf-8' } })
    },
  })
  pageOrigin = `http://localhost:${pageServer.port}`
  const apps = await bootApps(
    [
      identity({
        schemas: [{ id: 'default', schema: quickstartSchema }],
        selfservice: { uiUrl: pageOrigin, defaultReturnUrl: `${pageOrigin}/`, allowedReturnUrls: [`${pageOrigin}/`] },
        flowRateLimit: { enabled: false },
      }),
      password({ hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: false } }),
      code({ resend: { perAddress: 1000 } }),
      courier({ outbox: true, worker: { intervalSeconds: 0.1 }, admin: { revealSecrets: true } }),
      totp({}),
      lookupSecret({}),
      webauthn({ rp: { id: 'localhost', name: 'Tessera', origins: [pageOrigin] } }),
    ],
    { config: { dev: true, serve: { public: { baseUrl: api } } } as never },
  )
  handle = (r) => apps.public.handle(r)
  const admin = async <T = any>(method: string, path: string, body?: unknown) => {
    const r = await call(apps.admin, method, path, body === undefined ? {} : { body })
    return r.json as T
  }
  const seen = new Set<string>()
  return {
    api,
    page: pageOrigin,
    admin,
    /**
     * The next message to `recipient` not read before (of `template`, when given) once the courier delivered it (to
     * its development outbox: `sent`), as the courier's admin API shows it (codes revealed).
     */
    async message(recipient: string, template?: string, ms = 10_000): Promise<CourierMessage> {
      const deadline = Date.now() + ms
      for (;;) {
        const list = await admin<CourierMessage[]>('GET', `/admin/courier/messages?recipient=${encodeURIComponent(recipient)}&status=sent`)
        const m = [...list].reverse().find((x) => !seen.has(x.id) && (!template || x.template_type === template))
        if (m) {
          seen.add(m.id)
          return m
        }
        if (Date.now() > deadline) throw new Error(`expected a message${template ? ` (${template})` : ''} to ${recipient}`)
        await Bun.sleep(50)
      }
    },
    async identityByEmail(email: string) {
      const list = await admin<any[]>('GET', `/admin/identities?credentials_identifier=${encodeURIComponent(email)}`)
      return list[0] ? admin('GET', `/admin/identities/${list[0].id}?include_credential=totp&include_credential=lookup_secret&include_credential=webauthn&include_credential=passkey&include_credential=password`) : undefined
    },
    async stop() {
      apiServer.stop(true)
      pageServer.stop(true)
      await apps.kernel.stop()
    },
  }
}

export type Stack = Awaited<ReturnType<typeof startStack>>

/** The first 6-digit number on its own line of a message body (the code Tessera's templates show). */
export const codeIn = (text: string) => /^\s*(\d{6})\s*$/m.exec(text)?.[1] ?? ''

/**
 * The ui plugin in-process (no browser): where the identity plugin's browser flows go with and without it, the
 * security headers of every page (a CSP with a fresh nonce that the page's own style and script carry,
 * `frame-ancestors 'none'`, Referrer-Policy), theming from the options (product name, logo, light and dark colours),
 * the language rule (`?lang=` sets the cookie, then the cookie, then Accept-Language, then `defaultLanguage`),
 * options refused at boot naming the path, and bad input at its routes (never a 5xx, never a stack trace).
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { identity } from '../identity/index.ts'
import { password } from '../password/index.ts'
import { bootApps, type TestApps } from '../../test/helpers/app.ts'
import { quickstartSchema } from '../../test/helpers/identity.ts'
import { ui } from './index.ts'

const BASE = 'http://127.0.0.1:4433'
const LOGO = 'data:image/svg+xml;base64,PHN2ZyB4bWxucz0naHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmcnLz4='

const identityPlugins = () => [
  identity({ schemas: [{ id: 'default', schema: quickstartSchema }], flowRateLimit: { enabled: false } }),
  password({ hasher: { memoryCost: 64 }, breachCheck: { enabled: false } }),
]

describe('ui plugin', () => {
  let apps: TestApps
  const get = (path: string, headers: Record<string, string> = {}) => apps.public.handle(new Request(`${BASE}${path}`, { headers }))
  /** Follow the redirects a browser would (303 to start a flow, back to the page), carrying cookies. */
  async function browse(path: string, headers: Record<string, string> = {}): Promise<Response> {
    let url = `${BASE}${path}`
    const jar = new Map<string, string>()
    for (let i = 0; i < 5; i++) {
      const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ')
      const res = await apps.public.handle(new Request(url, { headers: { ...headers, ...(cookie ? { cookie: [headers.cookie, cookie].filter(Boolean).join('; ') } : {}) } }))
      for (const c of res.headers.getSetCookie()) {
        const [pair = ''] = c.split(';')
        const at = pair.indexOf('=')
        jar.set(pair.slice(0, at), pair.slice(at + 1))
      }
      const to = res.headers.get('location')
      if (res.status < 300 || res.status >= 400 || !to) return res
      url = new URL(to, url).toString()
    }
    throw new Error(`too many redirects from ${path}`)
  }

  beforeAll(async () => {
    apps = await bootApps(
      [
        ...identityPlugins(),
        ui({ productName: 'Acme Account', logo: LOGO, colors: { light: { accent: '#0a7d3b' }, dark: { accent: 'oklch(70% 0.1 150)' } }, defaultLanguage: 'de' }),
      ],
      { config: { serve: { public: { baseUrl: BASE } } } as never },
    )
  })
  afterAll(async () => {
    await apps?.kernel.stop()
  })

  it("points the identity plugin's browser flows at its pages", async () => {
    const res = await get('/self-service/login/browser')
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toMatch(new RegExp(`^${BASE}/ui/login\\?flow=[0-9a-f-]{36}$`))
    // `/` opens the home page
    const root = await get('/')
    expect(root.status).toBe(302)
    expect(root.headers.get('location')).toBe(`${BASE}/ui/`)
  })

  it('leaves the flows where they were without it (teams with their own UI)', async () => {
    const own = await bootApps(identityPlugins(), { config: { serve: { public: { baseUrl: BASE } } } as never })
    try {
      const res = await own.public.handle(new Request(`${BASE}/self-service/login/browser`))
      expect(res.status).toBe(303)
      expect(res.headers.get('location')).toMatch(/^http:\/\/localhost:4455\/login\?flow=/)
      expect((await own.public.handle(new Request(`${BASE}/ui/login`))).status).toBe(404)
    } finally {
      await own.kernel.stop()
    }
  })

  it('sends a strict CSP with a fresh nonce that only its own style and script carry', async () => {
    const a = await browse('/ui/login')
    const b = await browse('/ui/login')
    expect(a.status).toBe(200)
    const csp = a.headers.get('content-security-policy')!
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).toContain("base-uri 'none'")
    const nonce = /script-src 'nonce-([A-Za-z0-9_-]+)'/.exec(csp)?.[1]
    expect(nonce).toBeTruthy()
    expect(csp).toContain(`style-src 'nonce-${nonce}'`)
    expect(/script-src 'nonce-([A-Za-z0-9_-]+)'/.exec(b.headers.get('content-security-policy')!)?.[1]).not.toBe(nonce)
    expect(a.headers.get('referrer-policy')).toBe('no-referrer')
    expect(a.headers.get('x-frame-options')).toBe('DENY')
    expect(a.headers.get('x-content-type-options')).toBe('nosniff')
    expect(a.headers.get('cache-control')).toBe('no-store')
    const html = await a.text()
    for (const tag of html.match(/<(script|style)\b[^>]*>/g) ?? []) expect(tag).toContain(`nonce="${nonce}"`)
    // nothing from another origin: no absolute http(s) URL in src/href other than this server's own
    const foreign = [...html.matchAll(/\b(?:src|href)="(https?:[^"]+)"/g)].map((m) => m[1]!).filter((u) => !u.startsWith(BASE))
    expect(foreign).toEqual([])
    // works without JavaScript: the password form posts to the flow's action
    expect(html).toMatch(/<form[^>]+action="http:\/\/127\.0\.0\.1:4433\/self-service\/login\?flow=[0-9a-f-]{36}" method="post"/)
  })

  it('themes the pages from its options: product name, logo, light and dark colours', async () => {
    const html = await (await browse('/ui/login?lang=en')).text()
    expect(html).toContain('Acme Account')
    expect(html).toMatch(/<title>[^<]*Acme Account[^<]*<\/title>/)
    expect(html).toContain(`src="${LOGO}"`)
    expect(html).toContain('#0a7d3b')
    expect(html).toContain('oklch(70% 0.1 150)')
    expect(html).toMatch(/prefers-color-scheme:\s*dark/)
  })

  it('chooses the language: ?lang= (and remembers it), the cookie, Accept-Language, then the default', async () => {
    const chosen = await get('/ui/?lang=ru')
    expect(chosen.headers.getSetCookie().join()).toContain('tessera_lang=ru')
    expect(await chosen.text()).toContain('<html lang="ru"')
    expect(await (await get('/ui/', { cookie: 'tessera_lang=zh', 'accept-language': 'ru' })).text()).toContain('<html lang="zh-Hans"')
    expect(await (await get('/ui/', { 'accept-language': 'fr-CH, ru;q=0.8, en;q=0.5' })).text()).toContain('<html lang="ru"')
    // neither: the configured default (de here)
    expect(await (await get('/ui/', { 'accept-language': 'fr' })).text()).toContain('<html lang="de"')
    // an unknown ?lang= is ignored, not remembered
    const unknown = await get('/ui/?lang=xx', { 'accept-language': 'en' })
    expect(unknown.headers.getSetCookie().join()).not.toContain('tessera_lang')
    expect(await unknown.text()).toContain('<html lang="en"')
  })

  it("labels the traits' inputs in the reader's language from the identity schema's \"tessera\": { \"titles\" }, the English title otherwise", async () => {
    const labels = async (lang: string) => {
      const html = await (await browse(`/ui/registration?lang=${lang}`)).text()
      return ['email', 'name.first', 'name.last'].map((n) => new RegExp(`<label for="([^"]+)">([^<]*)</label>\\s*<input[^>]*name="traits\\.${n.replace('.', '\\.')}"`).exec(html)?.[2])
    }
    expect(await labels('de')).toEqual(['E-Mail', 'Vorname', 'Nachname'])
    expect(await labels('ru')).toEqual(['Эл. почта', 'Имя', 'Фамилия'])
    expect(await labels('zh')).toEqual(['电子邮件', '名', '姓'])
    expect(await labels('en')).toEqual(['E-Mail', 'First name', 'Last name'])
    // the login identifier's label too; the API keeps Kratos' label (the schema's title) and carries the translations
    expect(await (await browse('/ui/login?lang=ru')).text()).toContain('Эл. почта')
    const flow = (await (await get('/self-service/registration/api')).json()) as { ui: { nodes: { attributes: { name: string }; meta: { label?: unknown } }[] } }
    expect(flow.ui.nodes.find((n) => n.attributes.name === 'traits.name.first')?.meta.label).toEqual({
      id: 1070002, text: 'First name', type: 'info', context: { title: 'First name', name: 'traits.name.first', titles: { de: 'Vorname', ru: 'Имя', zh: '名' } },
    })
  })

  it('answers bad input at every page with a page or a fresh flow, never a 5xx', async () => {
    const odd = ['not-a-uuid', '00000000-0000-0000-0000-000000000000', 'x'.repeat(500), '%00', "'><script>alert(1)</script>"]
    for (const kind of ['login', 'registration', 'recovery', 'verification', 'settings']) {
      for (const flow of odd) {
        const res = await get(`/ui/${kind}?flow=${encodeURIComponent(flow)}`)
        expect(res.status).toBeLessThan(500)
        if (res.status >= 300 && res.status < 400) expect(res.headers.get('location')).toMatch(new RegExp(`^${BASE}/(self-service/${kind}/browser|ui/login)`))
      }
    }
    const error = await get(`/ui/error?id=${encodeURIComponent("<img src=x onerror=alert(1)>")}`)
    expect(error.status).toBeLessThan(500)
    expect(await error.text()).not.toContain('<img src=x')
    const missing = await get('/ui/no-such-page')
    expect(missing.status).toBe(404)
    expect(missing.headers.get('content-type')).toContain('text/html')
    expect((await apps.public.handle(new Request(`${BASE}/ui/login`, { method: 'DELETE' }))).status).toBe(405)
    // revoking a session without the page's CSRF token is refused
    const forged = await apps.public.handle(new Request(`${BASE}/ui/sessions/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'all=true&csrf_token=forged-forged-forged' }))
    expect(forged.status).toBe(403)
    // the development outbox is not served outside development mode
    expect((await get('/ui/outbox')).status).toBe(404)
  })

  it('refuses bad options at boot, naming the path and what is expected', async () => {
    const boot = (o: Parameters<typeof ui>[0]) => bootApps([...identityPlugins(), ui(o)], { config: { serve: { public: { baseUrl: BASE } } } as never })
    await expect(boot({ colors: { light: { accent: 'red;} body{display:none' } } })).rejects.toThrow(/plugins\[\d\]\.options\.colors\.light\.accent.*CSS colour/s)
    await expect(boot({ logo: 'https://cdn.example.com/logo.png' })).rejects.toThrow(/options\.logo.*no external requests/s)
    await expect(boot({ defaultLanguage: 'fr' as never })).rejects.toThrow(/options\.defaultLanguage/)
  })
})

/**
 * The `ui` plugin: the account pages, server-rendered (preact-render-to-string, escaped by the renderer), at
 * `<basePath>` on the public listener: login, registration, recovery, verification, settings (with the signed-in
 * devices), error, home, the courier's development outbox, and the OAuth2 consent and device pages when the oauth2
 * plugin is installed. Like Ory's UIs it reads flows from the public API, forwarding the browser's cookies: in-process
 * (`ctx.handle('public', …)`, no socket) or over HTTP to an external Tessera at `apiUrl`. Forms post straight to
 * the flow's `ui.action`. It works without JavaScript except WebAuthn/passkeys.
 *
 * Services it provides (no plugin imports another):
 *   'ui.pages'     { baseUrl(publicBaseUrl) }: the identity plugin's default `selfservice.uiUrl`
 *   'ui.renderers' { register(group, renderer) }: a plugin's own renderer for its node group
 *   'oauth2.pages' { consent, device, logout, error (request, rc, view) }: the oauth2 plugin's pages (core's OAuth2PagesService)
 */
import { type RequestContext, constantTimeEqual, definePlugin, randomToken } from 'tessera'
import { LANG_COOKIE, negotiate, translator } from './i18n/index.ts'
import { UiOptions } from './options.ts'
import { type ConsentView, type DeviceView, type ErrorDetail, type FlowKind, type LogoutView, type OAuth2ErrorView, type OutboxMessage, accountName, consentPage, devicePage, errorPage, flowPage, homePage, logoutPage, oauth2ErrorPage, outboxPage } from './pages.tsx'
import type { Flow, NodeRenderer, Page } from './render.tsx'
import { stylesheet } from './theme.ts'

export { UiOptions, type UiOptionsInput, LANGUAGES, type Language } from './options.ts'
export { negotiate, translator } from './i18n/index.ts'
export type { NodeRenderer, NodeRenderContext } from './render.tsx'
export type { ConsentView, DeviceView, LogoutView, OAuth2ErrorView } from './pages.tsx'

const FLOWS: readonly FlowKind[] = ['login', 'registration', 'recovery', 'verification', 'settings']
/** Query parameters a flow's start passes on (Kratos' browser flow parameters). */
const PASS = ['return_to', 'aal', 'refresh', 'login_challenge', 'via', 'organization']
const CSRF = 'tessera_ui_csrf'
const CSRF_COOKIE_VALUE = new RegExp(`(?:^|;\\s*)${CSRF}=([A-Za-z0-9_-]{16,64})(?:;|$)`)
const langCookie = (lang: string) => `${LANG_COOKIE}=${lang}; Path=/; Max-Age=31536000; SameSite=Lax`

/** The courier's development outbox, as the courier offers it (`courier.outbox`). */
interface OutboxService {
  list(tenant: string, limit: number): Promise<OutboxMessage[]>
}

interface State {
  renderers: Map<string, NodeRenderer>
  css: string
  route?: (request: Request, rc: RequestContext) => Promise<Response>
}

export const ui = definePlugin({
  id: 'ui',
  description: 'The account pages: sign-in, sign-up, recovery, verification, settings, consent, device code; en/de/ru/zh, light and dark',
  options: UiOptions,
  after: ['identity', 'oauth2', 'courier'],
  state: (ctx): State => ({ renderers: new Map(), css: stylesheet(ctx.options) }),
  setup(ctx) {
    const base = ctx.options.basePath
    ctx.services.provide('ui.pages', { baseUrl: (publicBaseUrl: string) => `${publicBaseUrl.replace(/\/$/, '')}${base}` }, ctx.id)
    ctx.services.provide('ui.renderers', { register: (group: string, r: NodeRenderer) => void ctx.state.renderers.set(group, r) }, ctx.id)
    ctx.services.provide(
      'oauth2.pages',
      {
        consent: async (request: Request, rc: RequestContext, view: ConsentView) => {
          const { page, who } = await oauth2Page(request, rc, view.uiLocales)
          const identity = who.session?.identity as Record<string, any> | undefined
          const account = identity && (!view.subject || identity.id === view.subject) ? accountName(identity) : undefined
          return respond(page, (p) => consentPage(p, view, account))
        },
        device: async (request: Request, rc: RequestContext, view: DeviceView) => respond((await oauth2Page(request, rc)).page, (p) => devicePage(p, view), view.error ? 400 : 200),
        logout: async (request: Request, rc: RequestContext, view: LogoutView) => respond((await oauth2Page(request, rc, view.uiLocales)).page, (p) => logoutPage(p, view)),
        error: async (request: Request, rc: RequestContext, view: OAuth2ErrorView) => respond((await oauth2Page(request, rc)).page, (p) => oauth2ErrorPage(p, view), view.status),
      },
      ctx.id,
    )

    /** A page the oauth2 plugin hands over: its header is that of whoever is signed in (it often is someone). */
    async function oauth2Page(request: Request, rc: RequestContext, uiLocales?: readonly string[]) {
      const who = await whoami(rc, request)
      return { who, page: await pageFor(request, rc, !!who.session || who.aal2, who.logoutUrl, uiLocales) }
    }

    async function pageFor(request: Request, rc: RequestContext, withSession: boolean, logoutUrl?: string, uiLocales?: readonly unknown[]): Promise<Page & { setLang?: string }> {
      const { lang, fromQuery } = negotiate(request, ctx.options.defaultLanguage, uiLocales)
      const { t, message } = translator(lang)
      return {
        t,
        message,
        lang,
        nonce: randomToken(16),
        opts: ctx.options,
        css: ctx.state.css,
        base: `${rc.publicBaseUrl}${base}`,
        url: new URL(request.url),
        signedIn: withSession,
        ...(logoutUrl ? { logoutUrl } : {}),
        outbox: outboxOn() && !!ctx.services.get('courier.outbox'),
        renderers: ctx.state.renderers,
        ...(fromQuery ? { setLang: lang } : {}),
      }
    }
    const outboxOn = () => ctx.options.outbox ?? ctx.config.dev === true

    function respond(page: Page & { setLang?: string; cookies?: string[] }, render: (p: Page) => string, status = 200): Response {
      const headers = new Headers({
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': [
          "default-src 'none'",
          `script-src 'nonce-${page.nonce}'`,
          `style-src 'nonce-${page.nonce}'`,
          "img-src 'self' data:",
          "connect-src 'self'",
          // a submitted flow redirects on to its return_to or an OAuth2 client's callback, which form-action governs too
          "form-action 'self' *",
          "frame-ancestors 'none'",
          "base-uri 'none'",
        ].join('; '),
        'referrer-policy': 'no-referrer',
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'cross-origin-opener-policy': 'same-origin',
        'permissions-policy': 'camera=(), microphone=(), geolocation=()',
      })
      if (page.setLang) headers.append('set-cookie', langCookie(page.setLang))
      for (const c of page.cookies ?? []) headers.append('set-cookie', c)
      return new Response(render(page), { status, headers })
    }

    /**
     * A call to the public API with the browser's cookies and this request's id: in-process to the public listener
     * (exactly as over HTTP, without a socket), or over HTTP to an external Tessera when `apiUrl` is set.
     */
    const call = (rc: RequestContext, request: Request, path: string, init: RequestInit = {}) => {
      const headers = { accept: 'application/json', cookie: request.headers.get('cookie') ?? '', 'x-request-id': rc.requestId, ...(init.headers as Record<string, string>) }
      if (ctx.options.apiUrl) return fetch(`${ctx.options.apiUrl.replace(/\/$/, '')}${path}`, { ...init, redirect: 'manual', headers })
      return ctx.handle('public', new Request(`${new URL(request.url).origin}${path}`, { ...init, headers }))
    }
    const json = async (r: Response) => {
      try {
        return (await r.json()) as Record<string, any>
      } catch {
        return {}
      }
    }
    /** An API error's id, message and reason (Ory's generic error), nothing else. */
    const apiError = (e: unknown): ErrorDetail | null => {
      if (!e || typeof e !== 'object') return null
      const { id, message, reason } = e as Record<string, unknown>
      const s = (x: unknown) => (typeof x === 'string' ? x : undefined)
      return { id: s(id), message: s(message), reason: s(reason) }
    }
    /** A redirect; a language chosen with `?lang=` is remembered on the way (a flow's page is reached through the API). */
    const see = (to: string, request: Request) => {
      const headers = new Headers({ location: to, 'cache-control': 'no-store' })
      const { lang, fromQuery } = negotiate(request, ctx.options.defaultLanguage)
      if (fromQuery) headers.append('set-cookie', langCookie(lang))
      return new Response(null, { status: 303, headers })
    }

    /** Who is signed in (Kratos' whoami), and the logout URL. */
    async function whoami(rc: RequestContext, request: Request): Promise<{ session: Record<string, any> | null; aal2: boolean; logoutUrl?: string }> {
      const r = await call(rc, request, '/sessions/whoami')
      if (r.status === 403) {
        const logout = await call(rc, request, '/self-service/logout/browser')
        return { session: null, aal2: true, ...(logout.ok ? { logoutUrl: String((await json(logout)).logout_url) } : {}) }
      }
      if (!r.ok) return { session: null, aal2: false }
      const session = await json(r)
      const logout = await call(rc, request, '/self-service/logout/browser')
      return { session, aal2: false, ...(logout.ok ? { logoutUrl: String((await json(logout)).logout_url) } : {}) }
    }

    async function flow(request: Request, rc: RequestContext, kind: FlowKind): Promise<Response> {
      const url = new URL(request.url)
      const id = url.searchParams.get('flow')
      const start = () => {
        const to = new URL(`${rc.publicBaseUrl}/self-service/${kind}/browser`)
        for (const k of PASS) {
          const v = url.searchParams.get(k)
          if (v !== null && v.length <= 2048) to.searchParams.set(k, v)
        }
        return see(to.toString(), request)
      }
      if (!id || id.length > 64) return start()
      const r = await call(rc, request, `/self-service/${kind}/flows?id=${encodeURIComponent(id)}`)
      const body = await json(r)
      if (r.status === 401) return see(`${rc.publicBaseUrl}${base}/login`, request)
      if (r.status === 403 && body.redirect_browser_to) return see(String(body.redirect_browser_to), request)
      if (r.status === 403 && body.error?.id === 'session_aal2_required') return see(`${rc.publicBaseUrl}${base}/login?aal=aal2`, request)
      if (r.status === 404 || r.status === 410 || (r.status === 400 && !body.ui)) return start()
      if (!r.ok || !body.ui) return respond(await pageFor(request, rc, false), (p) => errorPage(p, apiError(body.error)), r.status >= 400 ? r.status : 500)
      const who = kind === 'settings' || kind === 'login' || kind === 'verification' ? await whoami(rc, request) : { session: null, aal2: false }
      // during an OAuth2 authorization: the application's ui_locales and login_hint (OpenID Connect Core §3.1.2.1)
      const oidc = body.oauth2_login_request?.oidc_context as { ui_locales?: unknown; login_hint?: unknown } | undefined
      if (kind === 'login' && typeof oidc?.login_hint === 'string') prefillIdentifier(body, oidc.login_hint)
      const page = await pageFor(request, rc, !!who.session, who.logoutUrl, Array.isArray(oidc?.ui_locales) ? oidc.ui_locales : undefined)
      if (kind !== 'settings') return respond(page, (p) => flowPage(p, kind, body as Flow & Record<string, unknown>))
      // settings: the signed-in devices, revocable with the page's own CSRF token
      const list = await call(rc, request, '/sessions')
      const others = list.ok ? ((await json(list)) as unknown as Record<string, any>[]) : []
      const token = csrfOf(request) ?? randomToken(24)
      const notice = url.searchParams.get('revoked') === '1' ? { id: 0, text: page.t('sessions.revoked'), type: 'success' as const } : undefined
      const withCookie = { ...page, cookies: [`${CSRF}=${token}; Path=${base}; HttpOnly; SameSite=Strict${rc.publicBaseUrl.startsWith('https:') ? '; Secure' : ''}`] }
      return respond(withCookie, (p) =>
        flowPage(p, kind, body as Flow & Record<string, unknown>, { sessions: { current: who.session ?? undefined, others: Array.isArray(others) ? others : [], csrf: token, ...(notice ? { notice } : {}) } } as never),
      )
    }

    /** The sign-in form's identifier, when still empty, takes an authorization's login_hint (bounded, as text). */
    function prefillIdentifier(flow: Record<string, any>, hint: string) {
      if (hint.length === 0 || hint.length > 256) return
      const node = (flow.ui?.nodes as Record<string, any>[] | undefined)?.find((n) => n.attributes?.name === 'identifier' && n.attributes?.type !== 'hidden')
      if (node && (node.attributes.value === undefined || node.attributes.value === '')) node.attributes.value = hint
    }

    const csrfOf = (request: Request) => {
      const m = CSRF_COOKIE_VALUE.exec(request.headers.get('cookie') ?? '')
      return m?.[1] ?? null
    }

    async function revoke(request: Request, rc: RequestContext): Promise<Response> {
      if (request.method !== 'POST') return new Response(null, { status: 405, headers: { allow: 'POST' } })
      if (!(request.headers.get('content-type') ?? '').startsWith('application/x-www-form-urlencoded')) return new Response(null, { status: 415 })
      const text = await request.text()
      if (text.length > 4096) return new Response(null, { status: 413 })
      const form = new URLSearchParams(text)
      const cookie = csrfOf(request)
      const token = form.get('csrf_token') ?? ''
      if (!cookie || !constantTimeEqual(cookie, token)) return respond(await pageFor(request, rc, false), (p) => errorPage(p, { id: 'security_csrf_violation', text: p.t('error.generic') }), 403)
      const id = form.get('session_id') ?? ''
      if (form.get('all') === 'true') await call(rc, request, '/sessions', { method: 'DELETE' })
      else if (/^[0-9a-f-]{36}$/i.test(id)) await call(rc, request, `/sessions/${id}`, { method: 'DELETE' })
      // back to the settings flow the form was on (a new flow would lose the notice on its way through the API)
      const flowId = form.get('flow') ?? ''
      return see(`${rc.publicBaseUrl}${base}/settings?${/^[0-9a-f-]{36}$/i.test(flowId) ? `flow=${flowId}&` : ''}revoked=1`, request)
    }

    async function route(request: Request, rc: RequestContext): Promise<Response> {
      const path = new URL(request.url).pathname.slice(base.length).replace(/\/$/, '') || '/'
      if (path === '/sessions/revoke') return revoke(request, rc)
      if (request.method !== 'GET' && request.method !== 'HEAD') return new Response(null, { status: 405, headers: { allow: 'GET' } })
      const kind = path.slice(1) as FlowKind
      if (FLOWS.includes(kind)) return flow(request, rc, kind)
      if (path === '/') {
        const who = await whoami(rc, request)
        return respond(await pageFor(request, rc, !!who.session || who.aal2, who.logoutUrl), (p) => homePage(p, who.session, who.aal2))
      }
      if (path === '/error') {
        const id = new URL(request.url).searchParams.get('id') ?? ''
        const r = id && id.length <= 64 ? await call(rc, request, `/self-service/errors?id=${encodeURIComponent(id)}`) : null
        const body = r?.ok ? await json(r) : null
        return respond(await pageFor(request, rc, false), (p) => errorPage(p, apiError(body?.error)))
      }
      if (path === '/outbox' && outboxOn()) {
        const outbox = ctx.services.get('courier.outbox') as OutboxService | undefined
        const messages = outbox ? await outbox.list(rc.tenant, 50) : []
        return respond(await pageFor(request, rc, false), (p) => outboxPage(p, messages))
      }
      return respond(await pageFor(request, rc, false), (p) => errorPage(p, { text: p.t('error.notFound') }), 404)
    }
    ctx.state.route = route
  },
  rawRoutes: (ctx) => ({
    public: [
      { path: ctx.options.basePath, handle: (request, rc) => ctx.state.route!(request, rc) },
      { path: `${ctx.options.basePath}/*`, handle: (request, rc) => ctx.state.route!(request, rc) },
      ...(ctx.options.rootRedirect ? [{ path: '/', handle: (_r: Request, rc: RequestContext) => new Response(null, { status: 302, headers: { location: `${rc.publicBaseUrl}${ctx.options.basePath}/` } }) }] : []),
    ],
  }),
})

export default ui

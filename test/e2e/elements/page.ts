/**
 * The page the Ory Elements suite bundles (Bun.build, at test time, no CDN): `@ory/elements-react`'s own flow
 * components — Login, Registration, Recovery, Verification, Settings and Error — render Tessera's browser flows,
 * fetched from Tessera's public listener with the browser's cookies, as an SPA built on Elements does: a page
 * without `?flow=` starts the browser flow at Tessera (which sends the browser back here with one); a flow that
 * cannot be fetched starts a new one, except settings without a session, which goes to login. `/error?id=` feeds
 * /self-service/errors to Elements' Error. Any other path shows whoami and Tessera's logout link.
 * Plain `createElement`, no JSX, so the repository's type-check needs no JSX setting. Elements' stylesheet is
 * bundled beside it (a second entry point).
 */
import { SessionProvider } from '@ory/elements-react/client'
import { Error as OryError, Login, Recovery, Registration, Settings, Verification } from '@ory/elements-react/theme'
import { createElement as h } from 'react'
import { createRoot } from 'react-dom/client'

declare global {
  interface Window {
    TESSERA: { api: string }
  }
}

const api = window.TESSERA.api
const here = window.location.origin
const config = {
  sdk: { url: api },
  project: {
    name: 'Tessera',
    registration_enabled: true,
    verification_enabled: true,
    recovery_enabled: true,
    registration_ui_url: `${here}/registration`,
    login_ui_url: `${here}/login`,
    recovery_ui_url: `${here}/recovery`,
    verification_ui_url: `${here}/verification`,
    settings_ui_url: `${here}/settings`,
    default_redirect_url: `${here}/`,
    error_ui_url: `${here}/error`,
    hide_ory_branding: true,
  },
}

const FLOWS = { login: Login, registration: Registration, recovery: Recovery, verification: Verification, settings: Settings } as const
type Kind = keyof typeof FLOWS

const get = (path: string) => fetch(`${api}${path}`, { credentials: 'include', headers: { accept: 'application/json' } })

async function main() {
  const root = createRoot(document.getElementById('root')!)
  const url = new URL(window.location.href)
  const kind = url.pathname.slice(1)
  if (kind in FLOWS) {
    const id = url.searchParams.get('flow')
    if (!id) {
      window.location.assign(`${api}/self-service/${kind}/browser${url.search}`)
      return
    }
    const res = await get(`/self-service/${kind}/flows?id=${encodeURIComponent(id)}`)
    if (!res.ok) {
      // settings without a session: log in first, as Elements' own settings submit does on a 401
      window.location.assign(res.status === 401 ? `${api}/self-service/login/browser?return_to=${encodeURIComponent(`${here}/settings`)}` : `${api}/self-service/${kind}/browser`)
      return
    }
    const flow = await res.json()
    const component = h(FLOWS[kind as Kind] as never, { flow, config } as never)
    root.render(kind === 'settings' ? h(SessionProvider, { baseUrl: api } as never, component) : component)
    return
  }
  if (kind === 'error') {
    const res = await get(`/self-service/errors?id=${encodeURIComponent(url.searchParams.get('id') ?? '')}`)
    const error = await res.json()
    const who = await get('/sessions/whoami')
    root.render(h(OryError, { error, config, session: who.ok ? await who.json() : undefined } as never))
    return
  }
  const who = await get('/sessions/whoami')
  if (!who.ok) {
    root.render(h('main', null, h('p', { id: 'where' }, url.pathname), h('p', { id: 'who' }, 'anonymous')))
    return
  }
  const session = await who.json()
  const logout = await (await get('/self-service/logout/browser')).json()
  root.render(
    h(
      'main',
      null,
      h('p', { id: 'where' }, url.pathname),
      h('p', { id: 'who' }, session.identity.traits.email),
      h('p', { id: 'aal' }, session.authenticator_assurance_level),
      h('p', { id: 'methods' }, session.authentication_methods.map((m: { method: string }) => m.method).join(',')),
      h('a', { id: 'logout', href: logout.logout_url }, 'Log out'),
    ),
  )
}

void main()

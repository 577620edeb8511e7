/**
 * The page the Ory Elements suite bundles (Bun.build, at test time, no CDN): `@ory/elements-react`'s own flow
 * components — Login, Registration, Recovery, Verification, Settings and Error — render Tessera's browser flows,
 * fetched with Ory's SDK (`@ory/client-fetch`) from Tessera's public listener with the browser's cookies, as an SPA
 * built on Elements does: a page without `?flow=` starts the browser flow at Tessera (which sends the browser back
 * here with one); a flow that cannot be fetched starts a new one, except settings without a session, which goes to
 * login. `/error?id=` feeds /self-service/errors (getFlowError) to Elements' Error. Any other path shows whoami and
 * Tessera's logout link.
 * Plain `createElement`, no JSX, so the repository's type-check needs no JSX setting. Elements' stylesheet is
 * bundled beside it (a second entry point).
 */
import { Configuration, FrontendApi, ResponseError } from '@ory/client-fetch'
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

/** Ory's SDK on Tessera's public listener, with the browser's cookies (as an SPA built on Elements fetches its flows). */
const sdk = new FrontendApi(new Configuration({ basePath: api, credentials: 'include', headers: { accept: 'application/json' } }))
const getFlow = (kind: Kind, id: string): Promise<unknown> => {
  switch (kind) {
    case 'login':
      return sdk.getLoginFlow({ id })
    case 'registration':
      return sdk.getRegistrationFlow({ id })
    case 'recovery':
      return sdk.getRecoveryFlow({ id })
    case 'verification':
      return sdk.getVerificationFlow({ id })
    case 'settings':
      return sdk.getSettingsFlow({ id })
  }
}
const sessionOrNull = () => sdk.toSession().catch(() => null)

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
    const flow = await getFlow(kind as Kind, id).catch((e: unknown) => {
      // settings without a session: log in first, as Elements' own settings submit does on a 401; else a new flow
      const status = e instanceof ResponseError ? e.response.status : 0
      window.location.assign(status === 401 ? `${api}/self-service/login/browser?return_to=${encodeURIComponent(`${here}/settings`)}` : `${api}/self-service/${kind}/browser`)
      return null
    })
    if (!flow) return
    const component = h(FLOWS[kind as Kind] as never, { flow, config } as never)
    root.render(kind === 'settings' ? h(SessionProvider, { baseUrl: api } as never, component) : component)
    return
  }
  if (kind === 'error') {
    const error = await sdk.getFlowError({ id: url.searchParams.get('id') ?? '' }).catch(async (e: unknown) => (e instanceof ResponseError ? await e.response.json() : { error: { code: 500, message: String(e) } }))
    root.render(h(OryError, { error, config, session: (await sessionOrNull()) ?? undefined } as never))
    return
  }
  const session = await sessionOrNull()
  if (!session) {
    root.render(h('main', null, h('p', { id: 'where' }, url.pathname), h('p', { id: 'who' }, 'anonymous')))
    return
  }
  const logout = await sdk.createBrowserLogoutFlow()
  root.render(
    h(
      'main',
      null,
      h('p', { id: 'where' }, url.pathname),
      h('p', { id: 'who' }, String(session.identity?.traits.email)),
      h('p', { id: 'aal' }, String(session.authenticator_assurance_level)),
      h('p', { id: 'methods' }, (session.authentication_methods ?? []).map((m) => m.method).join(',')),
      h('a', { id: 'logout', href: logout.logout_url }, 'Log out'),
    ),
  )
}

void main()

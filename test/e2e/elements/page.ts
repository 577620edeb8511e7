/**
 * The page the Ory Elements suite bundles (Bun.build, at test time, no CDN): `@ory/elements-react`'s own
 * Login and Registration components render Tessera's browser flows, fetched from Tessera's public listener
 * with the browser's cookies, as an SPA built on Elements does. `/` and `/next` show whoami.
 * Plain `createElement`, no JSX, so the repository's type-check needs no JSX setting. Elements' stylesheet is
 * bundled beside it (a second entry point).
 */
import { Login, Registration } from '@ory/elements-react/theme'
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
    verification_enabled: false,
    recovery_enabled: false,
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

async function main() {
  const root = createRoot(document.getElementById('root')!)
  const url = new URL(window.location.href)
  const kind = url.pathname.slice(1)
  if (kind === 'login' || kind === 'registration') {
    const id = url.searchParams.get('flow')
    if (!id) {
      window.location.assign(`${api}/self-service/${kind}/browser${url.search}`)
      return
    }
    const res = await fetch(`${api}/self-service/${kind}/flows?id=${encodeURIComponent(id)}`, { credentials: 'include', headers: { accept: 'application/json' } })
    if (!res.ok) {
      window.location.assign(`${api}/self-service/${kind}/browser`)
      return
    }
    const flow = await res.json()
    root.render(h(kind === 'login' ? Login : Registration, { flow, config } as never))
    return
  }
  const who = await fetch(`${api}/sessions/whoami`, { credentials: 'include', headers: { accept: 'application/json' } })
  const email = who.ok ? (await who.json()).identity.traits.email : 'anonymous'
  root.render(h('main', null, h('p', { id: 'where' }, url.pathname), h('p', { id: 'who' }, email)))
}

void main()

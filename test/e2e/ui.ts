/**
 * A minimal self-service UI for the browser journey: renders a flow's ui nodes
 * as an HTML form (server-side, forwarding the browser's cookies to the public
 * API, as Ory's reference UIs do), and a home page showing whoami with a
 * logout link. Not the product UI (the ui plugin): a generic renderer of flow nodes, so the API journeys that use
 * it test the identity API alone, as an Ory user's own UI would meet it.
 */
import { afterAll, beforeAll } from 'bun:test'
import { identity } from '../../plugins/identity/index.ts'
import { quickstartSchema } from '../helpers/identity.ts'
import { password } from '../../plugins/password/index.ts'
import { bootApps } from '../helpers/app.ts'
const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

interface Node {
  type: string
  group?: string
  attributes: { name?: string; type?: string; value?: unknown; required?: boolean; node_type: string; text?: { id: number; text: string }; href?: string; id?: string }
  messages: { id: number; text: string }[]
  meta: { label?: { text: string } }
}
type Flow = { ui: { action: string; method: string; nodes: Node[]; messages?: { id: number; text: string }[] } }

function renderNode(n: Node): string {
  const a = n.attributes
  const msgs = n.messages.map((m) => `<p class="error" data-id="${m.id}">${esc(m.text)}</p>`).join('')
  if (a.node_type === 'text') return `<p class="text" id="${esc(a.id)}">${esc(n.meta.label?.text)} <code>${esc(a.text?.text)}</code></p>${msgs}`
  if (a.node_type === 'a') return `<a href="${esc(a.href)}">${esc(n.meta.label?.text)}</a>`
  if (a.node_type !== 'input') return msgs
  if (a.type === 'submit' || a.type === 'button') return `<button type="submit" name="${esc(a.name)}" value="${esc(a.value)}">${esc(n.meta.label?.text ?? 'Submit')}</button>`
  if (a.type === 'hidden') return `<input type="hidden" name="${esc(a.name)}" value="${esc(a.value)}">`
  return `<label>${esc(n.meta.label?.text ?? a.name)} <input name="${esc(a.name)}" type="${esc(a.type)}" value="${a.type === 'password' ? '' : esc(a.value)}"${a.required ? ' required' : ''}></label>${msgs}`
}

/**
 * A flow as HTML, rendered generically from its ui nodes as Kratos' reference UI does: one form per method group
 * (`id="form-<group>"`: the `default` group's nodes, such as the CSRF token and the identifier, and that method's),
 * so each method's required fields are its own; a flow with no method group is one form of its `default` nodes.
 */
export function renderFlow(title: string, flow: Flow): string {
  const groups = [...new Set(flow.ui.nodes.map((n) => n.group ?? 'default'))].filter((g) => g !== 'default')
  const form = (group: string) => {
    const nodes = flow.ui.nodes.filter((n) => (n.group ?? 'default') === 'default' || (n.group ?? 'default') === group)
    return `<form action="${esc(flow.ui.action)}" method="${esc(flow.ui.method)}" id="form-${esc(group)}">${nodes.map(renderNode).join('\n')}</form>`
  }
  const messages = (flow.ui.messages ?? []).map((m) => `<p class="message" data-id="${m.id}">${esc(m.text)}</p>`).join('')
  return `<!doctype html><title>${esc(title)}</title><h1>${esc(title)}</h1>${messages}${(groups.length ? groups : ['default']).map(form).join('\n')}`
}

const TITLES: Record<string, string> = { registration: 'Sign up', login: 'Sign in', recovery: 'Recover your account', verification: 'Verify your address', settings: 'Account settings' }

/**
 * The UI server: /registration, /login, /recovery, /verification, /settings (each renders the flow named by
 * `?flow=`, or starts a new browser flow), /error, and / (home). `api` is the public API's base URL (or a function
 * giving it, when the API starts after the UI).
 */
export function uiServer(api: string | (() => string)) {
  const base = typeof api === 'string' ? () => api : api
  return Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      const url = new URL(req.url)
      const cookie = req.headers.get('cookie') ?? ''
      const api = base()
      const html = (body: string) => new Response(body, { headers: { 'content-type': 'text/html; charset=utf-8' } })
      const kind = url.pathname.slice(1)
      if (kind in TITLES) {
        const r = await fetch(`${api}/self-service/${kind}/flows?id=${encodeURIComponent(url.searchParams.get('flow') ?? '')}`, { headers: { cookie } })
        if (!r.ok) return Response.redirect(`${api}/self-service/${kind}/browser`, 303)
        return html(renderFlow(TITLES[kind]!, await r.json()))
      }
      if (kind === 'error') {
        const r = await fetch(`${api}/self-service/errors?id=${encodeURIComponent(url.searchParams.get('id') ?? '')}`)
        return html(`<!doctype html><title>Error</title><pre id="error">${esc(await r.text())}</pre>`)
      }
      const who = await fetch(`${api}/sessions/whoami`, { headers: { cookie } })
      if (!who.ok) return html('<!doctype html><title>Home</title><p id="who">anonymous</p>')
      const session = await who.json()
      const logout = await (await fetch(`${api}/self-service/logout/browser`, { headers: { cookie } })).json()
      const verified = (session.identity.verifiable_addresses ?? []).map((a: { value: string; verified: boolean }) => `<li data-verified="${a.verified}">${esc(a.value)}</li>`).join('')
      return html(
        `<!doctype html><title>Home</title><p id="who">${esc(session.identity.traits.email ?? session.identity.traits.phone)}</p><ul id="addresses">${verified}</ul><a id="settings" href="${esc(api)}/self-service/settings/browser">Settings</a> <a id="logout" href="${esc(logout.logout_url)}">Log out</a>`,
      )
    },
  })
}


/**
 * The stack both journeys run against: Tessera (identity + password) on a real socket at `api`, and the
 * minimal UI at `uiUrl` that renders its flows.
 */
export async function startJourneyStack(): Promise<{ api: string; uiUrl: string; stop(): Promise<void> }> {
  let handle: (r: Request) => Response | Promise<Response> = () => new Response('starting', { status: 503 })
  const apiServer = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (r) => handle(r) })
  const api = `http://127.0.0.1:${apiServer.port}`
  const ui = uiServer(api)
  const uiUrl = `http://127.0.0.1:${ui.port}`
  const apps = await bootApps(
    [
      identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: { uiUrl, defaultReturnUrl: `${uiUrl}/` } }),
      password({ hasher: { memoryCost: 64 }, breachCheck: { enabled: false } }),
    ],
    { config: { serve: { public: { baseUrl: api } } } as never },
  )
  handle = (r) => apps.public.handle(r)
  return {
    api,
    uiUrl,
    async stop() {
      apiServer.stop(true)
      ui.stop(true)
      await apps.kernel.stop()
    },
  }
}

/** The journey stack for a describe block: started before its tests, stopped after; `api` is its base URL. */
export function useJourneyStack(): { readonly api: string } {
  let stack: Awaited<ReturnType<typeof startJourneyStack>> | undefined
  beforeAll(async () => {
    stack = await startJourneyStack()
  })
  afterAll(async () => {
    await stack?.stop()
  })
  return {
    get api() {
      return stack!.api
    },
  }
}

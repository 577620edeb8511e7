/** @jsxImportSource preact */
/**
 * Server-side rendering with preact-render-to-string: every string is escaped by the renderer; nothing here
 * concatenates HTML. A flow is rendered generically from its ui nodes, one form per node group (the `default`
 * group's nodes, the CSRF token and the identifier, go with every form), so a new credential method appears
 * without a change here; a plugin may register a renderer for its own group.
 */
import type { ComponentChildren, VNode } from 'preact'
import { renderToString } from 'preact-render-to-string'
import type { UiNode, UiText } from 'tessera'
import type { MessageKey, T } from './i18n/index.ts'
import { LANGUAGES, type Language, type UiOptions } from './options.ts'
import { DEFAULT_LOGO } from './theme.ts'

/** What a group renderer gets: the node, and the page's translator and nonce. */
export interface NodeRenderContext {
  message(m: UiText | undefined): string
  t: T
  nonce: string
  lang: Language
}
/** A plugin's renderer for its own node group: a preact element, or null to fall back to the generic one. */
export type NodeRenderer = (node: UiNode, ctx: NodeRenderContext) => VNode | null

export interface Page {
  t: T
  message(m: UiText | undefined): string
  lang: Language
  nonce: string
  opts: UiOptions
  css: string
  /** The ui's base URL (public base URL + basePath). */
  base: string
  /** The request's URL (for the language links). */
  url: URL
  signedIn: boolean
  logoutUrl?: string
  outbox: boolean
  renderers: ReadonlyMap<string, NodeRenderer>
}

export const html = (vnode: VNode) => `<!doctype html>${renderToString(vnode)}`

const langHref = (url: URL, lang: Language) => {
  const u = new URL(url)
  u.searchParams.set('lang', lang)
  return `${u.pathname}${u.search}`
}

export function Layout(props: { page: Page; title: string; children: ComponentChildren }): VNode {
  const { page, title } = props
  const { t } = page
  return (
    <html lang={page.lang === 'zh' ? 'zh-Hans' : page.lang}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <title>{`${title} · ${page.opts.productName}`}</title>
        <style nonce={page.nonce} dangerouslySetInnerHTML={{ __html: page.css }} />
      </head>
      <body>
        <a class="skip" href="#main">
          {t('skip')}
        </a>
        <header>
          <a class="brand" href={`${page.base}/`}>
            <img src={page.opts.logo ?? DEFAULT_LOGO} alt="" width={28} height={28} />
            <span>{page.opts.productName}</span>
          </a>
          <nav aria-label={page.opts.productName}>
            <ul>
              {page.signedIn ? (
                <>
                  <li>
                    <a href={`${page.base}/`}>{t('nav.home')}</a>
                  </li>
                  <li>
                    <a href={`${page.base}/settings`}>{t('nav.settings')}</a>
                  </li>
                  {page.logoutUrl ? (
                    <li>
                      <a id="logout" href={page.logoutUrl}>
                        {t('nav.signOut')}
                      </a>
                    </li>
                  ) : null}
                </>
              ) : (
                <>
                  <li>
                    <a href={`${page.base}/login`}>{t('nav.signIn')}</a>
                  </li>
                  <li>
                    <a href={`${page.base}/registration`}>{t('nav.signUp')}</a>
                  </li>
                </>
              )}
              {page.outbox ? (
                <li>
                  <a href={`${page.base}/outbox`}>{t('nav.outbox')}</a>
                </li>
              ) : null}
            </ul>
          </nav>
        </header>
        <main id="main">
          <div class="card">
            <h1>{title}</h1>
            {props.children}
          </div>
        </main>
        <footer>
          <nav aria-label={t('language')}>
            <ul>
              {LANGUAGES.map((l) => (
                <li>
                  <a href={langHref(page.url, l)} lang={l === 'zh' ? 'zh-Hans' : l} aria-current={l === page.lang ? 'true' : undefined}>
                    {catalogName(l)}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
        </footer>
      </body>
    </html>
  )
}

const NAMES: Record<Language, string> = { en: 'English', de: 'Deutsch', ru: 'Русский', zh: '简体中文' }
const catalogName = (l: Language) => NAMES[l]

/** Flow- or page-level messages, announced to screen readers. */
export function Messages(props: { page: Page; messages: readonly UiText[] | undefined }): VNode | null {
  const ms = props.messages ?? []
  if (ms.length === 0) return null
  return (
    <div id="messages" role={ms.some((m) => m.type === 'error') ? 'alert' : 'status'}>
      {ms.map((m) => (
        <p class={`msg ${m.type}`} data-id={m.id}>
          {props.page.message(m)}
        </p>
      ))}
    </div>
  )
}

type Attrs = Record<string, unknown> & { node_type: string }
const attrs = (n: UiNode) => n.attributes as Attrs
const str = (x: unknown) => (x === undefined || x === null ? undefined : typeof x === 'string' ? x : JSON.stringify(x))
/** An image or link target the page may load: a data: URL or a path on this origin (no external requests). */
const sameOrigin = (src: string, base: string) => src.startsWith('data:image/') || (src.startsWith('/') && !src.startsWith('//')) || src.startsWith(`${new URL(base).origin}/`)

let seq = 0
function NodeView(props: { page: Page; node: UiNode; form: string }): VNode | null {
  const { page, node, form } = props
  const custom = page.renderers.get(node.group)?.(node, { message: page.message, t: page.t, nonce: page.nonce, lang: page.lang })
  if (custom) return custom
  const a = attrs(node)
  const label = node.meta.label ? page.message(node.meta.label) : undefined
  // a field's messages are its description (read with the field) and, shown as the page loads, an alert
  const id = `${form}-${String(a.name ?? a.id ?? node.group).replace(/[^A-Za-z0-9_-]/g, '_')}-${++seq}`
  const described = node.messages.length ? `${id}-msg` : undefined
  const errors = node.messages.length ? (
    <div role="alert" id={described}>
      {node.messages.map((m) => (
        <p class="field-msg" data-id={m.id}>
          {page.message(m)}
        </p>
      ))}
    </div>
  ) : null
  switch (a.node_type) {
    case 'input': {
      const name = String(a.name ?? '')
      const type = String(a.type ?? 'text')
      if (type === 'hidden') return <input type="hidden" name={name} value={str(a.value) ?? ''} />
      if (type === 'submit') {
        return (
          <>
            <button type="submit" name={name} value={str(a.value) ?? ''} disabled={a.disabled === true}>
              {label ?? page.t('1070005')}
            </button>
            {errors}
          </>
        )
      }
      if (type === 'button') {
        // WebAuthn and passkeys: the script's trigger, bound by the page's own script (no inline handlers under the CSP)
        return (
          <>
            <button type="button" class="secondary" name={name} value={str(a.value) ?? ''} data-trigger={str(a.onclickTrigger)} data-value={str(a.value)}>
              {label ?? name}
            </button>
            <noscript>
              <p class="muted">{page.t('js.required')}</p>
            </noscript>
            {errors}
          </>
        )
      }
      if (type === 'checkbox') {
        return (
          <>
            <label class="check" for={id}>
              <input id={id} type="checkbox" name={name} value="true" checked={a.value === true} required={a.required === true} aria-invalid={node.messages.length ? 'true' : undefined} aria-describedby={described} />
              {label ?? name}
            </label>
            {errors}
          </>
        )
      }
      return (
        <>
          <label for={id}>{label ?? name}</label>
          <input
            id={id}
            name={name}
            type={type as "text"}
            value={type === 'password' ? undefined : str(a.value)}
            required={a.required === true}
            disabled={a.disabled === true}
            autocomplete={str(a.autocomplete)}
            pattern={str(a.pattern)}
            maxlength={typeof a.maxlength === 'number' ? a.maxlength : undefined}
            aria-invalid={node.messages.length ? 'true' : undefined}
            aria-describedby={described}
          />
          {errors}
        </>
      )
    }
    case 'img': {
      const src = String(a.src ?? '')
      if (!sameOrigin(src, page.base)) return null
      return <img class="qr" src={src} alt={label ?? page.t('qrAlt')} width={typeof a.width === 'number' ? a.width : 220} height={typeof a.height === 'number' ? a.height : 220} id={str(a.id)} />
    }
    case 'text': {
      const text = a.text as UiText | undefined
      const secrets = (text?.context as { secrets?: UiText[] } | undefined)?.secrets
      return (
        <div id={str(a.id)} data-id={text?.id}>
          {label ? <p>{label}</p> : null}
          {Array.isArray(secrets) ? (
            <ul class="codes">
              {secrets.map((s) => (
                <li>
                  <code>{page.message(s)}</code>
                </li>
              ))}
            </ul>
          ) : (
            <p class="secret">{page.message(text)}</p>
          )}
          {errors}
        </div>
      )
    }
    case 'a':
      return (
        <p>
          <a href={String(a.href ?? '#')} id={str(a.id)}>
            {page.message(a.title as UiText) || label}
          </a>
        </p>
      )
    case 'script': {
      const src = String(a.src ?? '')
      if (!sameOrigin(src, page.base)) return null
      return <script src={src} nonce={page.nonce} integrity={str(a.integrity)} crossorigin={str(a.crossorigin) as 'anonymous' | undefined} referrerpolicy="no-referrer" async={a.async === true} id={str(a.id)} />
    }
    default:
      return errors
  }
}

const groupTitle = (page: Page, group: string) => {
  const key = `group.${group}` as MessageKey
  const s = page.t(key)
  return s === key ? group.replace(/_/g, ' ') : s
}

export interface Flow {
  id: string
  ui: { action: string; method: string; nodes: UiNode[]; messages?: UiText[] }
}

const isTrigger = (n: UiNode) => typeof attrs(n).onclickTrigger === 'string' || typeof attrs(n).onloadTrigger === 'string'

/** A flow's forms: one per node group (two for a group with script and plain buttons), each with the `default` group's nodes. */
export function FlowForms(props: { page: Page; flow: Flow; headings?: boolean }): VNode {
  const { page, flow } = props
  const nodes = flow.ui.nodes
  const groups = [...new Set(nodes.map((n) => n.group))].filter((g) => g !== 'default')
  const defaults = nodes.filter((n) => n.group === 'default')
  const scripts = nodes.filter((n) => n.type === 'script')
  const hasTriggers = nodes.some(isTrigger)
  const list = groups.length ? groups : ['default']
  return (
    <>
      <Messages page={page} messages={flow.ui.messages} />
      {list.map((g) => {
        const own = g === 'default' ? defaults : nodes.filter((n) => n.group === g && n.type !== 'script')
        if (own.length === 0) return null
        const form = `form-${g.replace(/[^A-Za-z0-9_-]/g, '_')}`
        const shared = g === 'default' ? [] : defaults
        const method = flow.ui.method.toLowerCase() === 'get' ? 'get' : 'post'
        // A group is its method. Buttons that do not say so (`totp_unlink`, `lookup_secret_regenerate`,
        // `passkey_remove`, …) get it from a hidden field, as Ory Elements adds it with script; a form the WebAuthn
        // script submits gets its method from the script, so such buttons beside a script's go in a form of their own.
        const named = g === 'default' || own.some((n) => attrs(n).name === 'method')
        const scripted = own.some(isTrigger)
        const apart = named || !scripted ? [] : own.filter((n) => attrs(n).node_type === 'input' && attrs(n).type === 'submit')
        const rest = own.filter((n) => !apart.includes(n))
        return (
          <section aria-labelledby={props.headings && list.length > 1 ? `${form}-h` : undefined}>
            {props.headings && list.length > 1 ? <h2 id={`${form}-h`}>{groupTitle(page, g)}</h2> : null}
            {apart.length ? (
              <form id={`${form}-manage`} action={flow.ui.action} method={method}>
                {shared.concat(apart).map((n) => (
                  <NodeView page={page} node={n} form={`${form}-manage`} />
                ))}
                <input type="hidden" name="method" value={g} />
              </form>
            ) : null}
            <form id={form} action={flow.ui.action} method={method}>
              {shared.concat(rest).map((n) => (
                <NodeView page={page} node={n} form={form} />
              ))}
              {named || scripted ? null : <input type="hidden" name="method" value={g} />}
            </form>
          </section>
        )
      })}
      {scripts.map((n) => (
        <NodeView page={page} node={n} form="script" />
      ))}
      {hasTriggers ? <TriggerScript page={page} nodes={nodes} /> : null}
    </>
  )
}

/**
 * Binds the WebAuthn script's triggers to their buttons (a button's `data-trigger` calls `window[trigger](value)`)
 * and runs the onload triggers once the script has loaded: Ory's `onclick`/`onload` attributes as listeners, so
 * the CSP needs no 'unsafe-inline'.
 */
function TriggerScript(props: { page: Page; nodes: UiNode[] }): VNode {
  const onload = props.nodes.map((n) => attrs(n).onloadTrigger).filter((x): x is string => typeof x === 'string' && /^[A-Za-z0-9_]+$/.test(x))
  const js = `(function(){var L=${JSON.stringify(onload)};function go(){document.querySelectorAll('button[data-trigger]').forEach(function(b){b.addEventListener('click',function(e){e.preventDefault();var f=window[b.dataset.trigger];var v=b.dataset.value;if(typeof f==='function')f(v&&v.charAt(0)==='{'?v:undefined)})});L.forEach(function(n){if(typeof window[n]==='function')window[n]()})}if(window.__oryWebAuthnInitialized)go();else window.addEventListener('oryWebAuthnInitialized',go,{once:true})})()`
  return <script nonce={props.page.nonce} dangerouslySetInnerHTML={{ __html: js.replace(/</g, '\\u003c') }} />
}

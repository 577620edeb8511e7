/** @jsxImportSource preact */
/** The pages: each a preact component rendered to a string by `html()`. */
import type { VNode } from 'preact'
import type { OAuth2ConsentView as ConsentView, OAuth2DeviceView as DeviceView, OAuth2ErrorView, OAuth2LogoutView as LogoutView, UiText } from 'tessera'
import type { MessageKey } from './i18n/index.ts'
import { type Flow, FlowForms, Layout, Messages, type Page, html } from './render.tsx'

export type FlowKind = 'login' | 'registration' | 'recovery' | 'verification' | 'settings'

function flowTitle(kind: FlowKind, flow: Record<string, unknown>): MessageKey {
  if (kind === 'login' && flow.requested_aal === 'aal2') return 'title.login.aal2'
  if (kind === 'login' && flow.refresh === true) return 'title.login.refresh'
  return `title.${kind}` as MessageKey
}

export interface SessionRow {
  id: string
  authenticated_at?: string
  devices?: { user_agent?: string; ip_address?: string }[]
}

export function flowPage(page: Page, kind: FlowKind, flow: Flow & Record<string, unknown>, extra: { sessions?: { current?: SessionRow; others: SessionRow[]; csrf: string; notice?: UiText } } = {}): string {
  const { t } = page
  const links: VNode[] = []
  // during an OAuth2 authorization, switching between sign-in and sign-up keeps the provider's login challenge
  const challenge = typeof flow.oauth2_login_challenge === 'string' ? `?login_challenge=${encodeURIComponent(flow.oauth2_login_challenge)}` : ''
  if (kind === 'login' && flow.requested_aal !== 'aal2' && flow.refresh !== true) {
    links.push(<a href={`${page.base}/registration${challenge}`}>{`${t('login.noAccount')} ${t('nav.signUp')}`}</a>)
    links.push(<a href={`${page.base}/recovery`}>{t('login.forgot')}</a>)
  }
  if (kind === 'login' && (flow.requested_aal === 'aal2' || flow.refresh === true) && page.logoutUrl) links.push(<a href={page.logoutUrl}>{t('login.signOutInstead')}</a>)
  if (kind === 'registration') links.push(<a href={`${page.base}/login${challenge}`}>{`${t('login.haveAccount')} ${t('nav.signIn')}`}</a>)
  if (kind === 'recovery' || kind === 'verification') links.push(<a href={`${page.base}/login`}>{t('nav.signIn')}</a>)
  const s = extra.sessions
  // during an OAuth2 authorization the flow names the application that asks (`oauth2_login_request`, as Kratos' does)
  const client = (flow.oauth2_login_request as { client?: { client_name?: string; client_id?: string } } | undefined)?.client
  const clientName = client?.client_name || client?.client_id
  return html(
    <Layout page={page} title={t(flowTitle(kind, flow))}>
      {clientName && (kind === 'login' || kind === 'registration') ? (
        <p class="muted" id="continue-to">
          {t(`${kind}.continueTo`, { client: clientName })}
        </p>
      ) : null}
      <FlowForms page={page} flow={flow} headings={kind === 'settings' || kind === 'login' || kind === 'registration'} />
      {s ? (
        <section aria-labelledby="sessions-h" id="sessions">
          <h2 id="sessions-h">{t('sessions.title')}</h2>
          <Messages page={page} messages={s.notice ? [s.notice] : undefined} />
          {s.current ? <p>{`${t('sessions.current')}: ${describe(s.current, page)}`}</p> : null}
          {s.others.length === 0 ? <p class="muted">{t('sessions.none')}</p> : null}
          {s.others.map((o) => (
            <form method="post" action={`${page.base}/sessions/revoke`} class="session">
              <p>{describe(o, page)}</p>
              <input type="hidden" name="csrf_token" value={s.csrf} />
              <input type="hidden" name="flow" value={flow.id} />
              <input type="hidden" name="session_id" value={o.id} />
              <button type="submit" class="secondary">
                {t('sessions.revoke')}
              </button>
            </form>
          ))}
          {s.others.length > 1 ? (
            <form method="post" action={`${page.base}/sessions/revoke`}>
              <input type="hidden" name="csrf_token" value={s.csrf} />
              <input type="hidden" name="flow" value={flow.id} />
              <input type="hidden" name="all" value="true" />
              <button type="submit" class="secondary">
                {t('sessions.revokeAll')}
              </button>
            </form>
          ) : null}
        </section>
      ) : null}
      {links.length ? <p class="links">{links}</p> : null}
    </Layout>,
  )
}

function describe(s: SessionRow, page: Page): string {
  const d = s.devices?.[0]
  const when = s.authenticated_at ? new Date(s.authenticated_at).toLocaleString(page.lang === 'zh' ? 'zh-CN' : page.lang, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }) : ''
  return [d?.user_agent?.slice(0, 80), d?.ip_address, when ? page.t('sessions.since', { date: `${when} UTC` }) : ''].filter(Boolean).join(' · ')
}

/** How an identity is named on a page: its e-mail address, username or phone number (else its id). */
export const accountName = (identity: Record<string, any>): string => String(identity.traits?.email ?? identity.traits?.username ?? identity.traits?.phone ?? identity.id)

export function homePage(page: Page, session: Record<string, any> | null, needsAal2: boolean): string {
  const { t } = page
  const identity = session?.identity as Record<string, any> | undefined
  const name = identity ? accountName(identity) : ''
  const addresses = (identity?.verifiable_addresses ?? []) as { value: string; verified: boolean }[]
  return html(
    <Layout page={page} title={t('title.home')}>
      {identity ? (
        <>
          <p id="who" data-identity={identity.id}>
            {t('home.signedInAs', { name })}
          </p>
          <p class="muted">{t('home.assurance', { aal: String(session?.authenticator_assurance_level ?? 'aal1') })}</p>
          {addresses.length ? (
            <>
              <h2>{t('home.addresses')}</h2>
              <ul id="addresses">
                {addresses.map((a) => (
                  <li data-verified={String(a.verified)}>
                    {`${a.value} — ${a.verified ? t('home.verified') : t('home.unverified')} `}
                    {a.verified ? null : <a href={`${page.base}/verification`}>{t('home.verifyNow')}</a>}
                  </li>
                ))}
              </ul>
            </>
          ) : null}
          <p class="links">
            <a href={`${page.base}/settings`}>{t('nav.settings')}</a>
          </p>
        </>
      ) : needsAal2 ? (
        <p class="links">
          <a href={`${page.base}/login?aal=aal2`}>{t('title.login.aal2')}</a>
        </p>
      ) : (
        <>
          <p id="who">{t('home.anonymous')}</p>
          <p class="links">
            <a href={`${page.base}/login`}>{t('nav.signIn')}</a>
            <a href={`${page.base}/registration`}>{t('nav.signUp')}</a>
          </p>
        </>
      )}
    </Layout>,
  )
}

/** An error: the API's (`id`, `message`, `reason`, in English) or the ui's own (`text`, in the page's language). */
export interface ErrorDetail {
  id?: string
  message?: string
  reason?: string
  text?: string
}

/**
 * An error in the page's language: the ui's own text; the catalogue's text for the error's id (`error.<id>`) when
 * it has one; else the API's message, which is English, on an English page, and the generic text on any other.
 */
function errorText(page: Page, detail: ErrorDetail | null): string {
  if (detail?.text) return detail.text
  const key = `error.${detail?.id ?? ''}` as MessageKey
  if (detail?.id && /^[a-z0-9_]+$/.test(detail.id) && page.t(key) !== key) return page.t(key)
  if (detail?.message && page.lang === 'en') return `${detail.message}${detail.reason ? ` ${detail.reason}` : ''}`
  return page.t('error.generic')
}

export function errorPage(page: Page, detail: ErrorDetail | null): string {
  const { t } = page
  return html(
    <Layout page={page} title={t('title.error')}>
      <div role="alert">
        <p id="error">{errorText(page, detail)}</p>
        {detail?.id ? <p class="muted">{detail.id}</p> : null}
      </div>
      <p class="links">
        <a href={`${page.base}/`}>{t('error.back')}</a>
      </p>
    </Layout>,
  )
}

export interface OutboxMessage {
  id: string
  recipient: string
  subject: string
  body: string
  created_at: string | Date
}

export function outboxPage(page: Page, messages: OutboxMessage[]): string {
  const { t } = page
  return html(
    <Layout page={page} title={t('title.outbox')}>
      <p class="muted">{t('outbox.devOnly')}</p>
      {messages.length === 0 ? <p>{t('outbox.empty')}</p> : null}
      {messages.map((m) => (
        <article class="mail" data-to={m.recipient}>
          <h2>{m.subject || '—'}</h2>
          <p class="muted">{`${t('outbox.to')}: ${m.recipient} · ${new Date(m.created_at).toISOString().replace('T', ' ').slice(0, 19)} UTC`}</p>
          <pre>{linkify(m.body)}</pre>
        </article>
      ))}
    </Layout>,
  )
}

/** Links in a plain-text mail body as anchors (the text itself stays escaped). */
function linkify(body: string): (string | VNode)[] {
  const out: (string | VNode)[] = []
  let last = 0
  for (const m of body.matchAll(/https?:\/\/[^\s<>"]+/g)) {
    out.push(body.slice(last, m.index))
    out.push(<a href={m[0]}>{m[0]}</a>)
    last = m.index + m[0].length
  }
  out.push(body.slice(last))
  return out
}

/** The views the oauth2 plugin hands these pages: the core's contract (OAuth2PagesService). */
export type { OAuth2ConsentView as ConsentView, OAuth2DeviceView as DeviceView, OAuth2ErrorView, OAuth2LogoutView as LogoutView } from 'tessera'

const KNOWN_SCOPES = ['openid', 'profile', 'email', 'phone', 'address', 'offline_access'] as const

/** The consent page; `account` names the signed-in identity when it is the consent's subject. */
export function consentPage(page: Page, v: ConsentView, account?: string): string {
  const { t } = page
  const name = v.client.name || v.client.id
  const logo = v.client.logoUri && (v.client.logoUri.startsWith('data:image/') || v.client.logoUri.startsWith(`${new URL(page.base).origin}/`)) ? v.client.logoUri : undefined
  return html(
    <Layout page={page} title={t('title.consent')}>
      <p>{logo ? <img src={logo} alt="" width={48} height={48} /> : <span class="logo-fallback" aria-hidden="true">{name.slice(0, 1).toUpperCase()}</span>}</p>
      <p id="client">{t('consent.asks', { client: name })}</p>
      {account ? (
        <p class="muted" id="account">
          {t('consent.signedInAs', { name: account })}
        </p>
      ) : null}
      <p>{t('consent.wants')}</p>
      <ul id="scopes">
        {(v.scopes.length ? v.scopes : ['openid']).map((s) => (
          <li data-scope={s}>{(KNOWN_SCOPES as readonly string[]).includes(s) ? t(`scope.${s}` as MessageKey) : t('scope.other', { scope: s })}</li>
        ))}
      </ul>
      {v.client.clientUri && /^https?:\/\//.test(v.client.clientUri) ? (
        <p>
          <a href={v.client.clientUri} rel="noopener noreferrer">
            {t('consent.visit')}
          </a>
        </p>
      ) : null}
      <form method="post" action={v.action}>
        {Object.entries(v.hidden).map(([k, val]) => (
          <input type="hidden" name={k} value={val} />
        ))}
        <label class="check" for="remember">
          <input id="remember" type="checkbox" name="remember" value="true" />
          {t('consent.remember')}
        </label>
        <button type="submit" name="decision" value="accept" id="accept">
          {t('consent.allow')}
        </button>
        <button type="submit" name="decision" value="reject" id="reject" class="secondary">
          {t('consent.deny')}
        </button>
      </form>
    </Layout>,
  )
}

export function devicePage(page: Page, v: DeviceView): string {
  const { t } = page
  if (v.state !== 'enter') {
    return html(
      <Layout page={page} title={t('title.device')}>
        <p id={v.state === 'done' ? 'done' : 'denied'} role="status">
          {v.state === 'done' ? t('device.done') : t('device.denied')}
        </p>
      </Layout>,
    )
  }
  return html(
    <Layout page={page} title={t('title.device')}>
      {v.error ? (
        <p class="msg error" role="alert" id="error">
          {t('device.invalid')}
        </p>
      ) : null}
      <p>{t('device.enter')}</p>
      <form method="post" action={v.action}>
        {Object.entries(v.hidden).map(([k, val]) => (
          <input type="hidden" name={k} value={val} />
        ))}
        <label for="user_code">{t('device.code')}</label>
        <input
          id="user_code"
          name={v.field}
          type="text"
          value={v.userCode}
          autocomplete="one-time-code"
          autocapitalize="characters"
          spellcheck={false}
          required
          aria-invalid={v.error ? 'true' : undefined}
          aria-describedby={v.error ? 'error' : undefined}
        />
        <button type="submit">{t('device.submit')}</button>
      </form>
    </Layout>,
  )
}

/**
 * An OAuth2 request that cannot go back to the client (an unknown client or redirect URI, a failed CSRF check):
 * what happened in the reader's language, the protocol's error code and its English description for whoever
 * investigates (marked `lang="en"`, so a screen reader reads it as English).
 */
export function oauth2ErrorPage(page: Page, v: OAuth2ErrorView): string {
  const { t } = page
  return html(
    <Layout page={page} title={t('title.error')}>
      <div role="alert">
        <p id="error">{t('error.generic')}</p>
      </div>
      <p class="muted">
        <code id="error-code">{v.error}</code>
      </p>
      <p class="muted" id="error-description" lang="en">
        {v.description}
      </p>
      <p class="links">
        <a href={`${page.base}/`}>{t('error.back')}</a>
      </p>
    </Layout>,
  )
}

export function logoutPage(page: Page, v: LogoutView): string {
  const { t } = page
  const name = v.client ? v.client.name || v.client.id : undefined
  return html(
    <Layout page={page} title={t('title.logout')}>
      <p id="question">{name ? t('logout.confirm', { client: name }) : t('logout.confirmAll')}</p>
      <form method="post" action={v.action}>
        {Object.entries(v.hidden).map(([k, val]) => (
          <input type="hidden" name={k} value={val} />
        ))}
        <button type="submit" name="decision" value="accept" id="accept">
          {t('logout.yes')}
        </button>
        <button type="submit" name="decision" value="reject" id="reject" class="secondary">
          {t('logout.no')}
        </button>
      </form>
    </Layout>,
  )
}

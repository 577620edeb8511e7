/**
 * The ui's languages: how a request's language is chosen (`?lang=`, then the `tessera_lang` cookie, then the
 * OIDC `ui_locales` of the authorization a page serves, then Accept-Language, then the configured default) and a
 * translator over the page texts and Kratos message ids of the catalogue in `tessera/i18n`.
 */
import type { UiText } from 'tessera'
import { type Language, type UiKey, catalogues, chosenLanguage, isLanguage } from 'tessera/i18n'

export type MessageKey = UiKey
export { LANG_COOKIE } from 'tessera/i18n'

/**
 * The language of a request, and whether `?lang=` chose it (then the cookie is set). `uiLocales` are an OIDC
 * authorization's `ui_locales` (the application's wish, in order of preference: OpenID Connect Core §3.1.2.1),
 * weighed after the reader's own choice and before the browser's Accept-Language.
 */
export function negotiate(request: Request, fallback: Language, uiLocales: readonly unknown[] = []): { lang: Language; fromQuery: boolean } {
  const q = new URL(request.url).searchParams.get('lang')?.toLowerCase().slice(0, 2)
  if (isLanguage(q)) return { lang: q, fromQuery: true }
  const cookie = chosenLanguage(request)
  if (isLanguage(cookie)) return { lang: cookie, fromQuery: false }
  for (const tag of uiLocales.slice(0, 20)) {
    const lang = typeof tag === 'string' ? tag.toLowerCase().slice(0, 2) : undefined
    if (isLanguage(lang)) return { lang, fromQuery: false }
  }
  const ranked = (request.headers.get('accept-language') ?? '')
    .split(',')
    .slice(0, 20)
    .map((part) => {
      const [tag = '', ...params] = part.trim().split(';')
      const qv = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find(Boolean)
      return { tag: tag.toLowerCase().slice(0, 2), q: qv === undefined ? 1 : Number(qv) }
    })
    .filter((x) => x.q > 0)
    .sort((a, b) => b.q - a.q)
  for (const r of ranked) if (isLanguage(r.tag)) return { lang: r.tag, fromQuery: false }
  return { lang: fallback, fromQuery: false }
}

const fill = (template: string, vars: Record<string, unknown>) => template.replace(/\{([a-z_]+)\}/g, (m, k: string) => (vars[k] === undefined ? m : String(vars[k])))

export type T = (key: MessageKey, vars?: Record<string, unknown>) => string

/** A translator for one language. */
export function translator(lang: Language): { t: T; message: (m: UiText | undefined) => string } {
  const c = catalogues[lang].ui
  const en = catalogues.en.ui
  const t: T = (key, vars = {}) => fill(c[key] ?? en[key] ?? key, vars)
  /**
   * A Kratos message in this language: by id, filled from its context (and `{text}`: the message's own text);
   * a message whose id the catalogue lacks (a plugin of your own) shows its text as sent. A trait's label
   * (1070002) shows the title the identity schema gives for this language (`context.titles`), else its `title`.
   */
  const message = (m: UiText | undefined) => {
    if (!m) return ''
    const key = String(m.id) as MessageKey
    const template = c[key]
    if (template === undefined) return m.text
    const titles = m.context?.titles as Record<string, unknown> | undefined
    const title = typeof titles?.[lang] === 'string' ? { title: titles[lang] } : {}
    const out = fill(template, { ...(m.context ?? {}), ...title, text: m.text })
    return /\{[a-z_]+\}/.test(out) ? m.text : out
  }
  return { t, message }
}

/**
 * The ui's catalogue: page texts and Kratos message ids in en, de, ru, zh, and how a request's language is
 * chosen: `?lang=`, then the `tessera_lang` cookie, then Accept-Language, then the configured default.
 */
import type { UiText } from 'tessera'
import { LANGUAGES, type Language } from '../options.ts'
import { de } from './de.ts'
import { type Catalogue, type MessageKey, en } from './en.ts'
import { ru } from './ru.ts'
import { zh } from './zh.ts'

export type { Catalogue, MessageKey }
export const catalogues: Readonly<Record<Language, Catalogue>> = { en, de, ru, zh }
export const LANG_COOKIE = 'tessera_lang'

const isLanguage = (s: string | null | undefined): s is Language => !!s && (LANGUAGES as readonly string[]).includes(s)

/** The language of a request, and whether `?lang=` chose it (then the cookie is set). */
export function negotiate(request: Request, fallback: Language): { lang: Language; fromQuery: boolean } {
  const q = new URL(request.url).searchParams.get('lang')?.toLowerCase().slice(0, 2)
  if (isLanguage(q)) return { lang: q, fromQuery: true }
  const cookie = /(?:^|;\s*)tessera_lang=([a-z]{2})(?:;|$)/.exec(request.headers.get('cookie') ?? '')?.[1]
  if (isLanguage(cookie)) return { lang: cookie, fromQuery: false }
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
  const c = catalogues[lang]
  const t: T = (key, vars = {}) => fill(c[key] ?? en[key] ?? key, vars)
  /**
   * A Kratos message in this language: by id, filled from its context (and `{text}`: the message's own text);
   * a message whose id the catalogue lacks (a plugin of your own) shows its text as sent.
   */
  const message = (m: UiText | undefined) => {
    if (!m) return ''
    const key = String(m.id) as MessageKey
    const template = c[key]
    if (template === undefined) return m.text
    const out = fill(template, { ...(m.context ?? {}), text: m.text })
    return /\{[a-z_]+\}/.test(out) ? m.text : out
  }
  return { t, message }
}

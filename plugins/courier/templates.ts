/**
 * Templates by Kratos' ids, rendered in the recipient's language: a subject, a plain-text and an HTML body for
 * e-mail, a text for SMS. The built-in texts come from the catalogue (`tessera/i18n`, its `mail` texts); a template directory overrides
 * them with files in Kratos' layout:
 *
 *   <dir>/recovery_code/valid/email.subject.gotmpl
 *   <dir>/recovery_code/valid/email.body.gotmpl             (HTML)
 *   <dir>/recovery_code/valid/email.body.plaintext.gotmpl
 *   <dir>/recovery_code/valid/sms.body.gotmpl
 *
 * and per language `email.subject.de.gotmpl`, … For a message in language L a part is the first of: the file
 * for L, the file without a language, the built-in text for L, the built-in English text. Files are read and
 * compiled once, at boot: a template that does not compile stops the boot naming the file.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Compiled, type Escape, compile, templateModel } from './render.ts'
import { LANGUAGES, type Language, type Paragraph, TEMPLATE_IDS, type TemplateId, catalogues, isLanguage } from 'tessera/i18n'

export type Part = 'subject' | 'html' | 'text' | 'sms'
const FILES: Record<Part, string> = { subject: 'email.subject', html: 'email.body', text: 'email.body.plaintext', sms: 'sms.body' }
const ESCAPE: Record<Part, Escape> = { subject: 'none', html: 'html', text: 'none', sms: 'none' }

export interface Rendered {
  subject: string
  text: string
  html: string
  sms: string
}

export const isTemplateId = (x: string): x is TemplateId => (TEMPLATE_IDS as readonly string[]).includes(x)

/** Kratos' `template_type` of a template id (`recovery_code.valid` → `recovery_code_valid`). */
export const templateType = (id: string) => id.replace('.', '_')

/** The primary language subtag of a BCP 47 tag (`de-AT` → `de`, `zh_Hans` → `zh`), lower case; `en` for none. */
export function primaryLanguage(locale: string | undefined): string {
  const p = (locale ?? '').trim().toLowerCase().split(/[-_]/)[0] ?? ''
  return /^[a-z]{2,3}$/.test(p) ? p : 'en'
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' })[c]!)
/** HTML-escape the literal text of a template, leaving its actions alone. */
const escapeLiterals = (src: string) =>
  src
    .split(/({{[\s\S]*?}})/)
    .map((s, i) => (i % 2 ? s : escapeHtml(s)))
    .join('')

function textOf(ps: readonly Paragraph[]): string[] {
  return ps.map((p) => {
    if (typeof p === 'string') return p
    if ('link' in p) return `{{ ${p.link} }}`
    if ('code' in p) return `{{ ${p.code} }}`
    return `{{ if ${p.when} }}${textOf(p.then).join('\n\n')}{{ end }}`
  })
}

function htmlOf(ps: readonly Paragraph[]): string[] {
  return ps.map((p) => {
    if (typeof p === 'string') return `<p>${escapeLiterals(p)}</p>`
    if ('link' in p) return `<p><a href="{{ ${p.link} }}">{{ ${p.link} }}</a></p>`
    if ('code' in p) return `<p style="font-size:24px;font-weight:bold;letter-spacing:4px">{{ ${p.code} }}</p>`
    return `{{ if ${p.when} }}${htmlOf(p.then).join('\n')}{{ end }}`
  })
}

function builtIn(id: TemplateId, lang: Language, part: Part): string {
  const t = catalogues[lang].mail[id]
  if (part === 'subject') return t.subject
  if (part === 'sms') return t.sms
  if (part === 'text') return `${textOf(t.body).join('\n\n')}\n`
  return `<!DOCTYPE html>\n<html lang="${lang}">\n<head><meta charset="utf-8"><title>${escapeLiterals(t.subject)}</title></head>\n<body>\n${htmlOf(t.body).join('\n')}\n</body>\n</html>\n`
}

export class Templates {
  readonly #compiled = new Map<string, Compiled>()
  /** Override files by `<id>/<part>/<lang or ''>`. */
  readonly #files = new Set<string>()

  constructor(overridePath?: string) {
    for (const id of TEMPLATE_IDS) {
      for (const part of Object.keys(FILES) as Part[]) {
        for (const lang of LANGUAGES) this.#compiled.set(`${id}/${part}/builtin:${lang}`, compile(builtIn(id, lang, part), ESCAPE[part]))
      }
    }
    if (overridePath) this.#load(overridePath)
  }

  #load(root: string) {
    if (!existsSync(root)) throw new Error(`the template directory ${root} does not exist`)
    for (const id of TEMPLATE_IDS) {
      const dir = join(root, ...id.split('.'))
      if (!existsSync(dir)) continue
      for (const name of readdirSync(dir)) {
        for (const part of Object.keys(FILES) as Part[]) {
          const m = name.match(new RegExp(`^${FILES[part].replaceAll('.', '\\.')}(?:\\.([a-z]{2,3}))?\\.gotmpl$`))
          if (!m) continue
          const key = `${id}/${part}/${m[1] ?? ''}`
          try {
            this.#compiled.set(key, compile(readFileSync(join(dir, name), 'utf8'), ESCAPE[part]))
          } catch (e) {
            throw new Error(`template ${join(dir, name)}: ${(e as Error).message}`)
          }
          this.#files.add(key)
        }
      }
    }
  }

  #pick(id: TemplateId, part: Part, lang: string): Compiled {
    for (const key of [`${id}/${part}/${lang}`, `${id}/${part}/`]) if (this.#files.has(key)) return this.#compiled.get(key)!
    const builtin = isLanguage(lang) ? lang : 'en'
    return this.#compiled.get(`${id}/${part}/builtin:${builtin}`)!
  }

  /** Render every part of template `id` in the language of `locale` (English when it has no texts in it). */
  render(id: TemplateId, locale: string | undefined, data: Record<string, unknown>): Rendered & { language: string } {
    const lang = primaryLanguage(locale)
    const model = templateModel(data)
    const r = (part: Part) => this.#pick(id, part, lang)(model)
    return { subject: r('subject').trim(), text: r('text'), html: r('html'), sms: r('sms').trim(), language: isLanguage(lang) ? lang : 'en' }
  }
}

/**
 * The languages, and the shape of the courier's mail texts: for every template id Kratos has, a subject, the body
 * as paragraphs (the plain-text and HTML bodies are both built from them) and an SMS text. Values hold
 * `{{ .Field }}` actions (the courier's template subset, plugins/courier/render.ts) with Kratos' template model names.
 */

/** Kratos' courier template ids. */
export const TEMPLATE_IDS = [
  'recovery_code.valid',
  'recovery_code.invalid',
  'recovery.valid',
  'recovery.invalid',
  'verification_code.valid',
  'verification_code.invalid',
  'verification.valid',
  'verification.invalid',
  'login_code.valid',
  'registration_code.valid',
] as const
export type TemplateId = (typeof TEMPLATE_IDS)[number]

/** A paragraph: text with actions; a link (`{ link: '.RecoveryURL' }`), a code (`{ code: '.LoginCode' }`), or paragraphs shown only when a value is set. */
export type Paragraph = string | { link: string } | { code: string } | { when: string; then: readonly Paragraph[] }

export interface MailText {
  subject: string
  body: readonly Paragraph[]
  sms: string
}

/** The mail texts in one language: every template id. */
export type MailTexts = Readonly<Record<TemplateId, MailText>>

/** The languages every text is in: English first, the fallback. */
export const LANGUAGES = ['en', 'de', 'ru', 'zh'] as const
export type Language = (typeof LANGUAGES)[number]
export const isLanguage = (s: string | null | undefined): s is Language => !!s && (LANGUAGES as readonly string[]).includes(s)

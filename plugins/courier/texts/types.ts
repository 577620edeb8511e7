/**
 * The courier's catalogue of texts, one module per language (en.ts, de.ts, ru.ts, zh.ts): for every template id
 * Kratos has, a subject, the body as paragraphs (the plain-text and HTML bodies are both built from them) and an
 * SMS text. Values are `{{ .Field }}` actions (see ../render.ts), with Kratos' template model names.
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

export interface MessageText {
  subject: string
  body: readonly Paragraph[]
  sms: string
}

export type Catalogue = Readonly<Record<TemplateId, MessageText>>

export const LANGUAGES = ['en', 'de', 'ru', 'zh'] as const
export type Language = (typeof LANGUAGES)[number]

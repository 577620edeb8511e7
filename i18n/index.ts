/**
 * `tessera/i18n`: the one catalogue of texts, in English, German, Russian and Simplified Chinese. One module per
 * language (en.ts, de.ts, ru.ts, zh.ts) holds
 *   - `ui`: the account pages' texts and every Kratos message id the first-party methods produce, by key
 *     (`nav.home`, `'4000006'`), with `{name}` placeholders filled from a message's context;
 *   - `mail`: the courier's texts by Kratos template id (`recovery_code.valid`): subject, body paragraphs, SMS,
 *     with `{{ .Field }}` actions.
 * English is the reference: `UiTexts` and `MailTexts` need every key it has, so a text missing in another
 * language does not type-check. The ui plugin and the courier import it; which language a request or a
 * message gets, and what a missing text falls back to, is theirs to decide.
 */
import { de } from './de.ts'
import { type Texts, type UiKey, type UiTexts, en } from './en.ts'
import { ru } from './ru.ts'
import { zh } from './zh.ts'
import type { Language } from './types.ts'

export type { Texts, UiKey, UiTexts }
export { LANGUAGES, type Language, TEMPLATE_IDS, type TemplateId, type MailText, type MailTexts, type Paragraph, isLanguage } from './types.ts'

/**
 * The cookie that keeps the language a reader chose (the ui sets it from `?lang=`; a UI of one's own may set it
 * too): the pages speak it, and flows started with it send their mail in it.
 */
export const LANG_COOKIE = 'tessera_lang'
const LANG_COOKIE_VALUE = new RegExp(`(?:^|;\\s*)${LANG_COOKIE}=([A-Za-z0-9_-]{1,35})(?:;|$)`)

/** The language the reader chose, as the `tessera_lang` cookie holds it (at most a language tag's length, unchecked), or undefined. */
export function chosenLanguage(request: Request): string | undefined {
  return LANG_COOKIE_VALUE.exec(request.headers.get('cookie') ?? '')?.[1]
}

/** Every language's texts. */
export const catalogues: Readonly<Record<Language, Texts>> = { en, de, ru, zh }

/** The courier's texts by language (see types.ts). */
import { de } from './de.ts'
import { en } from './en.ts'
import { ru } from './ru.ts'
import { zh } from './zh.ts'
import type { Catalogue, Language } from './types.ts'

export { TEMPLATE_IDS, LANGUAGES, type Catalogue, type Language, type MessageText, type Paragraph, type TemplateId } from './types.ts'
export const catalogues: Readonly<Record<Language, Catalogue>> = { en, de, ru, zh }

/**
 * The ui plugin's options (valibot, validated once at boot): where the pages live, how they look (product name,
 * logo, colours, light and dark), which language they speak by default, and where the server reaches the public
 * API it renders flows from.
 */
import { LANGUAGES } from 'tessera/i18n'
import * as v from 'valibot'

const d = v.description
/** A CSS colour: hex, rgb()/hsl()/oklch() or a named colour — nothing that could close the declaration. */
const Colour = v.pipe(v.string(), v.regex(/^(#[0-9a-fA-F]{3,8}|[a-z]+|(rgb|rgba|hsl|hsla|oklch|oklab|lab|lch)\([0-9a-zA-Z.,%/ +-]*\))$/, 'expected a CSS colour (#2f5bea, rgb(…), hsl(…), oklch(…) or a name)'))

const Palette = v.object({
  accent: v.optional(v.pipe(Colour, d('Buttons, links and focus rings.'))),
  accentText: v.optional(v.pipe(Colour, d('Text on the accent colour.'))),
  background: v.optional(v.pipe(Colour, d('The page.'))),
  surface: v.optional(v.pipe(Colour, d('Cards.'))),
  text: v.optional(v.pipe(Colour, d('Body text.'))),
  muted: v.optional(v.pipe(Colour, d('Secondary text and borders.'))),
  error: v.optional(v.pipe(Colour, d('Error messages.'))),
  success: v.optional(v.pipe(Colour, d('Success messages.'))),
})
export type Palette = v.InferOutput<typeof Palette>

export { LANGUAGES, type Language } from 'tessera/i18n'

export const UiOptions = v.object({
  basePath: v.optional(v.pipe(v.string(), v.regex(/^\/[a-z0-9-]+(\/[a-z0-9-]+)*$/, 'expected a path such as /ui'), d('Where the pages are served on the public listener (default `/ui`): `/ui/login`, `/ui/settings`, …')), '/ui'),
  rootRedirect: v.optional(v.pipe(v.boolean(), d('Send a browser that opens `/` to the home page (default true).')), true),
  apiUrl: v.optional(
    v.pipe(
      v.string(),
      v.url(),
      d("An external Tessera whose public API the pages read flows from over HTTP (as Ory's UIs' KRATOS_PUBLIC_URL); default: this server's own public API, called in-process."),
    ),
  ),
  productName: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(60), d('The name shown in the header and titles.')), 'Tessera'),
  logo: v.optional(
    v.pipe(
      v.string(),
      v.check((s) => s.startsWith('data:image/') || (s.startsWith('/') && !s.startsWith('//')), 'expected a data:image/… URL or a path on this origin (no external requests)'),
      d('The logo: a `data:image/…` URL or a path on this origin. Default: a small built-in mark.'),
    ),
  ),
  colors: v.optional(
    v.object({
      light: v.optional(v.pipe(Palette, d('Colours in light mode.')), {}),
      dark: v.optional(v.pipe(Palette, d('Colours in dark mode (`prefers-color-scheme: dark`).')), {}),
    }),
    {},
  ),
  defaultLanguage: v.optional(v.pipe(v.picklist(LANGUAGES), d('The language when neither `?lang=`, the `tessera_lang` cookie nor Accept-Language names one of en, de, ru, zh.')), 'en'),
  outbox: v.optional(
    v.pipe(v.boolean(), d('Show the courier\'s development outbox at `<basePath>/outbox` (default: on in development mode only). The courier must deliver to it (`courier({ outbox: true })`).')),
  ),
})
export type UiOptions = v.InferOutput<typeof UiOptions>
export type UiOptionsInput = v.InferInput<typeof UiOptions>

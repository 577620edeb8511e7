/**
 * The catalogue is complete: every Kratos message id, page text, node group and mail template the shipped code
 * uses has a text in every language, with the same placeholders as the English one. The code is read as source
 * (every folder package.json ships, tests aside), so a new id or key in any plugin fails here until it is translated.
 */
import { describe, expect, it } from 'bun:test'
import { Glob } from 'bun'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { LANGUAGES, type MailText, type Paragraph, TEMPLATE_IDS, catalogues } from 'tessera/i18n'

const ROOT = join(import.meta.dir, '..')

/** Every shipped source file (the folders in package.json `files`, this catalogue aside) with its text. */
async function shippedSources(): Promise<Map<string, string>> {
  const { files } = (await Bun.file(join(ROOT, 'package.json')).json()) as { files: string[] }
  const dirs = files.filter((f) => !f.startsWith('!') && f !== 'i18n' && existsSync(join(ROOT, f)) && statSync(join(ROOT, f)).isDirectory())
  const out = new Map<string, string>()
  for (const dir of dirs) {
    for await (const file of new Glob('**/*.{ts,tsx}').scan(join(ROOT, dir))) {
      if (!/\.test\.tsx?$/.test(file)) out.set(`${dir}/${file}`, await Bun.file(join(ROOT, dir, file)).text())
    }
  }
  return out
}
const sources = await shippedSources()

/** Every match of `re`'s first group across the sources, with a file it is in. */
function found(re: RegExp, only: (file: string) => boolean = () => true): Map<string, string> {
  const out = new Map<string, string>()
  for (const [file, src] of sources) if (only(file)) for (const m of src.matchAll(re)) out.set(m[1]!, file)
  return out
}

const placeholders = (s: string) => [...new Set([...s.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]))].sort()
/** The template model fields a mail text uses: `{{ .Field }}` actions, links, codes and conditions. */
function fields(ps: readonly Paragraph[] | string): string[] {
  const list = typeof ps === 'string' ? [ps] : ps
  const out = new Set<string>()
  for (const p of list) {
    if (typeof p === 'string') for (const m of p.matchAll(/\{\{\s*(\.[A-Za-z]+)/g)) out.add(m[1]!)
    else if ('link' in p) out.add(p.link)
    else if ('code' in p) out.add(p.code)
    else for (const f of [p.when, ...fields(p.then)]) out.add(f)
  }
  return [...out].sort()
}
const strings = (ps: readonly Paragraph[]): string[] => ps.flatMap((p) => (typeof p === 'string' ? [p] : 'then' in p ? strings(p.then) : []))

describe('tessera/i18n', () => {
  it('reads the shipped code: the core, the entry points and every plugin', () => {
    for (const dir of ['core', 'plugins', 'testing']) expect([...sources.keys()].some((f) => f.startsWith(`${dir}/`))).toBe(true)
    expect([...sources.keys()].some((f) => f.startsWith('i18n/'))).toBe(false)
  })

  it('imports nothing: the ui plugin and the courier both read it, and it needs nothing of theirs or the kernel', async () => {
    const imports: string[] = []
    for await (const file of new Glob('*.ts').scan(import.meta.dir)) {
      if (file.endsWith('.test.ts')) continue
      const src = await Bun.file(join(import.meta.dir, file)).text()
      for (const m of src.matchAll(/\bfrom\s+'([^']+)'|\bimport\(\s*'([^']+)'/g)) imports.push(`${file}: ${m[1] ?? m[2]}`)
    }
    expect(imports).toContain('index.ts: ./de.ts')
    expect(imports.filter((i) => !/: \.\/[a-z]+\.ts$/.test(i))).toEqual([])
  })

  it('has a catalogue for each of en, de, ru and zh', () => {
    expect(Object.keys(catalogues).sort()).toEqual([...LANGUAGES].sort())
    expect([...LANGUAGES].sort()).toEqual(['de', 'en', 'ru', 'zh'])
  })

  describe('ui', () => {
    it('translates every Kratos message id the code produces into every language', () => {
      // `id: 4000006`, `err(4000006, …)`, `label(1070001, …)`, `page.t('1070005')`
      const ids = found(/(?:\bid:\s*|\b[A-Za-z]+\(\s*'?)((?:10|40|50)\d{5})\b/g)
      expect(ids.size).toBeGreaterThan(40)
      const missing: string[] = []
      for (const [id, file] of ids) for (const [lang, c] of Object.entries(catalogues)) if (!(id in c.ui)) missing.push(`${id} (${file}) in ${lang}`)
      expect(missing).toEqual([])
    })

    it("has every key the pages use: t('…') calls and the keys built from a name", () => {
      const used = found(/\bt\(\s*['"]([^'"]+)['"]/g, (f) => f.startsWith('plugins/'))
      expect(used.size).toBeGreaterThan(40)

      // keys built from a name (`title.${kind}` as MessageKey): each family is listed here with where its names come from
      const pages = sources.get('plugins/ui/pages.tsx')!
      const literals = (src: string) => [...src.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]!)
      const families: Record<string, string[]> = {
        'title.': literals(/type FlowKind =([^\n]+)/.exec(pages)![1]!),
        'scope.': literals(/const KNOWN_SCOPES = \[([^\]]+)\]/.exec(pages)![1]!),
        // a node group's title: every group a plugin names for its nodes (`inputNode('password', …)`, `group: 'totp'`);
        // a group of your own without a title shows its name
        'group.': [...found(/(?:\b[a-z]+Node\(\s*|\bgroup:\s*)'([a-z_]+)'/g).keys()],
        // an error page's text by the API error's id, when the catalogue has one (`error.security_csrf_violation`);
        // any other id falls back to the generic text, so no name is required here
        'error.': [],
      }
      expect(families['title.']).toContain('login')
      expect(families['scope.']).toContain('openid')
      expect(families['group.']).toContain('password')
      const built = found(/`([a-z]+\.)\$\{[^}]+\}`\s+as\s+MessageKey/g, (f) => f.startsWith('plugins/'))
      expect(built.size).toBeGreaterThan(0)
      for (const [prefix, file] of built) {
        expect({ prefix, file, known: prefix in families }).toEqual({ prefix, file, known: true })
        for (const name of families[prefix]!) used.set(`${prefix}${name}`, file)
      }

      const missing: string[] = []
      for (const [key, file] of used) for (const [lang, c] of Object.entries(catalogues)) if (!(key in c.ui)) missing.push(`${key} (${file}) in ${lang}`)
      expect(missing).toEqual([])
    })

    it('has the same keys in every language, none empty', () => {
      const keys = Object.keys(catalogues.en.ui).sort()
      for (const [lang, c] of Object.entries(catalogues)) {
        expect({ lang, keys: Object.keys(c.ui).sort() }).toEqual({ lang, keys })
        expect({ lang, empty: Object.entries(c.ui).filter(([, s]) => !s.trim()) }).toEqual({ lang, empty: [] })
      }
    })

    it("keeps the English text's {placeholders} in every language", () => {
      const differ: string[] = []
      for (const [lang, c] of Object.entries(catalogues))
        for (const [key, en] of Object.entries(catalogues.en.ui)) {
          const text = c.ui[key as keyof typeof c.ui]
          if (placeholders(text).join() !== placeholders(en).join()) differ.push(`${key} in ${lang}: ${text}`)
        }
      expect(differ).toEqual([])
    })
  })

  describe('mail', () => {
    it('has texts for every template a plugin sends', () => {
      // `courier.send(tenant, { template: 'recovery_code.valid', … })`, or a plugin's own `send(ctx, 'recovery_code.valid', …)`
      const sent = found(/(?:\btemplate:\s*|\bsend\(\s*[a-z]+,\s*)'([a-z_]+\.[a-z_]+)'/g, (f) => !f.startsWith('plugins/courier/'))
      expect(sent.size).toBeGreaterThan(5)
      expect([...sent.keys()].filter((id) => !(TEMPLATE_IDS as readonly string[]).includes(id))).toEqual([])
    })

    it('has every template in every language: a subject, a body and an SMS text, none empty', () => {
      for (const [lang, c] of Object.entries(catalogues)) {
        expect({ lang, ids: Object.keys(c.mail).sort() }).toEqual({ lang, ids: [...TEMPLATE_IDS].sort() })
        for (const [id, m] of Object.entries(c.mail) as [string, MailText][]) {
          const empty = [m.subject, m.sms, ...strings(m.body)].filter((s) => !s.trim())
          expect({ lang, id, hasBody: m.body.length > 0, empty }).toEqual({ lang, id, hasBody: true, empty: [] })
        }
      }
    })

    it("uses the English text's template fields in every language", () => {
      const differ: string[] = []
      for (const [lang, c] of Object.entries(catalogues))
        for (const id of TEMPLATE_IDS) {
          const [m, en] = [c.mail[id], catalogues.en.mail[id]]
          for (const part of ['subject', 'body', 'sms'] as const) if (fields(m[part]).join() !== fields(en[part]).join()) differ.push(`${id} ${part} in ${lang}: ${fields(m[part])}`)
        }
      expect(differ).toEqual([])
    })
  })
})

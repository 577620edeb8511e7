import { describe, expect, it } from 'bun:test'
import { Glob } from 'bun'
import { join } from 'node:path'
import { catalogues, negotiate, translator } from './i18n/index.ts'

const PLUGINS = join(import.meta.dir, '..')

/** Every Kratos message id a plugin's code produces: `id: 4000006`, `err(4000006, …)`, `label(1070001, …)`. */
async function idsInPlugins(): Promise<Map<string, string>> {
  const found = new Map<string, string>()
  for await (const file of new Glob('**/*.ts').scan(PLUGINS)) {
    if (file.endsWith('.test.ts') || file.startsWith('ui/')) continue
    const src = await Bun.file(join(PLUGINS, file)).text()
    for (const m of src.matchAll(/(?:\bid:\s*|\b[A-Za-z]+\(\s*)((?:10|40|50)\d{5})\b/g)) found.set(m[1]!, file)
  }
  return found
}

describe('ui languages', () => {
  it('translates every message id a plugin uses into en, de, ru and zh', async () => {
    const ids = await idsInPlugins()
    expect(ids.size).toBeGreaterThan(40)
    const missing: string[] = []
    for (const [id, file] of ids) for (const [lang, c] of Object.entries(catalogues)) if (!(id in c)) missing.push(`${id} (${file}) in ${lang}`)
    expect(missing).toEqual([])
  })

  it('has the same keys in every language, none empty', () => {
    const keys = Object.keys(catalogues.en).sort()
    for (const c of Object.values(catalogues)) {
      expect(Object.keys(c).sort()).toEqual(keys)
      expect(Object.values(c).filter((s) => !s.trim())).toEqual([])
    }
  })

  it('chooses ?lang=, then the cookie, then Accept-Language, then the default', () => {
    const req = (url: string, headers: Record<string, string> = {}) => new Request(`http://x/ui/${url}`, { headers })
    expect(negotiate(req('?lang=ru', { cookie: 'tessera_lang=de', 'accept-language': 'zh' }), 'en')).toEqual({ lang: 'ru', fromQuery: true })
    expect(negotiate(req('', { cookie: 'tessera_lang=de', 'accept-language': 'zh' }), 'en').lang).toBe('de')
    expect(negotiate(req('', { 'accept-language': 'fr;q=0.9, zh-CN;q=0.8, en;q=0.1' }), 'en').lang).toBe('zh')
    expect(negotiate(req('?lang=xx', { 'accept-language': 'fr' }), 'de').lang).toBe('de')
  })

  it('fills a message from its context, and shows an unknown id as sent', () => {
    const { message } = translator('de')
    expect(message({ id: 4000032, text: 'x', type: 'error', context: { min_length: 8, actual_length: 3 } })).toBe('Das Passwort muss mindestens 8 Zeichen lang sein, hat aber 3.')
    expect(message({ id: 1050006, text: 'JBSWY3DP', type: 'info' })).toBe('JBSWY3DP')
    expect(message({ id: 9999999, text: 'my own', type: 'info' })).toBe('my own')
  })
})

import { describe, expect, it } from 'bun:test'
import { negotiate, translator } from './i18n/index.ts'

// That every id and key has a text in every language is the catalogue's test: i18n/i18n.test.ts.
describe('ui languages', () => {
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

/** The courier's template subset: values by path, conditions, trimming, and escaping per output. */
import { describe, expect, it } from 'bun:test'
import { compile, templateModel } from './render.ts'
import { primaryLanguage } from './templates.ts'

describe('courier templates', () => {
  it('escapes values for HTML, JSON strings and form bodies, and not in text', () => {
    const data = { v: `<a href="x">'&'</a>\n"q"` }
    expect(compile('{{ .v }}', 'html')(data)).toBe('&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;\n&#34;q&#34;')
    expect(JSON.parse(`{"x":"${compile('{{ .v }}', 'json')(data)}"}`).x).toBe(data.v)
    expect(new URLSearchParams(`x=${compile('{{ .v }}', 'url')(data)}`).get('x')).toBe(data.v)
    expect(compile('{{ .v }}', 'none')(data)).toBe(data.v)
  })

  it('reads nested paths, Kratos\' model names, conditions with else, and trims', () => {
    const model = templateModel({ recovery_url: 'https://r', login_code: '1', identity: { traits: { email: 'a@b' } } })
    expect(compile('{{ .RecoveryURL }} {{ .recovery_url }} {{ .LoginCode }} {{ .Identity.traits.email }} [{{ .Missing.x }}]', 'none')(model)).toBe('https://r https://r 1 a@b []')
    expect(compile('{{ if .LoginCode }}yes{{ else }}no{{ end }}/{{ if .Nope }}yes{{ else }}no{{ end }}', 'none')(model)).toBe('yes/no')
    expect(compile('a   {{- .LoginCode -}}   b{{/* note */}}', 'none')(model)).toBe('a1b')
    expect(compile('{{ if .Identity.traits }}{{ if .Identity.traits.name }}n{{ else }}-{{ end }}{{ end }}', 'none')(model)).toBe('-')
  })

  it('refuses what it does not understand when compiling, never when sending', () => {
    for (const bad of ['{{ range .X }}{{ end }}', '{{ .X', '{{ if .X }}', '{{ end }}', '{{ else }}', '{{ printf "%s" .X }}', '{{ .X | upper }}']) {
      expect(() => compile(bad, 'html')).toThrow()
    }
  })

  it('picks the language by its primary subtag', () => {
    expect(primaryLanguage('de-AT')).toBe('de')
    expect(primaryLanguage('zh_Hans_CN')).toBe('zh')
    expect(primaryLanguage('RU')).toBe('ru')
    expect(primaryLanguage(undefined)).toBe('en')
    expect(primaryLanguage('*')).toBe('en')
  })
})

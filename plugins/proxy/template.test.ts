import { describe, expect, it } from 'bun:test'
import * as v from 'valibot'
import { TemplateString, compileTemplate, templateString } from './template.ts'
import type { AuthenticationSession } from 'tessera'

const session: AuthenticationSession = {
  subject: 'alice',
  extra: { email: 'alice@example.com', roles: ['reader', 'editor'], org: { id: 'acme' } },
  header: new Headers(),
  cookies: {},
  matchContext: { regexpCaptureGroups: ['doc-7', 'v2'], url: new URL('https://api.example.com/docs/doc-7?x=1'), method: 'GET', header: new Headers({ 'x-tenant': 't1' }) },
}

describe('handler templates (Oathkeeper Go-template subset)', () => {
  it('renders fields, print, index and printIndex, header lookups and the matched URL', () => {
    const cases: [string, string][] = [
      ['{{ .Subject }}', 'alice'],
      ['{{ print .Extra.email }}', 'alice@example.com'],
      ['{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}', 'doc-7'], // Oathkeeper's spelling
      ['{{ index .MatchContext.RegexpCaptureGroups 1 }}', 'v2'],
      ['{{ index .Extra.roles 1 }}/{{ .Extra.org.id }}', 'editor/acme'],
      ['{{ .MatchContext.Header.Get "X-Tenant" }}', 't1'],
      ['{{ .MatchContext.URL.Path }}?{{ .MatchContext.URL.RawQuery }}', '/docs/doc-7?x=1'],
      ['{{ .Extra.missing }}', ''],
    ]
    for (const [src, out] of cases) expect({ src, out: compileTemplate(src)(session) }).toEqual({ src, out })
  })

  it('compiles a config template once when the config is validated, and refuses what it does not understand', () => {
    const t = v.parse(TemplateString, 'user={{ .Subject }}')
    expect(typeof t).toBe('function')
    expect(t(session)).toBe('user=alice')
    for (const bad of ['{{ .Subject ', '{{ call .Extra.f }}', '{{ printIndex .Extra.roles }}']) {
      const r = v.safeParse(TemplateString, bad)
      expect({ bad, ok: r.success }).toEqual({ bad, ok: false })
      if (!r.success) expect(r.issues[0].message).toStartWith('expected a template such as {{ print .Subject }}')
    }
  })
})

describe('handler templates: functions and pipelines', () => {
  it('calls the functions it is given, with a piped value as the last argument, and literals and parentheses as arguments', () => {
    const functions = { upper: (s: unknown) => String(s).toUpperCase(), wrap: (l: unknown, r: unknown, s: unknown) => `${l}${s}${r}` }
    const cases: [string, string][] = [
      ['{{ .Subject | upper }}', 'ALICE'],
      ['{{ wrap "[" "]" .Subject }}', '[alice]'],
      ['{{ .Subject | upper | wrap "<" `>` }}', '<ALICE>'],
      ['{{ upper (index .Extra.roles 0) }}', 'READER'],
      ['{{ printf "%s/%d" .Subject 7 }}', 'alice/7'],
      ['{{ len .Extra.roles }}', '2'],
    ]
    for (const [src, out] of cases) expect({ src, out: compileTemplate(src, functions)(session) }).toEqual({ src, out })
    // without them, or with an unknown name, the template is refused
    expect(() => compileTemplate('{{ .Subject | upper }}')).toThrow('unknown function upper')
    expect(() => compileTemplate('{{ constructor }}', functions)).toThrow('unknown function constructor')
    expect(v.safeParse(templateString(functions), '{{ upper .Subject }}').success).toBe(true)
  })
})

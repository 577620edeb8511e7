/** schemas/access-rules.schema.json: generated from the valibot rule schema, fresh, and usable by editors and CI (ajv). */
import { describe, expect, it } from 'bun:test'
import { readFileSync } from 'node:fs'
import Ajv from 'ajv'
import YAML from 'yaml'
import { RULES_SCHEMA_PATH, generateRulesSchema } from '../../scripts/gen-rules-schema.ts'
import { parseRuleDocument } from './rules.ts'

/** A rule file as teams write it (the example from docs/plugins/proxy.md, plus a second rule). */
const SAMPLE = `
- id: orders
  match:
    url: "https://api.example.com/orders/<[0-9]+>"
    methods: [GET, POST]
  authenticators: [{ handler: jwt }, { handler: anonymous }]
  authorizer: { handler: permissions, config: { namespace: Order, relation: view, object: "{{ index .MatchContext.RegexpCaptureGroups 0 }}" } }
  mutators: [{ handler: header, config: { headers: { X-User: "{{ print .Subject }}" } } }]
  errors:
    - { handler: redirect, config: { to: "https://login.example.com/" }, when: [{ error: [unauthorized], request: { header: { accept: [text/html] } } }] }
    - { handler: json }
  upstream: { url: "http://orders.internal:8080", strip_path: "", preserve_host: false }
- id: public
  match: { url: "http://<**>/public/<**>", methods: [GET] }
  authenticators: [{ handler: noop }]
  authorizer: { handler: allow }
`

// `format: uri` checked as valibot's v.url() does: the WHATWG URL parser accepts it
const validator = () => new Ajv({ strict: false, allErrors: true, formats: { uri: (s: string) => URL.canParse(s) } }).compile(generateRulesSchema())

describe('access rules JSON Schema', () => {
  it('schemas/access-rules.schema.json is up to date (run `bun run gen:schema`)', () => {
    expect(JSON.parse(readFileSync(RULES_SCHEMA_PATH, 'utf8'))).toEqual(generateRulesSchema())
  })

  it('accepts a sample rule file that the loader accepts', () => {
    const validate = validator()
    const doc = YAML.parse(SAMPLE)
    expect(validate(doc), JSON.stringify(validate.errors)).toBe(true)
    expect(parseRuleDocument(SAMPLE, 'rules.yaml').map((r) => r.id)).toEqual(['orders', 'public'])
  })

  it('rejects what the loader rejects: a missing authorizer, a lower-case method, no authenticators, a bad upstream URL, not an array', () => {
    const validate = validator()
    const rule = YAML.parse(SAMPLE)[1]
    const { authorizer: _, ...noAuthorizer } = rule
    for (const bad of [[noAuthorizer], [{ ...rule, match: { ...rule.match, methods: ['get'] } }], [{ ...rule, authenticators: [] }], [{ ...rule, upstream: { url: 'not a url' } }], rule]) {
      expect(validate(bad)).toBe(false)
      expect(() => parseRuleDocument(JSON.stringify(bad), 'rules.json')).toThrow()
    }
  })
})

describe('rule file errors', () => {
  const problemsOf = (text: string, source: string): string[] => {
    try {
      parseRuleDocument(text, source)
    } catch (e) {
      return (e as { problems: string[] }).problems
    }
    throw new Error('expected the rule document to be refused')
  }

  it('names the path of a missing key in words, not in valibot wording', () => {
    const rule = YAML.parse(SAMPLE)[1]
    const { methods: _, ...match } = rule.match
    expect(problemsOf(JSON.stringify([{ ...rule, match }]), 'rules.json')).toEqual(['rules.json[0].match.methods: is required but missing'])
  })

  it('names the line and the fix of an unquoted colon in a YAML rule file', () => {
    const [problem] = problemsOf('- id: a\n  match: { url: http://x/<.*>, methods: [GET] }\n  description: see: below\n', 'rules.yaml')
    expect(problem).toMatch(/^rules\.yaml line 3: could not parse `description: see: below` \(.*\); .* must be quoted \(e\.g\. description: "see: below"\)$/)
  })
})

import { describe, expect, it } from 'bun:test'
import { readFileSync } from 'node:fs'
import Ajv from 'ajv'
import { REFERENCE_PATH, SCHEMA_PATH, generateConfigReference, generateConfigSchema } from '../scripts/gen-config-schema.ts'

describe('generated config schema and reference', () => {
  it('schemas/config.schema.json is up to date (run `bun run gen:schema`)', () => {
    expect(JSON.parse(readFileSync(SCHEMA_PATH, 'utf8'))).toEqual(generateConfigSchema())
  })

  it('docs/config.md is up to date (run `bun run gen:schema`)', () => {
    expect(readFileSync(REFERENCE_PATH, 'utf8')).toBe(generateConfigReference())
  })

  it('accepts a valid JSON config and rejects a wrong one, as the loader does', () => {
    const validate = new Ajv({ strict: false }).compile(generateConfigSchema())
    expect(validate({ dsn: 'sqlite://x.sqlite', serve: { public: { port: 4433 } }, log: { level: 'debug' }, plugins: [{ use: './plugin.ts' }] })).toBe(true)
    expect(validate({ serve: { public: { port: 'http' } } })).toBe(false)
    expect(validate({ serve: { publc: {} } })).toBe(false)
    // recursive option schemas (permission conditions) resolve through the root's $defs
    const withConditions = (condition: unknown) => ({ plugins: [{ use: 'permissions', options: { relationConditions: { 'Report#export': condition } } }] })
    expect(validate(withConditions({ all: [{ not: { eq: [{ context: 'plan' }, 'free'] } }, { time_window: { from: '09:00', to: '17:00' } }] }))).toBe(true)
    expect(validate(withConditions({ all: [{ not: { eval: 'process.exit()' } }] }))).toBe(false)
  })
})

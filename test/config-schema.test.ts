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
  })
})

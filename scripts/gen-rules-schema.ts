/**
 * Generates schemas/access-rules.schema.json — the JSON Schema of a proxy rule file
 * (an array of access rules in Oathkeeper's format) — from the proxy plugin's valibot
 * rule schema, so editors can check `rules.yaml` / `rules.json`.
 *
 *   bun run gen:schema
 *
 * plugins/proxy/rules-schema.test.ts fails when the file is stale.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { toJsonSchema } from '@valibot/to-json-schema'
import * as v from 'valibot'
import { RuleSchema } from '../plugins/proxy/rules.ts'

type Json = Record<string, unknown>

export const RULES_SCHEMA_PATH = join(import.meta.dir, '..', 'schemas/access-rules.schema.json')

export function generateRulesSchema(): Json {
  const { $schema: _, ...rest } = toJsonSchema(v.array(RuleSchema), { errorMode: 'ignore' }) as Json
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://tessera.dev/schemas/access-rules.schema.json',
    title: 'Tessera access rules',
    description:
      'A proxy rule file (JSON or YAML): an array of access rules in Oathkeeper\'s format. Handler configs are checked when the rules load. Generated from the valibot schema in plugins/proxy/rules.ts by `bun run gen:schema`; do not edit.',
    ...rest,
  }
}

if (import.meta.main) {
  writeFileSync(RULES_SCHEMA_PATH, `${JSON.stringify(generateRulesSchema(), null, 2)}\n`)
  console.log(`wrote ${RULES_SCHEMA_PATH}`)
}

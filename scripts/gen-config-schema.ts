/**
 * Generates, from the valibot schemas:
 *   schemas/config.schema.json  — the JSON Schema of tessera.config.{json,yaml}
 *   docs/config.md              — the configuration reference
 *
 *   bun run gen:schema
 *
 * test/config-schema.test.ts fails when either file is stale.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { toJsonSchema } from '@valibot/to-json-schema'
import type * as v from 'valibot'
import { loadCatalog } from '../cli/index.ts'
import { ENV_OVERRIDES } from '../core/config/load.ts'
import { ConfigSchema } from '../core/config/schema.ts'
import type { AnyPluginFactory } from '../core/plugin.ts'
import { catalog } from '../plugins/catalog.ts'

/** The first-party plugins, loaded: the schema needs every plugin's definition. */
const firstParty = await loadCatalog(catalog)
type LoadedCatalog = Record<string, AnyPluginFactory>

type Json = Record<string, unknown>

const ROOT = join(import.meta.dir, '..')

/**
 * A plugin's options as JSON Schema. Recursive parts (valibot `lazy`, e.g. permission conditions) come out as
 * `$defs` with `$ref`s to the schema's root; they move to the root of the whole config schema, named
 * `<plugin>.<name>`, and the references follow.
 */
function optionsSchema(plugin: string, schema: v.GenericSchema | undefined, defs: Json): Json {
  if (!schema) return { type: 'object', additionalProperties: false, maxProperties: 0 }
  const { $schema: _, $defs, ...rest } = toJsonSchema(schema, { errorMode: 'ignore' }) as Json
  const rename = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(rename)
    if (x === null || typeof x !== 'object') return x
    return Object.fromEntries(
      Object.entries(x).map(([k, val]) => [k, k === '$ref' && typeof val === 'string' && val.startsWith('#/$defs/') ? `#/$defs/${plugin}.${val.slice(8)}` : rename(val)]),
    )
  }
  for (const [name, def] of Object.entries(($defs ?? {}) as Json)) defs[`${plugin}.${name}`] = rename(def)
  return rename(rest) as Json
}

export function generateConfigSchema(catalog: LoadedCatalog = firstParty): Json {
  const base = toJsonSchema(ConfigSchema, { errorMode: 'ignore' }) as Json
  const names = Object.keys(catalog).sort()
  const defs: Json = {}
  const entries: Json[] = names.map((name) => ({
    type: 'object',
    title: name,
    description: catalog[name]!.definition.description,
    properties: { use: { const: name }, options: optionsSchema(name, catalog[name]!.definition.options, defs) },
    required: ['use'],
    additionalProperties: false,
  }))
  entries.push({
    type: 'object',
    title: 'module',
    description:
      'A plugin file, by path relative to the config file: its default export (or its one named export) made with definePlugin. It imports `tessera` and `valibot`; the compiled binary supplies its own.',
    properties: { module: { type: 'string', minLength: 1 }, options: {} },
    required: ['module'],
    additionalProperties: false,
  })
  entries.push({
    type: 'object',
    title: 'module (as use)',
    description: 'A plugin file named by `use` with a path starting with `.` or `/`: the same as `module`.',
    properties: { use: { type: 'string', pattern: '^[./]' }, options: {} },
    required: ['use'],
    additionalProperties: false,
  })
  if (names.length) entries.push({ type: 'string', enum: names, description: 'A first-party plugin with default options.' })
  const props = base.properties as Record<string, Json>
  props.plugins = { ...props.plugins, items: { anyOf: entries } }
  const tenancy = (props.tenancy as { properties: Record<string, unknown> }).properties
  delete tenancy.resolve // functions exist only in code configs
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://tessera.dev/schemas/config.schema.json',
    title: 'Tessera configuration',
    description: 'tessera.config.json / tessera.config.yaml. Generated from the valibot schemas by `bun run gen:schema`; do not edit.',
    ...Object.fromEntries(Object.entries(base).filter(([k]) => k !== '$schema')),
    ...(Object.keys(defs).length ? { $defs: defs } : {}),
  }
}

function typeOf(s: Json): string {
  if (s.enum) return (s.enum as unknown[]).map((x) => JSON.stringify(x)).join(' \\| ')
  if (s.type === 'array') return `${typeOf((s.items as Json) ?? {})}[]`
  if (s.type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object') return 'map'
  return String(s.type ?? 'any')
}

function rows(schema: Json, prefix: string, out: string[]): void {
  const props = (schema.properties ?? {}) as Record<string, Json>
  for (const [key, s] of Object.entries(props)) {
    const path = prefix ? `${prefix}.${key}` : key
    const isObject = s.type === 'object' && s.properties
    if (!isObject || key === 'plugins') {
      const def = s.default === undefined || (typeof s.default === 'object' && s.default !== null && Object.keys(s.default).length === 0) ? '' : `\`${JSON.stringify(s.default)}\``
      const desc = String(s.description ?? '').replaceAll('|', '\\|')
      out.push(`| \`${path}\` | ${typeOf(s)} | ${def} | ${desc} |`)
    }
    if (isObject && key !== 'plugins') rows(s, path, out)
  }
}

export function generateConfigReference(catalog: LoadedCatalog = firstParty): string {
  const schema = generateConfigSchema(catalog)
  const out: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated by `bun run gen:schema` from the valibot schemas in core/config/schema.ts and each plugin\'s options. Do not edit. -->',
    '',
    'Tessera reads `tessera.config.ts` (with `defineConfig`), or a JSON or YAML file with the same schema',
    '(`schemas/config.schema.json`). `--config <file>` or `TESSERA_CONFIG` selects another file.',
    'Environment variables override the file. Every error names the path and what was expected.',
    '',
    '## Options',
    '',
    '| path | type | default | description |',
    '| --- | --- | --- | --- |',
  ]
  rows(schema, '', out)
  out.push('', '## Environment overrides', '', '| variable | sets | |', '| --- | --- | --- |')
  for (const o of ENV_OVERRIDES) out.push(`| \`${o.name}\` | \`${o.path.join('.')}\` | ${o.doc} |`)
  out.push('| `TESSERA_CONFIG` | | the config file to use (like `--config`) |')
  out.push('', '## Plugins', '')
  out.push(
    'In a code config, `plugins` holds factory calls (`identity({...})`); in JSON or YAML, a first-party plugin by name,',
    '`{ "use": "<name>", "options": {...} }`, or a plugin file, `{ "module": "./my-plugin.ts", "options": {...} }`, by path',
    'relative to the config file (its default export, or its one named export, made with `definePlugin`). A plugin file',
    'imports `tessera` and `valibot` as usual; the compiled binary supplies its own copies, so it needs no node_modules.',
    '',
  )
  const names = Object.keys(catalog).sort()
  if (names.length === 0) out.push('No first-party plugin ships yet.')
  for (const name of names) {
    const def = catalog[name]!.definition
    out.push(`### \`${name}\``, '', def.description ?? '', '', `See [plugins/${name}](plugins/${name}.md).`, '')
    const opts = optionsSchema(name, def.options, {})
    if (opts.properties) {
      out.push('| option | type | default | description |', '| --- | --- | --- | --- |')
      rows(opts, `plugins[].options`, out)
      out.push('')
    }
  }
  return `${out.join('\n').trimEnd()}\n`
}

export const SCHEMA_PATH = join(ROOT, 'schemas/config.schema.json')
export const REFERENCE_PATH = join(ROOT, 'docs/config.md')

if (import.meta.main) {
  writeFileSync(SCHEMA_PATH, `${JSON.stringify(generateConfigSchema(), null, 2)}\n`)
  writeFileSync(REFERENCE_PATH, generateConfigReference())
  console.log(`wrote ${SCHEMA_PATH} and ${REFERENCE_PATH}`)
}

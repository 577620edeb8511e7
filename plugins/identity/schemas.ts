/**
 * Identity schemas: JSON Schema documents (draft-07 or 2020-12) with Kratos'
 * `ory.sh/kratos` extension, compiled once at boot with ajv. Trait validation
 * errors become ui-node messages carrying Kratos' message ids.
 */
import Ajv07, { type ErrorObject, type ValidateFunction } from 'ajv'
import Ajv2020 from 'ajv/dist/2020.js'
import type { UiText } from 'tessera'
import { text } from './messages.ts'

export interface SchemaConfig {
  id: string
  schema: Record<string, unknown>
}

interface KratosExtension {
  credentials?: { password?: { identifier?: boolean } }
  verification?: { via?: string }
  recovery?: { via?: string }
}

export interface TraitField {
  /** Dotted path under traits: `email`, `name.first`. */
  path: string
  type: string
  format?: string
  title?: string
  required: boolean
  ext: KratosExtension
}

export interface CompiledSchema {
  id: string
  schema: Record<string, unknown>
  validate: ValidateFunction
  fields: TraitField[]
  /** Trait paths marked as password identifiers. */
  passwordIdentifiers: string[]
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

function makeAjv(schema: Record<string, unknown>) {
  const is2020 = String(schema.$schema ?? '').includes('2020-12')
  // Static imports: `bun build --compile` bundles only what is imported statically.
  const Ajv = is2020 ? Ajv2020 : Ajv07
  const ajv = new Ajv({ allErrors: true, strict: false })
  ajv.addFormat('email', EMAIL)
  ajv.addFormat('tel', /^\+?[0-9 ()-]{5,}$/)
  ajv.addFormat('uri', { validate: (s: string) => URL.canParse(s) })
  return ajv
}

function collectFields(node: Record<string, unknown>, prefix: string, requiredHere: string[], out: TraitField[]) {
  const props = (node.properties ?? {}) as Record<string, Record<string, unknown>>
  for (const [name, child] of Object.entries(props)) {
    const path = prefix ? `${prefix}.${name}` : name
    if (child.type === 'object' && child.properties) {
      collectFields(child, path, (child.required as string[]) ?? [], out)
      continue
    }
    out.push({
      path,
      type: String(child.type ?? 'string'),
      format: child.format as string | undefined,
      title: child.title as string | undefined,
      required: requiredHere.includes(name),
      ext: (child['ory.sh/kratos'] ?? {}) as KratosExtension,
    })
  }
}

export function compileSchema(cfg: SchemaConfig): CompiledSchema {
  const root = cfg.schema
  const traits = ((root.properties as Record<string, Record<string, unknown>> | undefined)?.traits ?? {}) as Record<string, unknown>
  const fields: TraitField[] = []
  collectFields(traits, '', (traits.required as string[]) ?? [], fields)
  const validate = makeAjv(root).compile(root)
  return {
    id: cfg.id,
    schema: root,
    validate,
    fields,
    passwordIdentifiers: fields.filter((f) => f.ext.credentials?.password?.identifier).map((f) => f.path),
  }
}

export function getPath(obj: unknown, path: string): unknown {
  let cur = obj
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[k]
  }
  return cur
}

/** Password identifiers of these traits, normalised (trimmed; e-mail addresses lower-cased). */
export function identifiersOf(s: CompiledSchema, traits: unknown): string[] {
  const out: string[] = []
  for (const p of s.passwordIdentifiers) {
    const v = getPath(traits, p)
    if (typeof v !== 'string' || v.trim() === '') continue
    const f = s.fields.find((x) => x.path === p)
    out.push(normaliseIdentifier(v, f?.format))
  }
  return [...new Set(out)]
}

export function normaliseIdentifier(v: string, format?: string): string {
  const t = v.trim()
  return format === 'email' || t.includes('@') ? t.toLowerCase() : t
}

/** Validate `{ traits }` against the schema; messages per trait node name (`traits.email`). */
export function validateTraits(s: CompiledSchema, traits: unknown): { ok: true } | { ok: false; nodes: Record<string, UiText[]>; general: UiText[] } {
  if (s.validate({ traits })) return { ok: true }
  const nodes: Record<string, UiText[]> = {}
  const general: UiText[] = []
  for (const e of (s.validate.errors ?? []) as ErrorObject[]) {
    let path = e.instancePath.replace(/^\//, '').replaceAll('/', '.')
    let msg: UiText
    if (e.keyword === 'required') {
      const prop = String((e.params as { missingProperty: string }).missingProperty)
      path = path ? `${path}.${prop}` : prop
      msg = text.required(prop)
    } else if (e.keyword === 'format') {
      msg = text.validation(`"${String(getPath({ traits }, path))}" is not valid "${(e.params as { format: string }).format}"`)
    } else {
      msg = text.validation(e.message ?? 'invalid value')
    }
    if (path.startsWith('traits')) (nodes[path] ??= []).push(msg)
    else general.push(msg)
  }
  return { ok: false, nodes, general }
}

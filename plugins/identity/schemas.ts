/**
 * Identity schemas: JSON Schema documents (draft-07 or 2020-12) with Kratos'
 * `ory.sh/kratos` extension, compiled once at boot with ajv. Trait validation
 * errors become ui-node messages carrying Kratos' message ids.
 */
import Ajv07, { type ErrorObject, type ValidateFunction } from 'ajv'
import Ajv2020 from 'ajv/dist/2020.js'
import type { UiText } from 'tessera'
import { text } from './messages.ts'
import type { CredentialMethod, IdentifierField } from 'tessera'

export interface SchemaConfig {
  id: string
  schema: Record<string, unknown>
}

interface KratosExtension {
  /** Per credential method id: its settings on this trait (`{ identifier: true }`, `{ identifier: true, via: 'sms' }`). */
  credentials?: Record<string, unknown>
  verification?: { via?: string }
  recovery?: { via?: string }
}

export interface TraitField {
  /** Dotted path under traits: `email`, `name.first`. */
  path: string
  type: string
  format?: string
  title?: string
  /** The title in other languages: `"tessera": { "titles": { "de": "Vorname" } }` beside `title`. */
  titles?: Record<string, string>
  required: boolean
  ext: KratosExtension
}

export interface CompiledSchema {
  id: string
  schema: Record<string, unknown>
  validate: ValidateFunction
  fields: TraitField[]
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

/** A trait's translated titles (`"tessera": { "titles": { "<language>": "<title>" } }`): strings only, others ignored. */
function titlesOf(child: Record<string, unknown>): { titles?: Record<string, string> } {
  const given = (child.tessera as { titles?: unknown } | undefined)?.titles
  if (!given || typeof given !== 'object' || Array.isArray(given)) return {}
  const titles = Object.fromEntries(Object.entries(given).filter(([k, v]) => typeof v === 'string' && v !== '' && /^[a-z]{2}$/i.test(k)).map(([k, v]) => [k.toLowerCase(), v as string]))
  return Object.keys(titles).length ? { titles } : {}
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
      ...titlesOf(child),
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
  return { id: cfg.id, schema: root, validate, fields }
}

/** The traits the schema marks for credential method `methodId` (`ory.sh/kratos.credentials.<methodId>`), with its settings there. */
/** An identifier trait as methods get it, with its title's translations (for the identifier's label). */
export type IdentifierTrait = IdentifierField & { titles?: Record<string, string> }

export function credentialFields(s: CompiledSchema, methodId: string): IdentifierTrait[] {
  const out: IdentifierTrait[] = []
  for (const f of s.fields) {
    const settings = f.ext.credentials?.[methodId]
    if (!settings || typeof settings !== 'object' || Array.isArray(settings)) continue
    out.push({ path: f.path, ...(f.format ? { format: f.format } : {}), ...(f.title ? { title: f.title } : {}), ...(f.titles ? { titles: f.titles } : {}), settings: settings as Record<string, unknown> })
  }
  return out
}

export function getPath(obj: unknown, path: string): unknown {
  let cur = obj
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[k]
  }
  return cur
}

/**
 * A method's identifiers in these traits: the marked traits it selects (default: `identifier: true`), each value
 * normalised by the method (default: `normaliseIdentifier`), without duplicates. Arrays of strings count per item.
 */
/** The traits the schema marks for a method that its `identifiers.select` accepts (default: `identifier: true`). */
export function identifierFieldsOf(s: CompiledSchema, method: Pick<CredentialMethod, 'id' | 'identifiers'>): IdentifierTrait[] {
  const select = method.identifiers?.select ?? ((f: IdentifierField) => f.settings.identifier === true)
  return credentialFields(s, method.id).filter((f) => select(f))
}

export function identifiersOf(s: CompiledSchema, method: Pick<CredentialMethod, 'id' | 'identifiers'>, traits: unknown): string[] {
  const normalise = normaliserOf(method)
  const out: string[] = []
  for (const f of identifierFieldsOf(s, method)) {
    const raw = getPath(traits, f.path)
    for (const v of Array.isArray(raw) ? raw : [raw]) {
      if (typeof v !== 'string' || v.trim() === '') continue
      const n = normalise(v, f)
      if (n) out.push(n)
    }
  }
  return [...new Set(out)]
}

/** The method's normaliser, or the default one. */
export function normaliserOf(method: Pick<CredentialMethod, 'identifiers'>): (value: string, field?: IdentifierField) => string {
  return method.identifiers?.normalise ?? ((value, field) => normaliseIdentifier(value, field?.format))
}

/** The default normalisation (Kratos' graceful one, simplified): trimmed; e-mail addresses lower-cased; anything else as given. */
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

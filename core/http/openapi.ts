/**
 * OpenAPI 3.1 documents of a listener's routes, built from what plugins declare (`openapi` in a plugin
 * definition) and from the valibot schemas their handlers validate with, converted by @valibot/to-json-schema:
 * a request body in the document is the schema the route enforces, never a hand-written copy.
 *
 * ```ts
 * import { type Operation, definePlugin, parse } from 'tessera'
 * import * as v from 'valibot'
 *
 * const CreateNote = v.object({ text: v.pipe(v.string(), v.maxLength(280)) })
 * const createNote: Operation = {
 *   method: 'POST', path: '/notes', operationId: 'createNote', summary: 'Create a note', tags: ['notes'],
 *   body: CreateNote, responses: { 201: 'The note', 400: 'Invalid note' },
 * }
 * export const notes = definePlugin({
 *   id: 'notes',
 *   routes: { admin: (app) => app.post('/notes', ({ body }) => parse(CreateNote, body)) },
 *   openapi: { admin: [createNote] },
 * })
 * ```
 */
import { toJsonSchema } from '@valibot/to-json-schema'
import * as v from 'valibot'
import type { Kernel } from '../kernel/kernel.ts'
import { VERSION } from '../version.ts'
import type { Listener } from '../types.ts'
import type { HttpMethod, Operation, OperationBody, OperationResponse, Operations } from './operations.ts'

type Schema = v.GenericSchema

type Json = Record<string, unknown>

/** Ory's generic error shape, as core/errors.ts renders it. */
export const ErrorGenericSchema = v.object({
  error: v.object({
    id: v.optional(v.pipe(v.string(), v.description("Ory's error id, where Ory has one (`session_inactive`)."))),
    code: v.pipe(v.number(), v.integer(), v.description('The HTTP status code.')),
    status: v.pipe(v.string(), v.description('The HTTP status text.')),
    reason: v.optional(v.pipe(v.string(), v.description('Why the request failed, safe to show to the caller.'))),
    message: v.string(),
    request: v.optional(v.pipe(v.string(), v.description('The request id (X-Request-Id).'))),
    details: v.optional(v.record(v.string(), v.unknown())),
  }),
})

const Health = v.object({ status: v.literal('ok') })
const NotReady = v.object({ errors: v.record(v.string(), v.string()) })
const Version = v.object({ version: v.string() })

/** The core's own operations on each standalone listener (Ory's operationIds). */
export const METADATA_OPERATIONS: readonly Operation[] = [
  {
    method: 'GET',
    path: '/health/alive',
    operationId: 'isAlive',
    summary: 'Check that the process is alive',
    tags: ['metadata'],
    responses: { 200: { description: 'The process runs', schema: Health } },
  },
  {
    method: 'GET',
    path: '/health/ready',
    operationId: 'isReady',
    summary: 'Check that the database, migrations and every plugin are ready',
    tags: ['metadata'],
    responses: { 200: { description: 'Ready', schema: Health }, 503: { description: 'Not ready, with a reason per part', schema: NotReady } },
  },
  {
    method: 'GET',
    path: '/version',
    operationId: 'getVersion',
    summary: 'The running version',
    tags: ['metadata'],
    responses: { 200: { description: 'The version', schema: Version } },
  },
]

/** `GET /openapi.json` itself, on every listener. */
export const OPENAPI_OPERATION: Operation = {
  method: 'GET',
  path: '/openapi.json',
  operationId: 'getOpenApiDocument',
  summary: "This listener's OpenAPI 3.1 document",
  tags: ['metadata'],
  responses: { 200: 'The OpenAPI document' },
}

export interface DocumentOptions {
  /** Every path is mounted under this prefix (embedded admin API). */
  prefix?: string
  /** Include the health and version operations. */
  metadata?: boolean
}

/** Every operation served on a listener: the core's, then each plugin's in plugin order. */
export function listenerOperations(kernel: Kernel, listener: Listener, opts: DocumentOptions = {}): Operation[] {
  const out: Operation[] = [...(opts.metadata !== false ? METADATA_OPERATIONS : []), OPENAPI_OPERATION]
  for (const p of kernel.plugins) {
    const declared = p.definition.openapi
    if (!declared) continue
    const ops = typeof declared === 'function' ? declared(p.ctx) : declared
    out.push(...(ops[listener] ?? []))
  }
  return out
}

/** The OpenAPI 3.1 document of a listener. */
export function listenerDocument(kernel: Kernel, listener: Listener, opts: DocumentOptions = {}): Json {
  return openApiDocument(listenerOperations(kernel, listener, opts), {
    title: `Tessera ${listener} API`,
    description: `The ${listener} listener of Tessera: the routes of the plugins installed (${kernel.plugins.map((p) => p.id).join(', ') || 'none'}).`,
    prefix: opts.prefix,
  })
}

const CONVERT = { target: 'draft-2020-12', typeMode: 'input', errorMode: 'ignore' } as const

/** A path as routed (`/a/:id/*`) in OpenAPI's form (`/a/{id}/{path}`), and its parameter names. */
export function openApiPath(path: string): { path: string; params: string[] } {
  const params: string[] = []
  const out = path
    .split('/')
    .map((seg) => {
      if (seg.startsWith(':')) {
        params.push(seg.slice(1))
        return `{${seg.slice(1)}}`
      }
      if (seg === '*') {
        params.push('path')
        return '{path}'
      }
      return seg
    })
    .join('/')
  return { path: out, params }
}

/** Build an OpenAPI 3.1 document from operations. Throws on two operations with one method and path, or one operationId twice. */
export function openApiDocument(operations: readonly Operation[], info: { title: string; description?: string; prefix?: string }): Json {
  const components: Record<string, Json> = {}
  const names = new Map<string, string>()

  /** Convert a valibot schema; recursive parts ($defs) move to components.schemas and references follow them. */
  const convert = (schema: Schema): Json => {
    const { $schema: _, $defs, ...rest } = toJsonSchema(schema, CONVERT) as Json
    const renamed = new Map<string, string>()
    for (const [name, def] of Object.entries(($defs ?? {}) as Record<string, Json>)) {
      const text = JSON.stringify(def)
      let target = names.get(text)
      if (!target) {
        target = components[name] === undefined ? name : `${name}${Object.keys(components).length}`
        components[target] = def
        names.set(text, target)
      }
      renamed.set(`#/$defs/${name}`, `#/components/schemas/${target}`)
    }
    const fix = (x: unknown): unknown => {
      if (Array.isArray(x)) return x.map(fix)
      if (x === null || typeof x !== 'object') return x
      return Object.fromEntries(Object.entries(x).map(([k, val]) => [k, k === '$ref' && typeof val === 'string' ? (renamed.get(val) ?? val) : fix(val)]))
    }
    for (const [name, def] of Object.entries(components)) if (renamed.size) components[name] = fix(def) as Json
    return fix(rest) as Json
  }

  const prefix = info.prefix ?? ''
  const paths: Record<string, Record<string, Json>> = {}
  const ids = new Set<string>()
  const tags = new Set<string>()
  for (const op of operations) {
    const { path, params } = openApiPath(prefix + op.path)
    const method = op.method.toLowerCase()
    const item = (paths[path] ??= {})
    if (item[method]) throw new Error(`openapi: ${op.method} ${path} is described twice`)
    if (ids.has(op.operationId)) throw new Error(`openapi: operationId ${op.operationId} is used twice`)
    ids.add(op.operationId)
    for (const t of op.tags ?? []) tags.add(t)

    const parameters: Json[] = []
    const paramSchemas = (op.params ? convert(op.params).properties : undefined) as Record<string, Json> | undefined
    for (const name of params) {
      parameters.push({ name, in: 'path', required: true, schema: paramSchemas?.[name] ?? { type: 'string' }, ...(name === 'path' && path.endsWith('{path}') ? { description: 'Any path below this one.' } : {}) })
    }
    if (op.query) {
      const q = convert(op.query)
      const required = new Set((q.required as string[] | undefined) ?? [])
      for (const [name, schema] of Object.entries((q.properties ?? {}) as Record<string, Json>)) {
        const { description, ...rest } = schema
        parameters.push({ name, in: 'query', required: required.has(name), ...(description ? { description } : {}), schema: rest })
      }
    }

    const responses: Record<string, Json> = {}
    for (const [status, r] of Object.entries(op.responses)) {
      const spec = typeof r === 'string' ? { description: r } : r
      const out: Json = { description: spec.description }
      if (spec.schema) out.content = { [spec.contentType ?? 'application/json']: { schema: convert(spec.schema) } }
      else if (Number(status) >= 400) out.content = { 'application/json': { schema: { $ref: '#/components/schemas/errorGeneric' } } }
      responses[status] = out
    }

    const operation: Json = { operationId: op.operationId, summary: op.summary }
    if (op.description) operation.description = op.description
    if (op.tags?.length) operation.tags = [...op.tags]
    if (parameters.length) operation.parameters = parameters
    if (op.body) {
      const b: OperationBody = 'schema' in op.body && 'contentType' in op.body ? op.body : { schema: op.body as Schema, contentType: 'application/json' }
      const schema = convert(b.schema)
      const types = typeof b.contentType === 'string' ? [b.contentType] : b.contentType
      operation.requestBody = { required: b.required !== false, content: Object.fromEntries(types.map((t) => [t, { schema }])) }
    }
    operation.responses = responses
    item[method] = operation
  }

  components.errorGeneric = convert(ErrorGenericSchema)
  return {
    openapi: '3.1.0',
    info: { title: info.title, version: VERSION, ...(info.description ? { description: info.description } : {}), license: { name: 'Apache-2.0', identifier: 'Apache-2.0' } },
    ...(tags.size ? { tags: [...tags].map((name) => ({ name })) } : {}),
    paths,
    components: { schemas: components },
  }
}

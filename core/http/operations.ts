/**
 * The contract of what a plugin's routes do, for the listeners' OpenAPI documents (core/http/openapi.ts
 * builds them). Types only, so the plugin contract can name them without depending on the generator.
 */
import type * as v from 'valibot'

type Schema = v.GenericSchema

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

/** A response of an operation: its description, or a description and a body schema. */
export type OperationResponse = string | { description: string; schema?: Schema; contentType?: string }

/** One operation (method and path) a plugin serves, for the listener's OpenAPI document. */
export interface Operation {
  method: HttpMethod
  /**
   * The path as routed (`/admin/identities/:id`); a raw route's `/*` (`/decisions/*`) is any path below it.
   * In the document, `:id` becomes `{id}` and `*` a `{path}` parameter.
   */
  path: string
  /** Ory's operationId where Ory has the route (`createIdentity`), a camelCase name of Tessera's own otherwise. */
  operationId: string
  summary: string
  description?: string
  tags?: readonly string[]
  /** Path parameters with schemas other than a plain string, by name (a valibot object schema). */
  params?: Schema
  /** The query parameters (a valibot object schema: each entry is a parameter). */
  query?: Schema
  /** The request body: the valibot schema the handler validates it with (JSON unless `contentType` says else). */
  body?: Schema | OperationBody
  /** Response status codes: 400 and up are answered in Ory's error shape. */
  responses: Readonly<Record<number, OperationResponse>>
}

/** A request body in other media types than JSON, or optional. */
export interface OperationBody {
  schema: Schema
  contentType: string | readonly string[]
  required?: boolean
}

/** The operations a plugin serves, per listener. */
export interface Operations {
  public?: readonly Operation[]
  admin?: readonly Operation[]
}


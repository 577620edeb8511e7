/**
 * The permissions plugin's routes for the OpenAPI documents (`GET /openapi.json`), with Keto's operationIds.
 * Bodies and query parameters are the schemas the handlers validate with; which listener serves reads and
 * writes follows the `read` and `write` options, as the routes do.
 */
import type { Operation, Operations, PluginContext } from 'tessera'
import * as v from 'valibot'
import type { ResolvedPermissionsOptions } from './options.ts'
import { BatchSchema, PatchSchema, QuerySchema, RelationshipSchema } from './routes.ts'

const TAGS = ['relationship']
const checked = { 400: 'Invalid tuple or query', 404: 'Unknown namespace' }

const check: Operation[] = [
  { method: 'GET', path: '/relation-tuples/check', operationId: 'checkPermissionOrError', summary: 'Check a permission (403 when denied)', tags: TAGS, query: QuerySchema, responses: { 200: 'Allowed', 403: 'Denied', 400: 'Invalid tuple' } },
  { method: 'POST', path: '/relation-tuples/check', operationId: 'postCheckPermissionOrError', summary: 'Check a permission (403 when denied)', tags: TAGS, query: QuerySchema, body: RelationshipSchema, responses: { 200: 'Allowed', 403: 'Denied', 400: 'Invalid tuple' } },
  { method: 'GET', path: '/relation-tuples/check/openapi', operationId: 'checkPermission', summary: 'Check a permission', tags: TAGS, query: QuerySchema, responses: { 200: 'Whether it is allowed', 400: 'Invalid tuple' } },
  { method: 'POST', path: '/relation-tuples/check/openapi', operationId: 'postCheckPermission', summary: 'Check a permission', tags: TAGS, query: QuerySchema, body: RelationshipSchema, responses: { 200: 'Whether it is allowed', 400: 'Invalid tuple' } },
]

const read: Operation[] = [
  { method: 'GET', path: '/relation-tuples', operationId: 'getRelationships', summary: 'List relation tuples', tags: TAGS, query: QuerySchema, responses: { 200: 'A page of relation tuples', ...checked } },
  { method: 'GET', path: '/relation-tuples/check/explain', operationId: 'explainPermission', summary: 'Check a permission and say why', tags: TAGS, query: QuerySchema, responses: { 200: 'Whether it is allowed, and the path that decided', 400: 'Invalid tuple' } },
  { method: 'POST', path: '/relation-tuples/check/explain', operationId: 'postExplainPermission', summary: 'Check a permission and say why', tags: TAGS, query: QuerySchema, body: RelationshipSchema, responses: { 200: 'Whether it is allowed, and the path that decided', 400: 'Invalid tuple' } },
  { method: 'POST', path: '/relation-tuples/batch/check', operationId: 'batchCheckPermission', summary: 'Check several permissions', tags: TAGS, query: QuerySchema, body: BatchSchema, responses: { 200: 'One result per tuple', 400: 'Invalid request or too many tuples' } },
  { method: 'GET', path: '/relation-tuples/expand', operationId: 'expandPermissions', summary: 'Expand a subject set into a tree', tags: TAGS, query: QuerySchema, responses: { 200: 'The tree', 400: 'Invalid query', 404: 'No such tuple or namespace' } },
  { method: 'GET', path: '/relation-tuples/list-objects', operationId: 'listObjects', summary: 'The objects a subject has a relation to', tags: TAGS, query: QuerySchema, responses: { 200: 'A page of objects', ...checked } },
  { method: 'GET', path: '/relation-tuples/list-subjects', operationId: 'listSubjects', summary: 'The subjects with a relation to an object', tags: TAGS, query: QuerySchema, responses: { 200: 'A page of subject ids', ...checked } },
  { method: 'GET', path: '/namespaces', operationId: 'listRelationshipNamespaces', summary: 'The namespaces', tags: TAGS, responses: { 200: 'The namespaces' } },
  { method: 'POST', path: '/opl/syntax/check', operationId: 'checkOplSyntax', summary: 'Check Ory Permission Language source', tags: TAGS, body: { schema: v.string(), contentType: 'text/plain' }, responses: { 200: 'The syntax errors (none when valid)', 400: 'Not text' } },
]

const write: Operation[] = [
  { method: 'PUT', path: '/admin/relation-tuples', operationId: 'createRelationship', summary: 'Write a relation tuple', tags: TAGS, body: RelationshipSchema, responses: { 201: 'The tuple', ...checked } },
  { method: 'PATCH', path: '/admin/relation-tuples', operationId: 'patchRelationships', summary: 'Insert and delete relation tuples in one transaction', tags: TAGS, body: PatchSchema, responses: { 204: 'Done', ...checked } },
  { method: 'DELETE', path: '/admin/relation-tuples', operationId: 'deleteRelationships', summary: 'Delete the relation tuples matching a filter', tags: TAGS, query: QuerySchema, responses: { 204: 'Deleted', ...checked } },
]

export function permissionsOperations(ctx: PluginContext<ResolvedPermissionsOptions>): Operations {
  const out: Record<'public' | 'admin', Operation[]> = { public: [], admin: [] }
  out[ctx.options.read].push(...check, ...read)
  out[ctx.options.write].push(...write)
  return out
}

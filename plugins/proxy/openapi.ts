/**
 * The proxy plugin's admin routes for the OpenAPI documents (`GET /openapi.json`), with Oathkeeper's
 * operationIds. `/decisions` answers any method (the method of the request asked about); GET stands for all.
 */
import type { Operation, Operations } from 'tessera'
import { RulesQuery } from './index.ts'

const TAGS = ['api']
const decision = { 200: 'Allowed: the mutated headers', 401: 'Not authenticated', 403: 'Forbidden', 404: 'No rule matches' }

/** A function: index.ts (where the rule routes and their schema live) imports this file. */
export function proxyOperations(): Operations {
  const admin: Operation[] = [
    { method: 'GET', path: '/decisions', operationId: 'decisions', summary: 'Ask for an access decision (any method)', tags: TAGS, responses: decision },
    { method: 'GET', path: '/decisions/*', operationId: 'decisionsForPath', summary: 'Ask for an access decision about the path after /decisions (any method)', tags: TAGS, responses: decision },
    { method: 'GET', path: '/rules', operationId: 'listRules', summary: 'The access rules', tags: TAGS, query: RulesQuery, responses: { 200: 'A page of rules', 400: 'Invalid limit or offset' } },
    { method: 'GET', path: '/rules/:id', operationId: 'getRule', summary: 'An access rule', tags: TAGS, responses: { 200: 'The rule', 404: 'No such rule' } },
    { method: 'GET', path: '/.well-known/jwks.json', operationId: 'getWellKnownJSONWebKeys', summary: "The id_token mutator's public keys", tags: TAGS, responses: { 200: 'A JWK set' } },
  ]
  return { admin }
}

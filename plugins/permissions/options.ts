import * as v from 'valibot'
import { BoundedConditionSchema } from './conditions.ts'

const Listener = v.picklist(['admin', 'public'])

export const PermissionsOptions = v.object({
  /**
   * Namespaces: Ory Permission Language source (the TypeScript subset Keto accepts), or Keto's legacy list
   * of names (`[{ name: 'files' }]`, plain stored relations, no rewrites). Absent: any namespace is accepted
   * and every relation is a plain stored relation.
   */
  namespaces: v.optional(v.union([v.string(), v.array(v.object({ name: v.pipe(v.string(), v.minLength(1)) }))])),
  /** A file with Ory Permission Language source, read at boot (for JSON/YAML configs). */
  namespacesFile: v.optional(v.pipe(v.string(), v.minLength(1))),
  /** Keto's `limit.max_read_depth`: the deepest a check or expand goes; a request's `max-depth` is capped to it. */
  maxReadDepth: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(100)), 5),
  /** Lookups one check may make before it stops as undetermined (denied): a cap on width as max depth is on depth. */
  maxCheckLookups: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 10000),
  /** Candidates one list-objects or list-subjects page may examine (one check each); a page cut short still has a next token. */
  maxListCandidates: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 1000),
  /** Keto's `limit.max_batch_check_size`: tuples in one `POST /relation-tuples/batch/check`. */
  maxBatchCheckSize: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1000)), 10),
  /** Default and largest page size of `GET /relation-tuples`. */
  defaultPageSize: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 100),
  maxPageSize: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 1000),
  /**
   * Conditions on relations and permissions of the OPL model, keyed `Namespace#relation`: the relation (or
   * permission) holds only while its condition holds against the request context, wherever a check reaches
   * it (directly, through a subject set, a rewrite or a traverse). Same language as a tuple's `condition`.
   */
  relationConditions: v.optional(
    v.record(v.pipe(v.string(), v.regex(/^[^#\s]+#[^#\s]+$/, 'expected a key "Namespace#relation"')), BoundedConditionSchema),
    {},
  ),
  /** Which listener serves the read API (list, check, expand, namespaces, OPL syntax check). */
  read: v.optional(Listener, 'admin'),
  /** Which listener serves the write API (`/admin/relation-tuples`). */
  write: v.optional(Listener, 'admin'),
})

export type PermissionsOptions = v.InferInput<typeof PermissionsOptions>
export type ResolvedPermissionsOptions = v.InferOutput<typeof PermissionsOptions>

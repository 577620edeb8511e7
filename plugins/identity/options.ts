import * as v from 'valibot'

const d = v.description
const Seconds = v.pipe(v.number(), v.integer(), v.minValue(1))

export const IdentitySchemaOption = v.object({
  id: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]+$/), d('The schema id (`default`, `customer`).')),
  schema: v.pipe(v.record(v.string(), v.unknown()), d("A JSON Schema (draft-07 or 2020-12) with Kratos' `ory.sh/kratos` extension.")),
})

export const Hook = v.picklist(['session', 'revoke_active_sessions'])

export const IdentityOptions = v.object({
  schemas: v.pipe(v.array(IdentitySchemaOption), v.minLength(1, 'configure at least one identity schema'), d('Identity schemas; the first is the default unless `defaultSchemaId` says otherwise.')),
  defaultSchemaId: v.optional(v.pipe(v.string(), d('The schema new identities get when none is named.'))),
  session: v.optional(
    v.object({
      cookieName: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]+$/), d('The session cookie.')), 'tessera_session'),
      lifespan: v.optional(v.pipe(Seconds, d('Session lifespan in seconds (default 24 h).')), 86400),
      earliestPossibleExtend: v.optional(v.pipe(Seconds, d('A session can be extended only this many seconds before it expires (default: the whole lifespan).'))),
    }),
    {},
  ),
  selfservice: v.optional(
    v.object({
      uiUrl: v.optional(v.pipe(v.string(), v.url(), d('Base URL of the self-service UI; browser flows redirect to `<uiUrl>/<flow>?flow=<id>`.')), 'http://localhost:4455'),
      defaultReturnUrl: v.optional(v.pipe(v.string(), v.url(), d('Where browsers go after a flow without return_to.')), 'http://localhost:4455/'),
      allowedReturnUrls: v.optional(v.pipe(v.array(v.string()), d("return_to allow-list, Kratos' semantics: scheme and host must match (`https://*.example.com` admits sub-domains), the path must match at a `/` boundary.")), []),
      flowLifespan: v.optional(v.pipe(Seconds, d('How long a flow can be submitted (default 1 h).')), 3600),
      registrationAfter: v.optional(v.pipe(v.array(Hook), d("Hooks after a successful registration; `session` logs the user in (Kratos' `session` hook).")), ['session']),
      loginAfter: v.optional(v.pipe(v.array(Hook), d('Hooks after a successful login; `revoke_active_sessions` signs out every other session.')), []),
    }),
    {},
  ),
})
export type IdentityOptions = v.InferOutput<typeof IdentityOptions>
export type IdentityOptionsInput = v.InferInput<typeof IdentityOptions>

import type { Awaitable, FlowKind, SelfServiceFlow, UiText } from 'tessera'
import * as v from 'valibot'
import { unsafeReturnToEntry } from './return-to.ts'

/** What a TypeScript flow hook sees. */
export interface FlowHookEvent {
  kind: FlowKind
  tenant: string
  request: Request
  flow: SelfServiceFlow
  /** The credential method (after hooks). */
  method?: string
  /** The identity in Kratos' shape (after hooks; for registration: not yet stored). */
  identity?: Record<string, unknown>
}

/** A hook may add ui messages to the flow, or abort it (the flow is shown again with the messages). */
export type FlowHookResult = void | undefined | { messages?: UiText[]; abort?: boolean }
export type FlowHook = (event: FlowHookEvent) => Awaitable<FlowHookResult>

/** Typed hooks written in the config, keyed by flow. */
export interface IdentityHooks {
  beforeLogin?: FlowHook
  afterLogin?: FlowHook
  beforeRegistration?: FlowHook
  afterRegistration?: FlowHook
}

const d = v.description
const Seconds = v.pipe(v.number(), v.integer(), v.minValue(1))

export const IdentitySchemaOption = v.object({
  id: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]+$/), d('The schema id (`default`, `customer`).')),
  schema: v.pipe(v.record(v.string(), v.unknown()), d("A JSON Schema (draft-07 or 2020-12) with Kratos' `ory.sh/kratos` extension, and a trait's title in other languages as `\"tessera\": { \"titles\": { \"de\": … } }`.")),
})

/** `aal1`, or `highest_available`: the highest assurance the identity's credentials allow. */
export const RequiredAal = v.picklist(['aal1', 'highest_available'])

export const Hook = v.picklist(['session', 'revoke_active_sessions'])
/** Login hooks: Kratos' `require_verified_address` refuses a login until one of the identity's addresses is verified. */
export const LoginHook = v.picklist(['revoke_active_sessions', 'require_verified_address'])

/** A recovery or verification flow's settings (Kratos' `selfservice.flows.recovery|verification`). */
const AddressFlow = (what: string) =>
  v.optional(
    v.object({
      enabled: v.optional(v.pipe(v.boolean(), d(`Offer the ${what} flow (default true; it needs a ${what} method, e.g. the code plugin).`)), true),
      use: v.optional(v.pipe(v.string(), v.regex(/^[a-z0-9_-]+$/), d(`The ${what} method: \`code\` (default) or \`link\`.`)), 'code'),
      notifyUnknownRecipients: v.optional(v.pipe(v.boolean(), d(`Tell an address that has no account that someone asked for ${what} (Kratos' notify_unknown_recipients, default false).`)), false),
    }),
    {},
  )

export const IdentityOptions = v.object({
  schemas: v.pipe(v.array(IdentitySchemaOption), v.minLength(1, 'configure at least one identity schema'), d('Identity schemas; the first is the default unless `defaultSchemaId` says otherwise.')),
  defaultSchemaId: v.optional(v.pipe(v.string(), d('The schema new identities get when none is named.'))),
  session: v.optional(
    v.object({
      cookieName: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]+$/), d('The session cookie.')), 'tessera_session'),
      lifespan: v.optional(v.pipe(Seconds, d('Session lifespan in seconds (default 24 h).')), 86400),
      tokenizers: v.optional(
        v.pipe(
          v.record(
            v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]+$/)),
            v.object({
              ttl: v.optional(v.pipe(Seconds, d('Lifetime of the JWT in seconds (never beyond the session).')), 60),
              claims: v.optional(v.custom<(session: Record<string, unknown>) => Awaitable<Record<string, unknown>>>((x) => typeof x === 'function', 'expected a function (session) => claims')),
            }),
          ),
          d('whoami?tokenize_as=<name> templates: the session as a JWT (ES256, a managed per-tenant key).'),
        ),
        {},
      ),
      whoamiRequiredAal: v.optional(
        v.pipe(RequiredAal, d("Kratos' session.whoami.required_aal: `highest_available` (default) answers an aal1 session of an identity that has a second factor with 403 session_aal2_required; `aal1` accepts any session.")),
        'highest_available',
      ),
      earliestPossibleExtend: v.optional(v.pipe(Seconds, d('A session can be extended only this many seconds before it expires (default: the whole lifespan).'))),
    }),
    {},
  ),
  hooks: v.optional(
    v.pipe(
      v.custom<IdentityHooks>((x) => typeof x === 'object' && x !== null && Object.values(x).every((f) => typeof f === 'function'), 'expected an object of hook functions'),
      d('Code configs only: beforeLogin, afterLogin, beforeRegistration, afterRegistration — each (event) => void | { messages, abort }.'),
    ),
    {},
  ),
  selfservice: v.optional(
    v.object({
      uiUrl: v.optional(
        v.pipe(v.string(), v.url(), d('Base URL of the self-service UI; browser flows redirect to `<uiUrl>/<flow>?flow=<id>`. Default: the ui plugin\'s pages when it is installed (`<public base URL>/ui`), else `http://localhost:4455`.')),
      ),
      defaultReturnUrl: v.optional(v.pipe(v.string(), v.url(), d('Where browsers go after a flow without return_to. Default: `<uiUrl>/` (the ui plugin\'s home page when it is installed), else `http://localhost:4455/`.'))),
      allowedReturnUrls: v.optional(v.pipe(v.array(v.pipe(v.string(), v.rawCheck(({ dataset, addIssue }) => {
        if (!dataset.typed) return
        const why = unsafeReturnToEntry(dataset.value)
        if (why) addIssue({ message: why })
      }))), d("return_to allow-list, Kratos' semantics: scheme and host must match (`https://*.example.com` admits sub-domains), the path must match at a `/` boundary.")), []),
      flowLifespan: v.optional(v.pipe(Seconds, d('How long a flow can be submitted (default 1 h).')), 3600),
      registrationAfter: v.optional(v.pipe(v.array(Hook), d("Hooks after a successful registration; `session` logs the user in (Kratos' `session` hook).")), ['session']),
      loginAfter: v.optional(
        v.pipe(v.array(LoginHook), d('Hooks after a successful login; `revoke_active_sessions` signs out every other session, `require_verified_address` refuses identities without a verified address (4000010).')),
        [],
      ),
      privilegedSessionMaxAge: v.optional(v.pipe(Seconds, d('How long after a login a session may change credentials and addresses in settings (default 1 h); older: 403 session_refresh_required.')), 3600),
      settings: v.optional(
        v.object({
          requiredAal: v.optional(
            v.pipe(RequiredAal, d("Kratos' selfservice.flows.settings.required_aal: `highest_available` (default) sends an aal1 session of an identity that has a second factor to step up (403 session_aal2_required) before settings; `aal1` does not.")),
            'highest_available',
          ),
        }),
        {},
      ),
      recovery: AddressFlow('recovery'),
      verification: AddressFlow('verification'),
      localeTrait: v.optional(
        v.pipe(
          v.string(),
          v.maxLength(256),
          d("The trait (a dotted path, e.g. `locale` or `preferences.language`) holding an identity's preferred language (a BCP 47 tag): messages to a known identity that has it are sent in it, over the flow's language. Empty: never read. Tessera's own (Kratos has no such setting); default `locale`."),
        ),
        'locale',
      ),
    }),
    {},
  ),
  flowRateLimit: v.optional(
    v.object({
      enabled: v.optional(v.pipe(v.boolean(), d('Limit how many self-service flows one client address may create (default true).')), true),
      perAddress: v.optional(
        v.pipe(Seconds, d('Flows one client address may create per window, login and registration, API and browser together (default 300: five a second, room for a shared NAT).')),
        300,
      ),
      windowSeconds: v.optional(v.pipe(Seconds, d('The counting window (fixed windows, default 60 s); past the limit the address gets 429 with Retry-After until it ends.')), 60),
    }),
    {},
  ),
  cleanup: v.optional(
    v.object({
      enabled: v.optional(v.pipe(v.boolean(), d('Delete expired self-service flows periodically (started with the server, stopped with it).')), true),
      intervalSeconds: v.optional(v.pipe(Seconds, d('Seconds between sweeps (default 60).')), 60),
      graceSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), d('Keep a flow this long after it expired, so a late submit still answers "flow expired" (default 1 h).')), 3600),
      batchSize: v.optional(v.pipe(Seconds, d('Rows per delete statement (default 500).')), 500),
      maxBatches: v.optional(v.pipe(Seconds, d('Delete statements per tenant per sweep (default 1000: up to 500,000 flows a minute, far above what the creation limit lets in).')), 1000),
    }),
    {},
  ),
})
export type IdentityOptions = v.InferOutput<typeof IdentityOptions>
export type IdentityOptionsInput = v.InferInput<typeof IdentityOptions>

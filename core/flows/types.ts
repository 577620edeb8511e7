/**
 * Self-service flow types in Kratos' shape, and the credential-method contract: a method implements only the
 * flows it supports, as Kratos strategies do, and the flow engine (the identity plugin) finds it in the
 * `credentialMethods` registry by id. The full guide is docs/plugins.md, "Writing a credential method".
 */
import type { GenericSchema, GenericSchemaAsync } from 'valibot'
import type { CourierService } from '../services.ts'
import type { ScopedDb } from '../storage/scoped.ts'
import type { Awaitable } from '../types.ts'

export type FlowType = 'api' | 'browser'
export type FlowKind = 'login' | 'registration' | 'settings' | 'recovery' | 'verification'
export type AuthenticatorAssuranceLevel = 'aal0' | 'aal1' | 'aal2' | 'aal3'

/** A ui text (message) with Kratos' numeric ids: 4000006 = invalid credentials. */
export interface UiText {
  id: number
  text: string
  type: 'info' | 'error' | 'success'
  context?: Record<string, unknown>
}

/** Kratos' node groups; a credential method of your own groups its nodes under its id. */
export type UiNodeGroup =
  | ('default' | 'password' | 'oidc' | 'profile' | 'link' | 'code' | 'totp' | 'lookup_secret' | 'webauthn')
  | ('passkey' | 'identifier_first' | 'captcha' | 'saml' | 'oauth2_consent')
  | (string & {})

export interface UiNodeInputAttributes {
  node_type: 'input'
  name: string
  type: string
  value?: unknown
  required?: boolean
  disabled: boolean
  autocomplete?: string
  pattern?: string
  label?: UiText
  onclick?: string
  onclickTrigger?: string
  onload?: string
  onloadTrigger?: string
  maxlength?: number
}

export interface UiNode {
  type: 'input' | 'text' | 'img' | 'a' | 'script' | 'div'
  group: UiNodeGroup
  attributes: UiNodeInputAttributes | (Record<string, unknown> & { node_type: string })
  messages: UiText[]
  meta: { label?: UiText }
}

/** A ui input node as Kratos builds one: `attributes` (undefined ones left out) go between name/type and disabled/node_type. */
export function inputNode(group: UiNodeGroup, name: string, type: string, attributes: Record<string, unknown> = {}, label?: UiText): UiNode {
  const attrs = Object.fromEntries(Object.entries(attributes).filter(([, v]) => v !== undefined))
  return { type: 'input', group, attributes: { name, type, ...attrs, disabled: false, node_type: 'input' }, messages: [], meta: label ? { label } : {} }
}

export interface UiContainer {
  action: string
  method: string
  nodes: UiNode[]
  messages?: UiText[]
}

/** The fields every self-service flow has (Kratos' shape). */
export interface SelfServiceFlow {
  id: string
  type: FlowType
  expires_at: string
  issued_at: string
  request_url: string
  return_to?: string
  ui: UiContainer
  state?: string
  [extra: string]: unknown
}

/** One trait the identity schema marks for a method: `"ory.sh/kratos": { "credentials": { "<id>": settings } }`. */
export interface IdentifierField {
  /** The dotted trait path: `email`, `contact.phone`. */
  path: string
  /** The trait's JSON Schema `format` (`email`, `tel`, …), when it has one. */
  format?: string
  /** The trait's JSON Schema `title`, when it has one (Kratos labels the login identifier with it). */
  title?: string
  /** The method's settings on this trait, as written in the schema: `{ identifier: true }`, `{ identifier: true, via: 'sms' }`. */
  settings: Record<string, unknown>
}

/** How a method's identifiers are found in the traits and normalised. */
export interface MethodIdentifiers {
  /** Whether this marked trait identifies an identity for the method. Default: `settings.identifier === true`. */
  select?(field: IdentifierField): boolean
  /**
   * Normalise one identifier (`field` undefined for what a user typed), both when stored and when looked up.
   * Default: trimmed, and lower-cased when it is an e-mail address.
   */
  normalise?(value: string, field?: IdentifierField): string
}

/** The stored-credential part of a method: its config's shape, what the admin API shows and how it imports. */
export interface CredentialSpec<Config extends Record<string, unknown> = Record<string, unknown>> {
  /** The valibot schema of the config this method stores; every config is validated against it before it is stored. */
  config: GenericSchema<any, Config> | GenericSchemaAsync<any, Config>
  /** Config fields the admin API may show with `include_credential=<id>`. Default: none. */
  reveal?: readonly string[]
  /** How `POST /admin/identities` (and PUT) imports `credentials.<id>.config`. Without it, importing this type is a 400. */
  import?: CredentialImporter<Config>
  /**
   * What this stored credential lets its identity do: log in (`first`), step a session up (`second`), both, or
   * nothing yet (`null`, e.g. a code credential without addresses). Default: the method's `factor`. The engine
   * derives an identity's available assurance from it (any `second`/`both` credential: aal2, Kratos' available AAL)
   * and refuses to remove the last credential of either kind.
   */
  factor?(config: Config): 'first' | 'second' | 'both' | null
}

/** Imports a credential through the admin API (Kratos' identity import). */
export interface CredentialImporter<Config extends Record<string, unknown> = Record<string, unknown>, Input = any> {
  /** The valibot schema of `credentials.<id>.config` in the request; a mismatch is a 400 naming the field. */
  input: GenericSchema<any, Input> | GenericSchemaAsync<any, Input>
  /** The credential to store (then validated against `config`), or null; throw a BadRequestError to refuse. */
  toCredential(input: Input, ctx: ImportContext): Awaitable<NewCredential<Config> | null>
}

/** What an importer gets: the tenant, and the identity's traits and schema-derived identifiers for this method. */
export interface ImportContext {
  tenant: string
  db: ScopedDb
  traits: Record<string, unknown>
  identifiers: string[]
}

/** A credential a method asks the engine to store. */
export interface NewCredential<Config extends Record<string, unknown> = Record<string, unknown>> {
  config: Config
  /** The identifiers to store for it. Default: the ones the engine derived from the identity schema. */
  identifiers?: string[]
  /** Registration: addresses the method proved the user owns (a code sent there was typed back): stored verified. */
  verifiedAddresses?: string[]
}

/** A stored credential as the flow engine hands it to a method. */
export interface StoredCredential {
  identity_id: string
  config: Record<string, unknown>
  /** The identity's state (`active`, `inactive`). */
  state: string
}

/** What the flow engine gives a method's hooks, one per method and submission (never the identity plugin's files). */
export interface FlowMethodContext {
  tenant: string
  db: ScopedDb
  request: Request
  /** The peer address, when known. */
  ip: string | null
  kind: FlowKind
  /**
   * The traits of the default identity schema that identify an identity for this method (its `identifiers.select`),
   * with their titles: what a method needs to build its nodes, e.g. the login identifier's label.
   */
  identifierFields: IdentifierField[]
  /** The login identifier input's label, as Kratos builds it from the schema (the one identifier trait's title, else "ID"). */
  identifierLabel: UiText
  credentials: {
    /** The credential of `type` with this identifier (already normalised), and its identity's state. */
    find(type: string, identifier: string): Promise<StoredCredential | undefined>
    /** Replace a stored config (re-hash on login, a counter, …); validated against the method's config schema first. */
    updateConfig(identityId: string, type: string, config: Record<string, unknown>): Promise<void>
    /** Normalise what a user typed as this method normalises its identifiers. */
    normalise(identifier: string): string
    /** This method's credential of one identity (a second factor looks it up by the session's identity, not by an identifier). */
    of(identityId: string): Promise<StoredCredential | undefined>
  }
  /** Login: the assurance the flow asks for and, at aal2 or when refreshing, the signed-in identity. */
  login?: LoginContext
  /** Registration: the validated traits and this method's identifiers derived from them (normalised). */
  registration?: { traits: Record<string, unknown>; identifiers: string[] }
  /** Settings: the signed-in identity, this method's credential (if any) and whether the session is privileged. */
  settings?: SettingsContext
  /** Recovery: the address being recovered, when the flow has one. */
  recovery?: RecoveryContext
  /** The identities' recovery and verifiable addresses (the schema's `recovery.via`, `verification.via`), as stored. */
  addresses: {
    /** The address with this value (normalised as stored: e-mail addresses lower-cased), or undefined. */
    find(kind: 'recovery' | 'verification', value: string): Promise<IdentityAddress | undefined>
    /** The addresses of one identity. */
    of(kind: 'recovery' | 'verification', identityId: string): Promise<IdentityAddress[]>
  }
  /**
   * The courier (`ctx.services.get('courier')` of the flow engine), or undefined when none is installed. A method
   * that must send refuses to start without one (see docs/plugins.md).
   */
  courier?: CourierService
  /** The public base URL of this request (for links in messages). */
  publicBaseUrl: string
  /**
   * Whether the request comes from the browser that started this (browser) flow: it carries the flow's CSRF
   * cookie. False for API flows. A magic link completes a flow only when this is true.
   */
  sameBrowser: boolean
  /**
   * The flow's language for messages: the Accept-Language of the request that started the flow (a BCP 47 tag),
   * else this request's; undefined when neither named one.
   */
  locale?: string
  /**
   * The language of a message to this identity: its locale trait (the identity plugin's `selfservice.localeTrait`)
   * when set, else the flow's `locale`. Without an identity (an unknown recipient): the registration's traits, when
   * registering, else the flow's `locale`. For an identity that `addresses.find` or `credentials.find`/`of` of this
   * context returned it reads nothing more (its traits came with that query), so a path that must answer known and
   * unknown addresses alike stays alike; for any other identity it reads the identity once.
   */
  localeFor(identityId?: string): Promise<string | undefined>
  /** Recovery and verification: whether an address without an account is told about the attempt (`notify_unknown_recipients`). */
  notifyUnknownRecipients: boolean
}

/** One recovery or verifiable address of an identity (Kratos' `recovery_addresses` / `verifiable_addresses`). */
export interface IdentityAddress {
  identityId: string
  /** The address, normalised (e-mail addresses lower-cased). */
  value: string
  /** `email` or `sms`. */
  via: string
  /** Verifiable addresses: whether it was verified. */
  verified?: boolean
}

/**
 * What a login flow asks for. At `aal1` the engine asks the methods whose factor is `first` or `both`; at `aal2`
 * (`?aal=aal2`, a step-up of the session) those whose factor is `second` or `both`, and a method's success counts
 * only for `identityId`, the session's identity: any other identity is refused by the engine.
 */
export interface LoginContext {
  requestedAal: AuthenticatorAssuranceLevel
  /** `refresh=true`: the signed-in identity authenticates again. */
  refresh: boolean
  /** At aal2, or when refreshing: the session's identity. */
  identityId?: string
}

/** What a settings submission knows. */
export interface SettingsContext {
  identityId: string
  traits: Record<string, unknown>
  /** This method's identifiers derived from the (current) traits. */
  identifiers: string[]
  /** This method's stored credential, if the identity has one. */
  credential?: StoredCredential
  /** Whether the session is recent enough for privileged changes (Kratos' `privileged_session_max_age`). */
  privileged: boolean
  /** The session's assurance (`aal1`, `aal2`). */
  aal?: AuthenticatorAssuranceLevel
}

/** What a recovery submission knows. */
export interface RecoveryContext {
  /** The recovery address the user gave (normalised), once the flow has one. */
  address?: string
  /** The identity that owns the address, once it is known. */
  identityId?: string
}

/** Show the flow again with these messages on it (a wrong credential is Kratos' 4000006 here). */
export interface InvalidOutcome {
  kind: 'invalid'
  messages?: UiText[]
  /** Messages per ui node name (`password`, `traits.email`). */
  nodeMessages?: Record<string, UiText[]>
}

/** The submission was not for this method. */
export interface NotResponsibleOutcome {
  kind: 'not_responsible'
}

/**
 * A step of a multi-step method is done and the flow waits for the user (a code was sent): the engine stores the
 * flow as the method left it (its nodes, `state`), with these messages, and answers it with 200.
 */
export interface SentOutcome {
  kind: 'sent'
  messages?: UiText[]
}

/**
 * A link opened in a browser that is not the flow's own (a magic link forwarded or scanned): the engine shows a
 * small page with this text and completes nothing.
 */
export interface PageOutcome {
  kind: 'page'
  title: string
  text: string
}

/** Login: the method authenticated this identity, with this assurance. */
export type LoginOutcome = { kind: 'success'; identityId: string; aal: AuthenticatorAssuranceLevel } | SentOutcome | PageOutcome | InvalidOutcome | NotResponsibleOutcome

/** Registration: the method accepted the submission; the engine creates the identity with this credential. */
export type RegistrationOutcome = { kind: 'success'; credential: NewCredential } | SentOutcome | PageOutcome | InvalidOutcome | NotResponsibleOutcome

/**
 * Settings: store `credential`, or remove it (`null`); `privileged_required` asks for re-authentication first;
 * `sent` shows the flow as the method left it (200), e.g. new recovery codes waiting to be confirmed.
 */
export type SettingsOutcome =
  | { kind: 'success'; credential: NewCredential | null; messages?: UiText[] }
  | SentOutcome
  | { kind: 'privileged_required' }
  | InvalidOutcome
  | NotResponsibleOutcome

/** Recovery: `sent` a code or link to the address; `success` when the identity proved it owns it (then settings). */
export type RecoveryOutcome =
  | SentOutcome
  | { kind: 'success'; identityId: string }
  | PageOutcome
  | InvalidOutcome
  | NotResponsibleOutcome

/** Verification: `sent` as for recovery; `success` when the address is verified. */
export type VerificationOutcome =
  | SentOutcome
  | { kind: 'success'; identityId: string; address: string }
  | PageOutcome
  | InvalidOutcome
  | NotResponsibleOutcome

/** Any method's answer to a submission. */
export type MethodOutcome = LoginOutcome | RegistrationOutcome | SettingsOutcome | RecoveryOutcome | VerificationOutcome

/** The part a credential method plays in one flow. */
export interface FlowParticipant<Ctx = FlowMethodContext, Outcome = MethodOutcome> {
  /** Add this method's ui nodes to a new or refreshed flow. */
  populate?(flow: SelfServiceFlow, ctx: Ctx): Awaitable<void>
  /** Handle a submission addressed to this method (`method=<id>`). */
  submit(flow: SelfServiceFlow, body: Record<string, unknown>, ctx: Ctx): Awaitable<Outcome>
  /**
   * A link from a message was opened: `GET /self-service/<flow>?flow=<id>&…` with the link's query (`token`,
   * `code`). The engine finds the method by `method=` in the query (else `link` when there is a `token`, else
   * `code`) and handles the outcome as a submission's; `ctx.sameBrowser` says whether the flow's browser opened it.
   */
  link?(flow: SelfServiceFlow, query: Record<string, string>, ctx: Ctx): Awaitable<Outcome>
}

/** Recovery, plus what the admin API needs: a code or link for an identity, made without sending it. */
export interface RecoveryParticipant<Ctx = FlowMethodContext> extends FlowParticipant<Ctx, RecoveryOutcome> {
  /**
   * `POST /admin/recovery/code` and `/admin/recovery/link`: a code (or link) for `identityId` on this new flow,
   * valid `expiresIn` seconds, returned to the admin instead of sent.
   */
  issue?(flow: SelfServiceFlow, identityId: string, expiresIn: number, ctx: Ctx): Awaitable<{ code?: string; link?: string; expiresAt: Date }>
}

/** Verification, plus what the engine needs after a registration or a changed address. */
export interface VerificationParticipant<Ctx = FlowMethodContext> extends FlowParticipant<Ctx, VerificationOutcome> {
  /** Send a verification message for `address` on this new flow (it is stored after this returns). */
  send?(flow: SelfServiceFlow, address: IdentityAddress, ctx: Ctx): Awaitable<void>
}

/** Settings outcomes are decided by `submit`; `populate` gets `ctx.settings` (the identity and its credential). */
export type SettingsParticipant<Ctx = FlowMethodContext> = FlowParticipant<Ctx, SettingsOutcome>

export interface CredentialMethod<Ctx = FlowMethodContext> {
  /** `password`, `totp`, `webauthn`, … — Kratos' method names; also the credential type it stores. */
  id: string
  /** Whether the method can be a first factor, a second factor, or both. */
  factor: 'first' | 'second' | 'both'
  /** The assurance a login with it gives. Default: `aal1` for a first factor, `aal2` for a second. */
  aal?: AuthenticatorAssuranceLevel
  /** Which traits identify an identity for it (the schema's `credentials.<id>`), and their normalisation. */
  identifiers?: MethodIdentifiers
  /** The credential it stores: config schema, what admins may see, how it is imported. */
  credential?: CredentialSpec
  login?: FlowParticipant<Ctx, LoginOutcome>
  registration?: FlowParticipant<Ctx, RegistrationOutcome>
  settings?: SettingsParticipant<Ctx>
  recovery?: RecoveryParticipant<Ctx>
  verification?: VerificationParticipant<Ctx>
}

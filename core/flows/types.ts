/**
 * Self-service flow types in Kratos' shape, and the credential-method contract: a method implements only the
 * flows it supports, as Kratos strategies do, and the flow engine (the identity plugin) finds it in the
 * `credentialMethods` registry by id. The full guide is docs/plugins.md, "Writing a credential method".
 */
import type { GenericSchema, GenericSchemaAsync } from 'valibot'
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
  credentials: {
    /** The credential of `type` with this identifier (already normalised), and its identity's state. */
    find(type: string, identifier: string): Promise<StoredCredential | undefined>
    /** Replace a stored config (re-hash on login, a counter, …); validated against the method's config schema first. */
    updateConfig(identityId: string, type: string, config: Record<string, unknown>): Promise<void>
    /** Normalise what a user typed as this method normalises its identifiers. */
    normalise(identifier: string): string
  }
  /** Registration: the validated traits and this method's identifiers derived from them (normalised). */
  registration?: { traits: Record<string, unknown>; identifiers: string[] }
  /** Settings: the signed-in identity, this method's credential (if any) and whether the session is privileged. */
  settings?: SettingsContext
  /** Recovery: the address being recovered, when the flow has one. */
  recovery?: RecoveryContext
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

/** Login: the method authenticated this identity, with this assurance. */
export type LoginOutcome = { kind: 'success'; identityId: string; aal: AuthenticatorAssuranceLevel } | InvalidOutcome | NotResponsibleOutcome

/** Registration: the method accepted the submission; the engine creates the identity with this credential. */
export type RegistrationOutcome = { kind: 'success'; credential: NewCredential } | InvalidOutcome | NotResponsibleOutcome

/** Settings: store `credential`, or remove it (`null`); `privileged_required` asks for re-authentication first. */
export type SettingsOutcome =
  | { kind: 'success'; credential: NewCredential | null; messages?: UiText[] }
  | { kind: 'privileged_required' }
  | InvalidOutcome
  | NotResponsibleOutcome

/** Recovery: `sent` a code or link to the address; `success` when the identity proved it owns it (then settings). */
export type RecoveryOutcome =
  | { kind: 'sent'; messages?: UiText[] }
  | { kind: 'success'; identityId: string }
  | InvalidOutcome
  | NotResponsibleOutcome

/** Verification: `sent` as for recovery; `success` when the address is verified. */
export type VerificationOutcome =
  | { kind: 'sent'; messages?: UiText[] }
  | { kind: 'success'; identityId: string; address: string }
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
}

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
  settings?: FlowParticipant<Ctx, SettingsOutcome>
  recovery?: FlowParticipant<Ctx, RecoveryOutcome>
  verification?: FlowParticipant<Ctx, VerificationOutcome>
}

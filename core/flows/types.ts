/**
 * Self-service flow types in Kratos' shape, and the credential-method contract.
 *
 * A credential method (password, totp, webauthn, code, oidc, …) implements only
 * the flows it supports, as Kratos strategies do; the flow engine finds it in the
 * core's `credentialMethods` registry by id and calls the hooks below.
 */

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

export type UiNodeGroup =
  | 'default'
  | 'password'
  | 'oidc'
  | 'profile'
  | 'link'
  | 'code'
  | 'totp'
  | 'lookup_secret'
  | 'webauthn'
  | 'passkey'
  | 'identifier_first'
  | 'captcha'
  | 'saml'
  | 'oauth2_consent'

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

import type { Awaitable } from '../types.ts'
import type { ScopedDb } from '../storage/scoped.ts'

/** A stored credential as the flow engine hands it to a method. */
export interface StoredCredential {
  identity_id: string
  config: Record<string, unknown>
  /** The identity's state (`active`, `inactive`). */
  state: string
}

/**
 * What the flow engine (the identity plugin) gives a credential method's hooks: the tenant, its database,
 * the request and peer address, and access to credentials. Methods depend on this contract, never on the
 * identity plugin's files.
 */
export interface FlowMethodContext {
  tenant: string
  db: ScopedDb
  request: Request
  /** The peer address, when known. */
  ip: string | null
  kind: FlowKind
  credentials: {
    /** The credential of `type` with this identifier (normalised by the engine), and its identity's state. */
    find(type: string, identifier: string): Promise<StoredCredential | undefined>
    updateConfig(identityId: string, type: string, config: Record<string, unknown>): Promise<void>
    normalise(identifier: string): string
  }
  /** Registration: the validated traits and their identifiers for this method. */
  registration?: { traits: Record<string, unknown>; identifiers: string[] }
}

/** A method's answer to a submission. */
export type MethodOutcome =
  /** The method authenticated this identity (login) or created its credentials (registration). */
  | { kind: 'success'; identityId?: string; aal?: AuthenticatorAssuranceLevel; data?: Record<string, unknown> }
  /** Show the flow again with these messages on it. */
  | { kind: 'invalid'; messages?: UiText[]; nodeMessages?: Record<string, UiText[]> }
  /** The submission was not for this method. */
  | { kind: 'not_responsible' }

/** The part a credential method plays in one flow. */
export interface FlowParticipant<Ctx = unknown> {
  /** Add this method's ui nodes to a new or refreshed flow. */
  populate?(flow: SelfServiceFlow, ctx: Ctx): Awaitable<void>
  /** Handle a submission addressed to this method (`method=<id>`). */
  submit(flow: SelfServiceFlow, body: Record<string, unknown>, ctx: Ctx): Awaitable<MethodOutcome>
}

export interface CredentialMethod<Ctx = unknown> {
  /** `password`, `totp`, `webauthn`, … — Kratos' method names. */
  id: string
  /** Whether the method can be a first factor, a second factor, or both. */
  factor: 'first' | 'second' | 'both'
  login?: FlowParticipant<Ctx>
  registration?: FlowParticipant<Ctx>
  settings?: FlowParticipant<Ctx>
  recovery?: FlowParticipant<Ctx>
  verification?: FlowParticipant<Ctx>
}

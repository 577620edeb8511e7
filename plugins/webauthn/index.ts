/**
 * The `webauthn` plugin: Kratos' `webauthn` method (security keys as a second factor, or passwordless with
 * `passwordless: true`) and `passkey` method (discoverable credentials: login without typing an identifier,
 * conditional UI), as credential methods on the core's contract, on @simplewebauthn/server. The browser script
 * the nodes load is served at `/.well-known/ory/webauthn.js` (Kratos' path), bundled from @simplewebauthn/browser.
 *
 * - Relying party id, name and origins from the options; an assertion or attestation from another origin or for
 *   another rp id is refused. Attestation `none` by default.
 * - Passkeys and passwordless webauthn require user verification (UV=1) and give `aal1`, as Kratos does; a
 *   security key as a second factor gives `aal2`.
 * - Challenges are bound to one flow and taken once (ceremony.ts); a credential id registered already is refused.
 * - Signature counters and backup flags are stored and checked: a counter that does not grow (a cloned
 *   authenticator) is refused, logged with `reason_id`, and the credential marked `clone_warning`.
 */
import { randomBytes } from 'node:crypto'
import * as v from 'valibot'
import {
  BadRequestError,
  type CredentialMethod,
  type FlowMethodContext,
  type LoginOutcome,
  type Logger,
  type PluginContext,
  type RegistrationOutcome,
  type SelfServiceFlow,
  type SettingsOutcome,
  type StoredCredential,
  definePlugin,
} from 'tessera'
import { bundledWebauthnScript } from './bundle.ts' with { type: 'macro' }
import {
  CeremonyError,
  Challenges,
  CredentialIds,
  type Purpose,
  type RegistrationKind,
  type StoredWebauthnCredential,
  WebauthnConfig,
  authenticationOptions,
  b64ToUrl,
  bytesToB64,
  parseAuthentication,
  parseRegistration,
  registrationOptions,
  verifyAssertion,
  verifyRegistration,
} from './ceremony.ts'
import { SCRIPT_PATH, T, drop, identifierForAutofill, input, scriptNode, upsert } from './nodes.ts'
import { type WebauthnOptions, WebauthnOptionsSchema, type WebauthnOptionsInput } from './options.ts'

export { WebauthnOptionsSchema, type WebauthnOptionsInput } from './options.ts'
export { WebauthnConfig } from './ceremony.ts'

/** The browser script, bundled when this module is transpiled (a Bun macro), and its subresource integrity. */
const SCRIPT: string = bundledWebauthnScript()
const INTEGRITY = `sha512-${new Bun.CryptoHasher('sha512').update(SCRIPT).digest('base64')}`

const str = (x: unknown) => (typeof x === 'string' ? x : '')
const hexId = (c: StoredWebauthnCredential) => Buffer.from(c.id, 'base64').toString('hex')

/** At an aal2 login (a step-up of the session): the session's identity, as the flow engine gives it. */
const stepUpOf = (ctx: FlowMethodContext) => (ctx.login?.requestedAal === 'aal2' ? ctx.login.identityId : undefined)

const configOf = (c: StoredCredential | undefined): WebauthnConfig | undefined => {
  if (!c) return undefined
  const r = v.safeParse(WebauthnConfig, c.config)
  return r.success ? r.output : undefined
}

const expiry = (flow: SelfServiceFlow) => new Date(flow.expires_at)

/** Import (`credentials.webauthn.config` / `credentials.passkey.config` in POST /admin/identities): Kratos' shape. */
const ImportInput = v.object({ credentials: WebauthnConfig.entries.credentials, user_handle: v.optional(WebauthnConfig.entries.user_handle) })

function methods(o: WebauthnOptions, log: Logger): CredentialMethod[] {
  const out: CredentialMethod[] = []

  /** Refuse and log a ceremony; a counter regression also marks the credential. */
  async function refused(e: unknown, ctx: FlowMethodContext, method: string, identityId?: string, config?: WebauthnConfig, credentialId?: string): Promise<void> {
    if (!(e instanceof CeremonyError)) throw e
    log.warn(`${method} ceremony refused: ${e.message}`, { 'tessera.reason_id': e.reasonId, 'tessera.method': method, ...(identityId ? { 'tessera.identity_id': identityId } : {}) })
    if (e.reasonId === 'webauthn_counter_regression' && identityId && config && credentialId) {
      const next = { ...config, credentials: config.credentials.map((c) => (b64ToUrl(c.id) === credentialId ? { ...c, authenticator: { ...c.authenticator, clone_warning: true } } : c)) }
      await ctx.credentials.updateConfig(identityId, method, next)
    }
  }

  const importer = (method: 'webauthn' | 'passkey') => ({
    input: ImportInput,
    async toCredential(i: v.InferOutput<typeof ImportInput>, ictx: { db: FlowMethodContext['db']; identifiers: string[] }) {
      const handle = i.user_handle ?? bytesToB64(randomBytes(32))
      const ids = new CredentialIds(ictx.db)
      for (const c of i.credentials) {
        if (!(await ids.claim(b64ToUrl(c.id), method, null))) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: `The ${method} credential ${hexId(c)} is registered already.` })
      }
      const config: WebauthnConfig = { credentials: i.credentials, user_handle: handle }
      return { config, identifiers: method === 'passkey' ? [b64ToUrl(handle)] : ictx.identifiers.length ? ictx.identifiers : [b64ToUrl(handle)] }
    },
  })

  // ---------------------------------------------------------------------------------------------- passkey
  if (o.passkey) {
    const G = 'passkey'

    async function populateLogin(flow: SelfServiceFlow, ctx: FlowMethodContext) {
      if (flow.requested_aal === 'aal2') return
      const opts = await authenticationOptions(o, undefined, 'required')
      await new Challenges(ctx.db).put(flow.id, 'passkey_login', opts.challenge, expiry(flow))
      const browser = flow.type === 'browser'
      identifierForAutofill(flow)
      upsert(flow, input(G, 'passkey_challenge', 'hidden', { value: JSON.stringify({ publicKey: opts }) }))
      upsert(flow, input(G, 'passkey_login', 'hidden', { onloadTrigger: 'oryPasskeyLoginAutocompleteInit', browser }))
      if (browser) upsert(flow, scriptNode('webauthn', ctx.publicBaseUrl, INTEGRITY))
      upsert(flow, input(G, 'passkey_login_trigger', 'button', { label: T.loginPasskey(), onclickTrigger: 'oryPasskeyLogin', browser }))
    }

    /** Passkey creation data: options with a fresh user handle (registration) or the identity's (settings). */
    async function populateCreate(flow: SelfServiceFlow, ctx: FlowMethodContext, handle: Buffer, existing: StoredWebauthnCredential[], resultName: string, trigger: string, label: ReturnType<typeof T.registerPasskey>, user: string) {
      const opts = await registrationOptions(o, { handle, name: user, displayName: user }, 'passkey', existing)
      await new Challenges(ctx.db).put(flow.id, 'passkey_register', opts.challenge, expiry(flow), handle.toString('base64'))
      const browser = flow.type === 'browser'
      const names = o.displayNameTraits.map((t) => `traits.${t}`)
      upsert(flow, input(G, 'passkey_create_data', 'hidden', { value: JSON.stringify({ credentialOptions: { publicKey: opts }, displayNameFieldName: names[0] ?? '', displayNameFieldNames: names }) }))
      upsert(flow, input(G, resultName, 'hidden'))
      if (browser) upsert(flow, scriptNode('webauthn', ctx.publicBaseUrl, INTEGRITY))
      upsert(flow, input(G, 'passkey_register_trigger', 'button', { label, onclickTrigger: trigger, browser }))
    }

    const displayNameFrom = (traits: Record<string, unknown>) => {
      for (const t of o.displayNameTraits) {
        let cur: unknown = traits
        for (const k of t.split('.')) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined
        if (typeof cur === 'string' && cur) return cur.slice(0, 256)
      }
      return ''
    }

    const passkey: CredentialMethod = {
      id: 'passkey',
      factor: 'first',
      aal: 'aal1',
      // identified by the credential's user handle, never by traits
      identifiers: { select: () => false, normalise: (s) => s.trim() },
      credential: { config: WebauthnConfig, import: importer('passkey') },
      registration: {
        populate: (flow, ctx) => populateCreate(flow, ctx, randomBytes(32), [], 'passkey_register', 'oryPasskeyRegistration', T.registerPasskey(), ''),
        async submit(flow, body, ctx): Promise<RegistrationOutcome> {
          const again = () => populateCreate(flow, ctx, randomBytes(32), [], 'passkey_register', 'oryPasskeyRegistration', T.registerPasskey(), '')
          const response = parseRegistration(body.passkey_register)
          if (!response) return { kind: 'invalid', nodeMessages: { passkey_register: [T.required('passkey_register')] } }
          const ch = await new Challenges(ctx.db).take(flow.id, 'passkey_register')
          if (!ch) {
            await refused(new CeremonyError('webauthn_challenge_missing', 'no challenge for this flow (used or expired)'), ctx, 'passkey')
            await again()
            return { kind: 'invalid', messages: [T.verifierWrong()] }
          }
          let cred: StoredWebauthnCredential
          try {
            cred = await verifyRegistration(o, response, ch.challenge, 'passkey', displayNameFrom(ctx.registration?.traits ?? {}))
            if (!(await new CredentialIds(ctx.db).claim(response.id, 'passkey', null))) throw new CeremonyError('webauthn_credential_registered', 'this credential id is registered already')
          } catch (e) {
            await refused(e, ctx, 'passkey')
            await again()
            return { kind: 'invalid', messages: [e instanceof CeremonyError && e.reasonId === 'webauthn_credential_registered' ? T.duplicate() : T.verifierWrong()] }
          }
          return { kind: 'success', credential: { config: { credentials: [cred], user_handle: ch.userHandle }, identifiers: [b64ToUrl(ch.userHandle)] } }
        },
      },
      login: {
        populate: populateLogin,
        async submit(flow, body, ctx): Promise<LoginOutcome> {
          if (flow.requested_aal === 'aal2') return { kind: 'not_responsible' }
          const response = parseAuthentication(body.passkey_login)
          if (!response) return { kind: 'invalid', nodeMessages: { passkey_login: [T.required('passkey_login')] } }
          const ch = await new Challenges(ctx.db).take(flow.id, 'passkey_login')
          const handle = str(response.response.userHandle)
          const found = handle ? await ctx.credentials.find('passkey', handle) : undefined
          const config = configOf(found)
          try {
            if (!ch) throw new CeremonyError('webauthn_challenge_missing', 'no challenge for this flow (used or expired)')
            if (!found || !config) throw new CeremonyError('webauthn_user_unknown', 'no passkey with this user handle')
            if (b64ToUrl(config.user_handle) !== handle) throw new CeremonyError('webauthn_user_handle_mismatch', 'the user handle is not the credential owner\'s')
            const updated = await verifyAssertion(o, response, ch.challenge, config.credentials, true)
            await ctx.credentials.updateConfig(found.identity_id, 'passkey', { ...config, credentials: config.credentials.map((c) => (c.id === updated.id ? updated : c)) })
            await new CredentialIds(ctx.db).bind(response.id, found.identity_id)
            return { kind: 'success', identityId: found.identity_id, aal: 'aal1' }
          } catch (e) {
            await refused(e, ctx, 'passkey', found?.identity_id, config, response.id)
            await populateLogin(flow, ctx)
            return { kind: 'invalid', messages: [T.verifierWrong()] }
          }
        },
      },
      settings: {
        async populate(flow, ctx) {
          const s = ctx.settings
          if (!s) return
          const config = configOf(s.credential)
          drop(flow, ['passkey_remove'])
          for (const c of config?.credentials ?? []) upsertRemove(flow, G, 'passkey_remove', c, T.settingsRemovePasskey(c.display_name || 'unnamed', c.added_at))
          const handle = config ? Buffer.from(config.user_handle, 'base64') : randomBytes(32)
          await populateCreate(flow, ctx, handle, config?.credentials ?? [], 'passkey_settings_register', 'oryPasskeySettingsRegistration', T.settingsAddPasskey(), displayNameFrom(s.traits))
        },
        async submit(flow, body, ctx): Promise<SettingsOutcome> {
          const s = ctx.settings!
          const config = configOf(s.credential)
          const remove = str(body.passkey_remove)
          const response = parseRegistration(body.passkey_settings_register)
          if (!remove && !response) return { kind: 'invalid', nodeMessages: { passkey_settings_register: [T.required('passkey_settings_register')] } }
          if (!s.privileged) return { kind: 'privileged_required' }
          if (remove) return removeCredential(ctx, 'passkey', config, remove)
          const ch = await new Challenges(ctx.db).take(flow.id, 'passkey_register')
          try {
            if (!ch) throw new CeremonyError('webauthn_challenge_missing', 'no challenge for this flow (used or expired)')
            const cred = await verifyRegistration(o, response!, ch.challenge, 'passkey', displayNameFrom(s.traits))
            if (!(await new CredentialIds(ctx.db).claim(response!.id, 'passkey', s.identityId))) throw new CeremonyError('webauthn_credential_registered', 'this credential id is registered already')
            const handle = config?.user_handle ?? ch.userHandle
            return { kind: 'success', credential: { config: { credentials: [...(config?.credentials ?? []), cred], user_handle: handle }, identifiers: [b64ToUrl(handle)] } }
          } catch (e) {
            await refused(e, ctx, 'passkey', s.identityId)
            await passkey.settings!.populate!(flow, ctx)
            return { kind: 'invalid', messages: [T.verifierWrong()] }
          }
        },
      },
    }
    out.push(passkey)
  }

  // --------------------------------------------------------------------------------------------- webauthn
  if (o.webauthn) {
    const G = 'webauthn'
    const kind: RegistrationKind = o.passwordless ? 'passwordless' : 'second_factor'
    /** The credentials that count at this assurance: passwordless ones at aal1, the others at aal2 (Kratos). */
    const usable = (c: WebauthnConfig, aal1: boolean) => c.credentials.filter((x) => x.is_passwordless === aal1)

    async function populateAssertion(flow: SelfServiceFlow, ctx: FlowMethodContext, identityId: string, config: WebauthnConfig, aal1: boolean, identifier?: string) {
      const creds = usable(config, aal1)
      const opts = await authenticationOptions(o, creds, aal1 ? 'required' : 'preferred')
      await new Challenges(ctx.db).put(flow.id, 'webauthn_login', opts.challenge, expiry(flow), config.user_handle, identityId)
      const browser = flow.type === 'browser'
      if (identifier !== undefined) {
        drop(flow, ['identifier'])
        flow.ui.nodes.push(input('default', 'identifier', 'hidden', { value: identifier, required: true }))
      }
      if (browser) upsert(flow, scriptNode(G, ctx.publicBaseUrl, INTEGRITY))
      upsert(flow, input(G, 'webauthn_login_trigger', 'button', { value: JSON.stringify({ publicKey: opts }), label: aal1 ? T.loginContinue() : T.loginWebauthn(), onclickTrigger: 'oryWebAuthnLogin', browser }))
      upsert(flow, input(G, 'webauthn_login', 'hidden'))
    }

    async function populateRegister(flow: SelfServiceFlow, ctx: FlowMethodContext, handle: Buffer, existing: StoredWebauthnCredential[], user: string, inSettings: boolean) {
      const opts = await registrationOptions(o, { handle, name: user, displayName: user }, kind, existing)
      await new Challenges(ctx.db).put(flow.id, 'webauthn_register', opts.challenge, expiry(flow), handle.toString('base64'))
      const browser = flow.type === 'browser'
      if (inSettings) upsert(flow, input(G, 'webauthn_register_displayname', 'text', { label: T.settingsKeyName() }))
      upsert(flow, input(G, 'webauthn_register', 'hidden'))
      if (browser) upsert(flow, scriptNode(G, ctx.publicBaseUrl, INTEGRITY))
      upsert(flow, input(G, 'webauthn_register_trigger', 'button', { value: JSON.stringify({ publicKey: opts }), label: inSettings ? T.settingsAddKey() : T.registerWebauthn(), onclickTrigger: 'oryWebAuthnRegistration', browser }))
    }

    /** Verify an assertion for one identity's credentials, taken from the flow's challenge. */
    async function assert(flow: SelfServiceFlow, ctx: FlowMethodContext, raw: unknown, identityId: string, found: StoredCredential | undefined, aal1: boolean): Promise<LoginOutcome> {
      const response = parseAuthentication(raw)
      if (!response) return { kind: 'invalid', nodeMessages: { webauthn_login: [T.required('webauthn_login')] } }
      const ch = await new Challenges(ctx.db).take(flow.id, 'webauthn_login')
      const config = configOf(found)
      try {
        if (!ch) throw new CeremonyError('webauthn_challenge_missing', 'no challenge for this flow (used or expired)')
        if (!found || !config || ch.identityId !== identityId) throw new CeremonyError('webauthn_identity_mismatch', 'the challenge was issued for another identity')
        const updated = await verifyAssertion(o, response, ch.challenge, usable(config, aal1), aal1)
        await ctx.credentials.updateConfig(identityId, 'webauthn', { ...config, credentials: config.credentials.map((c) => (c.id === updated.id ? updated : c)) })
        await new CredentialIds(ctx.db).bind(response.id, identityId)
        return { kind: 'success', identityId, aal: aal1 ? 'aal1' : 'aal2' }
      } catch (e) {
        await refused(e, ctx, 'webauthn', identityId, config, response.id)
        if (config) await populateAssertion(flow, ctx, identityId, config, aal1)
        return { kind: 'invalid', messages: [T.verifierWrong()] }
      }
    }

    const webauthn: CredentialMethod = {
      id: 'webauthn',
      // passwordless keys log in (first factor) and security keys step up (second); with `passwordless`, an
      // identity may hold both (a key registered before the switch, or imported), so the method takes part in both
      factor: o.passwordless ? 'both' : 'second',
      aal: o.passwordless ? 'aal1' : 'aal2',
      credential: {
        config: WebauthnConfig,
        import: importer('webauthn'),
        // per stored credential (Kratos counts passwordless keys as first factors, the others as second factors)
        factor(config) {
          const keys = configOf({ identity_id: '', state: 'active', config })?.credentials ?? []
          const first = o.passwordless && keys.some((k) => k.is_passwordless)
          const second = keys.some((k) => !k.is_passwordless)
          return first && second ? 'both' : first ? 'first' : second ? 'second' : null
        },
      },
      ...(o.passwordless
        ? {
            registration: {
              async populate(flow: SelfServiceFlow, ctx: FlowMethodContext) {
                if (flow.type === 'browser') await populateRegister(flow, ctx, randomBytes(32), [], '', false)
              },
              async submit(flow: SelfServiceFlow, body: Record<string, unknown>, ctx: FlowMethodContext): Promise<RegistrationOutcome> {
                if (flow.type !== 'browser') return { kind: 'not_responsible' }
                const response = parseRegistration(body.webauthn_register)
                if (!response) return { kind: 'invalid', nodeMessages: { webauthn_register: [T.required('webauthn_register')] } }
                if (!ctx.registration?.identifiers.length) return { kind: 'invalid', messages: [T.identifierNeeded()] }
                const ch = await new Challenges(ctx.db).take(flow.id, 'webauthn_register')
                try {
                  if (!ch) throw new CeremonyError('webauthn_challenge_missing', 'no challenge for this flow (used or expired)')
                  const cred = await verifyRegistration(o, response, ch.challenge, kind, str(body.webauthn_register_displayname))
                  if (!(await new CredentialIds(ctx.db).claim(response.id, 'webauthn', null))) throw new CeremonyError('webauthn_credential_registered', 'this credential id is registered already')
                  return { kind: 'success', credential: { config: { credentials: [cred], user_handle: ch.userHandle } } }
                } catch (e) {
                  await refused(e, ctx, 'webauthn')
                  await populateRegister(flow, ctx, randomBytes(32), [], '', false)
                  return { kind: 'invalid', messages: [e instanceof CeremonyError && e.reasonId === 'webauthn_credential_registered' ? T.duplicate() : T.verifierWrong()] }
                }
              },
            },
          }
        : {}),
      login: {
        async populate(flow, ctx) {
          if (flow.type !== 'browser') return
          if (ctx.login?.requestedAal === 'aal2') {
            // second factor: the session's identity and its security keys
            const id = stepUpOf(ctx)
            const config = id ? configOf(await ctx.credentials.of(id)) : undefined
            if (id && config && usable(config, false).length) await populateAssertion(flow, ctx, id, config, false)
            return
          }
          if (!o.passwordless) return
          identifierForAutofill(flow)
          upsert(flow, input(G, 'method', 'submit', { value: 'webauthn', label: T.loginWebauthn() }))
        },
        async submit(flow, body, ctx): Promise<LoginOutcome> {
          if (flow.type !== 'browser') return { kind: 'not_responsible' }
          if (ctx.login?.requestedAal === 'aal2') {
            const id = stepUpOf(ctx)
            const found = id ? await ctx.credentials.of(id) : undefined
            const config = configOf(found)
            if (!id || !config || usable(config, false).length === 0) return { kind: 'invalid', messages: [T.noDevice()] }
            return assert(flow, ctx, body.webauthn_login, id, found, false)
          }
          if (!o.passwordless) return { kind: 'not_responsible' }
          const identifier = ctx.credentials.normalise(str(body.identifier))
          if (!identifier) return { kind: 'invalid', nodeMessages: { identifier: [T.required('identifier')] } }
          const found = await ctx.credentials.find('webauthn', identifier)
          const config = configOf(found)
          if (!found || !config || usable(config, true).length === 0) return { kind: 'invalid', messages: [T.noUser()] }
          if (!str(body.webauthn_login)) {
            // step one: the identity is known; ask its authenticator
            await populateAssertion(flow, ctx, found.identity_id, config, true, identifier)
            return { kind: 'sent', messages: [T.loginPasswordlessPrepare()] }
          }
          return assert(flow, ctx, body.webauthn_login, found.identity_id, found, true)
        },
      },
      settings: {
        async populate(flow, ctx) {
          const s = ctx.settings
          if (!s || flow.type !== 'browser') return
          const config = configOf(s.credential)
          drop(flow, ['webauthn_remove'])
          for (const c of config?.credentials ?? []) upsertRemove(flow, G, 'webauthn_remove', c, T.settingsRemoveKey(c.display_name || 'unnamed', c.added_at))
          const handle = config ? Buffer.from(config.user_handle, 'base64') : Buffer.from(s.identityId.replaceAll('-', ''), 'hex')
          await populateRegister(flow, ctx, handle, config?.credentials ?? [], s.identifiers[0] ?? '', true)
        },
        async submit(flow, body, ctx): Promise<SettingsOutcome> {
          const s = ctx.settings!
          if (flow.type !== 'browser') return { kind: 'not_responsible' }
          const config = configOf(s.credential)
          const remove = str(body.webauthn_remove)
          const response = parseRegistration(body.webauthn_register)
          if (!remove && !response) return { kind: 'invalid', nodeMessages: { webauthn_register: [T.required('webauthn_register')] } }
          // enrolling or removing a factor needs a recent login (a stolen aal1 cookie cannot add its own key)
          if (!s.privileged) return { kind: 'privileged_required' }
          if (remove) return removeCredential(ctx, 'webauthn', config, remove)
          if (o.passwordless && s.identifiers.length === 0) return { kind: 'invalid', messages: [T.identifierNeeded()] }
          const ch = await new Challenges(ctx.db).take(flow.id, 'webauthn_register')
          try {
            if (!ch) throw new CeremonyError('webauthn_challenge_missing', 'no challenge for this flow (used or expired)')
            const cred = await verifyRegistration(o, response!, ch.challenge, kind, str(body.webauthn_register_displayname).slice(0, 256))
            if (!(await new CredentialIds(ctx.db).claim(response!.id, 'webauthn', s.identityId))) throw new CeremonyError('webauthn_credential_registered', 'this credential id is registered already')
            return { kind: 'success', credential: { config: { credentials: [...(config?.credentials ?? []), cred], user_handle: config?.user_handle ?? ch.userHandle }, ...(s.identifiers.length ? {} : { identifiers: [b64ToUrl(config?.user_handle ?? ch.userHandle)] }) } }
          } catch (e) {
            await refused(e, ctx, 'webauthn', s.identityId)
            await webauthn.settings!.populate!(flow, ctx)
            return { kind: 'invalid', messages: [T.verifierWrong()] }
          }
        },
      },
    }
    out.push(webauthn)
  }
  return out
}

function upsertRemove(flow: SelfServiceFlow, group: string, name: string, c: StoredWebauthnCredential, label: ReturnType<typeof T.settingsRemoveKey>) {
  const n = input(group, name, 'submit', { value: hexId(c), label })
  flow.ui.nodes.push(n)
}

/** Remove one credential (by its hex id, as the remove node's value); the last one removes the whole credential. */
async function removeCredential(ctx: FlowMethodContext, method: string, config: WebauthnConfig | undefined, hex: string): Promise<SettingsOutcome> {
  const target = config?.credentials.find((c) => hexId(c) === hex.toLowerCase())
  if (!config || !target) return { kind: 'invalid', messages: [T.noDevice()] }
  await new CredentialIds(ctx.db).release(b64ToUrl(target.id))
  const rest = config.credentials.filter((c) => c !== target)
  return { kind: 'success', credential: rest.length ? { config: { ...config, credentials: rest }, ...(method === 'passkey' ? { identifiers: [b64ToUrl(config.user_handle)] } : {}) } : null }
}

const MIGRATION = `
CREATE TABLE webauthn_challenges (
  nid TEXT NOT NULL,
  flow_id TEXT NOT NULL,
  purpose TEXT NOT NULL,
  challenge TEXT NOT NULL,
  user_handle TEXT NOT NULL,
  identity_id TEXT NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, flow_id, purpose)
);
CREATE INDEX webauthn_challenges_expires_idx ON webauthn_challenges (nid, expires_at);
CREATE TABLE webauthn_credential_ids (
  nid TEXT NOT NULL,
  credential_id TEXT NOT NULL,
  method TEXT NOT NULL,
  identity_id TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (nid, credential_id)
);
CREATE INDEX webauthn_credential_ids_identity_idx ON webauthn_credential_ids (nid, identity_id);
`

/** The plugin: `plugins: [identity({ … }), password(), webauthn({ rp: { id, name, origins } })]`. */
export const webauthn = definePlugin({
  id: 'webauthn',
  description: "WebAuthn security keys (second factor or passwordless) and passkeys (Kratos' webauthn and passkey methods)",
  options: WebauthnOptionsSchema,
  dependsOn: ['identity'],
  migrations: [{ id: '0001_init', up: MIGRATION }],
  credentialMethods: (ctx: PluginContext<WebauthnOptions>) => methods(ctx.options, ctx.log),
  routes: {
    public: (app) =>
      app.get(
        SCRIPT_PATH,
        () =>
          new Response(SCRIPT, {
            headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=3600', 'x-content-type-options': 'nosniff', 'cross-origin-resource-policy': 'cross-origin', 'access-control-allow-origin': '*' },
          }),
      ),
  },
  openapi: {
    public: [{ method: 'GET', path: SCRIPT_PATH, operationId: 'getWebAuthnJavaScript', summary: 'The JavaScript the webauthn and passkey ui nodes load', tags: ['frontend'], responses: { 200: { description: 'The script.', contentType: 'text/javascript' } } }],
  },
  on: {
    'identity.deleted': async ({ identityId }, meta, ctx) => {
      if (meta.tenant) await new CredentialIds(ctx.storage.scoped(meta.tenant)).releaseIdentity(identityId)
    },
  },
})

export type { WebauthnOptions }
export default webauthn

/**
 * A "hardware token" credential method, written against Tessera's credential-method contract alone
 * (docs/plugins.md, "Writing a credential method"). A person registers with the serial number of their token
 * and the code it shows; later they sign in with an identifier and that code. The identifier is a trait the
 * identity schema marks `"ory.sh/kratos": { "credentials": { "hardware-token": { "identifier": true } } }`.
 * The code is stored as PBKDF2-SHA-256 (WebCrypto) with a random salt and compared in constant time.
 */
import * as v from 'valibot'
import { type CredentialMethod, type LoginOutcome, type RegistrationOutcome, type UiNode, type UiText, constantTimeEqual, definePlugin } from 'tessera'

const ID = 'hardware-token'
const ITERATIONS = 100_000
const Serial = v.pipe(v.string(), v.regex(/^[A-Z0-9]{6,32}$/, 'expected 6 to 32 upper-case letters or digits'))
const Code = v.pipe(v.string(), v.minLength(8, 'expected at least 8 characters'), v.maxLength(128, 'expected at most 128 characters'))
const Token = v.object({ serial: Serial, code: Code })

/** What is stored per identity: the token's serial and its code, salted and derived. */
const TokenConfig = v.object({
  serial: Serial,
  salt: v.pipe(v.string(), v.regex(/^[0-9a-f]{32}$/)),
  code_pbkdf2: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
})
type TokenConfig = v.InferOutput<typeof TokenConfig>

const hex = (b: ArrayBuffer | Uint8Array) => Buffer.from(b as ArrayBuffer).toString('hex')

async function derive(code: string, salt: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(code), 'PBKDF2', false, ['deriveBits'])
  return hex(await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: Buffer.from(salt, 'hex'), iterations: ITERATIONS }, key, 256))
}

async function seal(serial: string, code: string): Promise<TokenConfig> {
  const salt = hex(crypto.getRandomValues(new Uint8Array(16)))
  return { serial, salt, code_pbkdf2: await derive(code, salt) }
}

// An unknown identifier is checked against this, so it costs as much as a wrong code.
const dummy = seal('DUMMY000', crypto.randomUUID())

const label = (text: string): UiText => ({ id: 1070002, text, type: 'info', context: { title: text } })
const node = (name: string, type: string, text: string, value?: string): UiNode => ({
  type: 'input',
  group: ID,
  attributes: { name, type, ...(value ? { value } : { required: true }), disabled: false, node_type: 'input' },
  messages: [],
  meta: { label: label(text) },
})
const error = (id: number, text: string): UiText => ({ id, text, type: 'error' })
const invalid: LoginOutcome = { kind: 'invalid', messages: [error(4000006, 'The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number.')] }

/** valibot issues as messages on the ui nodes they are about. */
function nodeMessages(issues: [v.GenericIssue, ...v.GenericIssue[]]): Record<string, UiText[]> {
  const nested = v.flatten(issues).nested ?? {}
  return Object.fromEntries(Object.entries(nested).map(([name, texts]) => [name, (texts ?? []).map((t) => error(4000001, t))]))
}

export const hardwareTokenMethod: CredentialMethod = {
  id: ID,
  factor: 'first',
  aal: 'aal1',
  credential: {
    config: TokenConfig,
    reveal: ['serial'],
    // POST /admin/identities with credentials["hardware-token"].config = { serial, code }
    import: { input: Token, toCredential: async (t: v.InferOutput<typeof Token>) => ({ config: await seal(t.serial, t.code) }) },
  },
  registration: {
    populate(flow) {
      flow.ui.nodes.push(node('serial', 'text', 'Token serial'), node('code', 'password', 'Token code'), node('method', 'submit', 'Sign up', ID))
    },
    async submit(_flow, body, ctx): Promise<RegistrationOutcome> {
      const token = v.safeParse(Token, { serial: body.serial, code: body.code })
      if (!token.success) return { kind: 'invalid', nodeMessages: nodeMessages(token.issues) }
      if (!ctx.registration?.identifiers.length) return { kind: 'invalid', messages: [error(4000001, 'The identity schema marks no trait as a hardware-token identifier.')] }
      return { kind: 'success', credential: { config: await seal(token.output.serial, token.output.code) } }
    },
  },
  login: {
    populate(flow) {
      flow.ui.nodes.push(node('identifier', 'text', 'ID'), node('code', 'password', 'Token code'), node('method', 'submit', 'Sign in', ID))
    },
    async submit(_flow, body, ctx): Promise<LoginOutcome> {
      const identifier = ctx.credentials.normalise(typeof body.identifier === 'string' ? body.identifier : '')
      const code = typeof body.code === 'string' ? body.code : ''
      if (!identifier || !code) return invalid
      const found = await ctx.credentials.find(ID, identifier)
      const stored = found ? v.parse(TokenConfig, found.config) : await dummy
      const ok = constantTimeEqual(await derive(code.slice(0, 128), stored.salt), stored.code_pbkdf2)
      return ok && found ? { kind: 'success', identityId: found.identity_id, aal: 'aal1' } : invalid
    },
  },
}

/** The plugin: `plugins: [identity({ … }), hardwareToken()]`. */
export const hardwareToken = definePlugin({
  id: 'hardware-token',
  description: 'An example credential method: a hardware token serial and code',
  dependsOn: ['identity'],
  credentialMethods: [hardwareTokenMethod],
})

/** The webauthn and passkey ui nodes, with Kratos' names, groups, triggers and message ids. */
import { type SelfServiceFlow, type UiNode, type UiText, inputNode } from 'tessera'

export const SCRIPT_PATH = '/.well-known/ory/webauthn.js'

export const info = (id: number, text: string, context?: Record<string, unknown>): UiText => ({ id, text, type: 'info', ...(context ? { context } : {}) })
export const error = (id: number, text: string, context?: Record<string, unknown>): UiText => ({ id, text, type: 'error', ...(context ? { context } : {}) })

export const T = {
  loginWebauthn: () => info(1010008, 'Sign in with a hardware key'),
  loginContinue: () => info(1010013, 'Continue'),
  loginPasswordlessPrepare: () => info(1010012, 'Prepare your WebAuthn device (e.g. security key, biometrics scanner, ...) and press continue.'),
  loginPasskey: () => info(1010021, 'Sign in with passkey'),
  registerWebauthn: () => info(1040004, 'Sign up with security key'),
  registerPasskey: () => info(1040007, 'Sign up with passkey'),
  settingsAddKey: () => info(1050012, 'Add security key'),
  settingsKeyName: () => info(1050013, 'Name of the security key'),
  settingsRemoveKey: (name: string, addedAt: string) => info(1050018, `Remove security key "${name}"`, { display_name: name, added_at: addedAt, added_at_unix: Math.floor(new Date(addedAt).getTime() / 1000) }),
  settingsAddPasskey: () => info(1050019, 'Add passkey'),
  settingsRemovePasskey: (name: string, addedAt: string) => info(1050020, `Remove passkey "${name}"`, { display_name: name, added_at: addedAt, added_at_unix: Math.floor(new Date(addedAt).getTime() / 1000) }),
  required: (property: string) => error(4000002, `Property ${property} is missing.`, { property }),
  noDevice: () => error(4000013, 'You have no WebAuthn device set up.'),
  noUser: () => error(4000015, 'This account does not exist or has no security key set up.'),
  duplicate: () => error(4000007, 'An account with the same identifier (email, phone, username, ...) exists already.'),
  verifierWrong: () => error(4000043, 'The provided web authn login is invalid, please try again.'),
  identifierNeeded: () => error(4000001, 'The identity schema marks no trait as a webauthn identifier (`"credentials": { "webauthn": { "identifier": true } }`).'),
}

export function input(group: string, name: string, type: string, o: { value?: unknown; label?: UiText; required?: boolean; autocomplete?: string; onclickTrigger?: string; onloadTrigger?: string; browser?: boolean } = {}): UiNode {
  return inputNode(group, name, type, {
    value: o.value,
    ...(o.required ? { required: true } : {}),
    autocomplete: o.autocomplete || undefined,
    // Kratos: the `onclick`/`onload` JavaScript only on browser flows; the trigger's name on every flow.
    ...(o.onclickTrigger ? { onclickTrigger: o.onclickTrigger, ...(o.browser ? { onclick: `window.${o.onclickTrigger}(${o.value !== undefined && typeof o.value === 'string' && o.value.startsWith('{') ? o.value : ''})` } : {}) } : {}),
    ...(o.onloadTrigger ? { onloadTrigger: o.onloadTrigger, ...(o.browser ? { onload: `window.${o.onloadTrigger}()` } : {}) } : {}),
  }, o.label)
}

/** Kratos' script node: the script the triggers live in, with its subresource integrity. */
export function scriptNode(group: string, publicBaseUrl: string, integrity: string): UiNode {
  return {
    type: 'script',
    group,
    attributes: {
      src: `${publicBaseUrl.replace(/\/$/, '')}${SCRIPT_PATH}`,
      async: true,
      referrerpolicy: 'no-referrer',
      crossorigin: 'anonymous',
      integrity,
      type: 'text/javascript',
      id: 'webauthn_script',
      nonce: '',
      node_type: 'script',
    },
    messages: [],
    meta: {},
  }
}

const nameOf = (n: UiNode) => String((n.attributes as { name?: string; id?: string }).name ?? (n.attributes as { id?: string }).id ?? '')

/** Put a node on the flow, replacing one of the same name (the script node: of the same id). */
export function upsert(flow: SelfServiceFlow, node: UiNode): void {
  const i = flow.ui.nodes.findIndex((n) => nameOf(n) === nameOf(node) && (n.type === 'script' || n.group === node.group))
  if (i >= 0) flow.ui.nodes[i] = node
  else flow.ui.nodes.push(node)
}

/** Remove nodes by name (a method's own nodes before it renders them again). */
export function drop(flow: SelfServiceFlow, names: string[]): void {
  flow.ui.nodes = flow.ui.nodes.filter((n) => !names.includes(nameOf(n)))
}

/** The identifier input, made ready for conditional UI (`autocomplete="username webauthn"`), added when no method added one. */
export function identifierForAutofill(flow: SelfServiceFlow, label?: UiText): void {
  const existing = flow.ui.nodes.find((n) => nameOf(n) === 'identifier' && n.group === 'default')
  if (existing) {
    ;(existing.attributes as { autocomplete?: string }).autocomplete = 'username webauthn'
    return
  }
  flow.ui.nodes.push(input('default', 'identifier', 'text', { required: true, autocomplete: 'username webauthn', label }))
}

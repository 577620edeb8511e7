/**
 * The browser script the webauthn and passkey ui nodes load (`/.well-known/ory/webauthn.js`), on
 * @simplewebauthn/browser. It defines the triggers Kratos' nodes name (`onclickTrigger`, `onloadTrigger`), so Ory
 * Elements and hand-written forms work alike: each reads its options from the flow's nodes, runs the ceremony,
 * writes the browser's answer (JSON) into the hidden result input and submits the form.
 */
import { browserSupportsWebAuthn, browserSupportsWebAuthnAutofill, startAuthentication, startRegistration } from '@simplewebauthn/browser'

type Json = Record<string, any>
const w = window as unknown as Record<string, unknown>

const byName = (name: string) => document.getElementsByName(name)[0] as HTMLInputElement | undefined
const optionsOf = (opt: Json | string | undefined, from: string): Json => {
  const raw = opt ?? byName(from)?.value ?? '{}'
  const parsed = typeof raw === 'string' ? JSON.parse(raw) : raw
  return parsed.publicKey ?? parsed
}

/** Fill the result input and submit its form as `method` (form.submit() sends no button, so the method goes in a hidden input). */
function submitWith(result: HTMLInputElement | undefined, value: unknown, method: string): void {
  if (!result) return
  result.value = JSON.stringify(value)
  const form = result.closest('form')
  if (!form) return
  const m = document.createElement('input')
  m.type = 'hidden'
  m.name = 'method'
  m.value = method
  form.appendChild(m)
  form.submit()
}

const fail = (err: unknown) => console.error('[tessera/webauthn]', err)

async function webAuthnRegistration(options?: Json | string): Promise<void> {
  try {
    const att = await startRegistration({ optionsJSON: optionsOf(options, 'webauthn_register_trigger') as never })
    submitWith(byName('webauthn_register'), att, 'webauthn')
  } catch (e) {
    fail(e)
  }
}

async function webAuthnLogin(options?: Json | string): Promise<void> {
  try {
    const asr = await startAuthentication({ optionsJSON: optionsOf(options, 'webauthn_login_trigger') as never })
    submitWith(byName('webauthn_login'), asr, 'webauthn')
  } catch (e) {
    fail(e)
  }
}

async function passkeyLogin(): Promise<void> {
  try {
    const asr = await startAuthentication({ optionsJSON: optionsOf(undefined, 'passkey_challenge') as never })
    submitWith(byName('passkey_login'), asr, 'passkey')
  } catch (e) {
    fail(e)
    void passkeyLoginAutocompleteInit()
  }
}

/** Conditional UI: the browser offers passkeys in the identifier field's autofill. */
async function passkeyLoginAutocompleteInit(): Promise<void> {
  if (!byName('passkey_challenge') || !byName('passkey_login')) return
  if (!(await browserSupportsWebAuthnAutofill())) return
  try {
    const asr = await startAuthentication({ optionsJSON: optionsOf(undefined, 'passkey_challenge') as never, useBrowserAutofill: true })
    submitWith(byName('passkey_login'), asr, 'passkey')
  } catch (e) {
    // aborted by an explicit passkey login, or dismissed
    if ((e as { name?: string }).name !== 'AbortError') fail(e)
  }
}

async function passkeyCreate(resultName: string): Promise<void> {
  const data = byName('passkey_create_data')
  if (!data) return
  const parsed = JSON.parse(data.value)
  const options = parsed.credentialOptions?.publicKey ?? parsed.publicKey ?? parsed
  const form = data.closest('form')
  const names: string[] = Array.isArray(parsed.displayNameFieldNames) ? parsed.displayNameFieldNames : parsed.displayNameFieldName ? [parsed.displayNameFieldName] : []
  for (const n of names) {
    const el = form?.querySelector<HTMLInputElement>(`[name="${CSS.escape(n)}"]`)
    if (el?.value) {
      options.user = { ...options.user, name: el.value, displayName: el.value }
      break
    }
  }
  try {
    const att = await startRegistration({ optionsJSON: options })
    submitWith(byName(resultName), att, 'passkey')
  } catch (e) {
    fail(e)
  }
}

if (browserSupportsWebAuthn() && !w.__oryWebAuthnInitialized) {
  const triggers: Record<string, (...a: any[]) => Promise<void>> = {
    oryWebAuthnRegistration: webAuthnRegistration,
    oryWebAuthnLogin: webAuthnLogin,
    oryPasskeyLogin: passkeyLogin,
    oryPasskeyLoginAutocompleteInit: passkeyLoginAutocompleteInit,
    oryPasskeyRegistration: () => passkeyCreate('passkey_register'),
    oryPasskeySettingsRegistration: () => passkeyCreate('passkey_settings_register'),
  }
  for (const [name, fn] of Object.entries(triggers)) {
    w[name] = fn
    w[`__${name}`] = fn
  }
  w.__oryWebAuthnInitialized = true
  window.dispatchEvent(new CustomEvent('oryWebAuthnInitialized'))
}

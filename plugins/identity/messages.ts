/**
 * ui texts with Kratos' message ids (kratos/text/id.go): the ids clients
 * localise by. Only the ids this plugin and the credential methods emit.
 */
import type { UiText } from 'tessera'

const err = (id: number, t: string, context?: Record<string, unknown>): UiText => ({ id, text: t, type: 'error', ...(context ? { context } : {}) })
const info = (id: number, t: string, context?: Record<string, unknown>): UiText => ({ id, text: t, type: 'info', ...(context ? { context } : {}) })

export const text = {
  // labels
  labelId: () => info(1070004, 'ID'),
  labelPassword: () => info(1070001, 'Password'),
  labelGeneric: (title: string) => info(1070002, title, { title }),
  signIn: () => info(1010001, 'Sign in'),
  signUp: () => info(1040001, 'Sign up'),
  // validation
  validation: (reason: string) => err(4000001, reason, { reason }),
  required: (property: string) => err(4000002, `Property ${property} is missing.`, { property }),
  invalidCredentials: () => err(4000006, 'The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number.'),
  duplicate: () => err(4000007, 'An account with the same identifier (email, phone, username, ...) exists already.'),
  passwordPolicy: (reason: string) => err(4000005, `The password can not be used because ${reason}.`, { reason }),
  passwordTooSimilar: () => err(4000031, 'The password can not be used because it is too similar to the identifier.'),
  passwordMinLength: (min: number, actual: number) =>
    err(4000032, `The password must be at least ${min} characters long, but got ${actual}.`, { min_length: min, actual_length: actual }),
  passwordMaxLength: (max: number, actual: number) =>
    err(4000033, `The password must be at most ${max} characters long, but got ${actual}.`, { max_length: max, actual_length: actual }),
  passwordBreached: () => err(4000034, 'The password has been found in data breaches and must no longer be used.'),
  loginExpired: (minutes: number) =>
    err(4010001, `The login flow expired ${minutes.toFixed(2)} minutes ago, please try again.`, { expired_at_unix: Math.floor(Date.now() / 1000) - Math.round(minutes * 60) }),
  registrationExpired: (minutes: number) => err(4040001, `The registration flow expired ${minutes.toFixed(2)} minutes ago, please try again.`),
  rateLimited: () => err(4000035, 'Too many attempts, please wait and try again.'),
}

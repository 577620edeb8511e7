/**
 * ui texts with Kratos' message ids (kratos/text/id.go): the ids clients
 * localise by. Only the ids the flow engine emits; a credential method carries its own
 * (the password policy's 4000005, 4000031–4000034 live in the password plugin).
 */
import type { UiText } from 'tessera'

const err = (id: number, t: string, context?: Record<string, unknown>): UiText => ({ id, text: t, type: 'error', ...(context ? { context } : {}) })
const info = (id: number, t: string, context?: Record<string, unknown>): UiText => ({ id, text: t, type: 'info', ...(context ? { context } : {}) })

export const text = {
  // labels
  /**
   * A trait input's label, Kratos' NewInfoNodeLabelGenerated: 1070002 with the schema's `title` and the node's
   * `name`, and the title's translations as `titles` (the ui shows the reader's; Kratos clients read `title` and
   * the text); without a title, Kratos' generic "ID" (1070004).
   */
  traitLabel: (field: { path: string; title?: string; titles?: Record<string, string> } | undefined): UiText =>
    field?.title ? info(1070002, field.title, { title: field.title, name: `traits.${field.path}`, ...(field.titles ? { titles: field.titles } : {}) }) : info(1070004, 'ID'),
  signIn: () => info(1010001, 'Sign in'),
  signUp: () => info(1040001, 'Sign up'),
  // validation
  validation: (reason: string) => err(4000001, reason, { reason }),
  required: (property: string) => err(4000002, `Property ${property} is missing.`, { property }),
  invalidCredentials: () => err(4000006, 'The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number.'),
  duplicate: () => err(4000007, 'An account with the same identifier (email, phone, username, ...) exists already.'),
  loginExpired: (minutes: number) =>
    err(4010001, `The login flow expired ${minutes.toFixed(2)} minutes ago, please try again.`, { expired_at_unix: Math.floor(Date.now() / 1000) - Math.round(minutes * 60) }),
  registrationExpired: (minutes: number) => err(4040001, `The registration flow expired ${minutes.toFixed(2)} minutes ago, please try again.`),
  save: () => info(1070003, 'Save'),
  addressNotVerified: () => err(4000010, 'Account not active yet. Did you forget to verify your email address?'),
  settingsSaved: () => ({ id: 1050001, text: 'Your changes have been saved!', type: 'success' }) as UiText,
  verificationSuccessful: () => ({ id: 1080002, text: 'You successfully verified your email address.', type: 'success' }) as UiText,
  recoverySuccessful: (expiresAt: Date) =>
    info(1060001, `You successfully recovered your account. Please change your password or set up an alternative login method (e.g. social sign in) within the next ${((expiresAt.getTime() - Date.now()) / 60000).toFixed(2)} minutes.`, { privileged_session_expires_at: expiresAt.toISOString(), privileged_session_expires_at_unix: Math.floor(expiresAt.getTime() / 1000) }),
  settingsExpired: (minutes: number) => err(4050001, `The settings flow expired ${minutes.toFixed(2)} minutes ago, please try again.`),
  recoveryExpired: (minutes: number) => err(4060005, `The recovery flow expired ${minutes.toFixed(2)} minutes ago, please try again.`),
  verificationExpired: (minutes: number) => err(4070005, `The verification flow expired ${minutes.toFixed(2)} minutes ago, please try again.`),
  recoveryRetrySuccess: () => err(4060001, 'The request was already completed successfully and can not be retried.'),
  verificationRetrySuccess: () => err(4070002, 'The request was already completed successfully and can not be retried.'),
  rateLimited: () => err(4000035, 'Too many attempts, please wait and try again.'),
}

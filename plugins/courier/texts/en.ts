/** English: the courier's texts (and the fallback for every other language). */
import type { Catalogue } from './types.ts'

const expires = { when: '.ExpiresInMinutes', then: ['It expires in {{ .ExpiresInMinutes }} minutes.'] }
const ignore = 'If you did not ask for this, you can ignore this message.'

export const en: Catalogue = {
  'recovery_code.valid': {
    subject: 'Recover access to your account',
    body: ['Hi,', 'please recover access to your account by entering the following code:', { code: '.RecoveryCode' }, expires, ignore],
    sms: 'Your recovery code is: {{ .RecoveryCode }}',
  },
  'recovery_code.invalid': {
    subject: 'Account access attempted',
    body: ['Hi,', 'you (or someone else) entered this email address when trying to recover access to an account.', 'However, this email address is not on our database of registered users and therefore the attempt has failed.', 'If this was you, check if you signed up using a different address.', ignore],
    sms: 'Someone tried to recover an account with this number, but there is no account for it.',
  },
  'recovery.valid': {
    subject: 'Recover access to your account',
    body: ['Hi,', 'please recover access to your account by clicking the following link:', { link: '.RecoveryURL' }, expires, ignore],
    sms: 'Recover access to your account: {{ .RecoveryURL }}',
  },
  'recovery.invalid': {
    subject: 'Account access attempted',
    body: ['Hi,', 'you (or someone else) entered this email address when trying to recover access to an account.', 'However, this email address is not on our database of registered users and therefore the attempt has failed.', 'If this was you, check if you signed up using a different address.', ignore],
    sms: 'Someone tried to recover an account with this number, but there is no account for it.',
  },
  'verification_code.valid': {
    subject: 'Please verify your email address',
    body: ['Hi,', 'please verify your account by entering the following code:', { code: '.VerificationCode' }, { when: '.VerificationURL', then: ['or clicking the following link:', { link: '.VerificationURL' }] }, expires],
    sms: 'Your verification code is: {{ .VerificationCode }}',
  },
  'verification_code.invalid': {
    subject: 'Someone tried to verify this email address',
    body: ['Hi,', 'someone asked to verify this email address, but we were unable to find an account for this address.', ignore],
    sms: 'Someone tried to verify this number, but there is no account for it.',
  },
  'verification.valid': {
    subject: 'Please verify your email address',
    body: ['Hi,', 'please verify your account by clicking the following link:', { link: '.VerificationURL' }, expires],
    sms: 'Verify your account: {{ .VerificationURL }}',
  },
  'verification.invalid': {
    subject: 'Someone tried to verify this email address',
    body: ['Hi,', 'someone asked to verify this email address, but we were unable to find an account for this address.', ignore],
    sms: 'Someone tried to verify this number, but there is no account for it.',
  },
  'login_code.valid': {
    subject: 'Login to your account',
    body: ['Login to your account with the following code:', { code: '.LoginCode' }, { when: '.LoginURL', then: ['or open this link in the browser where you started to log in:', { link: '.LoginURL' }] }, expires, ignore],
    sms: 'Your login code is: {{ .LoginCode }}',
  },
  'registration_code.valid': {
    subject: 'Complete your account registration',
    body: ['Hi,', 'please complete your account registration by entering the following code:', { code: '.RegistrationCode' }, expires, ignore],
    sms: 'Your registration code is: {{ .RegistrationCode }}',
  },
}

/** German: the courier's texts. */
import type { Catalogue } from './types.ts'

const expires = { when: '.ExpiresInMinutes', then: ['Er ist {{ .ExpiresInMinutes }} Minuten lang gültig.'] }
const ignore = 'Wenn du das nicht angefordert hast, kannst du diese Nachricht ignorieren.'
const unknown = ['Hallo,', 'du (oder jemand anderes) hast diese E-Mail-Adresse angegeben, um den Zugang zu einem Konto wiederherzustellen.', 'Zu dieser Adresse gibt es bei uns jedoch kein Konto, daher ist der Versuch fehlgeschlagen.', 'Falls du es warst: Prüfe, ob du dich mit einer anderen Adresse registriert hast.', ignore]
const unknownVerify = ['Hallo,', 'jemand wollte diese E-Mail-Adresse bestätigen, aber wir haben zu dieser Adresse kein Konto gefunden.', ignore]

export const de: Catalogue = {
  'recovery_code.valid': {
    subject: 'Zugang zu deinem Konto wiederherstellen',
    body: ['Hallo,', 'gib den folgenden Code ein, um den Zugang zu deinem Konto wiederherzustellen:', { code: '.RecoveryCode' }, expires, ignore],
    sms: 'Dein Wiederherstellungscode lautet: {{ .RecoveryCode }}',
  },
  'recovery_code.invalid': {
    subject: 'Versuch, auf ein Konto zuzugreifen',
    body: unknown,
    sms: 'Jemand wollte mit dieser Nummer ein Konto wiederherstellen, aber dazu gibt es kein Konto.',
  },
  'recovery.valid': {
    subject: 'Zugang zu deinem Konto wiederherstellen',
    body: ['Hallo,', 'öffne den folgenden Link, um den Zugang zu deinem Konto wiederherzustellen:', { link: '.RecoveryURL' }, expires, ignore],
    sms: 'Zugang wiederherstellen: {{ .RecoveryURL }}',
  },
  'recovery.invalid': {
    subject: 'Versuch, auf ein Konto zuzugreifen',
    body: unknown,
    sms: 'Jemand wollte mit dieser Nummer ein Konto wiederherstellen, aber dazu gibt es kein Konto.',
  },
  'verification_code.valid': {
    subject: 'Bitte bestätige deine E-Mail-Adresse',
    body: ['Hallo,', 'bestätige dein Konto, indem du den folgenden Code eingibst:', { code: '.VerificationCode' }, { when: '.VerificationURL', then: ['oder den folgenden Link öffnest:', { link: '.VerificationURL' }] }, expires],
    sms: 'Dein Bestätigungscode lautet: {{ .VerificationCode }}',
  },
  'verification_code.invalid': {
    subject: 'Jemand wollte diese E-Mail-Adresse bestätigen',
    body: unknownVerify,
    sms: 'Jemand wollte diese Nummer bestätigen, aber dazu gibt es kein Konto.',
  },
  'verification.valid': {
    subject: 'Bitte bestätige deine E-Mail-Adresse',
    body: ['Hallo,', 'bestätige dein Konto, indem du den folgenden Link öffnest:', { link: '.VerificationURL' }, expires],
    sms: 'Konto bestätigen: {{ .VerificationURL }}',
  },
  'verification.invalid': {
    subject: 'Jemand wollte diese E-Mail-Adresse bestätigen',
    body: unknownVerify,
    sms: 'Jemand wollte diese Nummer bestätigen, aber dazu gibt es kein Konto.',
  },
  'login_code.valid': {
    subject: 'Bei deinem Konto anmelden',
    body: ['Melde dich mit dem folgenden Code bei deinem Konto an:', { code: '.LoginCode' }, { when: '.LoginURL', then: ['oder öffne diesen Link in dem Browser, in dem du die Anmeldung begonnen hast:', { link: '.LoginURL' }] }, expires, ignore],
    sms: 'Dein Anmeldecode lautet: {{ .LoginCode }}',
  },
  'registration_code.valid': {
    subject: 'Schließe deine Registrierung ab',
    body: ['Hallo,', 'gib den folgenden Code ein, um die Registrierung deines Kontos abzuschließen:', { code: '.RegistrationCode' }, expires, ignore],
    sms: 'Dein Registrierungscode lautet: {{ .RegistrationCode }}',
  },
}

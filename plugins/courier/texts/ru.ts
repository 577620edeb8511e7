/** Russian: the courier's texts. */
import type { Catalogue } from './types.ts'

const expires = { when: '.ExpiresInMinutes', then: ['Срок действия: {{ .ExpiresInMinutes }} мин.'] }
const ignore = 'Если вы этого не запрашивали, просто проигнорируйте это сообщение.'
const unknown = ['Здравствуйте!', 'Вы (или кто-то другой) указали этот адрес электронной почты, пытаясь восстановить доступ к учётной записи.', 'Однако учётной записи с этим адресом у нас нет, поэтому попытка не удалась.', 'Если это были вы, проверьте, не регистрировались ли вы с другим адресом.', ignore]
const unknownVerify = ['Здравствуйте!', 'Кто-то попросил подтвердить этот адрес электронной почты, но учётной записи с этим адресом у нас нет.', ignore]

export const ru: Catalogue = {
  'recovery_code.valid': {
    subject: 'Восстановление доступа к учётной записи',
    body: ['Здравствуйте!', 'Чтобы восстановить доступ к учётной записи, введите следующий код:', { code: '.RecoveryCode' }, expires, ignore],
    sms: 'Ваш код восстановления: {{ .RecoveryCode }}',
  },
  'recovery_code.invalid': {
    subject: 'Попытка доступа к учётной записи',
    body: unknown,
    sms: 'Кто-то пытался восстановить учётную запись по этому номеру, но такой учётной записи нет.',
  },
  'recovery.valid': {
    subject: 'Восстановление доступа к учётной записи',
    body: ['Здравствуйте!', 'Чтобы восстановить доступ к учётной записи, перейдите по ссылке:', { link: '.RecoveryURL' }, expires, ignore],
    sms: 'Восстановление доступа: {{ .RecoveryURL }}',
  },
  'recovery.invalid': {
    subject: 'Попытка доступа к учётной записи',
    body: unknown,
    sms: 'Кто-то пытался восстановить учётную запись по этому номеру, но такой учётной записи нет.',
  },
  'verification_code.valid': {
    subject: 'Подтвердите адрес электронной почты',
    body: ['Здравствуйте!', 'Подтвердите учётную запись, введя следующий код:', { code: '.VerificationCode' }, { when: '.VerificationURL', then: ['или перейдя по ссылке:', { link: '.VerificationURL' }] }, expires],
    sms: 'Ваш код подтверждения: {{ .VerificationCode }}',
  },
  'verification_code.invalid': {
    subject: 'Кто-то пытался подтвердить этот адрес',
    body: unknownVerify,
    sms: 'Кто-то пытался подтвердить этот номер, но такой учётной записи нет.',
  },
  'verification.valid': {
    subject: 'Подтвердите адрес электронной почты',
    body: ['Здравствуйте!', 'Подтвердите учётную запись, перейдя по ссылке:', { link: '.VerificationURL' }, expires],
    sms: 'Подтверждение учётной записи: {{ .VerificationURL }}',
  },
  'verification.invalid': {
    subject: 'Кто-то пытался подтвердить этот адрес',
    body: unknownVerify,
    sms: 'Кто-то пытался подтвердить этот номер, но такой учётной записи нет.',
  },
  'login_code.valid': {
    subject: 'Вход в учётную запись',
    body: ['Войдите в учётную запись с помощью следующего кода:', { code: '.LoginCode' }, { when: '.LoginURL', then: ['или откройте эту ссылку в том браузере, где вы начали вход:', { link: '.LoginURL' }] }, expires, ignore],
    sms: 'Ваш код для входа: {{ .LoginCode }}',
  },
  'registration_code.valid': {
    subject: 'Завершите регистрацию',
    body: ['Здравствуйте!', 'Чтобы завершить регистрацию учётной записи, введите следующий код:', { code: '.RegistrationCode' }, expires, ignore],
    sms: 'Ваш код регистрации: {{ .RegistrationCode }}',
  },
}

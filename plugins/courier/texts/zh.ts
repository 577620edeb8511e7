/** Chinese (Simplified): the courier's texts. */
import type { Catalogue } from './types.ts'

const expires = { when: '.ExpiresInMinutes', then: ['有效期为 {{ .ExpiresInMinutes }} 分钟。'] }
const ignore = '如果这不是您本人的操作，请忽略此消息。'
const unknown = ['您好，', '您（或其他人）在尝试恢复账户访问权限时输入了此电子邮件地址。', '但我们没有使用此地址注册的账户，因此该操作未能完成。', '如果是您本人操作，请确认您是否使用了其他地址注册。', ignore]
const unknownVerify = ['您好，', '有人请求验证此电子邮件地址，但我们没有找到使用此地址的账户。', ignore]

export const zh: Catalogue = {
  'recovery_code.valid': {
    subject: '恢复您的账户访问权限',
    body: ['您好，', '请输入以下验证码以恢复您的账户访问权限：', { code: '.RecoveryCode' }, expires, ignore],
    sms: '您的账户恢复码：{{ .RecoveryCode }}',
  },
  'recovery_code.invalid': {
    subject: '有人尝试访问账户',
    body: unknown,
    sms: '有人尝试用此号码恢复账户，但此号码没有对应的账户。',
  },
  'recovery.valid': {
    subject: '恢复您的账户访问权限',
    body: ['您好，', '请点击以下链接以恢复您的账户访问权限：', { link: '.RecoveryURL' }, expires, ignore],
    sms: '恢复账户访问权限：{{ .RecoveryURL }}',
  },
  'recovery.invalid': {
    subject: '有人尝试访问账户',
    body: unknown,
    sms: '有人尝试用此号码恢复账户，但此号码没有对应的账户。',
  },
  'verification_code.valid': {
    subject: '请验证您的电子邮件地址',
    body: ['您好，', '请输入以下验证码以验证您的账户：', { code: '.VerificationCode' }, { when: '.VerificationURL', then: ['或点击以下链接：', { link: '.VerificationURL' }] }, expires],
    sms: '您的验证码：{{ .VerificationCode }}',
  },
  'verification_code.invalid': {
    subject: '有人尝试验证此电子邮件地址',
    body: unknownVerify,
    sms: '有人尝试验证此号码，但此号码没有对应的账户。',
  },
  'verification.valid': {
    subject: '请验证您的电子邮件地址',
    body: ['您好，', '请点击以下链接以验证您的账户：', { link: '.VerificationURL' }, expires],
    sms: '验证您的账户：{{ .VerificationURL }}',
  },
  'verification.invalid': {
    subject: '有人尝试验证此电子邮件地址',
    body: unknownVerify,
    sms: '有人尝试验证此号码，但此号码没有对应的账户。',
  },
  'login_code.valid': {
    subject: '登录您的账户',
    body: ['请使用以下验证码登录您的账户：', { code: '.LoginCode' }, { when: '.LoginURL', then: ['或在您开始登录的浏览器中打开此链接：', { link: '.LoginURL' }] }, expires, ignore],
    sms: '您的登录验证码：{{ .LoginCode }}',
  },
  'registration_code.valid': {
    subject: '完成账户注册',
    body: ['您好，', '请输入以下验证码以完成账户注册：', { code: '.RegistrationCode' }, expires, ignore],
    sms: '您的注册验证码：{{ .RegistrationCode }}',
  },
}

/**
 * The password policy (issue 11, "Weak passwords"): the offline list of common breached passwords, obvious
 * variations of it (NIST SP 800-63B §5.1.1.2: context-specific words, repetitive or sequential characters),
 * Kratos' identifier similarity, and the optional range API (off by default; a failure is logged without the
 * password and skipped for a cool-down). Registration goes through the API flow as a user's client would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import * as v from 'valibot'
import { bootApps, call, captureLog } from '../../test/helpers/app.ts'
import { boot, quickstartSchema, rangeServer, testSelfservice } from '../../test/helpers/identity.ts'
import { identity } from '../identity/index.ts'
import { COMMON_PASSWORDS } from './common-passwords.ts'
import list from './common-passwords.txt' with { type: 'text' }
import { PasswordOptions, password } from './index.ts'
import { tooSimilar, weakness } from './policy.ts'

type Apps = Awaited<ReturnType<typeof boot>>

async function registerApi(apps: Apps, email: string, pw: string) {
  const flow = (await call(apps.public, 'GET', '/self-service/registration/api')).json
  return call(apps.public, 'POST', `/self-service/registration?flow=${flow.id}`, { body: { method: 'password', password: pw, traits: { email } } })
}
const pwMessages = (r: { json: any }) => r.json.ui.nodes.find((n: any) => n.attributes.name === 'password').messages
/** A random 16-character string (base64url of 12 random bytes). */
const random16 = () => Buffer.from(crypto.getRandomValues(new Uint8Array(12))).toString('base64url')

describe('password policy: weak passwords', () => {
  let apps: Apps
  beforeAll(async () => {
    apps = await boot(undefined)
  })
  afterAll(async () => {
    await apps.kernel.stop()
  })

  it('ships an offline list of at least 10,000 common breached passwords, with its source and licence', () => {
    expect(COMMON_PASSWORDS.size).toBeGreaterThanOrEqual(10_000)
    for (const p of ['123456', 'password', 'qwerty', 'iloveyou', 'trustno1']) expect(COMMON_PASSWORDS.has(p)).toBe(true)
    const header = list.split('\n').filter((l) => l.startsWith('# '))
    expect(header.join('\n')).toContain('@zxcvbn-ts/language-common@')
    expect(header.join('\n')).toContain('Licence: MIT')
    expect(COMMON_PASSWORDS.has('# licence: mit.')).toBe(false)
  })

  // Issue 11: each was accepted before.
  const refused: [string, number][] = [
    ['Password1!', 4000005],
    ['qwerty1234', 4000034],
    ['Summer2024!', 4000005],
    ['P@ssw0rd!', 4000005],
    ['passwordpassword', 4000034],
  ]
  for (const [pw, id] of refused) {
    it(`refuses ${pw} at registration with message ${id}`, async () => {
      const r = await registerApi(apps, `weak-${crypto.randomUUID()}@example.com`, pw)
      expect(r.status).toBe(400)
      const [m] = pwMessages(r)
      expect(m.id).toBe(id)
      expect(m.type).toBe('error')
      if (id === 4000005) expect(m.context.reason).toBeString()
    })
  }

  it('accepts good passphrases and random strings', async () => {
    for (const pw of ['correct horse battery staple', random16(), random16(), 'Tr0ub4dor&3 horse', 'legacy password 2019']) {
      const r = await registerApi(apps, `good-${crypto.randomUUID()}@example.com`, pw)
      expect(r.status, pw).toBe(200)
    }
  })

  it('refuses obvious variations with a reason: look-alikes, added digits, seasons and months, repeats, keyboard walks', () => {
    expect(weakness('P@ssw0rd!')).toBe('it is a common password with a few characters substituted or added')
    expect(weakness('Dr4g0n2024')).toBe('it is a common password with a few characters substituted or added')
    expect(weakness('Summer2024!')).toBe('it is a season or a month with a year or number added')
    expect(weakness('2023October')).toBe('it is a season or a month with a year or number added')
    expect(weakness('abcabcabc')).toBe('it repeats a short pattern')
    expect(weakness('Xy7Xy7Xy7Xy7')).toBe('it repeats a short pattern')
    expect(weakness('qwertyuiop')).toBe('it is a keyboard pattern or a sequence of characters')
    expect(weakness('asdfghjkl;123!')).toBe('it is a keyboard pattern or a sequence of characters with a few digits or symbols added')
    expect(weakness('zyxwvuts')).toBe('it is a keyboard pattern or a sequence of characters')
    // Long affixes are not "a few characters": the base word alone does not condemn them.
    expect(weakness('hello83947261538')).toBe(null)
    expect(weakness('correct horse battery staple')).toBe(null)
  })

  // Kratos selfservice/strategy/password/validator_test.go (TestDefaultPasswordValidationStrategy,
  // TestChangeIdentifierSimilarityCheckEnabled, TestIdentifierSimilarityCheckMaxLength): [identifier, password, too similar].
  const kratosCases: [string, string, boolean][] = [
    ['l3f9toh1uaf81n21', 'l3f9toh1uaf81n21', true],
    ['hello@example.com', 'hello@example.com12345', true],
    ['hello@example.com', '123hello@example.com123', true],
    ['hello@example.com', 'hello@exam', true],
    ['hello@example.com', 'HELLO@EXAMPLE.COM', true],
    ['hello@example.com', 'HELLO@example.com', true],
    ['hello@exam', 'hello@example.com', true],
    ['hello@example.com', 'h3ll0@example', true],
    ['abcd', '9d3c8a1b', false],
    ['a', 'kjOklafe', false],
    ['ab', '0000ab0000123', false],
    ['d4f6090b-5a84', 'd4f6090b-5a84-2184-4404-8d1b-8da3eb00ebbe', false],
    ['asdflasdflasdf', 'asdflasdflpiuhefnciluaksdzuföfhg', false],
    ['bosqwfaxee', 'bosqwfaxee', true],
    ['a'.repeat(257), 'a'.repeat(257), false],
  ]
  it("measures similarity to the identifier as Kratos' validator does (Levenshtein distance and longest common substring)", () => {
    for (const [id, pw, similar] of kratosCases) expect(tooSimilar(pw, id), `${id} / ${pw}`).toBe(similar)
    // Levenshtein alone: a few edits away, though no long substring is shared.
    expect(tooSimilar('jhon.smiht', 'john.smith')).toBe(true)
    // Tessera also compares an e-mail address's local part (Kratos compares the whole identifier only).
    expect(tooSimilar('maximilian.mustermann!', 'maximilian.mustermann@an-unusually-long-domain.example')).toBe(true)
  })

  it('refuses a password too similar to the identifier at registration (4000031), and not when the check is off', async () => {
    const r = await registerApi(apps, 'hello@example.com', 'hello@example.com12345')
    expect(r.status).toBe(400)
    expect(pwMessages(r)[0].id).toBe(4000031)
    const off = await boot(undefined, { password: { identifierSimilarityCheck: false } })
    try {
      expect((await registerApi(off, 'bosqwfaxee@example.com', 'bosqwfaxee@example.com')).status).toBe(200)
    } finally {
      await off.kernel.stop()
    }
  })
})

describe('password policy: the range API', () => {
  it('is off by default (no call, no timeout per registration without a network)', () => {
    expect(v.parse(PasswordOptions, {}).breachCheck.enabled).toBe(false)
  })

  it('logs a warning without the password or its hash when the range API fails, and skips it for the cool-down', async () => {
    const pw = 'an unbreached passphrase'
    const sha1 = new Bun.CryptoHasher('sha1').update(pw).digest('hex').toUpperCase()
    let calls = 0
    const failing = Bun.serve({
      port: 0,
      fetch() {
        calls++
        return new Response('down', { status: 503 })
      },
    })
    const log = captureLog('warn')
    const apps = await bootApps(
      [
        identity({ schemas: [{ id: 'default', schema: quickstartSchema }], selfservice: testSelfservice }),
        password({ hasher: { memoryCost: 64, timeCost: 1 }, breachCheck: { enabled: true, url: `http://127.0.0.1:${failing.port}/range`, failOpen: true, cooldownSeconds: 60 } }),
      ],
      { log: log.logger },
    )
    try {
      expect((await registerApi(apps, 'a@example.com', pw)).status).toBe(200)
      expect((await registerApi(apps, 'b@example.com', pw)).status).toBe(200)
      expect(calls).toBe(1)
      const warnings = log.lines.filter((l) => l['tessera.reason_id'] === 'breach_check_unavailable')
      expect(warnings).toHaveLength(1)
      expect(warnings[0]!.level).toBe('warn')
      const text = JSON.stringify(log.lines)
      expect(text).not.toContain(pw)
      expect(text).not.toContain(sha1.slice(0, 5))
      expect(text.toLowerCase()).not.toContain(sha1.slice(0, 5).toLowerCase())
    } finally {
      await apps.kernel.stop()
      failing.stop(true)
    }
  })

  it('asks again after the cool-down, and refuses a breached password it finds (4000034)', async () => {
    const range = rangeServer(['an unbreached passphrase, or so I thought'])
    const apps = await boot(undefined, { password: { breachCheck: { enabled: true, url: range.url, cooldownSeconds: 0 } } })
    try {
      const r = await registerApi(apps, 'c@example.com', 'an unbreached passphrase, or so I thought')
      expect(pwMessages(r)[0].id).toBe(4000034)
      expect(range.requested).toHaveLength(1)
    } finally {
      await apps.kernel.stop()
      range.stop()
    }
  })
})

/**
 * Identity schemas: draft-07 and draft 2020-12 documents with Kratos' `ory.sh/kratos`
 * extension (kratos.identity_extension.schema.json): identifiers, verifiable and
 * recovery addresses, and ajv errors mapped to Kratos message ids.
 */
import { describe, expect, it } from 'bun:test'
import { compileSchema, credentialFields, identifiersOf, validateTraits } from './schemas.ts'
import { boot, quickstartSchema } from '../../test/helpers/identity.ts'
import { isAllowedReturnTo, unsafeReturnToEntry } from './return-to.ts'

const username2020 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  properties: {
    traits: {
      type: 'object',
      properties: {
        username: { type: 'string', minLength: 3, 'ory.sh/kratos': { credentials: { password: { identifier: true } } } },
        phone: { type: 'string', format: 'tel', 'ory.sh/kratos': { verification: { via: 'sms' } } },
        tags: { type: 'array', prefixItems: [{ type: 'string' }] },
      },
      required: ['username'],
    },
  },
}

describe('identity schemas', () => {
  it('reads identifiers and address markers from the ory.sh/kratos extension (draft-07)', () => {
    const s = compileSchema({ id: 'default', schema: quickstartSchema })
    const titles = { de: 'E-Mail', ru: 'Эл. почта', zh: '电子邮件' }
    expect(credentialFields(s, 'password')).toEqual([{ path: 'email', format: 'email', title: 'E-Mail', titles, settings: { identifier: true } }])
    expect(s.fields.find((f) => f.path === 'name.first')?.titles).toEqual({ de: 'Vorname', ru: 'Имя', zh: '名' })
    expect(s.fields.find((f) => f.path === 'email')?.ext.verification?.via).toBe('email')
    expect(s.fields.map((f) => f.path)).toEqual(['email', 'name.first', 'name.last'])
    expect(identifiersOf(s, { id: 'password' }, { email: ' Ada@Example.COM ' })).toEqual(['ada@example.com'])
  })

  it('reads a trait title\'s translations from "tessera": { "titles" } (two-letter codes, non-empty strings; anything else ignored)', () => {
    const traits = (title: Record<string, unknown>) =>
      compileSchema({ id: 't', schema: { type: 'object', properties: { traits: { type: 'object', properties: { nick: { type: 'string', title: 'Nickname', ...title } } } } } }).fields[0]!
    expect(traits({ tessera: { titles: { DE: 'Spitzname', ru: '', zh: 7, 'de-AT': 'x', en: 'Nick' } } }).titles).toEqual({ de: 'Spitzname', en: 'Nick' })
    expect(traits({ tessera: { titles: ['Spitzname'] } }).titles).toBeUndefined()
    expect(traits({ tessera: 'Spitzname' }).titles).toBeUndefined()
    expect(traits({}).titles).toBeUndefined()
  })

  it('compiles draft 2020-12 documents and maps errors to Kratos message ids', () => {
    const s = compileSchema({ id: 'users', schema: username2020 })
    expect(credentialFields(s, 'password').map((f) => f.path)).toEqual(['username'])
    expect(validateTraits(s, { username: 'ada', tags: ['x'] }).ok).toBe(true)
    const missing = validateTraits(s, {})
    expect(!missing.ok && missing.nodes['traits.username']?.[0]?.id).toBe(4000002)
    const short = validateTraits(s, { username: 'ad' })
    expect(!short.ok && short.nodes['traits.username']?.[0]?.id).toBe(4000001)
    const q = compileSchema({ id: 'default', schema: quickstartSchema })
    const bad = validateTraits(q, { email: 'not-an-email' })
    expect(!bad.ok && bad.nodes['traits.email']?.[0]?.text).toBe('"not-an-email" is not valid "email"')
  })
})

describe('identifiers per credential method (ory.sh/kratos.credentials.<method>)', () => {
  const multi = compileSchema({
    id: 'multi',
    schema: {
      type: 'object',
      properties: {
        traits: {
          type: 'object',
          properties: {
            email: { type: 'string', format: 'email', 'ory.sh/kratos': { credentials: { password: { identifier: true }, code: { identifier: true, via: 'email' }, webauthn: { identifier: true } } } },
            phone: { type: 'string', format: 'tel', 'ory.sh/kratos': { credentials: { code: { identifier: true, via: 'sms' } } } },
            nick: { type: 'string', 'ory.sh/kratos': { credentials: { passkey: { display_name: true } } } },
            aliases: { type: 'array', items: { type: 'string' }, 'ory.sh/kratos': { credentials: { password: { identifier: true } } } },
          },
        },
      },
    },
  })
  const traits = { email: 'Ada@Example.COM', phone: '+49 170 1234567', nick: 'Ada L', aliases: ['ADA', 'Ada@Example.com'] }

  it('derives each method’s identifiers from its own marker: e-mail lower-cased, phone numbers and names as given, arrays per item', () => {
    expect(identifiersOf(multi, { id: 'password' }, traits)).toEqual(['ada@example.com', 'ADA'])
    expect(identifiersOf(multi, { id: 'code' }, traits)).toEqual(['ada@example.com', '+49 170 1234567'])
    expect(identifiersOf(multi, { id: 'webauthn' }, traits)).toEqual(['ada@example.com'])
    // passkey marks a display name, not an identifier: nothing by the default rule.
    expect(identifiersOf(multi, { id: 'passkey' }, traits)).toEqual([])
    expect(identifiersOf(multi, { id: 'totp' }, traits)).toEqual([])
  })

  it('lets a method choose its traits and normalise them', () => {
    const code = { id: 'code', identifiers: { select: (f: { settings: Record<string, unknown> }) => f.settings.via === 'sms', normalise: (v: string) => v.replace(/[^+0-9]/g, '') } }
    expect(identifiersOf(multi, code, traits)).toEqual(['+491701234567'])
    expect(credentialFields(multi, 'code').map((f) => [f.path, f.settings.via])).toEqual([['email', 'email'], ['phone', 'sms']])
  })
})

describe('return_to allow-list (security checklist)', () => {
  const allowed = ['https://*.example.com/', 'https://shop.test/app', 'http://localhost:3000/']
  it.each([
    ['https://a.example.com/x', true],
    ['https://a.b.example.com/', true],
    ['https://example.com.evil.com/', false],
    ['https://evilexample.com/', false],
    ['https://shop.test/app', true],
    ['https://shop.test/app/cart', true],
    ['https://shop.test/application', false],
    ['https://shop.test/', false],
    ['http://localhost:3000/x', true],
    ['http://localhost:3001/x', false],
    ['https://user@a.example.com/', false],
    ['javascript:alert(1)', false],
    ['/relative', false],
  ])('%s → %p', (url, ok) => {
    expect(isAllowedReturnTo(url as string, allowed)).toBe(ok as boolean)
  })
})

describe('identifiers per credential method (ory.sh/kratos.credentials.<method>)', () => {
  const multi = compileSchema({
    id: 'multi',
    schema: {
      type: 'object',
      properties: {
        traits: {
          type: 'object',
          properties: {
            email: { type: 'string', format: 'email', 'ory.sh/kratos': { credentials: { password: { identifier: true }, code: { identifier: true, via: 'email' }, webauthn: { identifier: true } } } },
            phone: { type: 'string', format: 'tel', 'ory.sh/kratos': { credentials: { code: { identifier: true, via: 'sms' } } } },
            nick: { type: 'string', 'ory.sh/kratos': { credentials: { passkey: { display_name: true } } } },
            aliases: { type: 'array', items: { type: 'string' }, 'ory.sh/kratos': { credentials: { password: { identifier: true } } } },
          },
        },
      },
    },
  })
  const traits = { email: 'Ada@Example.COM', phone: '+49 170 1234567', nick: 'Ada L', aliases: ['ADA', 'Ada@Example.com'] }

  it('derives each method’s identifiers from its own marker: e-mail lower-cased, phone numbers and names as given, arrays per item', () => {
    expect(identifiersOf(multi, { id: 'password' }, traits)).toEqual(['ada@example.com', 'ADA'])
    expect(identifiersOf(multi, { id: 'code' }, traits)).toEqual(['ada@example.com', '+49 170 1234567'])
    expect(identifiersOf(multi, { id: 'webauthn' }, traits)).toEqual(['ada@example.com'])
    // passkey marks a display name, not an identifier: nothing by the default rule.
    expect(identifiersOf(multi, { id: 'passkey' }, traits)).toEqual([])
    expect(identifiersOf(multi, { id: 'totp' }, traits)).toEqual([])
  })

  it('lets a method choose its traits and normalise them', () => {
    const code = { id: 'code', identifiers: { select: (f: { settings: Record<string, unknown> }) => f.settings.via === 'sms', normalise: (v: string) => v.replace(/[^+0-9]/g, '') } }
    expect(identifiersOf(multi, code, traits)).toEqual(['+491701234567'])
    expect(credentialFields(multi, 'code').map((f) => [f.path, f.settings.via])).toEqual([['email', 'email'], ['phone', 'sms']])
  })
})

describe('return_to allow-list entries (security checklist, Kratos d027980ec)', () => {
  it.each([
    ['*', false],
    ['https://*', false],
    ['https://*.com', false],
    ['https://*.co.uk', false],
    ['https://*foo.com', false],
    ['https://foo.*.com', false],
    ['https://*.example.com', true],
    ['https://*.example.co.uk/app', true],
    ['https://shop.test/app', true],
    ['not a url', false],
  ])('%s is %s', (entry, ok) => {
    expect(unsafeReturnToEntry(entry as string) === null).toBe(ok as boolean)
  })

  it('refuses to boot with an unsafe entry, naming its path', async () => {
    await expect(
      boot(undefined, { identity: { selfservice: { uiUrl: 'http://ui.test', defaultReturnUrl: 'https://app.example.com/', allowedReturnUrls: ['https://ok.example.com/', 'https://*.com'] } } }),
    ).rejects.toThrow('plugins[0].options.selfservice.allowedReturnUrls[1]: a wildcard on a public suffix (com) admits every site under it')
  })
})

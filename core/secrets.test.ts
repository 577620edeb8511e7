import { describe, expect, it } from 'bun:test'
import { Keyring, constantTimeEqual, randomToken, sha256Hex, sha256HexSync } from './secrets.ts'

const OLD = 'old-secret-0123456789abcdef'
const NEW = 'new-secret-0123456789abcdef'

describe('keyring', () => {
  it('signs with the first secret and verifies with any, so secrets rotate without downtime', async () => {
    const before = new Keyring([OLD])
    const mac = await before.sign('csrf', 'data')
    const rotated = new Keyring([NEW, OLD])
    expect(await rotated.verify('csrf', 'data', mac)).toBe(true)
    expect(await rotated.sign('csrf', 'data')).not.toBe(mac)
    const retired = new Keyring([NEW])
    expect(await retired.verify('csrf', 'data', mac)).toBe(false)
  })

  it('rejects a signature for other data, another purpose or a mangled value', async () => {
    const k = new Keyring([NEW])
    const mac = await k.sign('csrf', 'data')
    expect(await k.verify('csrf', 'datA', mac)).toBe(false)
    expect(await k.verify('page-token', 'data', mac)).toBe(false)
    expect(await k.verify('csrf', 'data', `${mac.slice(0, -2)}AA`)).toBe(false)
    expect(await k.verify('csrf', 'data', 'not base64 !!')).toBe(false)
  })

  it('seals and opens across a rotation, and refuses tampering or another context', async () => {
    const sealed = await new Keyring([OLD]).seal('page-token', '{"offset":10}', 'tenant-a')
    const k = new Keyring([NEW, OLD])
    expect(await k.open('page-token', sealed, 'tenant-a')).toBe('{"offset":10}')
    expect(await k.open('page-token', sealed, 'tenant-b')).toBeNull()
    expect(await k.open('other', sealed, 'tenant-a')).toBeNull()
    const flipped = sealed.slice(0, 20) + (sealed[20] === 'A' ? 'B' : 'A') + sealed.slice(21)
    expect(await k.open('page-token', flipped, 'tenant-a')).toBeNull()
    expect(await k.open('page-token', '', 'tenant-a')).toBeNull()
    expect(await k.open('page-token', '%%%', 'tenant-a')).toBeNull()
  })

  it('makes distinct 256-bit random tokens', () => {
    const a = randomToken()
    expect(Buffer.from(a, 'base64url').length).toBe(32)
    expect(randomToken()).not.toBe(a)
  })

  it('compares strings in constant time', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true)
    expect(constantTimeEqual('abc', 'abd')).toBe(false)
    expect(constantTimeEqual('abc', 'abcd')).toBe(false)
  })
})

describe('sha256HexSync (how tokens, codes and secrets are stored)', () => {
  it('is SHA-256 of the UTF-8 text: FIPS 180-2 appendix B.1 ("abc") and B.2, and WebCrypto\'s digest of non-ASCII text', async () => {
    expect(sha256HexSync('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    expect(sha256HexSync('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBe('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1')
    for (const s of ['', 'é', 'ory_at_\u{1F600}', 'x'.repeat(10_000)]) expect(sha256HexSync(s)).toBe(await sha256Hex(s))
  })
})

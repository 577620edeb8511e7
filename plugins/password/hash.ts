/**
 * Password hashes: new ones with Bun.password (argon2id by default, bcrypt
 * available); imported legacy hashes verified with WebCrypto / node:crypto —
 * argon2id/argon2i and bcrypt (Bun.password), PBKDF2-SHA256/512, scrypt, salted
 * SHA-256/512 — in the PHC-like formats Kratos imports.
 */
import { scrypt as scryptCb } from 'node:crypto'
import { promisify } from 'node:util'
import { constantTimeEqual } from 'tessera'

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, keylen: number, opts: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>

export interface HasherOptions {
  algorithm: 'argon2id' | 'bcrypt'
  /** argon2id memory in KiB. */
  memoryCost: number
  timeCost: number
  bcryptCost: number
}

export function hashPassword(password: string, o: HasherOptions): Promise<string> {
  return o.algorithm === 'bcrypt'
    ? Bun.password.hash(password, { algorithm: 'bcrypt', cost: o.bcryptCost })
    : Bun.password.hash(password, { algorithm: 'argon2id', memoryCost: o.memoryCost, timeCost: o.timeCost })
}

/** Does the stored hash come from the configured hasher with its current parameters? */
export function isCurrent(hash: string, o: HasherOptions): boolean {
  if (o.algorithm === 'bcrypt') return /^\$2[aby]\$/.test(hash) && hash.slice(4, 6) === String(o.bcryptCost).padStart(2, '0')
  const m = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=\d+\$/.exec(hash)
  return !!m && Number(m[1]) === o.memoryCost && Number(m[2]) === o.timeCost
}

export function isKnownFormat(hash: string): boolean {
  return /^\$(argon2id|argon2i|2a|2b|2y)\$/.test(hash) || /^\$pbkdf2-sha(256|512)\$/.test(hash) || /^\$scrypt\$/.test(hash) || /^\{SSHA(256|512)\}/.test(hash)
}

const b64 = (s: string) => Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64')

export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  if (/^\$(argon2id|argon2i|argon2d|2a|2b|2y)\$/.test(hash)) {
    try {
      return await Bun.password.verify(password, hash)
    } catch {
      return false
    }
  }
  // $pbkdf2-sha256$i=100000,l=32$<salt b64>$<key b64>
  let m = /^\$pbkdf2-(sha256|sha512)\$i=(\d+),l=(\d+)\$([^$]+)\$([^$]+)$/.exec(hash)
  if (m) {
    const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(password), 'PBKDF2', false, ['deriveBits'])
    const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: m[1] === 'sha256' ? 'SHA-256' : 'SHA-512', salt: b64(m[4]!), iterations: Number(m[2]) }, key, Number(m[3]) * 8)
    return constantTimeEqual(Buffer.from(bits).toString('base64'), b64(m[5]!).toString('base64'))
  }
  // $scrypt$ln=16384,r=8,p=1$<salt b64>$<key b64>
  m = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([^$]+)\$([^$]+)$/.exec(hash)
  if (m) {
    const expected = b64(m[5]!)
    const N = Number(m[1]), r = Number(m[2]), p = Number(m[3])
    const got = await scrypt(password, b64(m[4]!), expected.length, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 })
    return constantTimeEqual(got.toString('base64'), expected.toString('base64'))
  }
  // {SSHA256}base64(sha256(password || salt) || salt)
  m = /^\{SSHA(256|512)\}(.+)$/.exec(hash)
  if (m) {
    const raw = Buffer.from(m[2]!, 'base64')
    const len = m[1] === '256' ? 32 : 64
    const digest = raw.subarray(0, len)
    const salt = raw.subarray(len)
    const got = new Bun.CryptoHasher(m[1] === '256' ? 'sha256' : 'sha512').update(Buffer.concat([Buffer.from(password), salt])).digest()
    return constantTimeEqual(Buffer.from(got).toString('base64'), digest.toString('base64'))
  }
  return false
}

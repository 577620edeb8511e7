/**
 * Secret keyrings and the small crypto helpers every plugin needs.
 * Nothing here is hand-rolled: HMAC, HKDF and AES-GCM come from WebCrypto,
 * constant-time comparison from node:crypto.
 *
 * A keyring holds a list of secrets: the first signs and encrypts, all of them
 * verify and decrypt, so a secret rotates without downtime by prepending the new
 * one and dropping the old one later (`SECRETS_SYSTEM=new,old`).
 */
import { timingSafeEqual } from 'node:crypto'

const enc = new TextEncoder()
const dec = new TextDecoder()

export function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url')
}

function fromBase64url(s: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) return null
  return new Uint8Array(Buffer.from(s, 'base64url'))
}

/** `bytes` random bytes, base64url-encoded. 32 bytes = 256 bits by default. */
export function randomToken(bytes = 32): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)))
}

/** Constant-time equality of two strings (length leaks, content does not). */
export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8')
  const bb = Buffer.from(b, 'utf8')
  if (ab.length !== bb.length) {
    // compare against itself so the time does not depend on where they differ
    timingSafeEqual(ab, ab)
    return false
  }
  return timingSafeEqual(ab, bb)
}

/** SHA-256 of a string, hex. For storing high-entropy tokens hashed. */
export async function sha256Hex(s: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', enc.encode(s))
  return Buffer.from(digest).toString('hex')
}

/**
 * Synchronous SHA-256 as hex, for hot paths: Bun's one-shot SHA-256 (BoringSSL's, as CryptoHasher's), no hasher
 * object per call; about 40% quicker than `Bun.CryptoHasher.hash('sha256', …)` for a token-sized input.
 */
export function sha256HexSync(s: string): string {
  return Bun.SHA256.hash(s, 'hex') as string
}

export const MIN_SECRET_LENGTH = 16

interface DerivedKeys {
  hmac: CryptoKey
  aead: CryptoKey
}

/**
 * A rotating list of secrets. Keys are derived per purpose with HKDF, so the
 * same secret never signs two kinds of thing with the same key.
 */
export class Keyring {
  readonly #secrets: readonly string[]
  readonly #cache = new Map<string, Promise<DerivedKeys>>()

  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error('a keyring needs at least one secret')
    this.#secrets = secrets
  }

  get size(): number {
    return this.#secrets.length
  }

  #keys(index: number, purpose: string): Promise<DerivedKeys> {
    const cacheKey = `${index}\u0000${purpose}`
    let p = this.#cache.get(cacheKey)
    if (!p) {
      p = (async () => {
        const secret = this.#secrets[index]!
        const ikm = await crypto.subtle.importKey('raw', enc.encode(secret), 'HKDF', false, ['deriveKey'])
        const derive = (label: string, alg: HmacImportParams | AesKeyGenParams, usages: KeyUsage[]) =>
          crypto.subtle.deriveKey(
            { name: 'HKDF', hash: 'SHA-256', salt: enc.encode('tessera/v1'), info: enc.encode(`${purpose}/${label}`) },
            ikm,
            alg,
            false,
            usages,
          )
        return {
          hmac: await derive('hmac', { name: 'HMAC', hash: 'SHA-256', length: 256 }, ['sign', 'verify']),
          aead: await derive('aead', { name: 'AES-GCM', length: 256 }, ['encrypt', 'decrypt']),
        }
      })()
      this.#cache.set(cacheKey, p)
    }
    return p
  }

  /** HMAC-SHA256 of `data` under the current secret, base64url. */
  async sign(purpose: string, data: string): Promise<string> {
    const { hmac } = await this.#keys(0, purpose)
    return base64url(new Uint8Array(await crypto.subtle.sign('HMAC', hmac, enc.encode(data))))
  }

  /** True when `mac` was made by any secret of the ring (constant-time per key). */
  async verify(purpose: string, data: string, mac: string): Promise<boolean> {
    const sig = fromBase64url(mac)
    if (!sig) return false
    for (let i = 0; i < this.#secrets.length; i++) {
      const { hmac } = await this.#keys(i, purpose)
      if (await crypto.subtle.verify('HMAC', hmac, sig, enc.encode(data))) return true
    }
    return false
  }

  /** Encrypt and authenticate `plaintext` (AES-256-GCM). `aad` binds context (e.g. the tenant). */
  async seal(purpose: string, plaintext: string, aad = ''): Promise<string> {
    const { aead } = await this.#keys(0, purpose)
    const iv = crypto.getRandomValues(new Uint8Array(12))
    const ct = new Uint8Array(
      await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: enc.encode(aad) }, aead, enc.encode(plaintext)),
    )
    const out = new Uint8Array(iv.length + ct.length)
    out.set(iv)
    out.set(ct, iv.length)
    return base64url(out)
  }

  /** Decrypt a sealed value with any secret of the ring; null when forged, mangled or for another `aad`. */
  async open(purpose: string, sealed: string, aad = ''): Promise<string | null> {
    const raw = fromBase64url(sealed)
    if (!raw || raw.length < 12 + 16) return null
    const iv = raw.slice(0, 12)
    const ct = raw.slice(12)
    for (let i = 0; i < this.#secrets.length; i++) {
      const { aead } = await this.#keys(i, purpose)
      try {
        const pt = await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: enc.encode(aad) }, aead, ct)
        return dec.decode(pt)
      } catch {
        // try the next secret
      }
    }
    return null
  }
}

export interface Secrets {
  /** Signs and encrypts tokens, page tokens, flow state. */
  system: Keyring
  /** Signs and encrypts cookies. */
  cookie: Keyring
}

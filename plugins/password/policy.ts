/**
 * NIST SP 800-63B §5.1.1.2 password policy: a minimum length (8 by default), at
 * least 64 characters accepted, no composition rules, no truncation; reject
 * passwords too similar to the identifier, on an offline list of common
 * passwords, or found in breaches through a k-anonymity range API
 * (HIBP-compatible: only the first 5 hex digits of the SHA-1 leave the process).
 * Each rejection carries Kratos' message id.
 */
import type { UiText } from 'tessera'
import { COMMON_PASSWORDS } from './common-passwords.ts'

export interface PolicyOptions {
  minLength: number
  maxLength: number
  identifierSimilarityCheck: boolean
  breachCheck: { enabled: boolean; url: string; failOpen: boolean; timeoutMs: number; maxBreaches: number }
}

const err = (id: number, text: string, context?: Record<string, unknown>): UiText => ({ id, text, type: 'error', ...(context ? { context } : {}) })

export const messages = {
  minLength: (min: number, actual: number) => err(4000032, `The password must be at least ${min} characters long, but got ${actual}.`, { min_length: min, actual_length: actual }),
  maxLength: (max: number, actual: number) => err(4000033, `The password must be at most ${max} characters long, but got ${actual}.`, { max_length: max, actual_length: actual }),
  tooSimilar: () => err(4000031, 'The password can not be used because it is too similar to the identifier.'),
  breached: () => err(4000034, 'The password has been found in data breaches and must no longer be used.'),
  policy: (reason: string) => err(4000005, `The password can not be used because ${reason}.`, { reason }),
  required: () => err(4000002, 'Property password is missing.', { property: 'password' }),
}

/** Length of the longest common substring (dynamic programming, O(n·m) on short strings). */
function longestCommonSubstring(a: string, b: string): number {
  let best = 0
  let prev = new Array<number>(b.length + 1).fill(0)
  for (let i = 1; i <= a.length; i++) {
    const cur = new Array<number>(b.length + 1).fill(0)
    for (let j = 1; j <= b.length; j++) {
      if (a[i - 1] === b[j - 1]) {
        cur[j] = prev[j - 1]! + 1
        if (cur[j]! > best) best = cur[j]!
      }
    }
    prev = cur
  }
  return best
}

export function tooSimilar(password: string, identifier: string): boolean {
  const p = password.toLowerCase()
  const id = identifier.toLowerCase()
  const candidates = [id, id.split('@')[0]!].filter((s) => s.length >= 3)
  for (const c of candidates) {
    if (p.includes(c) || c.includes(p)) return true
    // Kratos: too similar when the common part covers most of the password.
    if (longestCommonSubstring(p, c) / p.length >= 0.5) return true
  }
  return false
}

async function sha1Hex(s: string): Promise<string> {
  return Buffer.from(await crypto.subtle.digest('SHA-1', new TextEncoder().encode(s))).toString('hex').toUpperCase()
}

/** How often the range API has seen this password; null when it could not be asked. */
export async function breachCount(password: string, o: PolicyOptions['breachCheck']): Promise<number | null> {
  const hash = await sha1Hex(password)
  const prefix = hash.slice(0, 5)
  const suffix = hash.slice(5)
  try {
    const res = await fetch(`${o.url.replace(/\/$/, '')}/${prefix}`, { headers: { 'add-padding': 'true' }, signal: AbortSignal.timeout(o.timeoutMs) })
    if (!res.ok) return null
    for (const line of (await res.text()).split('\n')) {
      const [s, n] = line.trim().split(':')
      if (s?.toUpperCase() === suffix) return Number(n) || 0
    }
    return 0
  } catch {
    return null
  }
}

/** The reasons this password is refused (empty when it is acceptable). */
export async function checkPassword(password: string, identifiers: string[], o: PolicyOptions): Promise<UiText[]> {
  const length = [...password].length
  if (length < o.minLength) return [messages.minLength(o.minLength, length)]
  if (length > o.maxLength) return [messages.maxLength(o.maxLength, length)]
  if (o.identifierSimilarityCheck && identifiers.some((id) => tooSimilar(password, id))) return [messages.tooSimilar()]
  if (COMMON_PASSWORDS.has(password.toLowerCase())) return [messages.breached()]
  if (o.breachCheck.enabled) {
    const n = await breachCount(password, o.breachCheck)
    if (n === null && !o.breachCheck.failOpen) return [messages.policy('the password could not be checked against known data breaches, please try again later')]
    if (n !== null && n > o.breachCheck.maxBreaches) return [messages.breached()]
  }
  return []
}

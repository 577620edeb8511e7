/**
 * NIST SP 800-63B §5.1.1.2 password policy: a minimum length (8 by default), at least 64 characters accepted,
 * no composition rules, no truncation. Refused, each with Kratos' message id:
 *
 * 1. too short or too long (4000032, 4000033);
 * 2. too similar to an identifier (4000031), measured as Kratos' password validator does: the lower-cased
 *    password and identifier are too similar when their Levenshtein distance is under 5 or their longest
 *    common substring covers more than half of the password; Tessera also compares the local part of an
 *    e-mail address. Operands over 256 characters are skipped (Kratos: the check is O(n·m));
 * 3. on the offline list of common breached passwords, lower-cased (4000034; common-passwords.ts);
 * 4. an obvious variation of something an attacker tries first (4000005, with a reason) — NIST's
 *    "context-specific words" and "repetitive or sequential characters"; see `weakness` below;
 * 5. optionally, seen in breaches through a k-anonymity range API (HIBP-compatible: only the first 5 hex digits
 *    of the SHA-1 leave the process; 4000034). Off by default (an offline server must not wait for a timeout on
 *    every registration, and a third party is called only when the operator chooses it); when it cannot be
 *    reached a warning is logged (never the password or its hash) and further calls are skipped for
 *    `cooldownSeconds`, so an outage costs one timeout, not one per registration.
 */
import type { Logger, UiText } from 'tessera'
import { COMMON_PASSWORDS } from './common-passwords.ts'

export interface PolicyOptions {
  minLength: number
  maxLength: number
  identifierSimilarityCheck: boolean
  breachCheck: { enabled: boolean; url: string; failOpen: boolean; timeoutMs: number; maxBreaches: number; cooldownSeconds: number }
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

/** Operands longer than this are not compared (the comparisons are O(n·m)); Kratos uses the same bound. */
const MAX_COMPARED_LENGTH = 256

/** Levenshtein distance over code points (two rows). */
export function levenshtein(a: string, b: string): number {
  const x = [...a]
  const y = [...b]
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j)
  for (let i = 1; i <= x.length; i++) {
    const cur = [i]
    for (let j = 1; j <= y.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1))
    prev = cur
  }
  return prev[y.length]!
}

/** Length of the longest common substring over code points (dynamic programming, two rows). */
export function longestCommonSubstring(a: string, b: string): number {
  const x = [...a]
  const y = [...b]
  let best = 0
  let prev = new Array<number>(y.length + 1).fill(0)
  for (let i = 1; i <= x.length; i++) {
    const cur = new Array<number>(y.length + 1).fill(0)
    for (let j = 1; j <= y.length; j++) {
      if (x[i - 1] === y[j - 1]) {
        cur[j] = prev[j - 1]! + 1
        if (cur[j]! > best) best = cur[j]!
      }
    }
    prev = cur
  }
  return best
}

/**
 * Kratos' identifier similarity: too similar when the Levenshtein distance of the lower-cased strings is under 5
 * or their longest common substring is more than half the password. Also the local part of an e-mail address.
 */
export function tooSimilar(password: string, identifier: string): boolean {
  const p = password.toLowerCase()
  const id = identifier.toLowerCase()
  const at = id.lastIndexOf('@')
  const candidates = at > 0 ? [id, id.slice(0, at)] : [id]
  const length = [...p].length
  for (const c of candidates) {
    if (c === '' || c.length > MAX_COMPARED_LENGTH || p.length > MAX_COMPARED_LENGTH) continue
    if (levenshtein(c, p) < 5 || longestCommonSubstring(c, p) / length > 0.5) return true
  }
  return false
}

// --- Obvious variations (NIST: context-specific words, repetitive or sequential characters) -----------------

/** Look-alike substitutions ("leet"); `1` may stand for `i` or `l`, so both readings are tried. */
const LEET: Record<string, string> = { '@': 'a', '4': 'a', '8': 'b', '(': 'c', '3': 'e', '6': 'g', '9': 'g', '!': 'i', '0': 'o', $: 's', '5': 's', '7': 't', '+': 't', '2': 'z' }
function unleet(s: string): string[] {
  const base = [...s].map((c) => LEET[c] ?? c).join('')
  return base.includes('1') || base.includes('|') ? [base.replace(/[1|]/g, 'i'), base.replace(/[1|]/g, 'l')] : [base]
}

/** Rows of common keyboard layouts (QWERTY, QWERTZ, AZERTY), the alphabet and the digits, walked either way. */
const SEQUENCES = ['`1234567890-=', 'qwertyuiop[]\\', "asdfghjkl;'", 'zxcvbnm,./', 'qwertzuiop', 'yxcvbnm', 'azertyuiop', 'qsdfghjklm', 'wxcvbn', 'abcdefghijklmnopqrstuvwxyz', '0123456789']

/** The length of the longest run starting at `i`: one character repeated, or consecutive along a sequence. */
function runAt(s: string, i: number): number {
  let best = 1
  let n = 1
  while (i + n < s.length && s[i + n] === s[i]) n++
  best = Math.max(best, n)
  for (const seq of SEQUENCES) {
    const start = seq.indexOf(s[i]!)
    if (start < 0) continue
    for (const dir of [1, -1]) {
      let k = 1
      while (i + k < s.length && seq[start + dir * k] === s[i + k]) k++
      best = Math.max(best, k)
    }
  }
  return best
}

/** Made entirely of runs of 3+ (`qwerty1234`, `abc987zzz`, `1qaz` is not): keyboard walks and sequences. */
export function isWalk(s: string): boolean {
  if (s.length < 3 || s.length > MAX_COMPARED_LENGTH) return false
  // ok[i]: s[i..] splits into runs of 3 or more (any prefix of a run is a run).
  const ok = new Array<boolean>(s.length + 1).fill(false)
  ok[s.length] = true
  for (let i = s.length - 1; i >= 0; i--) {
    const max = runAt(s, i)
    for (let len = 3; len <= max && !ok[i]; len++) ok[i] = ok[i + len]!
  }
  return ok[0]!
}

/** A shorter pattern repeated (`passwordpassword`, `abcabcabc`, `xyxyxyxy`). */
export function isRepetition(s: string): boolean {
  return s.length >= 4 && /^(.+?)\1+$/s.test(s)
}

const SEASONS_AND_MONTHS = new Set(
  'spring summer autumn fall winter january february march april may june july august september october november december jan feb mar apr jun jul aug sep sept oct nov dec'.split(' '),
)

/** Affixes people add to satisfy composition rules: a few digits or symbols, or a digit sequence. */
function weakAffix(a: string): boolean {
  return a.length <= 6 || isWalk(a.replace(/[^0-9]/g, ''))
}

/**
 * Why this password is an obvious variation of what attackers try first, or null. Principled, not exhaustive:
 * the password lower-cased is split into a core (from its first to its last letter) and affixes (the digits and
 * symbols before and after). It is refused when
 * - it, or its core with weak affixes (at most 6 characters, or a digit sequence), is a keyboard walk or
 *   sequence (`qwerty1234`) or a short pattern repeated (`passwordpassword`, `abcabc123`);
 * - its core is a season or a month and its weak affixes hold digits (`Summer2024!`, `2023october`);
 * - its core, read without look-alike substitutions (`p@ssw0rd` → `password`, `1` → `i` or `l`), is on the
 *   common-password list (4+ characters) and its affixes are weak (`P@ssw0rd!`, `Password1!`).
 * Passwords over 256 characters are not examined.
 */
export function weakness(password: string): string | null {
  // Bounded like the similarity check: the pattern tests below are O(n²) at worst.
  if (password.length > MAX_COMPARED_LENGTH) return null
  const lower = password.toLowerCase()
  if (isRepetition(lower)) return 'it repeats a short pattern'
  if (isWalk(lower)) return 'it is a keyboard pattern or a sequence of characters'
  const m = /^([^\p{L}]*)(\p{L}.*\p{L}|\p{L})([^\p{L}]*)$/su.exec(lower)
  if (!m) return null
  const [, prefix = '', core = '', suffix = ''] = m
  const affix = prefix + suffix
  if (affix !== '' && weakAffix(affix)) {
    if (isRepetition(core)) return 'it repeats a short pattern with a few digits or symbols added'
    if (isWalk(core)) return 'it is a keyboard pattern or a sequence of characters with a few digits or symbols added'
  }
  if (!weakAffix(affix)) return null
  const readings = unleet(core)
  if (/[0-9]/.test(affix) && readings.some((r) => SEASONS_AND_MONTHS.has(r))) return 'it is a season or a month with a year or number added'
  if ([...core].length >= 4 && readings.some((r) => COMMON_PASSWORDS.has(r))) return 'it is a common password with a few characters substituted or added'
  return null
}

// --- Breach range API ----------------------------------------------------------------------------------------

async function sha1Hex(s: string): Promise<string> {
  return Buffer.from(await crypto.subtle.digest('SHA-1', new TextEncoder().encode(s))).toString('hex').toUpperCase()
}

/** How often the range API has seen this password; null when it could not be asked (with why, for the log). */
export async function breachCount(password: string, o: PolicyOptions['breachCheck']): Promise<{ count: number } | { error: string }> {
  const hash = await sha1Hex(password)
  const prefix = hash.slice(0, 5)
  const suffix = hash.slice(5)
  try {
    const res = await fetch(`${o.url.replace(/\/$/, '')}/${prefix}`, { headers: { 'add-padding': 'true' }, signal: AbortSignal.timeout(o.timeoutMs) })
    if (!res.ok) return { error: `status ${res.status}` }
    for (const line of (await res.text()).split('\n')) {
      const [s, n] = line.trim().split(':')
      if (s?.toUpperCase() === suffix) return { count: Number(n?.replaceAll(',', '')) || 1 }
    }
    return { count: 0 }
  } catch (e) {
    return { error: e instanceof Error ? e.name : 'unknown error' }
  }
}

/** The policy of one plugin instance: holds the range API's cool-down after a failure. */
export class PasswordPolicy {
  #skipUntil = 0

  constructor(
    private readonly o: PolicyOptions,
    private readonly log?: Logger,
  ) {}

  /** The reasons this password is refused (empty when it is acceptable). */
  async check(password: string, identifiers: string[]): Promise<UiText[]> {
    const o = this.o
    const length = [...password].length
    if (length < o.minLength) return [messages.minLength(o.minLength, length)]
    if (length > o.maxLength) return [messages.maxLength(o.maxLength, length)]
    if (o.identifierSimilarityCheck && identifiers.some((id) => tooSimilar(password, id))) return [messages.tooSimilar()]
    if (COMMON_PASSWORDS.has(password.toLowerCase())) return [messages.breached()]
    const reason = weakness(password)
    if (reason) return [messages.policy(reason)]
    if (o.breachCheck.enabled) {
      const n = await this.#breaches(password)
      if (n === null && !o.breachCheck.failOpen) return [messages.policy('the password could not be checked against known data breaches, please try again later')]
      if (n !== null && n > o.breachCheck.maxBreaches) return [messages.breached()]
    }
    return []
  }

  async #breaches(password: string): Promise<number | null> {
    const o = this.o.breachCheck
    if (Date.now() < this.#skipUntil) return null
    const r = await breachCount(password, o)
    if ('count' in r) return r.count
    this.#skipUntil = Date.now() + o.cooldownSeconds * 1000
    // Never the password or its hash (not even the 5-hex prefix): only where and why.
    this.log?.warn('password breach check failed; skipped until the cool-down ends', {
      'tessera.reason_id': 'breach_check_unavailable',
      url: o.url,
      error: r.error,
      fail_open: o.failOpen,
      cooldown_seconds: o.cooldownSeconds,
    })
    return null
  }
}

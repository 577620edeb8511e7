/**
 * Generated client secrets are pasted into command lines (`tessera token client --client-secret <secret>`, curl -u):
 * one that starts with "-" reads as an option there (the CLI answered a usage error, exit 2, to 1 in 64 of the
 * secrets it had just printed — CI hit it). A generated secret never starts with "-", and keeps its 256 bits.
 */
import { describe, expect, it } from 'bun:test'
import { Keyring } from 'tessera'
import { Secrets } from './clients.ts'

describe('generated client secrets', () => {
  it('never start with "-" (it would read as an option on a command line), and stay 43 url-safe characters', () => {
    const secrets = new Secrets(new Keyring(['a-very-long-secret-value-for-tests']), { minSecretLength: 6, fastHashMinLength: 32 })
    const made = Array.from({ length: 5000 }, () => secrets.generate())
    expect(made.filter((s) => s.startsWith('-'))).toEqual([])
    for (const s of made) expect(s).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{42}$/)
    expect(new Set(made).size).toBe(made.length)
  })
})

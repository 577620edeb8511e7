/**
 * The `password` credential method (Kratos' `password` strategy): login,
 * registration and admin import, through the core's credential-method contract
 * (`CredentialMethod` from `tessera`) alone. It registers in the core's
 * `credentialMethods` registry; the identity plugin's flow engine finds it by id.
 *
 * - Identifiers: the traits the identity schema marks
 *   `"ory.sh/kratos": { "credentials": { "password": { "identifier": true } } }`
 *   (the engine derives and normalises them; e-mail addresses lower-cased).
 * - Stored config: `{ hashed_password }` (validated by the engine against
 *   PasswordConfig before it is stored); `include_credential=password` shows the
 *   hash, as Kratos does.
 * - Import: `credentials.password.config` is `{ password }` or `{ hashed_password }`.
 *
 * - Hashing: Bun.password, argon2id by default (bcrypt available); legacy
 *   imported hashes (bcrypt, argon2i, PBKDF2, scrypt, salted SHA-2) are verified
 *   and re-hashed with the configured hasher after the first successful login.
 * - Policy: NIST SP 800-63B (see policy.ts).
 * - Enumeration: an unknown identifier is verified against a dummy hash and
 *   answers exactly like a wrong password.
 * - Throttling (OWASP Authentication Cheat Sheet): failed logins are counted per
 *   account, per client address and per account from one address, in the
 *   database so the limits hold across instances. The account's failures only
 *   delay its logins (progressively); 429 with Retry-After is for an address's
 *   excess alone, so an attacker cannot lock the owner out from elsewhere.
 */
import * as v from 'valibot'
import {
  BadRequestError,
  type CredentialMethod,
  type FlowKind,
  type FlowMethodContext,
  type Logger,
  type LoginOutcome,
  type RegistrationOutcome,
  type SettingsOutcome,
  type PeriodicJob,
  type ScopedDb,
  type Storage,
  type SelfServiceFlow,
  TooManyRequestsError,
  type UiText,
  definePlugin,
  periodic,
  sql,
  inputNode,
  countInWindow,
  sweepTenants,
} from 'tessera'
import { type HasherOptions, hashPassword, isCurrent, isKnownFormat, verifyPassword } from './hash.ts'
import { PasswordPolicy, messages } from './policy.ts'

const d = v.description
const Int = (min: number) => v.pipe(v.number(), v.integer(), v.minValue(min))

export const PasswordOptions = v.object({
  hasher: v.optional(
    v.object({
      algorithm: v.optional(v.pipe(v.picklist(['argon2id', 'bcrypt']), d('argon2id (default) or bcrypt.')), 'argon2id'),
      memoryCost: v.optional(v.pipe(Int(8), d("argon2id memory in KiB (default 131072 = 128 MiB, Kratos' default).")), 131072),
      timeCost: v.optional(v.pipe(Int(1), d('argon2id iterations (default 1).')), 1),
      bcryptCost: v.optional(v.pipe(Int(4), v.maxValue(31), d('bcrypt cost (default 12).')), 12),
    }),
    {},
  ),
  minLength: v.optional(v.pipe(Int(6), d('Minimum length in characters (NIST: 8).')), 8),
  maxLength: v.optional(v.pipe(Int(64), d('Maximum length in characters; at least 64 (NIST). No truncation below it.')), 4096),
  identifierSimilarityCheck: v.optional(v.pipe(v.boolean(), d('Reject passwords too similar to the identifier.')), true),
  breachCheck: v.optional(
    v.object({
      enabled: v.optional(
        v.pipe(
          v.boolean(),
          d('Ask a k-anonymity range API about every new password (default false: offline; the built-in list of common breached passwords is always checked).'),
        ),
        false,
      ),
      url: v.optional(v.pipe(v.string(), v.url(), d('A k-anonymity range API (HIBP-compatible): GET <url>/<5 hex of SHA-1>.')), 'https://api.pwnedpasswords.com/range'),
      failOpen: v.optional(v.pipe(v.boolean(), d('Accept the password when the range API cannot be reached (true) or refuse it (false).')), true),
      timeoutMs: v.optional(v.pipe(Int(100), d('How long to wait for the range API (default 1000).')), 1000),
      maxBreaches: v.optional(v.pipe(Int(0), d('Refuse passwords seen more often than this.')), 0),
      cooldownSeconds: v.optional(v.pipe(Int(0), d('After the range API failed (logged as a warning), skip it for this long, as if unreachable (default 60).')), 60),
    }),
    {},
  ),
  rateLimit: v.optional(
    v.object({
      enabled: v.optional(v.boolean(), true),
      perIdentifier: v.optional(
        v.pipe(Int(1), d('Failed logins for one identifier from one client address per window; past it that address gets 429 for that identifier (other addresses are only delayed).')),
        10,
      ),
      perIp: v.optional(v.pipe(Int(1), d('Failed logins from one client address per window, whatever the identifier; past it that address gets 429.')), 100),
      windowSeconds: v.optional(v.pipe(Int(1), d('The counting window (fixed windows).')), 300),
      delayAfter: v.optional(v.pipe(Int(0), d('Failed logins of an identifier (from any address) in the window after which its logins are delayed.')), 5),
      delayMs: v.optional(v.pipe(Int(0), d('The first delay; each further failure doubles it.')), 250),
      maxDelayMs: v.optional(v.pipe(Int(0), d('The longest delay.')), 5000),
      sweepIntervalSeconds: v.optional(v.pipe(Int(1), d('Seconds between sweeps that delete counters of windows already over (bounded batches, per tenant).')), 300),
    }),
    {},
  ),
})
export type PasswordOptions = v.InferInput<typeof PasswordOptions>
type Options = v.InferOutput<typeof PasswordOptions>

/** What the identity plugin's flow engine passes: the core's contract. */
type MethodContext = FlowMethodContext

/** The stored config of a password credential. */
export const PasswordConfig = v.object({
  hashed_password: v.pipe(v.string(), v.minLength(1)),
  use_password_migration_hook: v.optional(v.boolean()),
})

/** `credentials.password.config` in an admin import (Kratos): a cleartext `password` or a `hashed_password` in a known format. */
export const PasswordImport = v.object({
  password: v.optional(v.string()),
  hashed_password: v.optional(v.string()),
  use_password_migration_hook: v.optional(v.boolean()),
})

const invalidCredentials = (): LoginOutcome => ({
  kind: 'invalid',
  messages: [{ id: 4000006, text: 'The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number.', type: 'error' }],
})

const label = (id: number, text: string): UiText => ({ id, text, type: 'info' })

/**
 * Login throttling (OWASP Authentication Cheat Sheet: progressive delays per account and per client address,
 * never an outright lock-out of the correct password from a new address). Three counters of failed logins per
 * fixed window, kept in the database so they hold across instances:
 *
 * - per client address (`ip:`): past `perIp`, that address gets 429 with Retry-After, whatever the identifier;
 * - per identifier from one address (`pair:`): past `perIdentifier`, that address gets 429 for that identifier.
 *   An address that has not failed for an identifier is never locked out of it;
 * - per identifier (`id:`), from anywhere: never a 429, only a delay before the password is verified, growing
 *   with the failures (`delayMs`, doubled each failure past `delayAfter`, at most `maxDelayMs`), so a
 *   distributed guesser is slowed while the owner, elsewhere, still gets in. The delay comes before the
 *   verification, whatever the password, so it says nothing about it, and it is the same for unknown
 *   identifiers (no enumeration).
 *
 * Atomic: an attempt first takes a slot on each counter with one INSERT … ON CONFLICT … DO UPDATE … RETURNING
 * count (one statement, the same text on SQLite and PostgreSQL) and only then is decided, so N parallel attempts
 * get N distinct counts: at most the limit of them pass, and each gets its own delay (Kratos #4251). A refused
 * attempt gives its slots back (it was never tried), and so does a successful login (the counters count
 * failures). Without a known client address (`ctx.ip` null) there is no per-address counter and the pair counter
 * is shared by every unknown address.
 */
export class RateLimiter {
  constructor(private readonly o: Options['rateLimit']) {}

  private window(now: number): number {
    return now - (now % (this.o.windowSeconds * 1000))
  }

  /** The delay of an attempt that comes after `failures` failures of its identifier in the window. */
  delayFor(failures: number): number {
    if (failures < this.o.delayAfter || this.o.delayMs === 0) return 0
    return Math.min(this.o.maxDelayMs, this.o.delayMs * 2 ** Math.min(failures - this.o.delayAfter, 30))
  }

  private async take(db: ScopedDb, key: string, windowStart: number): Promise<number> {
    return countInWindow(db, 'password_login_attempts', 'key', key, windowStart)
  }

  /**
   * Take one attempt on every counter, atomically, then wait the identifier's delay. Throws 429 (with
   * Retry-After, the slots given back) when the client address is over a limit; otherwise returns a release
   * that gives the slots back (call it on success).
   */
  async acquire(db: ScopedDb, identifier: string, ip: string | null): Promise<() => Promise<void>> {
    if (!this.o.enabled) return async () => {}
    const now = Date.now()
    const windowStart = this.window(now)
    const taken: string[] = []
    const release = async () => {
      for (const key of taken) await this.giveBack(db, key, windowStart)
    }
    const limited: { key: string; max: number }[] = [{ key: `pair:${JSON.stringify([identifier, ip ?? ''])}`, max: this.o.perIdentifier }]
    if (ip) limited.push({ key: `ip:${ip}`, max: this.o.perIp })
    for (const k of limited) {
      const count = await this.take(db, k.key, windowStart)
      taken.push(k.key)
      if (count > k.max) {
        await release()
        throw new TooManyRequestsError((windowStart + this.o.windowSeconds * 1000 - now) / 1000, 'Too many failed login attempts from this address, try again later.')
      }
    }
    const key = `id:${identifier}`
    const count = await this.take(db, key, windowStart)
    taken.push(key)
    const delay = this.delayFor(count - 1)
    if (delay > 0) await Bun.sleep(delay)
    return release
  }

  private async giveBack(db: ScopedDb, key: string, windowStart: number): Promise<void> {
    await db.exec(sql`UPDATE password_login_attempts SET count = count - 1 WHERE nid = ${db.nid} AND key = ${key} AND window_start = ${windowStart} AND count > 0`)
  }

  /**
   * Delete the counters of windows already over (a new attempt would reset them anyway), tenant by tenant:
   * at most `batchSize` rows per statement and `maxBatches` statements per tenant. Returns how many.
   */
  async sweep(storage: Storage, now = Date.now(), batchSize = 500, maxBatches = 20): Promise<number> {
    const before = this.window(now)
    return sweepTenants(storage, 'password_login_attempts', 'key', sql`window_start < ${before}`, batchSize, maxBatches)
  }
}

function passwordMethod(o: Options, log?: Logger): CredentialMethod<MethodContext> {
  const hasher: HasherOptions = o.hasher
  const policy = new PasswordPolicy(o, log)
  const limiter = new RateLimiter(o.rateLimit)
  // Verified against when the identifier is unknown, so both paths cost one hash verification.
  const dummy = hashPassword(crypto.randomUUID(), hasher)

  const passwordOf = (body: Record<string, unknown>) => (typeof body.password === 'string' ? body.password : '')

  return {
    id: 'password',
    factor: 'first',
    aal: 'aal1',
    // Identifiers: the default rule (`credentials.password.identifier: true`) and normalisation.
    credential: {
      config: PasswordConfig,
      reveal: ['hashed_password'],
      import: {
        input: PasswordImport,
        async toCredential(input: v.InferOutput<typeof PasswordImport>) {
          if (input.hashed_password) {
            if (!isKnownFormat(input.hashed_password)) throw new BadRequestError('The request was malformed or contained invalid parameters', { reason: 'unsupported hashed_password format' })
            return { config: { hashed_password: input.hashed_password } }
          }
          if (!input.password) return null
          return { config: { hashed_password: await hashPassword(input.password, hasher) } }
        },
      },
    },
    login: {
      populate(flow: SelfServiceFlow, ctx) {
        // The identifier is shared with other first-factor methods (Kratos' `default` group): added once.
        if (!flow.ui.nodes.some((n) => (n.attributes as { name?: string }).name === 'identifier')) flow.ui.nodes.push(inputNode('default', 'identifier', 'text', { value: '', required: true, autocomplete: 'username' }, ctx.identifierLabel))
        flow.ui.nodes.push(
          inputNode('password', 'password', 'password', { required: true, autocomplete: 'current-password' }, label(1070001, 'Password')),
          inputNode('password', 'method', 'submit', { value: 'password' }, label(1010001, 'Sign in')),
        )
      },
      async submit(_flow, body, ctx): Promise<LoginOutcome> {
        const raw = typeof body.identifier === 'string' ? body.identifier : ''
        const password = passwordOf(body)
        const nodeMessages: Record<string, UiText[]> = {}
        if (!raw) nodeMessages.identifier = [{ id: 4000002, text: 'Property identifier is missing.', type: 'error', context: { property: 'identifier' } }]
        if (!password) nodeMessages.password = [messages.required()]
        if (Object.keys(nodeMessages).length) return { kind: 'invalid', nodeMessages }
        const identifier = ctx.credentials.normalise(raw)
        // Takes the attempt first (atomic) and waits the identifier's delay; a failure keeps it, a success gives it back.
        const release = await limiter.acquire(ctx.db, identifier, ctx.ip)
        // Longer than any password we accept: refuse without hashing megabytes (same answer as a wrong password).
        if (password.length > o.maxLength * 4) return invalidCredentials()
        const cred = await ctx.credentials.find('password', identifier)
        const hash = typeof cred?.config.hashed_password === 'string' ? cred.config.hashed_password : await dummy
        const ok = (await verifyPassword(password, hash)) && !!cred
        if (!ok || !cred) return invalidCredentials()
        await release()
        if (!isCurrent(hash, hasher)) await ctx.credentials.updateConfig(cred.identity_id, 'password', { ...cred.config, hashed_password: await hashPassword(password, hasher) })
        return { kind: 'success', identityId: cred.identity_id, aal: 'aal1' }
      },
    },
    registration: {
      populate(flow: SelfServiceFlow) {
        flow.ui.nodes.push(
          inputNode('password', 'password', 'password', { required: true, autocomplete: 'new-password' }, label(1070001, 'Password')),
          inputNode('password', 'method', 'submit', { value: 'password' }, label(1040001, 'Sign up')),
        )
      },
      async submit(_flow, body, ctx): Promise<RegistrationOutcome> {
        const password = passwordOf(body)
        if (!password) return { kind: 'invalid', nodeMessages: { password: [messages.required()] } }
        const identifiers = ctx.registration?.identifiers ?? []
        if (identifiers.length === 0) return { kind: 'invalid', messages: [{ id: 4000001, text: 'No login identifiers found. Are you sure your identity schema marks a trait as password identifier?', type: 'error' }] }
        const problems = await policy.check(password, identifiers)
        if (problems.length) return { kind: 'invalid', nodeMessages: { password: problems } }
        return { kind: 'success', credential: { config: { hashed_password: await hashPassword(password, hasher) } } }
      },
    },
    // Settings (Kratos' password settings strategy): a new password needs a privileged session, and passes the
    // same policy and breach check as at registration, against the identity's current identifiers.
    settings: {
      populate(flow: SelfServiceFlow) {
        flow.ui.nodes.push(
          inputNode('password', 'password', 'password', { required: true, autocomplete: 'new-password' }, label(1070001, 'Password')),
          inputNode('password', 'method', 'submit', { value: 'password' }, label(1070003, 'Save')),
        )
      },
      async submit(_flow, body, ctx): Promise<SettingsOutcome> {
        const password = passwordOf(body)
        if (!password) return { kind: 'invalid', nodeMessages: { password: [messages.required()] } }
        if (!ctx.settings?.privileged) return { kind: 'privileged_required' }
        const problems = await policy.check(password, ctx.settings.identifiers)
        if (problems.length) return { kind: 'invalid', nodeMessages: { password: problems } }
        return { kind: 'success', credential: { config: { hashed_password: await hashPassword(password, hasher) } } }
      },
    },
  }
}

export const password = definePlugin({
  id: 'password',
  description: 'The password credential method: argon2id, NIST policy, breach check, rate limiting',
  options: PasswordOptions,
  dependsOn: ['identity'],
  migrations: [
    {
      id: '0001_init',
      up: `CREATE TABLE password_login_attempts (
  nid TEXT NOT NULL,
  key TEXT NOT NULL,
  window_start BIGINT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (nid, key)
);`,
    },
    {
      // The sweep of counters of windows already over (RateLimiter.sweep) finds its rows per tenant by window.
      id: '0002_window_idx',
      up: `CREATE INDEX password_login_attempts_window_idx ON password_login_attempts (nid, window_start);`,
    },
  ],
  credentialMethods: (ctx) => [passwordMethod(ctx.options, ctx.log)],
  state: (): { sweeper?: PeriodicJob } => ({}),
  onStart(ctx) {
    const o = ctx.options.rateLimit
    if (!o.enabled) return
    const limiter = new RateLimiter(o)
    ctx.state.sweeper = periodic(o.sweepIntervalSeconds * 1000, () => limiter.sweep(ctx.storage), ctx.log, 'rate-limit sweep')
  },
  async onStop(ctx) {
    await ctx.state.sweeper?.stop()
    ctx.state.sweeper = undefined
  },
})

export default password

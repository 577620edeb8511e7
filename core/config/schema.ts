/**
 * The configuration schema (valibot). `schemas/config.schema.json` is generated
 * from it by `bun run gen:schema`; a test fails when that file is stale.
 */
import * as v from 'valibot'
import { LOG_LEVELS } from '../logger.ts'
import { type PluginInstance, isPluginInstance } from '../plugin.ts'
import { MIN_SECRET_LENGTH } from '../secrets.ts'

const Port = v.pipe(
  v.number('expected a port number'),
  v.integer('expected a whole port number'),
  v.minValue(0, 'expected a port number from 0 to 65535 (0 picks a free port)'),
  v.maxValue(65535, 'expected a port number from 0 to 65535'),
)

const BaseUrl = v.pipe(
  v.string('expected a URL string'),
  v.url('expected an absolute URL such as https://auth.example.com/'),
  v.check((s) => /^https?:\/\//.test(s), 'expected an http:// or https:// URL'),
)

const Host = v.pipe(v.string('expected a host name or IP address'), v.minLength(1, 'expected a host name or IP address'))

const Secret = v.pipe(
  v.string('expected a secret string'),
  v.minLength(MIN_SECRET_LENGTH, `expected a secret of at least ${MIN_SECRET_LENGTH} characters`),
)

export const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const TenantId = v.pipe(
  v.string('expected a tenant id'),
  v.regex(TENANT_ID, 'expected a tenant id of letters, digits, ".", "_" or "-" (at most 64)'),
)

export const PublicListenerSchema = v.strictObject({
  /** Interface to bind. */
  host: v.optional(Host, '0.0.0.0'),
  port: v.optional(Port, 4433),
  /** The URL browsers and apps reach the public API at (behind a proxy, the proxy's URL). */
  baseUrl: v.optional(BaseUrl),
})

export const AdminListenerSchema = v.strictObject({
  /** Interface to bind. Loopback by default: the admin API is not for the internet. */
  host: v.optional(Host, '127.0.0.1'),
  port: v.optional(Port, 4434),
  baseUrl: v.optional(BaseUrl),
  /** Set false to run no admin listener. */
  enabled: v.optional(v.boolean('expected true or false'), true),
})

export const ServeSchema = v.strictObject({
  public: v.optional(PublicListenerSchema, {}),
  admin: v.optional(AdminListenerSchema, {}),
  /** How long in-flight requests may take to finish at shutdown (ms). */
  shutdownTimeout: v.optional(
    v.pipe(v.number('expected milliseconds'), v.integer('expected whole milliseconds'), v.minValue(0), v.maxValue(600_000)),
    10_000,
  ),
  /** Largest request body accepted (bytes). */
  maxRequestBodySize: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1024)), 1024 * 1024),
})

export const SecretsSchema = v.strictObject({
  /** Sign and encrypt tokens and state. First signs, all verify. Env: SECRETS_SYSTEM. */
  system: v.optional(v.array(Secret, 'expected a list of secrets')),
  /** Sign and encrypt cookies. Defaults to `system`. Env: SECRETS_COOKIE. */
  cookie: v.optional(v.array(Secret, 'expected a list of secrets')),
})

export const LogSchema = v.strictObject({
  level: v.optional(v.picklist(LOG_LEVELS, `expected one of ${LOG_LEVELS.join(', ')}`), 'info'),
  format: v.optional(v.picklist(['json', 'text'], 'expected json or text'), 'json'),
})

export type TenantResolver = (request: Request) => string | null | undefined | Promise<string | null | undefined>

export const TenancySchema = v.strictObject({
  /** The tenant of single-tenant installs, and of requests no resolver claims. */
  default: v.optional(TenantId, 'default'),
  /** Tenants by request host (`{"a.example.com": "tenant-a"}`). */
  hosts: v.optional(v.record(v.string(), TenantId, 'expected a map of host name to tenant id')),
  /** Code configs only: a function from request to tenant id. */
  resolve: v.optional(v.custom<TenantResolver>((x) => typeof x === 'function', 'expected a function (request) => tenant id')),
})

const PluginEntry = v.custom<PluginInstance>(
  isPluginInstance,
  'expected a plugin, such as identity() in a code config or { "use": "identity" } in a JSON/YAML config',
)

export const ConfigSchema = v.strictObject({
  /** Development mode: ephemeral secrets when none are set, text logs friendly. Never in production. */
  dev: v.optional(v.boolean('expected true or false'), false),
  /** The database. `sqlite://path.sqlite`, `sqlite::memory:` or `postgres://…`. Env: DSN. */
  dsn: v.optional(v.pipe(v.string('expected a DSN string'), v.minLength(1, 'expected a DSN')), 'sqlite://tessera.sqlite'),
  serve: v.optional(ServeSchema, {}),
  secrets: v.optional(SecretsSchema, {}),
  log: v.optional(LogSchema, {}),
  migrations: v.optional(
    v.strictObject({
      /** Apply pending migrations when `serve` starts. Honoured only on SQLite; PostgreSQL is migrated with `tessera migrate up`. */
      auto: v.optional(v.boolean('expected true or false'), false),
    }),
    {},
  ),
  tenancy: v.optional(TenancySchema, {}),
  /** The plugins, in any order: the kernel orders them by dependsOn. */
  plugins: v.optional(v.array(PluginEntry, 'expected a list of plugins'), []),
})

/** What a user writes (defaults optional). */
export type TesseraConfig = v.InferInput<typeof ConfigSchema>
/** After validation, with defaults. */
export type ValidatedConfig = v.InferOutput<typeof ConfigSchema>

/** After validation and secret resolution. */
export interface ResolvedConfig extends Omit<ValidatedConfig, 'secrets'> {
  secrets: { system: string[]; cookie: string[]; ephemeral: boolean }
  /** Where the config came from (a path, or `inline`). */
  source: string
}

/** Identity function that gives a code config its types. */
export function defineConfig(config: TesseraConfig): TesseraConfig {
  return config
}

/**
 * The configuration schema (valibot). `schemas/config.schema.json` is generated
 * from it by `bun run gen:schema`; a test fails when that file is stale.
 */
import * as v from 'valibot'
import { cidrProblem } from '../net.ts'
import { LOG_LEVELS } from '../logger.ts'
import { MIN_SECRET_LENGTH } from '../secrets.ts'
import { type PluginEntry as PluginEntryType, isPluginEntry } from '../types.ts'

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

const d = v.description

const ReusePort = (listener: string) =>
  v.optional(
    v.pipe(
      v.boolean('expected true or false'),
      d(
        `Share the ${listener} listener's port with other processes (SO_REUSEPORT), e.g. several Tessera processes behind one port. Off by default: a port already in use stops the start with "port N is already in use".`,
      ),
    ),
    false,
  )

/** An origin (`https://app.example.com`), a wildcard of subdomains (`https://*.example.com`) or `*`. */
const CorsOrigin = v.pipe(
  v.string('expected an origin such as https://app.example.com'),
  v.check(
    (s) => s === '*' || /^https?:\/\/(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$/.test(s),
    'expected an origin (scheme://host[:port], no path), a wildcard of subdomains such as https://*.example.com, or *',
  ),
)

export const CorsSchema = v.pipe(
  v.strictObject({
    enabled: v.optional(v.pipe(v.boolean('expected true or false'), d('Answer CORS preflights and add CORS headers for the allowed origins (Kratos\' serve.public.cors).')), false),
    allowedOrigins: v.optional(v.pipe(v.array(CorsOrigin), d('Origins allowed to call the public API from a browser: exact origins, https://*.example.com for subdomains, or * (only without allowCredentials).')), []),
    allowedMethods: v.optional(v.pipe(v.array(v.pipe(v.string(), v.regex(/^[A-Z]+$/, 'expected an HTTP method in capitals'))), d('Methods a preflight allows.')), ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']),
    allowedHeaders: v.optional(
      v.pipe(v.array(v.pipe(v.string(), v.regex(/^[A-Za-z0-9-]+$/, 'expected a header name'))), d('Request headers a preflight allows.')),
      ['Authorization', 'Content-Type', 'Accept', 'X-Session-Token', 'X-CSRF-Token', 'X-Request-Id', 'Cookie'],
    ),
    exposedHeaders: v.optional(v.pipe(v.array(v.pipe(v.string(), v.regex(/^[A-Za-z0-9-]+$/, 'expected a header name'))), d('Response headers the page may read.')), ['Content-Type', 'X-Request-Id', 'Link', 'X-Total-Count']),
    allowCredentials: v.optional(v.pipe(v.boolean('expected true or false'), d('Let the page send cookies (the session and CSRF cookies of browser flows).')), true),
    maxAge: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), d('How long a browser may cache a preflight, in seconds (0: not sent).')), 0),
  }),
  v.forward(
    v.check((c) => !(c.allowCredentials && c.allowedOrigins.includes('*')), 'allowedOrigins "*" with allowCredentials would let every site use the visitor\'s session: name the origins, or set allowCredentials: false'),
    ['allowedOrigins'],
  ),
  v.forward(v.check((c) => !c.enabled || c.allowedOrigins.length > 0, 'CORS is enabled but no origin is allowed: list them, e.g. allowedOrigins: [https://app.example.com]'), ['allowedOrigins']),
)
export type CorsConfig = v.InferOutput<typeof CorsSchema>

export const PublicListenerSchema = v.strictObject({
  host: v.optional(v.pipe(Host, d('Interface the public listener binds. Env: SERVE_PUBLIC_HOST.')), '0.0.0.0'),
  port: v.optional(v.pipe(Port, d('Port of the public listener (browser- and app-facing APIs). Env: SERVE_PUBLIC_PORT.')), 4433),
  baseUrl: v.optional(
    v.pipe(BaseUrl, d("The URL browsers and apps reach the public API at (behind a proxy, the proxy's URL). Env: SERVE_PUBLIC_BASE_URL.")),
  ),
  reusePort: ReusePort('public'),
  cors: v.optional(v.pipe(CorsSchema, d('CORS for browser apps on other origins (a UI of your own): off by default.'))),
})

export const AdminListenerSchema = v.strictObject({
  host: v.optional(
    v.pipe(Host, d('Interface the admin listener binds. Loopback by default: the admin API is not for the internet. Env: SERVE_ADMIN_HOST.')),
    '127.0.0.1',
  ),
  port: v.optional(v.pipe(Port, d('Port of the admin listener (admin APIs, internal checks, metrics). Env: SERVE_ADMIN_PORT.')), 4434),
  baseUrl: v.optional(v.pipe(BaseUrl, d('The URL the admin API is reached at. Env: SERVE_ADMIN_BASE_URL.'))),
  enabled: v.optional(v.pipe(v.boolean('expected true or false'), d('Set false to run no admin listener.')), true),
  reusePort: ReusePort('admin'),
})

export const ServeSchema = v.strictObject({
  public: v.optional(PublicListenerSchema, {}),
  admin: v.optional(AdminListenerSchema, {}),
  shutdownTimeout: v.optional(
    v.pipe(
      v.number('expected milliseconds'),
      v.integer('expected whole milliseconds'),
      v.minValue(0, 'expected 0 or more milliseconds'),
      v.maxValue(600_000, 'expected at most 600000 milliseconds'),
      d('How long in-flight requests may take to finish at shutdown (milliseconds).'),
    ),
    10_000,
  ),
  maxRequestBodySize: v.optional(
    v.pipe(v.number('expected bytes'), v.integer('expected whole bytes'), v.minValue(1024, 'expected at least 1024 bytes'), d('Largest request body accepted (bytes).')),
    1024 * 1024,
  ),
  trustedProxies: v.optional(
    v.pipe(
      v.array(v.pipe(v.string('expected an IP address or CIDR range'), v.check((c) => cidrProblem(c) === null, 'expected an IP address or CIDR range (e.g. 10.0.0.0/8, ::1/128)'))),
      d('Proxies (IP addresses or CIDR ranges) whose X-Forwarded-For is believed: a request from one of them is attributed to the right-most untrusted X-Forwarded-For hop (RequestContext.clientAddress, what rate limiters and proxy error handlers key on), and the proxy plugin honours their X-Forwarded-* headers. Empty: the socket peer, always. Env: SERVE_TRUSTED_PROXIES (comma-separated).'),
    ),
    [],
  ),
})

export const SecretsSchema = v.strictObject({
  system: v.optional(
    v.pipe(
      v.array(Secret, 'expected a list of secrets'),
      d('Secrets that sign and encrypt tokens and state: the first signs/encrypts, all verify/decrypt (rotation). Required outside dev mode. Env: SECRETS_SYSTEM (comma-separated).'),
    ),
  ),
  cookie: v.optional(
    v.pipe(v.array(Secret, 'expected a list of secrets'), d('Secrets for cookies; default: secrets.system. Env: SECRETS_COOKIE (comma-separated).')),
  ),
})

export const LogSchema = v.strictObject({
  level: v.optional(v.pipe(v.picklist(LOG_LEVELS, `expected one of ${LOG_LEVELS.join(', ')}`), d('Least severe level written. Env: LOG_LEVEL.')), 'info'),
  format: v.optional(
    v.pipe(v.picklist(['json', 'text'], 'expected json or text'), d('json: one JSON object per line; text: for humans. Env: LOG_FORMAT.')),
    'json',
  ),
})

export type TenantResolver = (request: Request) => string | null | undefined | Promise<string | null | undefined>

export const TenancySchema = v.strictObject({
  default: v.optional(v.pipe(TenantId, d('The tenant of single-tenant installs, and of requests no resolver claims.')), 'default'),
  hosts: v.optional(
    v.pipe(v.record(v.string(), TenantId, 'expected a map of host name to tenant id'), d('Tenants by request host name, e.g. {"a.example.com": "tenant-a"}.')),
  ),
  resolve: v.optional(
    v.pipe(
      v.custom<TenantResolver>((x) => typeof x === 'function', 'expected a function (request) => tenant id'),
      d('Code configs only: a function from the request to a tenant id (null for the default).'),
    ),
  ),
})

const PluginEntry = v.custom<PluginEntryType>(
  isPluginEntry,
  'expected a plugin, such as identity() in a code config or { "use": "identity" } in a JSON/YAML config',
)

export const ConfigSchema = v.strictObject({
  dev: v.optional(
    v.pipe(v.boolean('expected true or false'), d('Development mode: when no secret is set, a generated one (with a warning), kept beside an SQLite database file (<file>.dev-secret) so that restarts and CLI commands share it. Never in production. Env: TESSERA_DEV.')),
    false,
  ),
  dsn: v.optional(
    v.pipe(
      v.string('expected a DSN string'),
      v.minLength(1, 'expected a DSN'),
      d('The database: sqlite://path.sqlite (embedded default), sqlite::memory:, or postgres://user:password@host:5432/db?max_conns=20&search_path=schema. Env: DSN.'),
    ),
    'sqlite://tessera.sqlite',
  ),
  serve: v.optional(ServeSchema, {}),
  secrets: v.optional(SecretsSchema, {}),
  log: v.optional(LogSchema, {}),
  migrations: v.optional(
    v.strictObject({
      auto: v.optional(
        v.pipe(
          v.boolean('expected true or false'),
          d('Apply pending migrations when serve starts. Honoured on SQLite only: PostgreSQL is migrated with `tessera migrate up` (or `serve --migrate`).'),
        ),
        false,
      ),
    }),
    {},
  ),
  tenancy: v.optional(TenancySchema, {}),
  plugins: v.optional(
    v.pipe(v.array(PluginEntry, 'expected a list of plugins'), d('The plugins, in any order: the kernel orders them by dependsOn.')),
    [],
  ),
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

/**
 * Loading configuration: a code file (`tessera.config.ts` with defineConfig), or
 * a JSON / YAML file with the same schema; then 12-factor environment overrides;
 * then validation; then secret resolution.
 *
 * Every problem names its path (`serve.public.port: expected a port number …`,
 * or the environment variable it came from) and all problems are reported at once.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, extname, isAbsolute, relative, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import * as v from 'valibot'
import YAML from 'yaml'
import { ConfigError } from '../errors.ts'
import { type Logger, isSensitiveKey } from '../logger.ts'
import { type AnyPluginFactory, isPluginFactory, isPluginInstance } from '../plugin.ts'
import { randomToken } from '../secrets.ts'
import { formatIssues, formatPath } from './issues.ts'
import { validatePluginOptions } from './plugin-options.ts'
import { ConfigSchema, type ResolvedConfig, type TesseraConfig, type ValidatedConfig } from './schema.ts'

/**
 * Plugins by name, for JSON/YAML configs (`{ "use": "identity" }`): each a factory, or a function that loads it
 * (so that a process imports only the plugins its config names; `catalogFactory` tells them apart).
 */
export type PluginCatalog = Record<string, AnyPluginFactory | (() => Promise<AnyPluginFactory>)>

/** The factory of a catalog entry, loading it when the entry is a loader. */
export function catalogFactory(entry: PluginCatalog[string]): Promise<AnyPluginFactory> {
  return isPluginFactory(entry) ? Promise.resolve(entry) : entry()
}

export const CONFIG_FILE_NAMES = ['tessera.config.ts', 'tessera.config.js', 'tessera.config.json', 'tessera.config.yaml', 'tessera.config.yml']

/** The environment variables Tessera reads, each with the config path it sets. */
export const ENV_OVERRIDES: { name: string; path: string[]; kind: 'string' | 'port' | 'list' | 'bool'; doc: string }[] = [
  { name: 'DSN', path: ['dsn'], kind: 'string', doc: 'Database: sqlite://file.sqlite, sqlite::memory: or postgres://user:pass@host:5432/db' },
  { name: 'SECRETS_SYSTEM', path: ['secrets', 'system'], kind: 'list', doc: 'Comma-separated secrets (≥16 chars): the first signs/encrypts, all verify/decrypt' },
  { name: 'SECRETS_COOKIE', path: ['secrets', 'cookie'], kind: 'list', doc: 'Comma-separated cookie secrets; default: SECRETS_SYSTEM' },
  { name: 'SERVE_PUBLIC_HOST', path: ['serve', 'public', 'host'], kind: 'string', doc: 'Public listener interface (default 0.0.0.0)' },
  { name: 'SERVE_PUBLIC_PORT', path: ['serve', 'public', 'port'], kind: 'port', doc: 'Public listener port (default 4433)' },
  { name: 'SERVE_PUBLIC_BASE_URL', path: ['serve', 'public', 'baseUrl'], kind: 'string', doc: 'URL the public API is reached at' },
  { name: 'SERVE_ADMIN_HOST', path: ['serve', 'admin', 'host'], kind: 'string', doc: 'Admin listener interface (default 127.0.0.1)' },
  { name: 'SERVE_ADMIN_PORT', path: ['serve', 'admin', 'port'], kind: 'port', doc: 'Admin listener port (default 4434)' },
  { name: 'SERVE_ADMIN_BASE_URL', path: ['serve', 'admin', 'baseUrl'], kind: 'string', doc: 'URL the admin API is reached at' },
  { name: 'SERVE_TRUSTED_PROXIES', path: ['serve', 'trustedProxies'], kind: 'list', doc: 'Comma-separated IP addresses or CIDR ranges whose X-Forwarded-For is believed' },
  { name: 'LOG_LEVEL', path: ['log', 'level'], kind: 'string', doc: 'debug, info, warn, error or fatal (default info)' },
  { name: 'LOG_FORMAT', path: ['log', 'format'], kind: 'string', doc: 'json or text (default json)' },
  { name: 'TESSERA_DEV', path: ['dev'], kind: 'bool', doc: 'true for development mode (generated secrets when none are set)' },
]

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj
  for (const key of path.slice(0, -1)) {
    const next = cur[key]
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[key] = {}
    cur = cur[key] as Record<string, unknown>
  }
  cur[path[path.length - 1]!] = value
}

/** Apply environment overrides to a raw config (copied). Returns which paths came from which variable. */
export function applyEnv(
  raw: Record<string, unknown>,
  env: Record<string, string | undefined>,
): { config: Record<string, unknown>; sources: Map<string, string> } {
  const config = structuredCloneConfig(raw)
  const sources = new Map<string, string>()
  for (const o of ENV_OVERRIDES) {
    const value = env[o.name]
    if (value === undefined || value === '') continue
    let parsed: unknown = value
    if (o.kind === 'port') parsed = /^\d+$/.test(value.trim()) ? Number(value.trim()) : value
    else if (o.kind === 'list') parsed = value.split(',').map((s) => s.trim()).filter(Boolean)
    else if (o.kind === 'bool') parsed = /^(1|true|yes|on)$/i.test(value) ? true : /^(0|false|no|off)$/i.test(value) ? false : value
    setPath(config, o.path, parsed)
    sources.set(formatPath(o.path), o.name)
  }
  return { config, sources }
}

/** Copy plain data, keep plugin instances and functions as they are. */
function structuredCloneConfig(x: Record<string, unknown>): Record<string, unknown> {
  const copy = (val: unknown): unknown => {
    if (Array.isArray(val)) return val.map(copy)
    if (val && typeof val === 'object' && Object.getPrototypeOf(val) === Object.prototype && !isPluginInstance(val)) {
      return Object.fromEntries(Object.entries(val).map(([k, x]) => [k, copy(x)]))
    }
    return val
  }
  return copy(x) as Record<string, unknown>
}

/** Which config file to use: --config, then TESSERA_CONFIG, then tessera.config.* in `cwd`. */
export function resolveConfigPath(explicit: string | undefined, env: Record<string, string | undefined>, cwd: string): string | null {
  const chosen = explicit ?? env.TESSERA_CONFIG
  if (chosen) {
    const abs = isAbsolute(chosen) ? chosen : resolve(cwd, chosen)
    if (!existsSync(abs)) {
      throw new ConfigError([`config file ${chosen} does not exist (from ${explicit ? '--config' : 'TESSERA_CONFIG'})`])
    }
    return abs
  }
  for (const name of CONFIG_FILE_NAMES) {
    const abs = resolve(cwd, name)
    if (existsSync(abs)) return abs
  }
  return null
}

/** A path as the user knows it: relative to the working directory when inside it. */
function displayPath(path: string): string {
  const rel = relative(process.cwd(), path)
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path
}

/** Codes of YAML errors that an unquoted value causes (`dsn: sqlite::memory:`, `x: @y`, `a: b: c`). */
const UNQUOTED = new Set(['BLOCK_AS_IMPLICIT_KEY', 'BAD_SCALAR_START', 'MULTILINE_IMPLICIT_KEY', 'TAB_AS_INDENT', 'UNEXPECTED_TOKEN'])

/** Is line `line` (1-based) inside a mapping whose key is sensitive (`secrets:`, `password:` …)? */
function underSensitiveKey(text: string, line: number): boolean {
  const lines = text.split(/\r?\n/)
  let indent = /^\s*/.exec(lines[line - 1] ?? '')![0].length
  for (let i = line - 2; i >= 0 && indent > 0; i--) {
    const m = /^(\s*)(?:-\s*)?([^:#\s][^:#]*?):/.exec(lines[i]!)
    if (!m || m[1]!.length >= indent) continue
    if (isSensitiveKey(m[2]!)) return true
    indent = m[1]!.length
  }
  return false
}

/** One YAML error as `file line N: could not parse `…` (what); the fix`. */
function yamlProblem(source: string, text: string, e: YAML.YAMLError): string {
  const line = e.linePos?.[0]?.line
  const src = line ? (text.split(/\r?\n/)[line - 1] ?? '').trim() : ''
  const what = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')
  const kv = /^(-\s*)?([^:#'"\s][^:#]*?):\s+(\S.*)$/.exec(src)
  const secret = kv ? isSensitiveKey(kv[2]!) || underSensitiveKey(text, line!) : /secret|password|token|key/i.test(src)
  const shown = src && !secret ? ` \`${src.length > 80 ? `${src.slice(0, 77)}...` : src}\`` : ''
  let fix = ''
  if (UNQUOTED.has(e.code)) {
    const example = kv && !secret ? `${kv[2]}: ${JSON.stringify(kv[3])}` : 'dsn: "sqlite::memory:"'
    fix = `; values containing ': ' or starting with a special character (@ \` ! & * % | > { [) must be quoted (e.g. ${example})`
  }
  return `${source}${line ? ` line ${line}` : ''}: could not parse${shown} (${what.charAt(0).toLowerCase()}${what.slice(1)})${fix}`
}

/**
 * Parse a JSON or YAML document (by the source's extension; YAML unless it ends in .json); a ConfigError
 * names the file, the line and the fix. Config files and the proxy's rule files are read with it.
 */
export function parseConfigDocument(text: string, source: string, format: 'json' | 'yaml' = /\.json$/i.test(source) ? 'json' : 'yaml'): unknown {
  const where = isAbsolute(source) ? displayPath(source) : source
  if (format === 'json') {
    try {
      return JSON.parse(text)
    } catch (e) {
      // JSON.parse names no position; YAML (a superset of JSON) does
      const doc = YAML.parseDocument(text, { prettyErrors: true })
      const line = doc.errors[0]?.linePos?.[0]?.line
      const detail = (e as Error).message.replace(/^JSON Parse error: /, '')
      throw new ConfigError([`${where}${line ? ` line ${line}` : ''}: not valid JSON (${detail.charAt(0).toLowerCase()}${detail.slice(1)})`])
    }
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true })
  if (doc.errors.length > 0) throw new ConfigError(doc.errors.map((e) => yamlProblem(where, text, e)))
  return doc.toJS()
}

/** Read a config file into a raw object (plugin references not yet resolved). */
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  const ext = extname(path).toLowerCase()
  if (ext === '.json' || ext === '.yaml' || ext === '.yml') {
    const data = parseConfigDocument(readFileSync(path, 'utf8'), path)
    if (data === null || data === undefined) return {}
    if (typeof data !== 'object' || Array.isArray(data)) throw new ConfigError([`${displayPath(path)}: expected an object at the top level`])
    return data as Record<string, unknown>
  }
  if (['.ts', '.mts', '.js', '.mjs', '.tsx'].includes(ext)) {
    let mod: Record<string, unknown>
    try {
      mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>
    } catch (e) {
      throw new ConfigError([`${path}: could not be loaded: ${(e as Error).message}`], { cause: e })
    }
    let exported = mod.default ?? mod.config
    if (typeof exported === 'function') exported = await (exported as () => unknown)()
    if (typeof exported !== 'object' || exported === null) {
      throw new ConfigError([`${path}: expected a default export of defineConfig({...})`])
    }
    return exported as Record<string, unknown>
  }
  throw new ConfigError([`${path}: unknown config file type ${ext || '(none)'}; use .ts, .js, .json, .yaml or .yml`])
}

/**
 * Load a plugin module named in a JSON/YAML config: its default export, or its one named export, made with
 * definePlugin. Every failure is one line naming the config path (`plugins[2].module: …`).
 */
async function importPluginModule(spec: string, baseDir: string, at: string): Promise<AnyPluginFactory | string> {
  const abs = isAbsolute(spec) ? spec : resolve(baseDir, spec)
  let file: string
  try {
    file = Bun.resolveSync(abs, baseDir)
  } catch {
    return `${at}: ${spec} does not exist (looked for ${abs})`
  }
  let mod: Record<string, unknown>
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>
  } catch (e) {
    // A syntax error is an AggregateError of Bun BuildMessages, each with a position: report the first.
    const first = e instanceof AggregateError && e.errors.length > 0 ? e.errors[0] : e
    const err = first as { message?: unknown; position?: { line?: number; column?: number } | null }
    const where = err?.position?.line ? ` (line ${err.position.line}, column ${err.position.column ?? 0})` : ''
    const message = String(err?.message ?? e).split('\n')[0]
    return `${at}: cannot load ${spec}: ${message}${where}`
  }
  if (isPluginFactory(mod.default)) return mod.default
  const named = Object.entries(mod).filter(([, x]) => isPluginFactory(x))
  if (named.length === 1) return named[0]![1] as AnyPluginFactory
  if (named.length > 1) return `${at}: ${spec} exports several plugins (${named.map(([k]) => k).join(', ')}); make one the default export`
  return `${at}: ${spec} exports no plugin: export default definePlugin({ ... }) (or a named export of one)`
}

/**
 * Turn `"name"`, `{ "use": "name", "options": {...} }` or `{ "module": "./path.ts", "options": {...} }` entries
 * into plugin instances (`use` with a path, `./x.ts`, is read like `module`). Code configs already hold
 * instances and pass through.
 */
export async function resolvePluginRefs(
  raw: Record<string, unknown>,
  catalog: PluginCatalog,
  baseDir: string,
): Promise<{ config: Record<string, unknown>; problems: string[] }> {
  const plugins = raw.plugins
  if (!Array.isArray(plugins)) return { config: raw, problems: [] }
  const problems: string[] = []
  const out: unknown[] = []
  for (let i = 0; i < plugins.length; i++) {
    const entry = plugins[i]
    if (isPluginInstance(entry)) {
      out.push(entry)
      continue
    }
    if (isPluginFactory(entry)) {
      problems.push(`plugins[${i}]: a plugin factory was given; call it: ${entry.id}()`)
      continue
    }
    let use: unknown
    let module: unknown
    let options: unknown
    if (typeof entry === 'string') use = entry
    else if (entry && typeof entry === 'object' && !Array.isArray(entry)) {
      const { use: u, module: m, options: o, ...rest } = entry as Record<string, unknown>
      use = u
      module = m
      options = o
      const extra = Object.keys(rest)
      if (extra.length) problems.push(`plugins[${i}]: unknown key ${extra.map((k) => JSON.stringify(k)).join(', ')}; expected "use" or "module", and "options"`)
    }
    let factory: AnyPluginFactory | string | undefined
    if (module !== undefined) {
      if (use !== undefined) {
        problems.push(`plugins[${i}]: give either "use" (a first-party plugin) or "module" (a plugin file), not both`)
        continue
      }
      if (typeof module !== 'string' || module.length === 0) {
        problems.push(`plugins[${i}].module: expected the path of a plugin file, relative to the config file`)
        continue
      }
      factory = await importPluginModule(module, baseDir, `plugins[${i}].module`)
    } else if (typeof use !== 'string' || use.length === 0) {
      problems.push(
        `plugins[${i}].use: expected a plugin name (${Object.keys(catalog).join(', ') || 'none installed'}), or "module" with the path of a plugin file`,
      )
      continue
    } else if (use.startsWith('.') || use.startsWith('/')) {
      factory = await importPluginModule(use, baseDir, `plugins[${i}].use`)
    } else {
      const entry = Object.hasOwn(catalog, use) ? catalog[use] : undefined
      factory = entry ? await catalogFactory(entry) : undefined
      if (!factory) {
        problems.push(
          `plugins[${i}].use: unknown plugin "${use}"; first-party plugins are: ${Object.keys(catalog).join(', ') || '(none)'}`,
        )
      }
    }
    if (typeof factory === 'string') problems.push(factory)
    else if (factory) out.push(factory(options))
  }
  return { config: { ...raw, plugins: out }, problems }
}

/** Validate a raw config (after env overrides) and its plugins' options; throws ConfigError naming every problem. */
export function validateConfig(raw: unknown, envSources = new Map<string, string>()): ValidatedConfig {
  const r = v.safeParse(ConfigSchema, raw)
  const problems = r.success ? [] : formatIssues(r.issues, { schema: ConfigSchema, envSources })
  // plugin options in the same pass, so that one run names every problem (the kernel validates them again at boot)
  const plugins = (raw as { plugins?: unknown } | null)?.plugins
  if (Array.isArray(plugins)) problems.push(...validatePluginOptions(plugins).problems)
  if (!r.success || problems.length) throw new ConfigError(problems)
  return r.output
}

export interface ResolveOptions {
  env?: Record<string, string | undefined>
  log?: Logger
  source?: string
}

/** A development secret kept for a database (see `LoadOptions.devSecret`), and where. */
export type KeptSecret = { secret: string; file: string }

/**
 * Secrets: in dev mode, missing secrets become a generated random one (with a loud warning) — `kept`, when the
 * entry point keeps one for the database, else one that lives as long as the process; otherwise a missing system
 * secret refuses to start and names SECRETS_SYSTEM.
 */
export function resolveSecrets(config: ValidatedConfig, log?: Logger, kept?: (dsn: string) => KeptSecret | undefined): ResolvedConfig['secrets'] {
  let system = config.secrets.system ?? []
  let ephemeral = false
  if (system.length === 0) {
    if (!config.dev) {
      throw new ConfigError([
        'secrets.system is not set: set the SECRETS_SYSTEM environment variable to a random string of at least 16 characters ' +
          '(a comma-separated list rotates: the first signs, all verify), e.g. SECRETS_SYSTEM=$(openssl rand -hex 32), or run with dev: true / --dev for local development',
      ])
    }
    const k = kept?.(config.dsn)
    system = [k?.secret ?? randomToken(32)]
    ephemeral = true
    log?.warn(
      k
        ? `!!! DEVELOPMENT MODE: no SECRETS_SYSTEM set, using the development secret kept in ${k.file} (delete it to start afresh). Never run this in production. !!!`
        : '!!! DEVELOPMENT MODE: no SECRETS_SYSTEM set, using an ephemeral secret. Sessions, tokens and cookies will not survive a restart. Never run this in production. !!!',
      { dev: true },
    )
  }
  const cookie = config.secrets.cookie && config.secrets.cookie.length > 0 ? config.secrets.cookie : system
  return { system, cookie, ephemeral }
}

/** Validate an in-memory config (code embedding) with env overrides applied. */
export function resolveConfig(input: TesseraConfig | Record<string, unknown>, opts: ResolveOptions = {}): ResolvedConfig {
  const { config, sources } = applyEnv(input as Record<string, unknown>, opts.env ?? {})
  const validated = validateConfig(config, sources)
  return { ...validated, secrets: resolveSecrets(validated, opts.log), source: opts.source ?? 'inline' }
}

export interface LoadOptions {
  /** --config */
  path?: string
  env?: Record<string, string | undefined>
  cwd?: string
  catalog?: PluginCatalog
  log?: Logger
  /** Force dev mode (--dev). */
  dev?: boolean
  /**
   * Development mode without a secret: the secret kept for the configured database, so that a restart and the
   * CLI's other processes share it (the entry points pass the SQLite driver's `keptDevSecret`).
   */
  devSecret?: (dsn: string) => KeptSecret | undefined
}

/** Find, read, override from env, resolve plugins, validate and resolve secrets. */
export async function loadConfig(opts: LoadOptions = {}): Promise<ResolvedConfig> {
  const env = opts.env ?? process.env
  const cwd = opts.cwd ?? process.cwd()
  const path = resolveConfigPath(opts.path, env, cwd)
  let raw: Record<string, unknown> = path ? await readConfigFile(path) : {}
  if (opts.dev) raw = { ...raw, dev: true }
  const { config: withEnv, sources } = applyEnv(raw, env)
  const { config, problems } = await resolvePluginRefs(withEnv, opts.catalog ?? {}, path ? dirname(path) : cwd)
  let validated: ValidatedConfig
  try {
    validated = validateConfig(config, sources)
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError([...problems, ...e.problems])
    throw e
  }
  if (problems.length) throw new ConfigError(problems)
  return { ...validated, secrets: resolveSecrets(validated, opts.log, opts.devSecret), source: path ?? 'defaults' }
}

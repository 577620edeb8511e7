/**
 * The `tessera` command line: serve | migrate up | migrate status | config check | version | help.
 * Every error ends in one line, `tessera: <reason>`, and a non-zero exit
 * (1 for a failure, 2 for a usage mistake).
 */
import { parseArgs } from 'node:util'
import { ENV_OVERRIDES, type PluginCatalog, catalogFactory, loadConfig } from '../core/config/load.ts'
import type { ResolvedConfig } from '../core/config/schema.ts'
import { ConfigError, TesseraError } from '../core/errors.ts'
import type { AnyPluginFactory, CliCommand } from '../core/plugin.ts'
import { type Listener, buildListenerApp } from '../core/http/app.ts'
import { Kernel } from '../core/kernel/kernel.ts'
import { type Logger, createLogger } from '../core/logger.ts'
import type { Database } from '../core/storage/types.ts'
import { VERSION } from '../core/version.ts'
import { SqliteDatabase, builtinDrivers, keptDevSecret, parsePostgresDsn } from '../drivers/index.ts'
import { serve } from '../server/index.ts'

export interface CliIO {
  out: (s: string) => void
  err: (s: string) => void
  env: Record<string, string | undefined>
  cwd: string
}

class UsageError extends Error {}

const COMMON_OPTIONS = `
Options:
  -c, --config <file>  config file (.ts, .js, .json, .yaml); default: $TESSERA_CONFIG,
                       then tessera.config.{ts,js,json,yaml,yml} in the working directory
      --dev            development mode: ephemeral secrets when none are set
  -h, --help           show help`

const HELP: Record<string, string> = {
  main: `tessera ${VERSION} — identity and access management

Usage: tessera <command> [options]

Commands:
  serve            run the public (4433) and admin (4434) listeners
  migrate up       apply pending database migrations
  migrate status   list migrations and whether they ran
  config check     validate the configuration without starting
  version          print the version
  help [command]   show help for a command
${COMMON_OPTIONS}

Environment overrides:
${ENV_OVERRIDES.map((o) => `  ${o.name.padEnd(22)} ${o.doc}`).join('\n')}
  TESSERA_CONFIG         config file to use`,
  serve: `Usage: tessera serve [--config file] [--dev] [--migrate]

Runs the public listener (serve.public, default 0.0.0.0:4433) and the admin
listener (serve.admin, default 127.0.0.1:4434). SIGTERM or SIGINT stops accepting
connections, lets in-flight requests finish (serve.shutdownTimeout), and exits 0.

      --migrate        apply pending migrations before listening (any database)
${COMMON_OPTIONS}`,
  migrate: `Usage: tessera migrate up|status [--config file]

  up       apply every pending migration; safe to run from several processes at
           once (PostgreSQL advisory lock) and a no-op when nothing is pending
  status   list each plugin's migrations: applied, pending, modified, unknown
      --json           (status) print JSON
${COMMON_OPTIONS}`,
  config: `Usage: tessera config check [--config file]

Validates the configuration and every plugin's options without starting:
each problem names its path and what was expected. Exits 1 when invalid.
${COMMON_OPTIONS}`,
  version: 'Usage: tessera version\n\nPrints the version.',
  help: 'Usage: tessera help [command]',
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        dev: { type: 'boolean' },
        migrate: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify.*$/, ''))
  }
}

function loggerFor(config: ResolvedConfig | null, env: Record<string, string | undefined>): Logger {
  const level = (config?.log.level ?? (env.LOG_LEVEL as Logger['level'] | undefined) ?? 'info') as Logger['level']
  const format = config?.log.format ?? (env.LOG_FORMAT === 'text' ? 'text' : 'json')
  return createLogger({ level: ['debug', 'info', 'warn', 'error', 'fatal'].includes(level) ? level : 'info', format })
}

/**
 * Load the configuration and boot a kernel on it, without listeners. `quiet` shows only errors while loading
 * (commands other than serve need no dev-mode banner); `database` replaces the configured one.
 */
async function bootFor(values: { config?: string; dev?: boolean }, io: CliIO, catalog: PluginCatalog, opts: { quiet?: boolean; database?: Database; log?: Logger } = {}) {
  const loadLog = opts.quiet ? createLogger({ level: 'error' }) : loggerFor(null, io.env)
  const config = await loadConfig({ path: values.config, env: io.env, cwd: io.cwd, catalog, dev: values.dev, log: loadLog, devSecret: keptDevSecret })
  return Kernel.boot(config, { log: opts.log ?? loggerFor(config, io.env), database: opts.database, drivers: builtinDrivers })
}

/** Every entry of `catalog` loaded: for what needs every plugin's definition (plugin commands, the config schema). */
export async function loadCatalog(catalog: PluginCatalog): Promise<Record<string, AnyPluginFactory>> {
  const names = Object.keys(catalog)
  const factories = await Promise.all(names.map((name) => catalogFactory(catalog[name]!)))
  return Object.fromEntries(names.map((name, i) => [name, factories[i]!]))
}

/**
 * Commands contributed by first-party plugins (`tessera permissions …`, `tessera rules …`). Loads every plugin of
 * the catalog: asked only when the command line is not one of the core's own commands.
 */
async function pluginCommands(catalog: PluginCatalog): Promise<Map<string, CliCommand>> {
  const out = new Map<string, CliCommand>()
  for (const factory of Object.values(await loadCatalog(catalog))) {
    for (const [name, cmd] of Object.entries(factory.definition.commands ?? {})) {
      if (!BUILTIN.has(name) && !out.has(name)) out.set(name, cmd)
    }
  }
  return out
}

const BUILTIN = new Set(['serve', 'migrate', 'config', 'version', 'help'])
/** Core commands that never list or run a plugin's command: they load only the plugins their config uses. */
const OWN = new Set([...BUILTIN].filter((c) => c !== 'help'))

/** Run the CLI; resolves to the exit code. `serve` resolves only after shutdown. */
export async function runCli(argv: string[], catalog: PluginCatalog, io: CliIO): Promise<number> {
  const extra = OWN.has(argv[0] ?? '') ? new Map<string, CliCommand>() : await pluginCommands(catalog)
  const first = argv[0]
  const helpTopic = first === 'help' ? argv[1] : undefined
  const contributed = (first && extra.get(first)) || (helpTopic && extra.get(helpTopic)) || undefined
  if (contributed) {
    if (helpTopic || argv.includes('--help') || argv.includes('-h')) {
      io.out(contributed.usage)
      return 0
    }
    try {
      return await contributed.run(argv.slice(1), {
        ...io,
        boot: async (o = {}) => {
          const kernel = await bootFor(o, io, catalog, { quiet: true })
          const apps = new Map<Listener, ReturnType<typeof buildListenerApp>>()
          const app = (l: Listener) => apps.get(l) ?? apps.set(l, buildListenerApp(kernel, l, { metadata: false })).get(l)!
          return Object.assign(kernel, { handle: (l: Listener, request: Request) => app(l).handle(request) })
        },
      })
    } catch (e) {
      io.err(`tessera: ${oneLine(e)}`)
      return 1
    }
  }
  try {
    const { values, positionals } = parse(argv)
    const [cmd, sub, ...rest] = positionals
    if (!cmd || cmd === 'help') {
      const topic = cmd === 'help' ? sub : undefined
      if (topic && !HELP[topic]) throw new UsageError(`unknown command "${topic}"; run tessera help`)
      let text = HELP[topic ?? 'main']!
      if (!topic && extra.size > 0) {
        const lines = [...extra].map(([name, c]) => `  ${name.padEnd(16)} ${c.summary}`)
        text = text.replace('\nOptions:', `\nPlugin commands:\n${lines.join('\n')}\n\nOptions:`)
      }
      io.out(text)
      return 0
    }
    if (values.help) {
      if (!HELP[cmd]) throw new UsageError(`unknown command "${cmd}"; run tessera help`)
      io.out(HELP[cmd]!)
      return 0
    }
    switch (cmd) {
      case 'version':
        io.out(`tessera ${VERSION}`)
        return 0
      case 'serve': {
        if (sub) throw new UsageError(`serve takes no arguments, got "${sub}"`)
        return await cmdServe(values, io, catalog)
      }
      case 'migrate': {
        if (sub !== 'up' && sub !== 'status') throw new UsageError('expected migrate up or migrate status')
        if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`)
        return await cmdMigrate(sub, values, io, catalog)
      }
      case 'config': {
        if (sub !== 'check') throw new UsageError('expected config check')
        return await cmdConfigCheck(values, io, catalog)
      }
      default:
        throw new UsageError(`unknown command "${cmd}"; run tessera help`)
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`tessera: ${e.message}`)
      return 2
    }
    io.err(`tessera: ${oneLine(e)}`)
    return 1
  }
}

function oneLine(e: unknown): string {
  if (e instanceof ConfigError) {
    return e.problems.length === 1 ? `invalid configuration: ${e.problems[0]}` : `invalid configuration (${e.problems.length} problems): ${e.problems.join('; ')}`
  }
  if (e instanceof TesseraError) return e.message
  if (e instanceof Error) return e.message.split('\n')[0]!
  return String(e)
}

/**
 * SIGTERM / SIGINT as promises: `first` the first signal's name, `force` a later one. A wrapper (bun run, a
 * supervisor) may forward the same signal twice at once; a signal sent a second or more later means "now".
 */
function watchSignals() {
  let firstAt = 0
  let onFirst!: (signal: string) => void
  let onForce!: () => void
  const first = new Promise<string>((r) => (onFirst = r))
  const force = new Promise<void>((r) => (onForce = r))
  const handler = (signal: string) => () => {
    if (!firstAt) {
      firstAt = Date.now()
      onFirst(signal)
    } else if (Date.now() - firstAt >= 1000) onForce()
  }
  const term = handler('SIGTERM')
  const int = handler('SIGINT')
  process.on('SIGTERM', term)
  process.on('SIGINT', int)
  return { first, force, dispose: () => void (process.off('SIGTERM', term), process.off('SIGINT', int)) }
}

async function cmdServe(values: { config?: string; dev?: boolean; migrate?: boolean }, io: CliIO, catalog: PluginCatalog): Promise<number> {
  // Signal handlers first: a SIGTERM that arrives while starting must still shut down gracefully.
  const signals = watchSignals()
  try {
    const kernel = await bootFor(values, io, catalog)
    let server: Awaited<ReturnType<typeof serve>>
    try {
      server = await serve(kernel, { migrate: values.migrate })
    } catch (e) {
      await kernel.stop()
      throw e
    }
    const signal = await signals.first
    const stopped = server.stop(signal).then(
      () => 0,
      (e) => {
        kernel.log.error('shutdown failed', { err: e })
        return 1
      },
    )
    const forced = signals.force.then(() => {
      kernel.log.warn('second signal: exiting without waiting for in-flight requests')
      return 1
    })
    return await Promise.race([stopped, forced])
  } finally {
    signals.dispose()
  }
}

async function cmdMigrate(sub: 'up' | 'status', values: { config?: string; dev?: boolean; json?: boolean }, io: CliIO, catalog: PluginCatalog): Promise<number> {
  // migrations need no secrets: dev mode spares the operator from setting them for this command
  const kernel = await bootFor({ ...values, dev: values.dev ?? true }, io, catalog, { quiet: true })
  try {
    if (sub === 'up') {
      const applied = await kernel.migrate()
      io.out(applied.length === 0 ? 'nothing to migrate: every migration is applied' : `applied ${applied.length} migration(s):\n${applied.map((a) => `  ${a.plugin}/${a.id}`).join('\n')}`)
      return 0
    }
    const status = await kernel.migrationStatus()
    if (values.json) {
      io.out(JSON.stringify(status, null, 2))
      return 0
    }
    if (status.length === 0) {
      io.out('no plugin ships migrations')
      return 0
    }
    const w = Math.max(...status.map((s) => `${s.plugin}/${s.id}`.length), 9)
    io.out(`${'MIGRATION'.padEnd(w)}  STATE     APPLIED AT`)
    for (const s of status) {
      io.out(`${`${s.plugin}/${s.id}`.padEnd(w)}  ${s.state.padEnd(8)}  ${s.appliedAt ? s.appliedAt.toISOString() : '-'}`)
    }
    const pending = status.filter((s) => s.state === 'pending').length
    io.out(pending ? `${pending} pending: run tessera migrate up` : 'all migrations applied')
    return 0
  } finally {
    await kernel.stop()
  }
}

async function cmdConfigCheck(values: { config?: string; dev?: boolean }, io: CliIO, catalog: PluginCatalog): Promise<number> {
  // Boot against a throwaway in-memory database: options, order, registrations and setup are all checked.
  const quiet = createLogger({ level: 'error' })
  const kernel = await bootFor(values, io, catalog, { quiet: true, log: quiet, database: new SqliteDatabase(':memory:') })
  const { config, plugins } = kernel
  const dsn = config.dsn
  const ids = plugins.map((p) => p.id)
  // The DSN must be one a driver accepts; the check does not connect.
  try {
    kernel.driverFor(dsn)
    if (/^postgres(ql)?:/.test(dsn)) parsePostgresDsn(dsn)
  } catch (e) {
    throw e instanceof TypeError ? new ConfigError([`dsn: ${e.message}`]) : e
  } finally {
    await kernel.stop()
  }
  io.out(
    `configuration is valid (${config.source}): ${ids.length} plugin(s)${ids.length ? ` [${ids.join(', ')}]` : ''}; database ${dsn.split(':')[0]}; public :${config.serve.public.port}, admin ${config.serve.admin.enabled ? `${config.serve.admin.host}:${config.serve.admin.port}` : 'disabled'}`,
  )
  return 0
}

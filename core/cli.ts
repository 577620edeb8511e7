/**
 * The `tessera` command line: serve | migrate up | migrate status | config check | version | help.
 * Every error ends in one line, `tessera: <reason>`, and a non-zero exit
 * (1 for a failure, 2 for a usage mistake).
 */
import { parseArgs } from 'node:util'
import { ENV_OVERRIDES, type PluginCatalog, loadConfig } from './config/load.ts'
import type { ResolvedConfig } from './config/schema.ts'
import { ConfigError, TesseraError } from './errors.ts'
import type { CliCommand } from './plugin.ts'
import { Kernel } from './kernel/kernel.ts'
import { type Logger, createLogger } from './logger.ts'
import { serve } from './server.ts'
import { SqliteDatabase } from './storage/sqlite.ts'
import { parsePostgresDsn } from './storage/postgres.ts'
import { VERSION } from './version.ts'

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

async function load(values: { config?: string; dev?: boolean }, io: CliIO, catalog: PluginCatalog, log?: Logger) {
  return loadConfig({
    path: values.config,
    env: io.env,
    cwd: io.cwd,
    catalog,
    dev: values.dev,
    log: log ?? loggerFor(null, io.env),
  })
}

/** Commands contributed by first-party plugins (`tessera permissions …`, `tessera rules …`). */
function pluginCommands(catalog: PluginCatalog): Map<string, CliCommand> {
  const out = new Map<string, CliCommand>()
  for (const factory of Object.values(catalog)) {
    for (const [name, cmd] of Object.entries(factory.definition.commands ?? {})) {
      if (!BUILTIN.has(name) && !out.has(name)) out.set(name, cmd)
    }
  }
  return out
}

const BUILTIN = new Set(['serve', 'migrate', 'config', 'version', 'help'])

/** Run the CLI; resolves to the exit code. `serve` resolves only after shutdown. */
export async function runCli(argv: string[], catalog: PluginCatalog, io: CliIO): Promise<number> {
  const extra = pluginCommands(catalog)
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
          const config = await load({ config: o.config, dev: o.dev }, io, catalog, createLogger({ level: 'error' }))
          return Kernel.boot(config, { log: loggerFor(config, io.env) })
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

async function cmdServe(values: { config?: string; dev?: boolean; migrate?: boolean }, io: CliIO, catalog: PluginCatalog): Promise<number> {
  // Signal handlers first: a SIGTERM that arrives while starting must still shut down gracefully.
  let firstSignalAt = 0
  let signalled: string | null = null
  let onSignalReady: ((signal: string) => void) | null = null
  let forceExit: ((code: number) => void) | null = null
  const onSignal = (signal: string) => {
    if (firstSignalAt) {
      // A wrapper (bun run, a supervisor) may forward the same signal twice at once;
      // a signal sent later by a person means "now".
      if (Date.now() - firstSignalAt >= 1000) forceExit?.(1)
      return
    }
    firstSignalAt = Date.now()
    signalled = signal
    onSignalReady?.(signal)
  }
  const sigterm = () => onSignal('SIGTERM')
  const sigint = () => onSignal('SIGINT')
  process.on('SIGTERM', sigterm)
  process.on('SIGINT', sigint)
  try {
    const bootLog = loggerFor(null, io.env)
    const config = await load(values, io, catalog, bootLog)
    const log = loggerFor(config, io.env)
    const kernel = await Kernel.boot(config, { log })
    let server: Awaited<ReturnType<typeof serve>>
    try {
      server = await serve(kernel, { migrate: values.migrate })
    } catch (e) {
      await kernel.stop()
      throw e
    }
    return await new Promise<number>((resolveExit) => {
      forceExit = (code) => {
        log.warn('second signal: exiting without waiting for in-flight requests')
        resolveExit(code)
      }
      onSignalReady = (signal) => {
        server.stop(signal).then(
          () => resolveExit(0),
          (e) => {
            log.error('shutdown failed', { err: e })
            resolveExit(1)
          },
        )
      }
      if (signalled) onSignalReady(signalled)
    })
  } finally {
    process.off('SIGTERM', sigterm)
    process.off('SIGINT', sigint)
  }
}

async function cmdMigrate(sub: 'up' | 'status', values: { config?: string; dev?: boolean; json?: boolean }, io: CliIO, catalog: PluginCatalog): Promise<number> {
  // migrations need no secrets: dev mode spares the operator from setting them for this command
  const config = await load({ ...values, dev: values.dev ?? true }, io, catalog, createLogger({ level: 'error' }))
  const kernel = await Kernel.boot(config, { log: loggerFor(config, io.env) })
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
  const config = await load(values, io, catalog, createLogger({ level: 'error' }))
  // The DSN must be one a driver accepts; the check does not connect.
  const dsn = config.dsn
  if (/^postgres(ql)?:/.test(dsn)) {
    try {
      parsePostgresDsn(dsn)
    } catch (e) {
      throw new ConfigError([`dsn: ${(e as Error).message}`])
    }
  }
  // Boot against a throwaway in-memory database: options, order, registrations and setup are all checked.
  const kernel = await Kernel.boot(config, { log: createLogger({ level: 'error' }), database: new SqliteDatabase(':memory:') })
  const ids = kernel.plugins.map((p) => p.id)
  try {
    kernel.driverFor(dsn)
  } finally {
    await kernel.stop()
  }
  io.out(
    `configuration is valid (${config.source}): ${ids.length} plugin(s)${ids.length ? ` [${ids.join(', ')}]` : ''}; database ${dsn.split(':')[0]}; public :${config.serve.public.port}, admin ${config.serve.admin.enabled ? `${config.serve.admin.host}:${config.serve.admin.port}` : 'disabled'}`,
  )
  return 0
}

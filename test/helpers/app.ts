/**
 * Building a Tessera kernel and its apps in-process, on in-memory SQLite (or a
 * given database), and calling them with `app.handle(new Request(...))` — no socket.
 */
import type { AnyElysia } from 'elysia'
import { resolveConfig } from '../../core/config/load.ts'
import type { TesseraConfig } from '../../core/config/schema.ts'
import type { PeerLookup } from '../../core/http/context.ts'
import { buildListenerApp } from '../../core/http/app.ts'
import { Kernel } from '../../core/kernel/kernel.ts'
import { type LogLevel, type Logger, createLogger } from '../../core/logger.ts'
import type { PluginInstance } from '../../core/plugin.ts'
import type { Database } from '../../core/storage/types.ts'

export const TEST_SECRET = 'test-secret-0123456789abcdef'

export interface CapturedLog {
  lines: Record<string, unknown>[]
  logger: Logger
}

export function captureLog(level: LogLevel = 'debug'): CapturedLog {
  const lines: Record<string, unknown>[] = []
  return { lines, logger: createLogger({ level, sink: (line) => lines.push(JSON.parse(line)) }) }
}

const peers = new WeakMap<Request, string>()
/** Every test kernel's peer addresses: what a server's socket would say. */
const testPeers: PeerLookup = { requestIP: (request) => (peers.has(request) ? { address: peers.get(request)! } : null) }

/** Give a request a connecting peer address before `app.handle(request)`, as a socket would. */
export function setPeer(request: Request, address: string | undefined): void {
  if (address) peers.set(request, address)
}

export interface TestKernelOptions {
  config?: Partial<TesseraConfig>
  database?: Database
  log?: Logger
  /** Apply migrations and run onStart (default true). */
  start?: boolean
}

export async function bootKernel(plugins: PluginInstance[], opts: TestKernelOptions = {}): Promise<Kernel> {
  const config = resolveConfig(
    {
      dsn: 'sqlite::memory:',
      secrets: { system: [TEST_SECRET] },
      ...opts.config,
      plugins,
    },
    { env: {} },
  )
  const kernel = await Kernel.boot(config, { log: opts.log ?? createLogger({ level: 'fatal' }), database: opts.database, peers: testPeers })
  if (opts.start !== false) await kernel.start({ migrate: true })
  return kernel
}

export interface TestApps {
  kernel: Kernel
  public: AnyElysia
  admin: AnyElysia
}

export async function bootApps(plugins: PluginInstance[], opts: TestKernelOptions = {}): Promise<TestApps> {
  const kernel = await bootKernel(plugins, opts)
  return { kernel, public: buildListenerApp(kernel, 'public'), admin: buildListenerApp(kernel, 'admin') }
}

export interface CallResult {
  status: number
  headers: Headers
  text: string
  json: any
}

/** Call an app without a socket. `body` objects are sent as JSON. */
export async function call(
  app: AnyElysia,
  method: string,
  path: string,
  init: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<CallResult> {
  const headers: Record<string, string> = { ...init.headers }
  let body: BodyInit | undefined
  if (init.body !== undefined) {
    if (typeof init.body === 'string') body = init.body
    else {
      body = JSON.stringify(init.body)
      headers['content-type'] ??= 'application/json'
    }
  }
  const res = await app.handle(new Request(`http://localhost${path}`, { method, headers, body }))
  const text = await res.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, text, json }
}

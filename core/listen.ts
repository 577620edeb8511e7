/**
 * Binding a listener: what the standalone server (server/) and plugins' own listeners (the proxy's) share.
 */
import type { Server } from 'bun'
import { TesseraError } from './errors.ts'

/** Where a listener binds. */
export interface ListenAddress {
  host: string
  port: number
  /**
   * Share the port with other processes (SO_REUSEPORT), for several Tessera processes behind one port. Off by
   * default: a port already in use fails the start.
   */
  reusePort?: boolean
}

type Handler = (request: Request, server: Server<undefined>) => Response | Promise<Response>

/** What a listener serves: the fallback handler, routes for Bun's router, and the rest of Bun's serve options it uses. */
export interface ListenHandlers {
  fetch: Handler
  routes?: Record<string, Handler>
  maxRequestBodySize?: number
  error?: (error: Error) => Response | Promise<Response>
}

/** A listener could not bind its port: another process (or listener) has it. */
export class PortInUseError extends TesseraError {
  override readonly name: string = 'PortInUseError'
  constructor(
    readonly port: number,
    cause?: unknown,
  ) {
    super('ERR_PORT_IN_USE', 500, `port ${port} is already in use`, { cause })
  }
}

/**
 * Start a listener: the core's public and admin listeners and plugins' own listeners all bind here. Bun sets
 * SO_REUSEPORT unless told otherwise (a second process on the same port would start and quietly share it), so
 * `reusePort` is always passed: false unless the operator asked for sharing. A port in use throws PortInUseError
 * (the CLI prints `tessera: port 4433 is already in use` and exits 1).
 */
export function listen(at: ListenAddress, handlers: ListenHandlers): Server<undefined> {
  try {
    return Bun.serve({
      hostname: at.host,
      port: at.port,
      reusePort: at.reusePort === true,
      development: false,
      ...handlers,
    } as Parameters<typeof Bun.serve>[0]) as Server<undefined>
  } catch (e) {
    if ((e as { code?: unknown })?.code === 'EADDRINUSE') throw new PortInUseError(at.port, e)
    throw e
  }
}

/** Test helpers for the proxy suites: real servers on 127.0.0.1, a booted kernel with the proxy. */
import type { Server } from 'bun'
import type { PluginInstance } from 'tessera'
import { type TestKernelOptions, bootApps } from '../../test/helpers/app.ts'
import type { Logger } from '../../core/logger.ts'
import { type ProxyOptions } from './options.ts'
import { proxy, proxyState } from './index.ts'

export interface TestServer {
  url: string
  /** What each request looked like when it arrived. */
  hits: { method: string; url: string; headers: Headers }[]
  stop(): Promise<void>
}

/** A real HTTP server on 127.0.0.1 and an ephemeral port; records every request it got. */
export function startServer(handler: (req: Request, server: Server<undefined>) => Response | Promise<Response>): TestServer {
  const hits: TestServer['hits'] = []
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch(req, srv) {
      hits.push({ method: req.method, url: req.url, headers: new Headers(req.headers) })
      return handler(req, srv)
    },
  })
  return { url: `http://127.0.0.1:${server.port}`, hits, stop: () => server.stop(true) }
}

export async function bootProxy(options: ProxyOptions, extra: PluginInstance[] = [], log?: Logger, config?: TestKernelOptions['config']) {
  const apps = await bootApps([...extra, proxy({ serve: { enabled: false }, ...options })], { log, config })
  const ctx = apps.kernel.plugins.find((p) => p.id === 'proxy')?.ctx as object
  const state = proxyState(ctx)
  return { ...apps, ctx, state, proxyUrl: () => `http://127.0.0.1:${state.server?.port}` }
}

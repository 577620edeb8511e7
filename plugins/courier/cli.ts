/**
 * `tessera courier watch`: send the courier queue in this process, without the HTTP listeners, until SIGTERM or
 * SIGINT (Kratos' `kratos courier watch`). Any number of watchers and servers may share one database: each
 * message is claimed by one of them before it is sent.
 */
import type { CliCommand } from 'tessera'
import type { Courier } from './courier.ts'

export const USAGE = `Usage:
  tessera courier watch [--config FILE]

  Sends queued e-mail and SMS until SIGTERM or SIGINT. The courier plugin must be in the configuration
  (set its worker.enabled to false when the servers should leave the queue to watchers).

Options:
  --config, -c FILE   the configuration (default: $TESSERA_CONFIG, else tessera.config.*)`

export const courierCommand: CliCommand = {
  summary: 'send the e-mail and SMS queue (watch)',
  usage: USAGE,
  async run(args, ctx) {
    const [sub, ...rest] = args
    if (sub !== 'watch') throw new Error(`unknown courier command ${JSON.stringify(sub ?? '')}: expected watch`)
    let config: string | undefined
    for (let i = 0; i < rest.length; i++) {
      const a = rest[i]!
      if (a === '--config' || a === '-c') config = rest[++i]
      else if (a.startsWith('--config=')) config = a.slice(9)
      else throw new Error(`unknown option ${JSON.stringify(a)}`)
    }
    const kernel = await ctx.boot(config ? { config } : {})
    const plugin = kernel.plugins.find((p) => p.id === 'courier')
    if (!plugin) {
      await kernel.stop()
      throw new Error('the courier plugin is not in the configuration')
    }
    const courier = plugin.ctx.state as Courier
    let stop!: (signal: string) => void
    const stopped = new Promise<string>((resolve) => (stop = resolve))
    const onTerm = () => stop('SIGTERM')
    const onInt = () => stop('SIGINT')
    process.on('SIGTERM', onTerm)
    process.on('SIGINT', onInt)
    try {
      courier.start()
      ctx.err(`courier: watching the queue (channels: ${courier.channels.join(', ') || 'none configured'})`)
      const signal = await stopped
      ctx.err(`courier: ${signal}, finishing the sends in progress`)
      await courier.stop()
    } finally {
      process.off('SIGTERM', onTerm)
      process.off('SIGINT', onInt)
      await kernel.stop()
    }
    return 0
  },
}

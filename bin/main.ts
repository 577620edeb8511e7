import * as valibot from 'valibot'
import { runCli } from '../cli/index.ts'
import * as drivers from '../drivers/index.ts'
import * as elysia from '../elysia/index.ts'
import * as events from '../core/events.ts'
import * as api from '../core/index.ts'
import * as registry from '../core/registry.ts'
import * as server from '../server/index.ts'
import type { PluginCatalog } from '../core/config/load.ts'

/**
 * The CLI's process: `tessera …` from source (bin/tessera.ts, plugins loaded as a config names them) and the
 * compiled binary (bin/tessera-compiled.ts, every plugin bundled and imported up front).
 */
export async function main(catalog: PluginCatalog): Promise<never> {
  // The compiled binary (`bun run build`) has no node_modules beside it. A plugin module named in a config
  // (`{ module: ./my-plugin.ts }`) imports `tessera` and `valibot` as the docs show: hand it the binary's own
  // bundled copies, so that it shares the kernel it plugs into. From source, normal resolution applies.
  if (Bun.isStandaloneExecutable) {
    const bundled: Record<string, object> = {
      tessera: api,
      'tessera/elysia': elysia,
      'tessera/drivers': drivers,
      'tessera/events': events,
      'tessera/registry': registry,
      'tessera/server': server,
      valibot,
    }
    Bun.plugin({
      name: 'tessera-bundled-api',
      setup(build) {
        for (const [specifier, exports] of Object.entries(bundled)) {
          build.module(specifier, () => ({ exports: { ...exports }, loader: 'object' }))
        }
      },
    })
  }

  // process.exit drops what a pipe has not taken yet: wait for the last write of each stream first.
  const flushed = { out: Promise.resolve(), err: Promise.resolve() }
  const write = (stream: NodeJS.WriteStream, s: string) => new Promise<void>((r) => stream.write(`${s}\n`, () => r()))

  const code = await runCli(process.argv.slice(2), catalog, {
    out: (s) => void (flushed.out = write(process.stdout, s)),
    err: (s) => void (flushed.err = write(process.stderr, s)),
    env: process.env,
    cwd: process.cwd(),
  })
  await Promise.all([flushed.out, flushed.err])
  process.exit(code)
}

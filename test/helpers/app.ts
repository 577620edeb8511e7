/**
 * The repository's tests build kernels with the public test kit (`tessera/testing`, testing/index.ts):
 * a kernel on in-memory SQLite (or a given database), its apps called with `app.handle(new Request(...))`.
 */
import type { AnyElysia } from 'elysia'
import { buildListenerApp } from '../../core/http/app.ts'
import type { Kernel } from '../../core/kernel/kernel.ts'
import type { PluginInstance } from '../../core/plugin.ts'
import { type BootKernelOptions, bootKernel } from '../../testing/index.ts'

export { TEST_SECRET, bootKernel, bootedKernel, call, captureLog, setPeer, type CallResult, type CapturedLog } from '../../testing/index.ts'

export type TestKernelOptions = BootKernelOptions

export interface TestApps {
  kernel: Kernel
  public: AnyElysia
  admin: AnyElysia
}

/** A kernel on in-memory SQLite (unless `database` is given) and its two listeners' apps. */
export async function bootApps(plugins: PluginInstance[], opts: TestKernelOptions = {}): Promise<TestApps> {
  const kernel = await bootKernel(plugins, opts)
  return { kernel, public: buildListenerApp(kernel, 'public'), admin: buildListenerApp(kernel, 'admin') }
}

#!/usr/bin/env bun
import { runCli } from '../core/cli.ts'
import { catalog } from '../plugins/catalog.ts'

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

#!/usr/bin/env bun
import { runCli } from '../core/cli.ts'
import { catalog } from '../plugins/catalog.ts'

const code = await runCli(process.argv.slice(2), catalog, {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
  env: process.env,
  cwd: process.cwd(),
})
process.exit(code)

/**
 * `tessera rules validate <files>` and `tessera rules test <fixtures>`: rules as code, for CI.
 */
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import * as v from 'valibot'
import { formatIssues, parseConfigDocument } from 'tessera'
import type { CliCommand, CliContext } from '../../core/plugin.ts'
import { decide } from './engine.ts'
import { compileUrlMatcher, rawPathOf } from './match.ts'
import { type Rule, compileRules, readRuleFile } from './rules.ts'

const USAGE = `Usage:
  tessera rules validate <file>... [--strategy regexp|glob]
                                           check rule files (JSON or YAML) against the rule format
                                           (patterns as the proxy's matching_strategy reads them; regexp by default)
  tessera rules test <fixture>... [--config <path>]
                                           run decision fixtures against their rules

A fixture (JSON or YAML):
  rules: [./rules.json]                    rule files, relative to the fixture
  cases:
    - name: admins get in
      request: { method: GET, url: "http://api.example.com/admin", headers: { authorization: "Bearer …" } }
      expect: { status: 200, headers: { x-user: alice } }

'test' boots the configured kernel (--config, TESSERA_CONFIG or tessera.config.*) so every handler
your plugins register is available.`

const Fixture = v.object({
  rules: v.pipe(v.array(v.string()), v.minLength(1)),
  matching_strategy: v.optional(v.picklist(['regexp', 'glob']), 'regexp'),
  cases: v.pipe(
    v.array(
      v.object({
        name: v.optional(v.string()),
        request: v.object({
          method: v.optional(v.string(), 'GET'),
          url: v.pipe(v.string(), v.url()),
          headers: v.optional(v.record(v.string(), v.string()), {}),
          remote_address: v.optional(v.string()),
        }),
        expect: v.object({ status: v.number(), headers: v.optional(v.record(v.string(), v.string()), {}) }),
      }),
    ),
    v.minLength(1),
  ),
})

async function readDoc(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8')
  return parseConfigDocument(text, path, /\.ya?ml$/i.test(path) ? 'yaml' : 'json')
}

async function validate(args: string[], io: CliContext): Promise<number> {
  const at = args.indexOf('--strategy')
  const strategy = at === -1 ? 'regexp' : args[at + 1]
  if (strategy !== 'regexp' && strategy !== 'glob') {
    io.err('rules validate: --strategy is regexp or glob')
    return 2
  }
  const files = at === -1 ? args : args.filter((_, i) => i !== at && i !== at + 1)
  if (files.length === 0) {
    io.err('rules validate: name at least one rule file')
    return 2
  }
  let failed = 0
  for (const f of files) {
    try {
      const rules = await readRuleFile(resolve(io.cwd, f))
      const problems: string[] = []
      for (const r of rules) {
        try {
          compileUrlMatcher(r.match.url, strategy)
        } catch (e) {
          problems.push(`${f}: rule ${r.id}: match.url: ${(e as Error).message}`)
        }
      }
      if (problems.length) throw Object.assign(new Error(problems.join('\n')), { problems })
      io.out(`${f}: ${rules.length} rule${rules.length === 1 ? '' : 's'} OK`)
    } catch (e) {
      failed++
      const problems = (e as { problems?: string[] }).problems ?? [(e as Error).message]
      for (const p of problems) io.err(p.startsWith(f) ? p : `${f}: ${p}`)
    }
  }
  return failed ? 1 : 0
}

async function test(args: string[], io: CliContext): Promise<number> {
  const ci = args.indexOf('--config')
  const config = ci >= 0 ? args[ci + 1] : undefined
  const fixtures = ci >= 0 ? args.filter((_, i) => i !== ci && i !== ci + 1) : args
  if (fixtures.length === 0) {
    io.err('rules test: name at least one fixture file')
    return 2
  }
  const kernel = await io.boot({ config, dev: true })
  let failures = 0
  try {
    for (const fx of fixtures) {
      const path = resolve(io.cwd, fx)
      const parsed = v.safeParse(Fixture, await readDoc(path))
      if (!parsed.success) {
        for (const line of formatIssues(parsed.issues, { label: fx, schema: Fixture })) io.err(line)
        failures++
        continue
      }
      const rules: Rule[] = []
      for (const r of parsed.output.rules) rules.push(...(await readRuleFile(resolve(path, '..', r))))
      // with the proxy in the configuration, its global handler configs and disabled handlers apply too
      const installed = kernel.plugins.find((pl) => pl.id === 'proxy')
      const compiled = installed
        ? (await import('./index.ts')).compileAll({ ...installed.ctx, options: { ...(installed.ctx.options as object), matching_strategy: parsed.output.matching_strategy } } as never, rules)
        : compileRules(rules, parsed.output.matching_strategy, kernel.registries, {})
      for (const [i, c] of parsed.output.cases.entries()) {
        const url = new URL(c.request.url)
        const qi = c.request.url.indexOf('?')
        const outcome = await decide(
          compiled,
          {
            method: c.request.method,
            scheme: url.protocol.replace(/:$/, ''),
            host: url.host,
            // the path as sent (`/public/../admin` stays so), so the fixture exercises the proxy's normalisation
            rawPath: rawPathOf(c.request.url),
            query: qi >= 0 ? c.request.url.slice(qi) : '',
            headers: new Headers(c.request.headers),
            remoteAddress: c.request.remote_address,
            tenant: 'default',
          },
          null,
        )
        const status = outcome.allowed ? 200 : outcome.response.status
        const headers = outcome.allowed ? outcome.session.header : outcome.response.headers
        const name = c.name ?? `case ${i + 1}`
        const wrong: string[] = []
        if (status !== c.expect.status) wrong.push(`status ${status}, expected ${c.expect.status}`)
        for (const [h, want] of Object.entries(c.expect.headers)) {
          const got = headers.get(h)
          if (got !== want) wrong.push(`header ${h}: ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`)
        }
        if (wrong.length) {
          failures++
          io.err(`FAIL ${fx}: ${name}: ${wrong.join('; ')}`)
        } else io.out(`ok   ${fx}: ${name}`)
      }
    }
  } finally {
    await kernel.stop()
  }
  return failures ? 1 : 0
}

export const rulesCommand: CliCommand = {
  summary: 'validate access rules and test them against decision fixtures',
  usage: USAGE,
  async run(args, io) {
    const [sub, ...rest] = args
    if (sub === 'validate') return validate(rest, io)
    if (sub === 'test') return test(rest, io)
    io.err(USAGE)
    return 2
  },
}

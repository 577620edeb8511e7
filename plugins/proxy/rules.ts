/**
 * Access rules in Oathkeeper's format, validated with valibot, compiled once
 * (matcher + pipeline) and swapped atomically on reload.
 */
import { readFile } from 'node:fs/promises'
import { type CompiledPipeline, ConfigError, type Registries, compilePipeline, formatIssues, parseConfigDocument } from 'tessera'
import * as v from 'valibot'
import { type MatchingStrategy, type UrlMatcher, compileUrlMatcher } from './match.ts'
import { type GlobalHandlerConfigs, When, pipelineSpec } from './pipeline.ts'

const HandlerRef = v.object({ handler: v.pipe(v.string(), v.minLength(1)), config: v.optional(v.unknown()) })
/**
 * An HTTP method: an RFC 9110 token, so custom methods (PURGE, PROPFIND) work as in Oathkeeper. Methods are
 * case-sensitive and clients send them in capitals: a lower-case one in a rule would never match, so it is refused.
 */
const Method = v.pipe(v.string(), v.regex(/^[!#$%&'*+.^_`|~0-9A-Z-]+$/, 'expected an HTTP method in capitals (GET, POST, PURGE, …)'))

export const RuleSchema = v.object({
  id: v.pipe(v.string(), v.minLength(1), v.maxLength(190)),
  version: v.optional(v.string()),
  description: v.optional(v.string()),
  match: v.object({
    url: v.pipe(v.string(), v.minLength(1)),
    methods: v.pipe(v.array(Method), v.minLength(1, 'list at least one method')),
  }),
  authenticators: v.pipe(v.array(HandlerRef), v.minLength(1, 'list at least one authenticator')),
  authorizer: HandlerRef,
  mutators: v.optional(v.array(HandlerRef), [{ handler: 'noop' }]),
  errors: v.optional(v.array(v.object({ ...HandlerRef.entries, when: v.optional(v.array(When)) })), []),
  upstream: v.optional(
    v.object({
      url: v.pipe(v.string(), v.url()),
      preserve_host: v.optional(v.boolean(), false),
      strip_path: v.optional(v.string()),
    }),
  ),
})
export type Rule = v.InferOutput<typeof RuleSchema>

export interface CompiledRule {
  rule: Rule
  matcher: UrlMatcher
  pipeline: CompiledPipeline
}

/** Validate raw rule documents; a ConfigError lists every problem with its path. */
export function parseRules(raw: unknown, source: string): Rule[] {
  if (!Array.isArray(raw)) throw new ConfigError([`${source}: expected an array of rules`])
  const out: Rule[] = []
  const problems: string[] = []
  raw.forEach((r, i) => {
    const res = v.safeParse(RuleSchema, r)
    if (res.success) out.push(res.output)
    else problems.push(...formatIssues(res.issues, { label: `${source}[${i}]`, schema: RuleSchema }))
  })
  if (problems.length) throw new ConfigError(problems)
  return out
}

/** Parse a rule document (JSON, or YAML for .yaml/.yml). */
export function parseRuleDocument(text: string, source: string): Rule[] {
  return parseRules(parseConfigDocument(text, source, /\.ya?ml$/i.test(source) ? 'yaml' : 'json'), source)
}

export async function readRuleFile(path: string): Promise<Rule[]> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (e) {
    throw new ConfigError([`${path}: cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`])
  }
  return parseRuleDocument(text, path)
}

/** Matcher and pipeline for every rule; duplicate ids and bad patterns are ConfigErrors. */
export function compileRules(rules: Rule[], strategy: MatchingStrategy, registries: Registries, globals: GlobalHandlerConfigs): CompiledRule[] {
  const seen = new Set<string>()
  const problems: string[] = []
  const out: CompiledRule[] = []
  for (const rule of rules) {
    if (seen.has(rule.id)) {
      problems.push(`rules.${rule.id}: the rule id is used twice`)
      continue
    }
    seen.add(rule.id)
    let matcher: UrlMatcher
    try {
      matcher = compileUrlMatcher(rule.match.url, strategy)
    } catch (e) {
      problems.push(`rules.${rule.id}.match.url: ${(e as Error).message}`)
      continue
    }
    try {
      out.push({ rule, matcher, pipeline: compilePipeline(pipelineSpec(rule, globals), registries) })
    } catch (e) {
      problems.push(...((e as ConfigError).problems ?? [(e as Error).message]))
    }
  }
  if (problems.length) throw new ConfigError(problems)
  return out
}

export type MatchResult =
  | { kind: 'none' }
  | { kind: 'ambiguous'; ids: string[] }
  | { kind: 'one'; rule: CompiledRule; captures: string[] }

/** Oathkeeper: exactly one rule must match the method and URL (scheme://host/path, no query). */
export function findRule(rules: readonly CompiledRule[], method: string, url: string): MatchResult {
  let found: { kind: 'one'; rule: CompiledRule; captures: string[] } | undefined
  let ids: string[] | undefined // built only when a second rule matches
  for (const r of rules) {
    if (!r.rule.match.methods.includes(method)) continue
    const captures = r.matcher.match(url)
    if (!captures) continue
    if (!found) found = { kind: 'one', rule: r, captures }
    else (ids ??= [found.rule.rule.id]).push(r.rule.id)
  }
  if (!found) return NONE
  if (ids) return { kind: 'ambiguous', ids }
  return found
}
const NONE: MatchResult = { kind: 'none' }

/**
 * Running the real `tessera` CLI in a child process, as a user would.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Subprocess } from 'bun'

export const REPO = resolve(import.meta.dir, '../..')
export const CLI = join(REPO, 'bin/tessera.ts')
export const FIXTURE_NOTES = join(REPO, 'test/fixtures/plugins/notes.ts')
export const SECRET = 'process-test-secret-0123456789'

/** A scratch directory inside the repository's .tmp (so `import 'tessera'` resolves). */
export function scratchDir(label: string): { dir: string; write(name: string, text: string): string; remove(): void } {
  mkdirSync(join(REPO, '.tmp'), { recursive: true })
  const dir = mkdtempSync(join(REPO, '.tmp', `${label}-`))
  return {
    dir,
    write(name, text) {
      const p = join(dir, name)
      writeFileSync(p, text)
      return p
    },
    remove() {
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Environment for child processes: no inherited Tessera overrides. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined) continue
    if (/^(DSN|SECRETS_|SERVE_|LOG_|TESSERA_)/.test(k)) continue
    env[k] = v
  }
  return { ...env, ...extra }
}

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

export async function runCli(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  const p = Bun.spawn(['bun', CLI, ...args], { cwd: opts.cwd ?? REPO, env: cleanEnv(opts.env), stdout: 'pipe', stderr: 'pipe' })
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  return { code, stdout, stderr }
}

export interface ServerProcess {
  proc: Subprocess<'ignore', 'pipe', 'pipe'>
  publicUrl: string
  adminUrl: string | null
  /** Log lines (parsed JSON) seen so far. */
  lines: Record<string, unknown>[]
  /** Wait for the process to exit; its exit code. */
  exited: Promise<number>
  stop(): Promise<number>
}

/** Start `tessera serve` (or a binary) and wait until it logs that it is listening. */
export async function startServer(
  cmd: string[],
  opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<ServerProcess> {
  const proc = Bun.spawn(cmd, { cwd: opts.cwd ?? REPO, env: cleanEnv(opts.env), stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' })
  const lines: Record<string, unknown>[] = []
  let stderr = ''
  let resolveListening!: (l: Record<string, unknown>) => void
  const listening = new Promise<Record<string, unknown>>((r) => (resolveListening = r))
  const pump = async (stream: ReadableStream<Uint8Array>, isErr: boolean) => {
    const decoder = new TextDecoder()
    let buf = ''
    for await (const chunk of stream) {
      buf += decoder.decode(chunk, { stream: true })
      let i: number
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        if (isErr) stderr += `${line}\n`
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>
          lines.push(parsed)
          if (parsed.msg === 'tessera is listening') resolveListening(parsed)
        } catch {
          if (!isErr) stderr += `${line}\n`
        }
      }
    }
  }
  void pump(proc.stdout, false)
  void pump(proc.stderr, true)
  const exited = proc.exited
  const timeout = opts.timeoutMs ?? 15000
  const first = await Promise.race([
    listening,
    exited.then((code) => ({ exitedEarly: code })),
    Bun.sleep(timeout).then(() => ({ timedOut: true })),
  ])
  if ('exitedEarly' in first || 'timedOut' in first) {
    proc.kill('SIGKILL')
    throw new Error(`server did not start (${JSON.stringify(first)}): ${stderr.slice(-2000)}`)
  }
  return {
    proc,
    publicUrl: String(first.public),
    adminUrl: first.admin === 'disabled' ? null : String(first.admin),
    lines,
    exited,
    async stop() {
      proc.kill('SIGTERM')
      const code = await Promise.race([exited, Bun.sleep(10000).then(() => -1)])
      if (code === -1) proc.kill('SIGKILL')
      return code
    },
  }
}

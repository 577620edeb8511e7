/**
 * Bundles the browser script (browser.ts, on @simplewebauthn/browser) with Bun's bundler. It is imported as a Bun
 * macro (`with { type: 'macro' }`), so it runs when the code is transpiled — by `bun run`, `bun test` and
 * `bun build --compile` alike — and the single binary carries the bundled text, not the sources. Bun.build cannot
 * be called from inside a macro (the bundler would wait on itself), so the macro runs the same bundler as `bun build`.
 */
import { fileURLToPath } from 'node:url'

export function bundledWebauthnScript(): string {
  const entry = fileURLToPath(new URL('./browser.ts', import.meta.url))
  const r = Bun.spawnSync([process.execPath, 'build', entry, '--target=browser', '--format=iife', '--minify'], { stdout: 'pipe', stderr: 'pipe', env: { ...process.env, NO_COLOR: '1' } })
  if (r.exitCode !== 0) throw new Error(`bundling the webauthn browser script failed: ${r.stderr.toString()}`)
  return r.stdout.toString()
}

/**
 * `tessera courier watch` as a user runs it: real child processes against a SQLite file and a real SMTP
 * receiver. Two watchers share the queue and send each message once; SIGTERM stops one cleanly.
 */
import { afterAll, describe, expect, it } from 'bun:test'
import { join } from 'node:path'
import { SqliteDatabase } from '../../drivers/index.ts'
import { bootApps } from '../../test/helpers/app.ts'
import { CLI, REPO, SECRET, cleanEnv, runCli, scratchDir } from '../../test/helpers/process.ts'
import type { Courier } from './courier.ts'
import { courier } from './index.ts'
import { startSmtpReceiver } from './test-helpers.ts'

const scratch = scratchDir('courier-cli')
afterAll(() => scratch.remove())

describe('tessera courier watch', () => {
  it('two watcher processes send the queue, each message once, and stop on SIGTERM', async () => {
    const smtp = await startSmtpReceiver({ plain: true })
    try {
      const dbFile = join(scratch.dir, 'db.sqlite')
      const options = { smtp: { connectionUri: `smtp://127.0.0.1:${smtp.port}/?disable_starttls=true` }, worker: { enabled: false, intervalSeconds: 0.05 } }
      const config = scratch.write('config.json', JSON.stringify({ dsn: `sqlite://${dbFile}`, plugins: [{ use: 'courier', options }] }))
      const env = { SECRETS_SYSTEM: SECRET }
      expect((await runCli(['migrate', 'up', '--config', config], { env })).code).toBe(0)
      // queue in-process, on the same file, with no worker
      const apps = await bootApps([courier(options)], { database: new SqliteDatabase(dbFile) })
      const c = apps.kernel.plugins.find((p) => p.id === 'courier')!.ctx.state as Courier
      for (let i = 0; i < 20; i++) await c.send('default', { template: 'login_code.valid', channel: 'email', recipient: `w${i}@example.com`, data: { login_code: String(500000 + i) } })
      await apps.kernel.stop()
      const watch = () => Bun.spawn(['bun', CLI, 'courier', 'watch', '--config', config], { cwd: REPO, env: cleanEnv(env), stdout: 'pipe', stderr: 'pipe' })
      const a = watch()
      const b = watch()
      try {
        await smtp.waitFor(20, 30_000)
        await Bun.sleep(300)
        expect(smtp.mails).toHaveLength(20)
        expect(new Set(smtp.mails.map((m) => m.envelope.to[0])).size).toBe(20)
      } finally {
        a.kill('SIGTERM')
        b.kill('SIGTERM')
      }
      expect(await a.exited).toBe(0)
      expect(await b.exited).toBe(0)
      expect(await new Response(a.stderr).text()).toContain('watching the queue')
    } finally {
      await smtp.stop()
    }
  }, 60_000)

  it('says what is wrong without the plugin or with an unknown subcommand', async () => {
    const config = scratch.write('none.json', JSON.stringify({ dsn: `sqlite://${join(scratch.dir, 'none.sqlite')}`, plugins: [] }))
    const missing = await runCli(['courier', 'watch', '--config', config], { env: { SECRETS_SYSTEM: SECRET } })
    expect(missing.code).not.toBe(0)
    expect(missing.stderr).toContain('the courier plugin is not in the configuration')
    const unknown = await runCli(['courier', 'send'], { env: { SECRETS_SYSTEM: SECRET } })
    expect(unknown.code).not.toBe(0)
    expect(unknown.stderr).toContain('expected watch')
  })
})

import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { type TestApps, bootApps, call } from '../../test/helpers/app.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { evaluate } from './conditions.ts'
import { permissions } from './index.ts'

const OPL = `
class User implements Namespace {}
class Account implements Namespace {
  related: { owners: User[]; tellers: User[] }
  permits = { withdraw: (ctx: Context): boolean => this.related.owners.includes(ctx.subject) || this.related.tellers.includes(ctx.subject) }
}
class Report implements Namespace { related: { viewers: User[]; exporters: User[] } }`

const hhmm = (d: Date) => `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`
const hours = (h: number) => new Date(Date.now() + h * 3600_000)

describe('conditions: evaluation', () => {
  it('compares context values, fails closed on missing keys, and never evaluates code', () => {
    expect(evaluate({ eq: [{ context: 'organization' }, 'acme'] }, { organization: 'acme' })).toBe(true)
    expect(evaluate({ eq: [{ context: 'organization' }, 'acme'] }, {})).toBe(false)
    expect(evaluate({ not: { eq: [{ context: 'organization' }, 'acme'] } }, { organization: 'globex' })).toBe(true)
    expect(evaluate({ in: [{ context: 'plan' }, ['pro', 'enterprise']] }, { plan: 'free' })).toBe(false)
    expect(evaluate({ gte: [{ context: 'amount' }, 100] }, { amount: '1000' })).toBe(false) // types must match
    expect(evaluate({ eq: [{ context: 'constructor' }, 'x'] }, {})).toBe(false) // no prototype lookups
  })

  it('opens a time window by the server clock, in a time zone, on weekdays (banking time lock)', () => {
    const monday10utc = new Date('2026-11-23T10:00:00Z') // a Monday
    const lock = { time_window: { from: '09:00', to: '17:00', weekdays: [1, 2, 3, 4, 5] } }
    expect(evaluate(lock, {}, monday10utc)).toBe(true)
    expect(evaluate(lock, {}, new Date('2026-11-22T10:00:00Z'))).toBe(false) // Sunday
    expect(evaluate(lock, {}, new Date('2026-11-23T17:00:00Z'))).toBe(false)
    expect(evaluate({ time_window: { from: '09:00', to: '17:00', timezone: 'Asia/Tokyo' } }, {}, monday10utc)).toBe(false) // 19:00 in Tokyo
    expect(evaluate({ time_window: { from: '22:00', to: '06:00' } }, {}, new Date('2026-11-23T02:00:00Z'))).toBe(true) // over midnight
  })
})

for (const driver of drivers('permissions-conditions')) {
  describe.skipIf(!driver.enabled)(`conditions on relation tuples (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: TestApps
    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps([permissions({ namespaces: OPL })], { database: scratch.db })
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })
    const put = (body: unknown) => call(apps.admin, 'PUT', '/admin/relation-tuples', { body })
    const check = async (body: unknown) => (await call(apps.admin, 'POST', '/relation-tuples/check/openapi', { body })).json.allowed

    it('grants access by organization only with the right organization in the request context', async () => {
      const w = await put({ namespace: 'Report', object: 'q3', relation: 'viewers', subject_id: 'ada', condition: { eq: [{ context: 'organization' }, 'acme'] } })
      expect(w.status).toBe(201)
      expect(w.json.condition).toEqual({ eq: [{ context: 'organization' }, 'acme'] })
      const base = { namespace: 'Report', object: 'q3', relation: 'viewers', subject_id: 'ada' }
      expect(await check({ ...base, context: { organization: 'acme' } })).toBe(true)
      expect(await check({ ...base, context: { organization: 'globex' } })).toBe(false)
      expect(await check(base)).toBe(false)
      const get = await call(apps.admin, 'GET', '/relation-tuples/check?namespace=Report&object=q3&relation=viewers&subject_id=ada&context.organization=acme')
      expect(get.status).toBe(200)
      const svc = apps.kernel.services.require('permissions.check')
      expect(await svc.check('default', { namespace: 'Report', object: 'q3', relation: 'viewers', subject: { id: 'ada' }, context: { organization: 'acme' } })).toBe(true)
      const listed = await call(apps.admin, 'GET', '/relation-tuples?namespace=Report&object=q3')
      expect(listed.json.relation_tuples[0].condition).toEqual({ eq: [{ context: 'organization' }, 'acme'] })
    })

    it('locks withdrawals by tellers outside the time window; the request cannot move the clock', async () => {
      await put({ namespace: 'Account', object: 'vault', relation: 'tellers', subject_id: 'open', condition: { time_window: { from: hhmm(hours(-1)), to: hhmm(hours(1)) } } })
      await put({ namespace: 'Account', object: 'vault', relation: 'tellers', subject_id: 'closed', condition: { time_window: { from: hhmm(hours(2)), to: hhmm(hours(3)) } } })
      const base = { namespace: 'Account', object: 'vault', relation: 'withdraw' }
      expect(await check({ ...base, subject_id: 'open' })).toBe(true)
      expect(await check({ ...base, subject_id: 'closed' })).toBe(false)
      expect(await check({ ...base, subject_id: 'closed', context: { now: hours(2.5).toISOString(), time: hhmm(hours(2.5)) } })).toBe(false)
    })

    it('gates exports by billing plan, and rewriting a tuple replaces its condition', async () => {
      const tuple = { namespace: 'Report', object: 'q3', relation: 'exporters', subject_id: 'bob' }
      await put({ ...tuple, condition: { in: [{ context: 'plan' }, ['pro', 'enterprise']] } })
      expect(await check({ ...tuple, context: { plan: 'pro' } })).toBe(true)
      expect(await check({ ...tuple, context: { plan: 'free' } })).toBe(false)
      await put(tuple)
      expect(await check({ ...tuple, context: { plan: 'free' } })).toBe(true)
    })

    it('gives the permissions authorizer a request context from templates', async () => {
      const { compilePipeline, definePlugin } = await import('tessera')
      const auth = definePlugin({
        id: 'org-header',
        authenticators: [{ id: 'org_header', authenticate: (req, session) => ((session.subject = 'ada'), (session.extra = { org: req.headers.get('x-org') ?? '' }), { kind: 'authenticated' }) }],
      })
      const { kernel } = await bootApps([permissions({ namespaces: OPL }), auth()], { database: scratch.db, start: false })
      const rule = compilePipeline(
        {
          id: 'reports',
          authenticators: [{ handler: 'org_header' }],
          authorizer: { handler: 'permissions', config: { namespace: 'Report', object: 'q3', relation: 'viewers', context: { organization: '{{ .Extra.org }}' } } },
          mutators: [],
        },
        kernel.registries,
      )
      const run = (org: string) => rule.run({ method: 'GET', url: new URL('http://localhost/r'), headers: new Headers({ 'x-org': org }), tenant: 'default' })
      expect((await run('acme')).allowed).toBe(true)
      expect((await run('globex')).allowed).toBe(false)
    })

    it('refuses malformed conditions with 400', async () => {
      const base = { namespace: 'Report', object: 'q3', relation: 'viewers', subject_id: 'eve' }
      let deep: unknown = { eq: [1, 1] }
      for (let i = 0; i < 9; i++) deep = { not: deep }
      for (const condition of [{ eval: 'process.exit()' }, { eq: [1] }, { time_window: { from: '25:00', to: '10:00' } }, { time_window: { from: '09:00', to: '10:00', timezone: 'Mars/Olympus' } }, deep, 'true']) {
        const r = await put({ ...base, condition })
        expect({ condition, status: r.status }).toEqual({ condition, status: 400 })
      }
    })
  })
}

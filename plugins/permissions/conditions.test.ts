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
      const svc = apps.kernel.services.get('permissions.check')!
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

/** Conditions on relations and permissions of the model (`relationConditions`), not on single tuples. */
const POLICY_OPL = `
class User implements Namespace {}
class Org implements Namespace { related: { members: User[] } }
class Account implements Namespace {
  related: { owners: User[]; tellers: (User | SubjectSet<Org, "members">)[] }
  permits = {
    withdraw: (ctx: Context): boolean => this.related.owners.includes(ctx.subject) || this.permits.teller_withdraw(ctx),
    teller_withdraw: (ctx: Context): boolean => this.related.tellers.includes(ctx.subject),
  }
}
class Report implements Namespace {
  related: { viewers: User[] }
  permits = { export: (ctx: Context): boolean => this.related.viewers.includes(ctx.subject) }
}`

for (const driver of drivers('permissions-relation-conditions')) {
  describe.skipIf(!driver.enabled)(`conditions on relations and permissions (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: TestApps
    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps(
        [
          permissions({
            namespaces: POLICY_OPL,
            relationConditions: {
              // the vault's teller window is closed now (an hour from now to two hours from now)
              'Account#teller_withdraw': { time_window: { from: hhmm(hours(1)), to: hhmm(hours(2)) } },
              // exports need a paid plan, whoever the viewer is
              'Report#export': { in: [{ context: 'plan' }, ['pro', 'enterprise']] },
              // organization membership counts only for requests made in that organization
              'Org#members': { eq: [{ context: 'organization' }, 'acme'] },
            },
          }),
        ],
        { database: scratch.db },
      )
      const tuples = [
        { namespace: 'Account', object: 'vault', relation: 'owners', subject_id: 'olga' },
        { namespace: 'Account', object: 'vault', relation: 'tellers', subject_id: 'tom' },
        { namespace: 'Account', object: 'vault', relation: 'tellers', subject_set: { namespace: 'Org', object: 'acme', relation: 'members' } },
        { namespace: 'Org', object: 'acme', relation: 'members', subject_id: 'carol' },
        { namespace: 'Report', object: 'q3', relation: 'viewers', subject_id: 'ada' },
        { namespace: 'Report', object: 'q4', relation: 'viewers', subject_id: 'ada' },
      ]
      for (const body of tuples) expect((await call(apps.admin, 'PUT', '/admin/relation-tuples', { body })).status).toBe(201)
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })
    const check = async (body: Record<string, unknown>) => (await call(apps.admin, 'POST', '/relation-tuples/check/openapi', { body })).json.allowed

    it('closes a permission outside its time window for everyone it covers, and leaves the rest of the rewrite open', async () => {
      const vault = { namespace: 'Account', object: 'vault' }
      expect(await check({ ...vault, relation: 'withdraw', subject_id: 'tom' })).toBe(false)
      expect(await check({ ...vault, relation: 'withdraw', subject_id: 'olga' })).toBe(true) // owners are not behind the window
      expect(await check({ ...vault, relation: 'tellers', subject_id: 'tom' })).toBe(true) // the relation itself has no condition
      const why = await call(apps.admin, 'GET', '/relation-tuples/check/explain?namespace=Account&object=vault&relation=teller_withdraw&subject_id=tom')
      expect(why.json.allowed).toBe(false)
      expect(JSON.stringify(why.json)).toContain('the condition on Account#teller_withdraw does not hold')
    })

    it('gates a permission by the request context, on check, the service, list-objects and list-subjects alike', async () => {
      const base = { namespace: 'Report', object: 'q3', relation: 'export', subject_id: 'ada' }
      expect(await check({ ...base, context: { plan: 'pro' } })).toBe(true)
      expect(await check({ ...base, context: { plan: 'free' } })).toBe(false)
      expect(await check(base)).toBe(false) // no plan in the context: fail closed
      const svc = apps.kernel.services.get('permissions.check')!
      expect(await svc.check('default', { namespace: 'Report', object: 'q3', relation: 'export', subject: { id: 'ada' }, context: { plan: 'enterprise' } })).toBe(true)
      const objects = async (q: string) => (await call(apps.admin, 'GET', `/relation-tuples/list-objects?namespace=Report&relation=export&subject_id=ada${q}`)).json.objects
      expect(await objects('&context.plan=pro')).toEqual(['q3', 'q4'])
      expect(await objects('&context.plan=free')).toEqual([])
      const subjects = async (q: string) => (await call(apps.admin, 'GET', `/relation-tuples/list-subjects?namespace=Report&object=q3&relation=export${q}`)).json.subject_ids
      expect(await subjects('&context.plan=pro')).toEqual(['ada'])
      expect(await subjects('')).toEqual([])
    })

    it('applies a relation condition where a check reaches the relation through a subject set', async () => {
      const tellers = { namespace: 'Account', object: 'vault', relation: 'tellers', subject_id: 'carol' }
      expect(await check({ ...tellers, context: { organization: 'acme' } })).toBe(true)
      expect(await check({ ...tellers, context: { organization: 'globex' } })).toBe(false)
      expect(await check({ namespace: 'Org', object: 'acme', relation: 'members', subject_id: 'carol' })).toBe(false)
    })

    it('binds a list page token to the request context it was issued for', async () => {
      const first = await call(apps.admin, 'GET', '/relation-tuples/list-objects?namespace=Report&relation=export&subject_id=ada&page_size=1&context.plan=pro')
      expect(first.json.objects).toEqual(['q3'])
      const token = encodeURIComponent(first.json.next_page_token)
      const next = await call(apps.admin, 'GET', `/relation-tuples/list-objects?namespace=Report&relation=export&subject_id=ada&page_size=1&context.plan=pro&page_token=${token}`)
      expect(next.json.objects).toEqual(['q4'])
      const other = await call(apps.admin, 'GET', `/relation-tuples/list-objects?namespace=Report&relation=export&subject_id=ada&page_size=1&context.plan=enterprise&page_token=${token}`)
      expect(other.status).toBe(400)
    })
  })
}

describe('relationConditions at boot', () => {
  it('refuses a condition on an undeclared relation, an unknown namespace, a model without OPL, a bad key or a bad condition, naming it', async () => {
    const boot = (relationConditions: Record<string, unknown>, namespaces: unknown = POLICY_OPL) =>
      bootApps([permissions({ namespaces, relationConditions } as never)]).then((a) => a.kernel.stop())
    const open = { eq: [1, 1] }
    await expect(boot({ 'Report#nope': open })).rejects.toThrow('relationConditions["Report#nope"]: namespace "Report" has no relation or permission "nope" (declared: viewers, export)')
    await expect(boot({ 'Nope#x': open })).rejects.toThrow('relationConditions["Nope#x"]: no namespace "Nope"')
    await expect(boot({ 'Report#export': open }, [{ name: 'Report' }])).rejects.toThrow('conditions on relations need namespaces in the Ory Permission Language')
    await expect(boot({ 'Report.export': open })).rejects.toThrow('expected a key "Namespace#relation"')
    await expect(boot({ 'Report#export': { eval: 'process.exit()' } })).rejects.toThrow('relationConditions')
  })
})

/**
 * The `permissions` authorizer (Oathkeeper's Keto authorizer) end to end on SQLite and PostgreSQL: access rules
 * through `/decisions`, the permissions plugin answering in-process through its `permissions.check` service.
 * Object, subject and request context templated from the matched URL and the session; Sprig functions work as in
 * every proxy template. Without the service a rule naming the authorizer is refused when the rules load.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test'
import { definePlugin } from 'tessera'
import { type TestApps, bootApps, call } from '../../test/helpers/app.ts'
import { type ScratchDatabase, drivers } from '../../test/helpers/databases.ts'
import { permissions } from '../permissions/index.ts'
import { REWRITES_OPL } from '../permissions/fixtures.ts'
import { proxy } from './index.ts'
import { bootProxy } from './test-helpers.ts'

const OPL = `${REWRITES_OPL}
class Report implements Namespace { related: { viewers: User[] } }`

/** The subject from X-User, Extra.org from X-Org: a stand-in for a real authenticator. */
const headerUser = definePlugin({
  id: 'header-user',
  authenticators: [
    {
      id: 'header_user',
      authenticate: (req, session) => {
        const user = req.headers.get('x-user')
        if (!user) return { kind: 'not_responsible' }
        session.subject = user
        session.extra = { org: req.headers.get('x-org') ?? '' }
        return { kind: 'authenticated' }
      },
    },
  ],
})

const rules = [
  {
    id: 'files',
    match: { url: 'http://localhost/files/<.+>', methods: ['GET'] },
    authenticators: [{ handler: 'header_user' }],
    authorizer: { handler: 'permissions', config: { namespace: 'File', object: '{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}', relation: 'view' } },
    errors: [{ handler: 'json', config: { verbose: true } }],
  },
  {
    id: 'reports',
    match: { url: 'http://localhost/reports/<[a-z0-9]+>', methods: ['GET'] },
    authenticators: [{ handler: 'header_user' }],
    authorizer: {
      handler: 'permissions',
      config: { namespace: 'Report', object: '{{ index .MatchContext.RegexpCaptureGroups 0 }}', relation: 'viewers', subject: '{{ .Subject | lower }}', context: { organization: '{{ .Extra.org }}' } },
    },
    errors: [{ handler: 'json', config: { verbose: true } }],
  },
]

for (const driver of drivers('proxy-permissions')) {
  describe.skipIf(!driver.enabled)(`proxy: the permissions authorizer (${driver.name})`, () => {
    let scratch: ScratchDatabase
    let apps: TestApps
    beforeAll(async () => {
      scratch = await driver.create()
      apps = await bootApps([permissions({ namespaces: OPL }), headerUser(), proxy({ serve: { enabled: false }, rules })], { database: scratch.db })
      const tuples = [
        { namespace: 'Folder', object: 'keto/', relation: 'viewers', subject_set: { namespace: 'Group', object: 'developer', relation: 'members' } },
        { namespace: 'Group', object: 'developer', relation: 'members', subject_id: 'patrik' },
        { namespace: 'File', object: 'keto/README.md', relation: 'parents', subject_set: { namespace: 'Folder', object: 'keto/', relation: '' } },
        { namespace: 'Report', object: 'q3', relation: 'viewers', subject_id: 'ada', condition: { eq: [{ context: 'organization' }, 'acme'] } },
      ]
      for (const t of tuples) expect((await call(apps.admin, 'PUT', '/admin/relation-tuples', { body: t })).status).toBe(201)
    })
    afterAll(async () => {
      await apps.kernel.stop()
      await scratch.drop()
    })

    const decide = (path: string, headers: Record<string, string>) => call(apps.admin, 'GET', `/decisions${path}`, { headers })

    it('allows a subject the relation tuples reach, object taken from the URL, and denies others with 403 permission_denied', async () => {
      expect((await decide('/files/keto/README.md', { 'x-user': 'patrik' })).status).toBe(200)
      const denied = await decide('/files/keto/README.md', { 'x-user': 'mallory' })
      expect([denied.status, denied.json.error.reason]).toEqual([403, 'permission_denied'])
      expect((await decide('/files/other.md', { 'x-user': 'patrik' })).status).toBe(403)
    })

    it('gives conditions a request context from templates, and templates the subject with Sprig functions', async () => {
      expect((await decide('/reports/q3', { 'x-user': 'ADA', 'x-org': 'acme' })).status).toBe(200)
      expect((await decide('/reports/q3', { 'x-user': 'ada', 'x-org': 'globex' })).status).toBe(403)
      expect((await decide('/reports/q3', { 'x-user': 'bob', 'x-org': 'acme' })).status).toBe(403)
    })
  })
}

describe('proxy: the permissions authorizer when rules load', () => {
  const rule = { id: 'docs', match: { url: 'http://localhost/docs/<([^/]+)>', methods: ['GET'] }, authenticators: [{ handler: 'anonymous' }] }
  const config = { namespace: 'Document', relation: 'view', object: '{{ index .MatchContext.RegexpCaptureGroups 0 }}' }

  it('refuses a rule naming it when no plugin provides permissions.check, saying what to install', async () => {
    await expect(bootProxy({ rules: [{ ...rule, authorizer: { handler: 'permissions', config } }] })).rejects.toThrow(
      'rules.docs: the authorizer `permissions` needs the `permissions.check` service, which no installed plugin provides: install the permissions plugin',
    )
  })

  it('refuses a config that is not the documented shape, or a template the proxy does not understand', async () => {
    const boot = (c: unknown) => bootProxy({ rules: [{ ...rule, authorizer: { handler: 'permissions', config: c } }] }, [permissions({ namespaces: OPL })])
    await expect(boot({ ...config, namespace: '' })).rejects.toThrow('namespace')
    await expect(boot({ ...config, object: '{{ env "HOME" }}' })).rejects.toThrow('env')
  })

  it("asks a host app's own permissions.check service when one is provided", async () => {
    const asked: unknown[] = []
    const host = definePlugin({
      id: 'host-permissions',
      setup: (ctx) => ctx.services.provide('permissions.check', { check: async (tenant, req) => (asked.push({ tenant, ...req }), req.object === 'open') }, ctx.id),
    })
    const { kernel, admin } = await bootProxy({ rules: [{ ...rule, authorizer: { handler: 'permissions', config } }] }, [host()])
    expect((await call(admin, 'GET', '/decisions/docs/open')).status).toBe(200)
    expect((await call(admin, 'GET', '/decisions/docs/secret')).status).toBe(403)
    expect(asked[0]).toEqual({ tenant: 'default', namespace: 'Document', object: 'open', relation: 'view', subject: { id: 'anonymous' }, context: {} })
    await kernel.stop()
  })
})

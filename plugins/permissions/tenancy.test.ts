/** Security checklist: tenant isolation of relation tuples and page tokens, through HTTP. */
import { describe, expect, it } from 'bun:test'
import { bootApps } from '../../test/helpers/app.ts'
import { permissions } from './index.ts'

describe('permissions across tenants (tenants by host name)', () => {
  it('answers each tenant from its own tuples, and refuses another tenant\'s page token with 400', async () => {
    const { kernel, admin } = await bootApps([permissions()], { config: { tenancy: { hosts: { 'a.example.com': 'tenant-a', 'b.example.com': 'tenant-b' } } } })
    const req = async (host: string, method: string, path: string, body?: unknown) => {
      const res = await admin.handle(
        new Request(`http://${host}${path}`, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined }),
      )
      return { status: res.status, json: res.status === 204 ? null : await res.json() }
    }
    for (const i of [1, 2, 3]) await req('a.example.com', 'PUT', '/admin/relation-tuples', { namespace: 'docs', object: `d${i}`, relation: 'viewer', subject_id: 'ada' })
    expect((await req('a.example.com', 'GET', '/relation-tuples/check/openapi?namespace=docs&object=d1&relation=viewer&subject_id=ada')).json).toEqual({ allowed: true })
    expect((await req('b.example.com', 'GET', '/relation-tuples/check/openapi?namespace=docs&object=d1&relation=viewer&subject_id=ada')).json).toEqual({ allowed: false })
    expect((await req('b.example.com', 'GET', '/relation-tuples?namespace=docs')).json).toEqual({ relation_tuples: [], next_page_token: '' })

    const page = await req('a.example.com', 'GET', '/relation-tuples?namespace=docs&page_size=1')
    const token = page.json.next_page_token as string
    expect((await req('a.example.com', 'GET', `/relation-tuples?namespace=docs&page_size=1&page_token=${token}`)).json.relation_tuples[0].object).toBe('d2')
    const foreign = await req('b.example.com', 'GET', `/relation-tuples?namespace=docs&page_size=1&page_token=${token}`)
    expect(foreign.status).toBe(400)
    expect(foreign.json.error.reason).toBe('The page token is invalid.')
    await kernel.stop()
  })
})

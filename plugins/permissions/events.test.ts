import { describe, expect, it } from 'bun:test'
import { definePlugin } from 'tessera'
import { bootApps, call } from '../../test/helpers/app.ts'
import { permissions } from './index.ts'

describe('permissions events', () => {
  it('emits relation_tuples.written and relation_tuples.deleted with the tenant', async () => {
    const seen: unknown[] = []
    const audit = definePlugin({
      id: 'audit',
      on: {
        'relation_tuples.written': (e, meta) => void seen.push(['written', e, meta.tenant]),
        'relation_tuples.deleted': (e, meta) => void seen.push(['deleted', e, meta.tenant]),
      },
    })
    const { kernel, admin } = await bootApps([permissions(), audit()])
    const tuple = { namespace: 'docs', object: 'a', relation: 'viewer', subject_id: 'ada' }
    await call(admin, 'PUT', '/admin/relation-tuples', { body: tuple })
    await call(admin, 'PATCH', '/admin/relation-tuples', { body: [{ action: 'delete', relation_tuple: tuple }, { action: 'insert', relation_tuple: { ...tuple, object: 'b' } }] })
    await call(admin, 'DELETE', '/admin/relation-tuples?namespace=docs')
    expect(seen).toEqual([
      ['written', { inserted: [tuple], deleted: [] }, 'default'],
      ['written', { inserted: [{ ...tuple, object: 'b' }], deleted: [tuple] }, 'default'],
      ['deleted', { filter: { namespace: 'docs' }, count: 1 }, 'default'],
    ])
    await kernel.stop()
  })
})

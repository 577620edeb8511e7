import { describe, expect, it } from 'bun:test'
import { postgresDialect } from '../../drivers/postgres.ts'
import { render, sql } from './sql.ts'
import { sqliteDialect } from '../../drivers/sqlite.ts'

describe('sql tagged template', () => {
  const q = sql`SELECT ${sql.id('title')} FROM notes WHERE nid = ${'t'} AND id IN ${sql.in(['a', 'b'])} AND ${sql.dialect({ sqlite: 'x LIKE', postgres: 'x ILIKE' })} ${'%y%'}`

  it('renders ? placeholders for SQLite and $n for PostgreSQL, values as parameters', () => {
    expect(render(q, sqliteDialect)).toEqual({
      text: 'SELECT "title" FROM notes WHERE nid = ? AND id IN (?, ?) AND x LIKE ?',
      params: ['t', 'a', 'b', '%y%'],
    })
    expect(render(q, postgresDialect)).toEqual({
      text: 'SELECT "title" FROM notes WHERE nid = $1 AND id IN ($2, $3) AND x ILIKE $4',
      params: ['t', 'a', 'b', '%y%'],
    })
  })

  it('composes fragments', () => {
    const where = sql`nid = ${'t'}`
    const r = render(sql`SELECT 1 FROM x WHERE ${where} AND ${sql.join([sql`a = ${1}`, sql`b = ${2}`], ' AND ')}`, postgresDialect)
    expect(r).toEqual({ text: 'SELECT 1 FROM x WHERE nid = $1 AND a = $2 AND b = $3', params: ['t', 1, 2] })
  })

  it('refuses identifiers that could smuggle SQL', () => {
    expect(() => sql.id('notes; DROP TABLE x')).toThrow(/invalid SQL identifier/)
  })

  it('encodes dates, booleans and JSON per dialect, and refuses bare objects', () => {
    const d = new Date('2026-01-01T00:00:00Z')
    expect(render(sql`${d}${true}${sql.json({ a: 1 })}`, sqliteDialect).params).toEqual(['2026-01-01T00:00:00.000Z', 1, '{"a":1}'])
    expect(render(sql`${d}${true}${sql.json({ a: 1 })}`, postgresDialect).params).toEqual([d, true, { a: 1 }])
    expect(() => render(sql`${{ a: 1 }}`, sqliteDialect)).toThrow(/sql\.json/)
  })
})

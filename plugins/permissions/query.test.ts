/** The check's hand-split query agrees with URLSearchParams whenever it is used (nothing encoded). */
import { describe, expect, it } from 'bun:test'
import fc from 'fast-check'
import { plainPairs } from './routes.ts'

const pairsOf = (query: string) => plainPairs(new Request(`http://x/relation-tuples/check${query}`))

describe('check query splitting', () => {
  it("gives what URLSearchParams gives for the request's query whenever it answers (property)", () => {
    const chars = fc.constantFrom(...'abcXYZ019_-.~:@!$\'()*,;=&/?% +#é'.split(''))
    let answered = 0
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 40 }).map((a) => a.join('')), (query) => {
        const request = new Request(`http://x/relation-tuples/check?${query}`)
        const mine = plainPairs(request)
        if (mine === null) return // something is encoded: URLSearchParams decodes it
        answered++
        expect(mine).toEqual([...new URL(request.url).searchParams])
      }),
      { numRuns: 1000 },
    )
    expect(answered).toBeGreaterThan(100)
  })

  it('leaves encoded queries to URLSearchParams, and ignores the fragment', () => {
    expect(pairsOf('?subject_id=a%20b')).toBeNull()
    expect(pairsOf('?subject_id=a+b')).toBeNull()
    expect(pairsOf('')).toEqual([])
    expect(pairsOf('?a=1&&b=&c#x=2')).toEqual([['a', '1'], ['b', ''], ['c', '']])
  })
})

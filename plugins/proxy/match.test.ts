import { describe, expect, it } from 'bun:test'
import { isTrusted, trustedProxies } from './engine.ts'
import { compileUrlMatcher, normalisePath, rawPathOf } from './match.ts'

describe('proxy rule matching', () => {
  it('matches regexp patterns between < and > and returns their capture groups, each <…> one of them', () => {
    // as ory/ladon's CompileRegex: `<x>` is `(x)`, so a group inside it is the next one
    const m = compileUrlMatcher('https://api.example.com/users/<([0-9]+)>/posts/<.*>', 'regexp')
    expect(m.match('https://api.example.com/users/42/posts/a/b')).toEqual(['42', '42', 'a/b'])
    expect(m.match('https://api.example.com/users/x/posts/a')).toBeNull()
    // outside <…> everything is literal: the dot does not match any character
    expect(compileUrlMatcher('https://api.example.com/x', 'regexp').match('https://apixexample.com/x')).toBeNull()
  })

  it('matches globs: * stops at . and /, ** does not, {a,b} alternates, [..] classes', () => {
    const m = compileUrlMatcher('https://<*>.example.com/<**>', 'glob')
    expect(m.match('https://api.example.com/a/b/c')).toEqual([])
    expect(m.match('https://evil.api.example.com/a')).toBeNull()
    const one = compileUrlMatcher('http://h/files/<*>', 'glob')
    expect(one.match('http://h/files/a')).not.toBeNull()
    expect(one.match('http://h/files/a/b')).toBeNull()
    const alt = compileUrlMatcher('http://h/<{users,groups}>/<[0-9]>', 'glob')
    expect(alt.match('http://h/groups/7')).not.toBeNull()
    expect(alt.match('http://h/roles/7')).toBeNull()
    expect(compileUrlMatcher('http://h/<[!a]>', 'glob').match('http://h/a')).toBeNull()
  })

  it('refuses an unbalanced pattern with a readable message', () => {
    expect(() => compileUrlMatcher('http://h/<(.*', 'regexp')).toThrow("unbalanced '<'")
    expect(() => compileUrlMatcher('http://h/<(>', 'regexp')).toThrow()
  })

  it('Oathkeeper CVE-2026-33494: every path variant normalises to its canonical path', () => {
    for (const variant of ['/public/../admin', '/public/%2e%2e/admin', '/public/%2E%2E/admin', '/public/..%2fadmin', '/public/..%2Fadmin', '//admin', '/./admin', '/public/./../admin', '/a/b/../../admin']) {
      expect(normalisePath(variant)).toBe('/admin')
    }
    expect(normalisePath('/../../admin')).toBe('/admin')
    expect(normalisePath('/')).toBe('/')
    expect(normalisePath('/a/b/')).toBe('/a/b/')
    expect(normalisePath('/a%20b')).toBe('/a%20b')
    expect(() => normalisePath('/a%zz')).toThrow('percent-encoding')
    expect(() => normalisePath('/a%00')).toThrow('NUL')
    // ..;/ (the servlet path-parameter bypass, cf. CVE-2026-3872 in the security checklist) is refused, not forwarded
    expect(() => normalisePath('/public/..;/admin')).toThrow('dot segment')
    expect(() => normalisePath('/public/..%3B/admin')).toThrow('dot segment')
    expect(normalisePath('/a;v=1/b')).toBe('/a;v=1/b')
  })

  it('takes the raw path of a URL without query or fragment, as sent', () => {
    expect(rawPathOf('http://h/public/..%2fadmin?x=1#f')).toBe('/public/..%2fadmin')
    expect(rawPathOf('http://h')).toBe('/')
  })
})

describe('trusted proxies (CVE-2026-33495)', () => {
  it('matches addresses and CIDR ranges, IPv4, IPv6 and IPv4-mapped IPv6; the list is parsed once per options', () => {
    const options = { trusted_proxies: ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '::1'] }
    const trusted = trustedProxies(options)
    expect(trustedProxies(options)).toBe(trusted)
    expect(['10.1.2.3', '::ffff:10.255.0.1', '192.0.2.7', '2001:db8:1::5', '::1'].map((ip) => isTrusted(ip, trusted))).toEqual([true, true, true, true, true])
    expect(['11.0.0.1', '192.0.2.8', '2001:db9::1', '::2', 'garbage', '', undefined].map((ip) => isTrusted(ip, trusted))).toEqual([false, false, false, false, false, false, false])
    expect(trustedProxies({ trusted_proxies: [] })).toBeNull()
    expect(isTrusted('10.1.2.3', null)).toBe(false)
  })

  it('refuses a mistyped entry instead of trusting everyone (a bad prefix once read as /0)', () => {
    for (const bad of ['10.0.0.0/x', '10.0.0.0/', '10.0.0.0/33', 'not-an-ip', '::1/129']) {
      expect(() => trustedProxies({ trusted_proxies: ['192.0.2.1', bad] })).toThrow(`plugins.proxy.options.trusted_proxies: "${bad}" is not an IP address or CIDR range`)
    }
  })
})

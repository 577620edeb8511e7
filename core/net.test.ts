import { describe, expect, it } from 'bun:test'
import { resolveConfig } from './config/load.ts'
import { ConfigError } from './errors.ts'
import { cidrList, clientAddressOf, inCidrList } from './net.ts'

describe('client addresses behind trusted proxies', () => {
  const trusted = cidrList(['10.0.0.0/8', '::1'], 'serve.trustedProxies')

  it('is the socket peer when no proxy is trusted or the peer is not one of them', () => {
    expect(clientAddressOf('203.0.113.9', '192.0.2.1', undefined)).toBe('203.0.113.9')
    expect(clientAddressOf('203.0.113.9', '192.0.2.1', trusted)).toBe('203.0.113.9')
    expect(clientAddressOf(undefined, '192.0.2.1', trusted)).toBeUndefined()
  })

  it('is the right-most X-Forwarded-For hop that is not a trusted proxy, from a trusted peer', () => {
    expect(clientAddressOf('10.0.0.2', '192.0.2.1', trusted)).toBe('192.0.2.1')
    expect(clientAddressOf('::ffff:10.0.0.2', '6.6.6.6, 192.0.2.1, 10.9.9.9', trusted)).toBe('192.0.2.1')
    expect(clientAddressOf('::1', '2001:db8::5', trusted)).toBe('2001:db8::5')
    // a hop that is no address ends the walk: the last trusted proxy is the client then
    expect(clientAddressOf('10.0.0.2', '192.0.2.1, garbage', trusted)).toBe('10.0.0.2')
    // every hop trusted: the left-most
    expect(clientAddressOf('10.0.0.2', '10.0.0.3, 10.0.0.4', trusted)).toBe('10.0.0.3')
    expect(clientAddressOf('10.0.0.2', null, trusted)).toBe('10.0.0.2')
  })

  it('matches IPv4-mapped IPv6 peers and refuses what is no address', () => {
    expect(inCidrList(trusted, '::ffff:10.1.2.3')).toBe(true)
    expect(inCidrList(trusted, 'nope')).toBe(false)
    expect(() => cidrList(['10.0.0.0/'], 'x')).toThrow(ConfigError)
  })

  it('validates serve.trustedProxies at config time, naming the entry', () => {
    expect(() => resolveConfig({ dsn: 'memory', secrets: { system: ['0123456789abcdef0123'] }, serve: { trustedProxies: ['10.0.0.0/33'] } }, { env: {} })).toThrow(/serve\.trustedProxies/)
    const ok = resolveConfig({ dsn: 'memory', secrets: { system: ['0123456789abcdef0123'] } }, { env: { SERVE_TRUSTED_PROXIES: '10.0.0.0/8,::1' } })
    expect(ok.serve.trustedProxies).toEqual(['10.0.0.0/8', '::1'])
  })
})

/**
 * Client addresses: CIDR lists (parsed once, a ConfigError naming a bad entry) and the client address of a request
 * behind trusted proxies (`serve.trustedProxies`). Plugins import these from `tessera`.
 */
import { BlockList, isIP } from 'node:net'
import { ConfigError } from './errors.ts'

/** Why a CIDR entry is not one, or null (for valibot checks and cidrList alike). */
export function cidrProblem(entry: string): string | null {
  const [addr, bits, ...rest] = entry.split('/')
  const family = addr ? isIP(addr) : 0
  // a prefix is digits: Number('') would read `10.0.0.0/` as /0, everything
  const prefix = bits === undefined ? (family === 6 ? 128 : 32) : /^\d{1,3}$/.test(bits) ? Number(bits) : Number.NaN
  if (!family || rest.length || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) {
    return `"${entry}" is not an IP address or CIDR range (e.g. 10.0.0.0/8, ::1/128)`
  }
  return null
}

/** A CIDR list as a BlockList; a ConfigError naming the bad entry (at `where`) otherwise. */
export function cidrList(cidrs: readonly string[], where: string): BlockList {
  const list = new BlockList()
  for (const c of cidrs) {
    const problem = cidrProblem(c)
    if (problem) throw new ConfigError([`${where}: ${problem}`])
    const [addr, bits] = c.split('/')
    const family = isIP(addr!)
    list.addSubnet(addr!, bits === undefined ? (family === 6 ? 128 : 32) : Number(bits), family === 6 ? 'ipv6' : 'ipv4')
  }
  return list
}

/** An address without its IPv4-mapped IPv6 prefix (`::ffff:10.0.0.1` is `10.0.0.1`). */
function plain(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  return mapped ? mapped[1]! : address
}

/** Whether `address` (IPv4, IPv6, or IPv4-mapped IPv6) is in `list`. */
export function inCidrList(list: BlockList, address: string | undefined): boolean {
  if (!address) return false
  const addr = plain(address)
  const family = isIP(addr)
  if (!family) return false
  return list.check(addr, family === 6 ? 'ipv6' : 'ipv4')
}

/**
 * The client's address: the socket peer, unless the peer is a trusted proxy; then the right-most X-Forwarded-For
 * hop that is not itself a trusted proxy (hops to its left are the client's to invent). A hop that is no IP address
 * ends the walk at the last trusted one. Without a peer (embedded, no lookup), undefined.
 */
export function clientAddressOf(peer: string | undefined, forwardedFor: string | null, trusted: BlockList | undefined): string | undefined {
  if (!peer || !trusted || !forwardedFor || !inCidrList(trusted, peer)) return peer
  let client = peer
  const hops = forwardedFor.split(',')
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!.trim()
    if (!isIP(plain(hop))) break
    client = plain(hop)
    if (!inCidrList(trusted, hop)) break
  }
  return client
}

/**
 * Source addresses for many client sockets to one server address and port. Each connection
 * needs its own (source address, source port) pair, and the kernel hands out ports only from
 * the ephemeral range (32768-60999 by default, about 28,000), so beyond that many sockets a
 * generator binds them to further loopback addresses: 127.0.0.2, 127.0.0.3, ... (the whole of
 * 127/8 is the loopback interface on Linux).
 */

export interface PortRange {
  readonly low: number;
  readonly high: number;
}

export const DEFAULT_PORT_RANGE: PortRange = { low: 32_768, high: 60_999 };

/** The kernel's ephemeral port range, from /proc text ("32768\t60999"), or the default. */
export function parsePortRange(text: string | undefined): PortRange {
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(text ?? "");
  if (!m) return DEFAULT_PORT_RANGE;
  const low = Number(m[1]);
  const high = Number(m[2]);
  return low >= 1 && high >= low && high <= 65_535 ? { low, high } : DEFAULT_PORT_RANGE;
}

export interface AddressPlan {
  /** Source addresses in use, in order. */
  readonly addresses: readonly string[];
  /** Sockets bound to each address (same order). */
  readonly counts: readonly number[];
}

export interface PlanOptions {
  /** Ports of the range left for everything else on the machine (other tests, TIME_WAIT). */
  readonly reserve?: number;
  /** Use at least this many addresses even when fewer would do (spreads TIME_WAIT too). */
  readonly minAddresses?: number;
  /** The first loopback address's last octet (127.0.0.<first>). */
  readonly first?: number;
}

/** Sockets one source address can take: the range minus the reserve. */
export function portsPerAddress(range: PortRange, reserve = 2_000): number {
  return Math.max(1, range.high - range.low + 1 - reserve);
}

/**
 * Spreads `sockets` evenly over as few loopback addresses as the port range allows (at least
 * `minAddresses`). Throws when more than a /24 of loopback addresses would be needed.
 */
export function planAddresses(sockets: number, range: PortRange, o: PlanOptions = {}): AddressPlan {
  if (!Number.isInteger(sockets) || sockets < 0)
    throw new RangeError(`sockets must be a whole number (got ${sockets})`);
  const per = portsPerAddress(range, o.reserve);
  const n = Math.max(o.minAddresses ?? 1, Math.ceil(sockets / per), 1);
  const first = o.first ?? 2;
  if (first < 1 || first + n - 1 > 254)
    throw new RangeError(`${n} source addresses from 127.0.0.${first} do not fit`);
  const addresses: string[] = [];
  const counts: number[] = [];
  for (let k = 0; k < n; k++) {
    addresses.push(`127.0.0.${first + k}`);
    counts.push(Math.floor(sockets / n) + (k < sockets % n ? 1 : 0));
  }
  return { addresses, counts };
}

/** The source address of socket `i` under a plan: round robin, so every prefix is spread too. */
export function addressOf(plan: AddressPlan, i: number): string {
  return plan.addresses[i % plan.addresses.length]!;
}

/** Splits `total` into `parts` near-equal whole shares (the first ones get the remainder). */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, k) => Math.floor(total / parts) + (k < total % parts ? 1 : 0));
}

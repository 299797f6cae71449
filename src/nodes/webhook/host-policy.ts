/**
 * The SSRF guard of outgoing HTTP calls (the `webhook` node): which URLs a workflow may reach.
 * Workflow definitions and their data come from users, so by default a request may not reach
 * the machine Trellis runs on, its private network or the cloud metadata service.
 */
import { loadDns, loadNet } from '../../kernel/lazy-modules.js';
import { TrellisError } from '../../kernel/errors.js';

/** Resolves a host name to every address it has (IPv4 and IPv6). */
export type HostLookup = (hostname: string) => Promise<readonly string[]>;

/** A host pattern: an exact host name or IP (`api.example.com`, `10.0.0.5`, `::1`), `*.example.com` for its subdomains, or a RegExp tested against the host name. */
export type HostPattern = string | RegExp;

/** Which hosts outgoing requests may reach. */
export interface HostPolicyOptions {
  /**
   * Hosts trusted even when they are, or resolve to, a private address. Matched against the host
   * name as written in the URL (after normalisation: lower case, no trailing dot, no IPv6
   * brackets), never against resolved addresses. Not an exclusive list: public hosts stay allowed.
   * @default []
   */
  readonly allowHosts?: readonly HostPattern[];
  /**
   * Hosts always refused, checked against the host name and against every address it resolves
   * to. Wins over `allowHosts` and `allowPrivateNetworks`.
   * @default []
   */
  readonly denyHosts?: readonly HostPattern[];
  /**
   * Lets requests reach loopback, private, link-local and other non-public addresses.
   * @default false
   */
  readonly allowPrivateNetworks?: boolean;
  /**
   * How host names are resolved for the check.
   * @default every address from `node:dns/promises` `lookup`
   */
  readonly lookup?: HostLookup;
}

/** Checks one URL before it is requested. */
export interface HostPolicy {
  /**
   * Resolves when `url` may be requested; throws `TrellisError` `forbidden` (not retryable)
   * naming the host otherwise, or `network` when its name does not resolve.
   */
  check(url: URL, signal?: AbortSignal): Promise<void>;
}

const defaultLookup: HostLookup = async (hostname) =>
  (await loadDns().lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/** `[::1]` → `::1`, `Example.COM.` → `example.com`: the form patterns are compared with. */
function normaliseHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  // IPv6 has many spellings; the URL parser prints the canonical one.
  if (loadNet().isIP(h) === 6) h = new URL(`http://[${h}]`).hostname.slice(1, -1);
  return h;
}

function matcher(name: string, patterns: readonly HostPattern[] | undefined): (host: string) => boolean {
  if (patterns !== undefined && !Array.isArray(patterns)) {
    throw new TrellisError('invalid_options', `Option "${name}" must be an array of strings and RegExps; received ${typeof patterns}.`);
  }
  const tests = (patterns ?? []).map((p, i): ((host: string) => boolean) => {
    if (p instanceof RegExp) {
      // A copy without g/y: those flags make test() stateful through lastIndex.
      const re = new RegExp(p.source, p.flags.replace(/[gy]/g, ''));
      return (host) => re.test(host);
    }
    if (typeof p !== 'string' || p.trim() === '') {
      throw new TrellisError('invalid_options', `Option "${name}[${i}]" must be a non-empty string or a RegExp; received ${JSON.stringify(p)}.`);
    }
    if (p.startsWith('*.')) {
      const suffix = normaliseHost(p.slice(1));
      return (host) => host.endsWith(suffix);
    }
    const exact = normaliseHost(p);
    return (host) => host === exact;
  });
  return (host) => tests.some((t) => t(host));
}

// ---------------------------------------------------------------------------------------------
// Address classification

/** IPv4 ranges that are not the public internet, as [first address, prefix length]. */
const PRIVATE_V4: readonly (readonly [string, number])[] = [
  ['0.0.0.0', 8], // "this network"; 0.0.0.0 reaches the local host on most systems
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT; also Alibaba Cloud's metadata service (100.100.100.200)
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, including the cloud metadata IP 169.254.169.254
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and 255.255.255.255 broadcast
];

function v4ToInt(address: string): number {
  return address.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

const PRIVATE_V4_RANGES = PRIVATE_V4.map(([base, bits]) => {
  const size = 2 ** (32 - bits);
  const start = v4ToInt(base);
  return [start, start + size] as const;
});

function isPrivateV4(address: string): boolean {
  const n = v4ToInt(address);
  return PRIVATE_V4_RANGES.some(([start, end]) => n >= start && n < end);
}

/** The 8 groups of an IPv6 address (zone id dropped, embedded dotted IPv4 expanded). */
function v6Groups(address: string): number[] {
  let text = address.split('%')[0] ?? '';
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const n = v4ToInt(dotted[1] ?? '');
    text = text.slice(0, dotted.index) + `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

function groupsToV4(hi: number, lo: number): string {
  return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
}

function isPrivateV6(address: string): boolean {
  const g = v6Groups(address);
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const zeroTo = (n: number): boolean => g.slice(0, n).every((x) => x === 0);
  // IPv4 inside IPv6: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d, covers :: and ::1),
  // NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::) reach the embedded IPv4 address.
  if (zeroTo(5) && g5 === 0xffff) return isPrivateV4(groupsToV4(g6, g7));
  if (zeroTo(6)) return g6 === 0 && g7 <= 1 ? true : isPrivateV4(groupsToV4(g6, g7));
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return isPrivateV4(groupsToV4(g6, g7));
  if (g0 === 0x2002) return isPrivateV4(groupsToV4(g1, g2));
  return (
    (g0 & 0xfe00) === 0xfc00 || // unique local fc00::/7
    (g0 & 0xffc0) === 0xfe80 || // link-local fe80::/10
    (g0 & 0xffc0) === 0xfec0 || // deprecated site-local fec0::/10
    (g0 & 0xff00) === 0xff00 // multicast ff00::/8
  );
}

/**
 * True when `address` (an IPv4 or IPv6 literal) is not a public internet address: loopback,
 * private, link-local (cloud metadata), carrier-grade NAT, unspecified, multicast or reserved,
 * including IPv4 ranges written inside IPv6 (mapped, compatible, NAT64, 6to4). Not an IP: false.
 *
 * @example
 * isPrivateAddress('169.254.169.254') // true
 * isPrivateAddress('::ffff:7f00:1') // true (127.0.0.1)
 * isPrivateAddress('93.184.216.34') // false
 */
export function isPrivateAddress(address: string): boolean {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const kind = loadNet().isIP(bare);
  if (kind === 4) return isPrivateV4(bare);
  if (kind === 6) return isPrivateV6(bare);
  return false;
}

// ---------------------------------------------------------------------------------------------
// The policy

function forbidden(message: string, host: string): TrellisError {
  return new TrellisError('forbidden', message, { retryable: false, details: { host } });
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

async function resolveHost(lookup: HostLookup, host: string, signal: AbortSignal | undefined): Promise<readonly string[]> {
  try {
    const addresses = await abortable(lookup(host), signal);
    if (addresses.length === 0) throw new Error('no addresses');
    return addresses;
  } catch (error) {
    if (signal?.aborted) throw error;
    const code = (error as { code?: unknown }).code;
    throw new TrellisError('network', `Could not resolve host "${host}": ${(error as Error).message}`, {
      cause: error,
      // ENOTFOUND is an answer ("no such name"); EAI_AGAIN and friends are temporary.
      retryable: code !== 'ENOTFOUND',
      details: { host },
    });
  }
}

/**
 * Builds the SSRF guard: only `http:` and `https:`, and by default no loopback (127.0.0.0/8,
 * ::1, `localhost`), private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16
 * with the cloud metadata IP, fe80::/10), unspecified (0.0.0.0, ::) or other non-public
 * addresses, in IPv4 or IPv6 (including IPv4-mapped) form. Host names are resolved and every
 * address they resolve to is checked.
 *
 * DNS rebinding is only partly mitigated: `fetch` resolves the name again when it connects, so a
 * name whose answer changes between the check and the connection (short TTL, attacker-run DNS)
 * can still reach a private address. Pin such traffic with `denyHosts`, an egress proxy or
 * network rules when that matters.
 *
 * @example
 * const policy = createHostPolicy({ allowHosts: ['billing.internal'] });
 * await policy.check(new URL('http://169.254.169.254/latest/meta-data')); // throws `forbidden`
 */
export function createHostPolicy(options: HostPolicyOptions = {}): HostPolicy {
  const allowed = matcher('allowHosts', options.allowHosts);
  const denied = matcher('denyHosts', options.denyHosts);
  const hasDeny = (options.denyHosts?.length ?? 0) > 0;
  const allowPrivate = options.allowPrivateNetworks ?? false;
  if (typeof allowPrivate !== 'boolean') {
    throw new TrellisError('invalid_options', `Option "allowPrivateNetworks" must be a boolean; received ${typeof allowPrivate}.`);
  }
  if (options.lookup !== undefined && typeof options.lookup !== 'function') {
    throw new TrellisError('invalid_options', `Option "lookup" must be a function; received ${typeof options.lookup}.`);
  }
  const lookup = options.lookup ?? defaultLookup;

  return {
    async check(url, signal) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw forbidden(`Refusing a request to "${url.protocol}" URL: only http: and https: are allowed.`, url.hostname);
      }
      const host = normaliseHost(url.hostname);
      if (denied(host)) throw forbidden(`Refusing a request to host "${host}": it is in denyHosts.`, host);
      const trusted = allowPrivate || allowed(host);
      if (trusted && !hasDeny) return;
      const isName = loadNet().isIP(host) === 0;
      if (!trusted && isName && (host === 'localhost' || host.endsWith('.localhost'))) {
        throw forbidden(`Refusing a request to host "${host}": it is the local machine (allow it with allowHosts or allowPrivateNetworks).`, host);
      }
      const addresses = isName ? await resolveHost(lookup, host, signal) : [host];
      for (const address of addresses) {
        const normalised = normaliseHost(address);
        if (denied(normalised)) throw forbidden(`Refusing a request to host "${host}": it resolves to ${address}, which is in denyHosts.`, host);
        if (!trusted && isPrivateAddress(normalised)) {
          const via = isName ? ` (it resolves to ${address})` : '';
          throw forbidden(
            `Refusing a request to host "${host}"${via}: private, loopback and link-local addresses are not allowed (allow it with allowHosts or allowPrivateNetworks).`,
            host,
          );
        }
      }
    },
  };
}

/**
 * The SSRF guard of outgoing HTTP calls (the `webhook` node): which URLs a workflow may reach.
 * Workflow definitions and their data come from users, so by default a request may not reach
 * the machine Trellis runs on, its private network or the cloud metadata service.
 */
import { loadDns, loadIpaddr, loadNet } from '../../kernel/lazy-modules.js';
import type { LookupFunction } from 'node:net';
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

/** Checks one URL before it is requested, and each address when a connection is made. */
export interface HostPolicy {
  /**
   * Resolves when `url` may be requested; throws `TrellisError` `forbidden` (not retryable)
   * naming the host otherwise, or `network` when its name does not resolve.
   */
  check(url: URL, signal?: AbortSignal): Promise<void>;
  /**
   * A `lookup` for `node:net` / `node:http` sockets: resolves with the policy's lookup and fails
   * with `forbidden` when an address the socket would connect to is refused, so the address
   * checked is the address connected to (no DNS rebinding between `check` and the connection).
   */
  readonly connectLookup: LookupFunction;
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

/**
 * True when `address` (an IPv4 or IPv6 literal) is not a global unicast address: an allow-list of
 * what is public, as ipaddr.js classifies it (its `unicast` range, the IANA special-purpose
 * registries minus every special block), rather than a deny-list of what is private. So loopback,
 * private, link-local (cloud metadata), carrier-grade NAT, unspecified, multicast, broadcast,
 * documentation (TEST-NET-1/2/3, 2001:db8::/32), 6to4 relay, NAT64 (64:ff9b::/96, 64:ff9b:1::/48),
 * SIIT (::ffff:0:0/96), Teredo, 6to4, discard (100::/64) and reserved addresses are all refused.
 * An IPv4-mapped address (::ffff:a.b.c.d) is the IPv4 address it carries. Not an IP: false.
 *
 * @example
 * isPrivateAddress('169.254.169.254') // true
 * isPrivateAddress('::ffff:0:127.0.0.1') // true (SIIT)
 * isPrivateAddress('93.184.216.34') // false
 */
export function isPrivateAddress(address: string): boolean {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (loadNet().isIP(bare) === 0) return false;
  try {
    // process() turns ::ffff:a.b.c.d into a.b.c.d, so the mapped form is judged as IPv4.
    return loadIpaddr().process(bare).range() !== 'unicast';
  } catch {
    return true; // node:net accepts it but ipaddr.js cannot read it: not known to be public
  }
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
 * Only global unicast addresses pass (see {@link isPrivateAddress}). `check` runs before each
 * request and redirect; `connectLookup` runs again when the socket connects (the webhook node's
 * default transport uses it), so a name whose answer changes in between (DNS rebinding) is
 * refused. A `fetch` of your own resolves names itself: only `check` applies then.
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
      for (const address of addresses) checkAddress(host, address, isName, trusted);
    },
    connectLookup(hostname, options, callback) {
      const host = normaliseHost(hostname);
      const trusted = allowPrivate || allowed(host);
      resolveHost(lookup, host, undefined).then((addresses) => {
        for (const address of addresses) checkAddress(host, address, true, trusted);
        const found = addresses.map((address) => ({ address, family: loadNet().isIP(address) }));
        const wanted = options.family === 4 || options.family === 6 ? found.filter((a) => a.family === options.family) : found;
        if (wanted.length === 0) throw new TrellisError('network', `Host "${host}" has no IPv${String(options.family)} address`, { details: { host } });
        if (options.all) callback(null, wanted);
        else callback(null, wanted[0]!.address, wanted[0]!.family);
      }).catch((error: unknown) => callback(error as NodeJS.ErrnoException, '', 0));
    },
  };

  function checkAddress(host: string, address: string, isName: boolean, trusted: boolean): void {
    const normalised = normaliseHost(address);
    if (denied(normalised)) throw forbidden(`Refusing a request to host "${host}": it resolves to ${address}, which is in denyHosts.`, host);
    if (!trusted && isPrivateAddress(normalised)) {
      const via = isName ? ` (it resolves to ${address})` : '';
      throw forbidden(
        `Refusing a request to host "${host}"${via}: only global unicast addresses are allowed, not private, loopback, link-local or other special-purpose ones (allow it with allowHosts or allowPrivateNetworks).`,
        host,
      );
    }
  }
}

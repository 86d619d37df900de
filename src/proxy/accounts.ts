import { clientEd25519Plugin, parseEd25519PublicKey } from '../protocol/auth/client-ed25519.js';
import {
  mysqlNativePasswordPlugin,
  parseNativePasswordHash,
} from '../protocol/auth/mysql-native-password.js';
import type { AccountCredentials } from '../protocol/handshake/server-login.js';

/** Runs one statement with positional parameters (a `mariadb` pool satisfies it). */
export interface AccountQuery {
  query(sql: string, values: readonly unknown[]): Promise<unknown>;
}

interface AccountRow {
  readonly host: string;
  readonly plugin: string | null;
  readonly auth: string | null;
}

interface CacheEntry {
  readonly rows: readonly AccountRow[];
  readonly atMs: number;
}

/** A cached entry older than this is looked up again at the next login of that user. */
export const accountRefreshMs = 2000;
const usersCachedMax = 10_000;

/**
 * MariaDB accounts as `mysql.global_priv` stores them, read through the node's admin account and
 * cached per user; `prepare(user)` refreshes an entry that is missing or older than 2 s before a
 * login checks it (a new user or a changed password is seen at once).
 */
export class AccountCache {
  readonly #source: AccountQuery;
  readonly #entries = new Map<string, CacheEntry>();

  constructor(source: AccountQuery) {
    this.#source = source;
  }

  async prepare(user: string, nowMs: number): Promise<void> {
    const entry = this.#entries.get(user);
    if (entry !== undefined && nowMs - entry.atMs < accountRefreshMs) return;
    const rows = (await this.#source.query(
      "SELECT Host AS host, JSON_VALUE(Priv, '$.plugin') AS plugin, JSON_VALUE(Priv, '$.authentication_string') AS auth FROM mysql.global_priv WHERE User = ?",
      [user],
    )) as AccountRow[];
    if (this.#entries.size >= usersCachedMax) this.#entries.clear();
    this.#entries.set(user, { rows: rows.map((row) => ({ ...row })), atMs: nowMs });
  }

  /** The credentials of the account `user`@`clientHost` would log in as, as MariaDB picks it. */
  lookup(user: string, clientHost: string): AccountCredentials | undefined {
    const rows = this.#entries.get(user)?.rows ?? [];
    const row = bestHostMatch(rows, clientHost);
    if (row === undefined) return undefined;
    const plugin = row.plugin ?? mysqlNativePasswordPlugin;
    if (plugin === mysqlNativePasswordPlugin) {
      const hash = parseNativePasswordHash(row.auth ?? '');
      return hash.ok ? { plugin: 'mysql_native_password', stage2: hash.value } : undefined;
    }
    if (plugin === 'ed25519' || plugin === clientEd25519Plugin) {
      const key = parseEd25519PublicKey(row.auth ?? '');
      return key.ok ? { plugin: 'client_ed25519', publicKey: key.value } : undefined;
    }
    return undefined;
  }
}

const loopback = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1', 'localhost']);

function likeToRegExp(pattern: string): RegExp {
  const body = pattern
    .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    .replace(/%/g, '.*')
    .replace(/_/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

/**
 * MariaDB sorts account hosts from most to least specific: literal hosts first, then patterns
 * (fewer wildcards first), '%' last. Loopback clients match 'localhost'.
 */
export function bestHostMatch<T extends { readonly host: string }>(
  rows: readonly T[],
  clientHost: string,
): T | undefined {
  const host = clientHost.startsWith('::ffff:') ? clientHost.slice(7) : clientHost;
  const isLoopback = loopback.has(clientHost) || loopback.has(host);
  const specificity = (pattern: string): number =>
    pattern === '%' ? 0 : /[%_]/.test(pattern) ? 1 + pattern.replace(/[%_]/g, '').length : 1_000_000;
  const matching = rows.filter((row) => {
    if (row.host === host || row.host === clientHost) return true;
    if (isLoopback && loopback.has(row.host)) return true;
    return /[%_]/.test(row.host) && likeToRegExp(row.host).test(host);
  });
  matching.sort((a, b) => specificity(b.host) - specificity(a.host));
  return matching[0];
}

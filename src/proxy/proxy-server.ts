import { readFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { ConfigFile } from '../config/schema.js';
import { collationUtf8mb4GeneralCi } from '../protocol/capabilities.js';
import { AccountCache, type AccountQuery } from './accounts.js';
import { Backend } from './backend.js';
import { type ProxyClusterSource, type ProxyContext, ProxySession } from './session.js';

export interface ProxyServerOptions {
  readonly config: ConfigFile;
  readonly logger: Logger;
  readonly cluster: ProxyClusterSource;
  /** Runs account lookups as the node's admin account (the node's `mariadb` pool). */
  readonly adminQuery: AccountQuery;
  /** Overrides `proxy.bind_address`. */
  readonly listen?: { readonly host: string; readonly port: number };
}

/** Greeting version until the local MariaDB told its own. */
const fallbackServerVersion = '5.5.5-10.11.0-MariaDB-WolfScale';

/** MariaDB greets with `5.5.5-` before its version so that old clients accept it. */
function greetingVersion(version: string): string {
  return version.startsWith('5.5.5-') ? version : `5.5.5-${version}`;
}

export function splitHostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(address.slice(colon + 1)) };
}

/**
 * The proxy's listener: accepts clients up to `proxy.max_connections`, gives each a
 * `ProxySession`, and closes them all on `close()`. See DESIGN.md.
 */
export class ProxyServer {
  readonly #server: Server;
  readonly #sessions = new Set<ProxySession>();
  readonly #byId = new Map<number, ProxySession>();
  #idleSweep: NodeJS.Timeout | undefined;
  readonly #logger: Logger;
  #port = 0;
  #host = '';

  private constructor(server: Server, logger: Logger) {
    this.#server = server;
    this.#logger = logger;
  }

  get port(): number {
    return this.#port;
  }

  get host(): string {
    return this.#host;
  }

  get connections(): number {
    return this.#sessions.size;
  }

  static async start(options: ProxyServerOptions): Promise<ProxyServer> {
    const { config, logger } = options;
    const proxy = config.proxy;
    let secureContext: SecureContext | undefined;
    if (proxy.tls_cert !== undefined && proxy.tls_key !== undefined) {
      const read = async (key: string, path: string): Promise<Buffer> => {
        try {
          return await readFile(path);
        } catch (error) {
          throw new Error(
            `cannot read proxy.${key} ${path}: ${(error as Error).message}: fix the path or its permissions`,
          );
        }
      };
      secureContext = createSecureContext({
        cert: await read('tls_cert', proxy.tls_cert),
        key: await read('tls_key', proxy.tls_key),
      });
    }
    const db = config.database;
    let serverVersion = fallbackServerVersion;
    let connectionIds = 0;
    const admin = { user: db.user, password: db.password };
    // Learn the local MariaDB's version for the greeting (clients check it for features); until
    // then, and when it is down, a default one.
    void Backend.connect(
      { host: db.host, port: db.port, label: 'the local MariaDB' },
      {
        credentials: admin,
        database: undefined,
        capabilities: 0,
        characterSet: collationUtf8mb4GeneralCi,
        connectAttributes: new Map([['program_name', 'wolfscale-proxy']]),
      },
      { timeoutMs: 5000, trackGtid: false },
    ).then(
      (probe) => {
        serverVersion = greetingVersion(probe.serverVersion);
        probe.close();
      },
      (error: Error) =>
        logger.warn(
          { reason: error.message },
          'the proxy could not read the local MariaDB version; greeting with a default one',
        ),
    );
    const server = createServer({ noDelay: true });
    const instance = new ProxyServer(server, logger.child({ component: 'proxy' }));
    const context: ProxyContext = {
      maxLagMs: proxy.max_lag_ms,
      failoverWaitMs: proxy.failover_wait_ms,
      idleTimeoutMs: proxy.idle_timeout_s * 1000,
      tlsRequired: proxy.tls_required,
      secureContext,
      local: { host: db.host, port: db.port },
      admin,
      accounts: new AccountCache(options.adminQuery),
      cluster: options.cluster,
      logger: instance.#logger,
      serverVersion: () => serverVersion,
      // Every local backend login tells the version again: a MariaDB restarted with another
      // version (or down when the proxy started) is greeted with from then on.
      localServerVersion: (version) => {
        const greeting = greetingVersion(version);
        if (greeting === serverVersion) return;
        if (serverVersion !== fallbackServerVersion)
          instance.#logger.info({ from: serverVersion, to: greeting }, 'the local MariaDB version changed');
        serverVersion = greeting;
      },
      nextConnectionId: () => {
        connectionIds = connectionIds >= 0x7fffffff ? 1 : connectionIds + 1;
        return connectionIds;
      },
      onClosed: (session) => {
        instance.#sessions.delete(session);
        if (instance.#byId.get(session.connectionId) === session) instance.#byId.delete(session.connectionId);
      },
      session: (connectionId) => instance.#byId.get(connectionId),
      killLocalQuery: async (threadId) => {
        await options.adminQuery.query(`KILL QUERY ${Math.trunc(threadId)}`, []);
      },
    };
    server.on('connection', (socket: Socket) => {
      if (instance.#sessions.size >= proxy.max_connections) {
        ProxySession.refuse(
          socket,
          `Too many connections (proxy.max_connections = ${proxy.max_connections})`,
        );
        return;
      }
      const session = new ProxySession(context, socket);
      instance.#sessions.add(session);
      instance.#byId.set(session.connectionId, session);
    });
    if (context.idleTimeoutMs > 0) {
      // Idle clients are found by a sweep at a quarter of the timeout (at most every second), so
      // a client is closed between 1 and 1.25 timeouts (or 1 timeout + 1 s) after its last byte.
      const everyMs = Math.max(50, Math.min(1000, Math.floor(context.idleTimeoutMs / 4)));
      instance.#idleSweep = setInterval(() => {
        const now = Date.now();
        for (const session of [...instance.#sessions]) session.closeIfIdle(now, context.idleTimeoutMs);
      }, everyMs);
      instance.#idleSweep.unref();
    }
    const { host, port } = options.listen ?? splitHostPort(proxy.bind_address);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    server.on('error', (error) => instance.#logger.error({ err: error }, 'proxy listener error'));
    const address = server.address();
    instance.#port = typeof address === 'object' && address !== null ? address.port : port;
    instance.#host = host;
    instance.#logger.info(
      { host, port: instance.#port, tls: secureContext !== undefined },
      'proxy listening',
    );
    return instance;
  }

  /**
   * Drops every client whose command runs on the local MariaDB (`ProxySession.sever`); their
   * backends stay until MariaDB answers. Returns how many were dropped.
   */
  severLocalCommands(reason: string): number {
    let dropped = 0;
    for (const session of [...this.#sessions]) if (session.sever(reason)) dropped++;
    return dropped;
  }

  async close(): Promise<void> {
    clearInterval(this.#idleSweep);
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const session of [...this.#sessions]) session.close('the proxy stops', true);
    await closed;
  }
}

/**
 * The proxy address other nodes should forward to: `proxy.bind_address`, with a wildcard host
 * replaced by the node's advertised host (as for the API URL).
 */
export function advertisedProxyAddress(config: ConfigFile): string {
  const bind = splitHostPort(config.proxy.bind_address);
  const wildcard = (host: string): boolean => host === '0.0.0.0' || host === '::' || host === '';
  const advertise = splitHostPort(config.node.advertise_address ?? config.node.bind_address);
  const host = wildcard(bind.host) ? (wildcard(advertise.host) ? '127.0.0.1' : advertise.host) : bind.host;
  return `${host.includes(':') ? `[${host}]` : host}:${bind.port}`;
}

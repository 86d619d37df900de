import { formatProblems, loadConfig } from '../config/load-config.js';
import type { RewindView } from '../http/node-api.js';
import { installDriverDestroyGuard } from '../mariadb/driver-destroy-guard.js';
import { createLogger, type LoggerOptions } from '../node/create-logger.js';
import { nodeSettings } from '../node/node-settings.js';
import { ProxyServer, splitHostPort } from '../proxy/proxy-server.js';
import { type ClusterView, localReadBlocker } from '../proxy/route.js';
import type { CliIo } from './config-commands.js';
import { processIo } from './config-commands.js';

export interface ProxyCommandOptions {
  readonly configPath: string;
  readonly listen: string;
  readonly logLevel?: LoggerOptions['level'];
}

const statusPollMs = 200;

/**
 * `wolfscale proxy --listen ADDR -c FILE`: a proxy outside the node process, in front of the
 * node the file configures. It follows that node through its HTTP API (`/status`, polled every
 * 200 ms): while the node leads, everything runs on its MariaDB; otherwise reads run on it when
 * its lag allows and everything else goes through the node's own proxy (`proxy.bind_address`),
 * which forwards to the leader. It does not see the node's applied GTIDs, so after a session
 * writes, its reads go to the leader too. Runs until SIGTERM/SIGINT.
 */
export async function proxyCommand(options: ProxyCommandOptions, io: CliIo = processIo): Promise<number> {
  const loaded = await loadConfig(options.configPath, { unknownKeys: 'warn' });
  if (loaded.warnings.length > 0) io.err(formatProblems(options.configPath, loaded.warnings));
  if (!loaded.ok) {
    io.err(
      `✗ cannot start the proxy: the configuration has errors:\n${formatProblems(options.configPath, loaded.errors)}`,
    );
    return 1;
  }
  const { config } = loaded;
  const listen = splitHostPort(options.listen);
  if (!Number.isInteger(listen.port) || listen.port < 1 || listen.port > 65535 || listen.host === '') {
    io.err(`✗ --listen ${options.listen}: expected host:port, e.g. 127.0.0.1:8008`);
    return 1;
  }
  const settings = nodeSettings(config);
  if (!settings.ok) {
    io.err(`✗ ${settings.errors.join('\n')}`);
    return 1;
  }
  const logger = createLogger({
    level: options.logLevel ?? config.logging.level,
    format: config.logging.format,
    base: { node: config.node.id, component: 'proxy' },
  });
  installDriverDestroyGuard(logger);
  const statusUrl = `${settings.settings.apiUrl}/status`;
  const nodeProxy = splitHostPort(config.proxy.bind_address);
  const nodeProxyHost =
    nodeProxy.host === '0.0.0.0' || nodeProxy.host === '::' ? '127.0.0.1' : nodeProxy.host;
  let view: ClusterView = { localIsLeader: false, localHealthy: false, appliedPosition: new Map(), lagMs: 0 };
  let leaderKnown = false;
  const poll = async (): Promise<void> => {
    try {
      const response = await fetch(statusUrl, { signal: AbortSignal.timeout(1000) });
      const status = (await response.json()) as {
        writable: boolean;
        leader_id: string | null;
        lag_ms: number;
        mariadb: { healthy: boolean };
        rewind?: { state: RewindView['state'] };
      };
      view = {
        localIsLeader: status.writable,
        localHealthy: status.mariadb.healthy,
        appliedPosition: new Map(),
        lagMs: status.lag_ms,
        localReadBlocker: localReadBlocker(status.rewind?.state),
      };
      leaderKnown = status.leader_id !== null;
    } catch (error) {
      if (leaderKnown)
        logger.warn({ reason: (error as Error).message, statusUrl }, 'the node does not answer');
      view = { ...view, localIsLeader: false };
      leaderKnown = false;
    }
  };
  await poll();
  const timer = setInterval(() => void poll(), statusPollMs);
  const mariadb = await import('mariadb');
  const db = config.database;
  const admin = mariadb.createPool({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    connectionLimit: 2,
  });
  let server: ProxyServer;
  try {
    server = await ProxyServer.start({
      config,
      logger,
      listen,
      adminQuery: admin,
      cluster: {
        view: () => view,
        leaderProxy: () =>
          leaderKnown && !view.localIsLeader
            ? { id: 'node-proxy', host: nodeProxyHost, port: nodeProxy.port }
            : undefined,
      },
    });
  } catch (error) {
    clearInterval(timer);
    await admin.end();
    io.err(`✗ cannot start the proxy on ${options.listen}: ${(error as Error).message}`);
    return 1;
  }
  io.err(`proxy listening on ${listen.host}:${server.port}, following ${statusUrl}`);
  return await new Promise<number>((resolve) => {
    const stop = (): void => {
      clearInterval(timer);
      void server
        .close()
        .then(() => admin.end())
        .then(() => resolve(0));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

import { createInterface } from 'node:readline/promises';
import logUpdate from 'log-update';
import type { ClusterNodeView, NodeStatusView } from '../http/node-api.js';
import { ApiClient } from './api-client.js';
import type { CliIo } from './config-commands.js';
import { renderServerList, renderStats, renderStatus, type StatsSample, writesPerSecond } from './render.js';

export interface ReadCommandOptions {
  readonly json: boolean;
  readonly color: boolean;
}

interface ClusterResponse {
  readonly nodes: readonly ClusterNodeView[];
}

/** `wolfctl list servers` */
export async function listServersCommand(
  client: ApiClient,
  options: ReadCommandOptions,
  io: CliIo,
): Promise<number> {
  const cluster = await client.get<ClusterResponse>('/cluster');
  io.out(options.json ? JSON.stringify(cluster.nodes) : renderServerList(cluster.nodes, options));
  return 0;
}

/** `wolfctl status` */
export async function statusCommand(
  client: ApiClient,
  options: ReadCommandOptions,
  io: CliIo,
): Promise<number> {
  const status = await client.get<NodeStatusView>('/status');
  io.out(options.json ? JSON.stringify(status) : renderStatus(status, options));
  return 0;
}

const statsHistoryMax = 60;

/**
 * `wolfctl stats`: redraws every `intervalMs` until `signal` aborts (Ctrl+C), then restores the
 * cursor and exits 0. A failed poll is shown on the screen and retried, not fatal.
 */
export async function statsCommand(
  client: ApiClient,
  options: ReadCommandOptions & { readonly intervalMs: number; readonly signal: AbortSignal },
  io: CliIo,
): Promise<number> {
  const history: number[] = [];
  let previous: StatsSample | undefined;
  const draw = options.json ? (text: string) => io.out(text) : logUpdate;
  while (!options.signal.aborted) {
    try {
      const [status, cluster] = await Promise.all([
        client.get<NodeStatusView>('/status'),
        client.get<ClusterResponse>('/cluster'),
      ]);
      const sample: StatsSample = { atMs: Date.now(), status, nodes: cluster.nodes };
      if (previous !== undefined) history.push(writesPerSecond(previous, sample));
      if (history.length > statsHistoryMax) history.shift();
      previous = sample;
      draw(
        options.json
          ? JSON.stringify({ ...status, writes_per_s: history.at(-1) ?? 0, nodes: cluster.nodes })
          : renderStats(sample, history, options),
      );
    } catch (error) {
      draw(`wolfctl stats: ${(error as Error).message} (retrying)`);
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, options.intervalMs);
      options.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  if (!options.json) logUpdate.done();
  return 0;
}

interface AdminResponse {
  readonly success: boolean;
  readonly message: string;
}

/** `wolfctl promote [--force]` */
export async function promoteCommand(client: ApiClient, force: boolean, io: CliIo): Promise<number> {
  const result = await client.post<AdminResponse>('/admin/promote', { force });
  io.out(result.message);
  return 0;
}

/** `wolfctl demote` */
export async function demoteCommand(client: ApiClient, io: CliIo): Promise<number> {
  const result = await client.post<AdminResponse>('/admin/demote');
  io.out(result.message);
  return 0;
}

/**
 * `wolfctl reset [--force]`: deletes the WAL and hard state of EVERY node (each must then be
 * restarted). Asks the operator to type RESET unless `force`.
 */
export async function resetCommand(
  client: ApiClient,
  options: { readonly force: boolean; readonly token?: string; readonly confirm?: () => Promise<string> },
  io: CliIo,
): Promise<number> {
  const cluster = await client.get<ClusterResponse>('/cluster');
  io.out(
    `This deletes the WAL and state of ${cluster.nodes.length} node(s): ${cluster.nodes.map((n) => n.id).join(', ')}`,
  );
  if (!options.force) {
    const answer = await (options.confirm ?? askReset)();
    if (answer.trim() !== 'RESET') {
      io.err('reset cancelled (type RESET to confirm, or pass --force)');
      return 1;
    }
  }
  let failed = 0;
  for (const node of cluster.nodes) {
    try {
      if (node.api_url === null) {
        throw new Error('its API address is unknown; reset it with wolfctl -e <its API URL> reset');
      }
      const nodeClient = new ApiClient({
        endpoint: node.api_url,
        ...(options.token === undefined ? {} : { token: options.token }),
      });
      const result = await nodeClient.post<AdminResponse>('/admin/reset', { confirm: node.id });
      io.out(`  ${node.id}: ${result.message}`);
    } catch (error) {
      failed++;
      io.err(`  ${node.id}: ${(error as Error).message}`);
    }
  }
  io.out(`Reset complete: ${cluster.nodes.length - failed} succeeded, ${failed} failed. Restart every node.`);
  return failed === 0 ? 0 : 1;
}

async function askReset(): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return await rl.question('Type RESET to confirm: ');
  } finally {
    rl.close();
  }
}

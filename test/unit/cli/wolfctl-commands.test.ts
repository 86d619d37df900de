import { pino } from 'pino';
import { afterEach, describe, expect, test } from 'vitest';
import { ApiClient, endpointFromBindAddress } from '../../../src/cli/api-client.js';
import type { CliIo } from '../../../src/cli/config-commands.js';
import { renderServerList, renderStats, writesPerSecond } from '../../../src/cli/render.js';
import {
  listServersCommand,
  promoteCommand,
  resetCommand,
  statsCommand,
  statusCommand,
} from '../../../src/cli/wolfctl-commands.js';
import { ok } from '../../../src/errors/error-codes.js';
import { buildHttpApp, type HttpApp } from '../../../src/http/http-app.js';
import type { ClusterNodeView, NodeApi, NodeStatusView } from '../../../src/http/node-api.js';
import { freePort } from '../../../src/testing/free-port.js';

const token = 'token-0123456789abcdef';

function captureIo(): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (text) => stdout.push(text), err: (text) => stderr.push(text) };
}

function view(id: string, role: ClusterNodeView['role'], apiUrl: string | null): ClusterNodeView {
  return {
    id,
    address: `10.0.0.${id.slice(-1)}:7654`,
    api_url: apiUrl,
    status: role === 'LEADER' ? 'ACTIVE' : 'SYNCING',
    role,
    applied_index: 10,
    lag_entries: role === 'LEADER' ? 0 : 4,
    lag_ms: role === 'LEADER' ? 0 : 12,
    last_seen_ms_ago: 5,
  };
}

/** A node of plain values whose commit index grows by 5 on every /status. */
function fixtureNode(id: string, cluster: () => ClusterNodeView[], resets: string[]): NodeApi {
  let commitIndex = 100;
  return {
    writeRoute: () => ({ kind: 'local' }),
    status: (): NodeStatusView => {
      commitIndex += 5;
      return {
        node_id: id,
        role: 'LEADER',
        status: 'ACTIVE',
        leader_id: id,
        writable: true,
        term: 2,
        commit_index: commitIndex,
        applied_index: commitIndex,
        last_index: commitIndex,
        gtid_position: '0-1-5',
        lag_entries: 0,
        lag_ms: 0,
        cluster_size: 2,
        has_quorum: true,
        uptime_seconds: 1,
        mariadb: { healthy: true, reason: null },
        detail: null,
      };
    },
    health: () => ({ healthy: true, node_id: id, is_leader: true, reasons: [] }),
    cluster,
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
    write: async () => ok({ affected_rows: 0, insert_id: '0', gtid: null, wal_index: null }),
    promote: async ({ force }) => ok({ message: `Promotion requested${force ? ' (forced)' : ''}` }),
    demote: async () => ok({ message: 'Demotion requested' }),
    reset: async () => {
      resets.push(id);
      return ok({ message: 'WAL and state deleted; restart the node' });
    },
  };
}

const apps: HttpApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function twoNodes(): Promise<{ a: ApiClient; resets: string[] }> {
  const resets: string[] = [];
  const urls: string[] = [];
  const cluster = () => [
    view('node-1', 'LEADER', urls[0] ?? null),
    view('node-2', 'FOLLOWER', urls[1] ?? null),
  ];
  for (const id of ['node-1', 'node-2']) {
    const app = await buildHttpApp({
      node: fixtureNode(id, cluster, resets),
      logger: pino({ level: 'silent' }),
      token,
      openStatus: true,
    });
    apps.push(app);
    urls.push(await app.listen({ host: '127.0.0.1', port: 0 }));
  }
  return { a: new ApiClient({ endpoint: urls[0] ?? '', token }), resets };
}

describe('wolfctl', () => {
  test('list servers renders the seed table', () => {
    const text = renderServerList([view('node-2', 'FOLLOWER', null), view('node-1', 'LEADER', null)], {
      color: false,
    });
    expect(text.split('\n')).toEqual([
      'Cluster: 2 nodes | Active: 1 | Leader: node-1',
      '',
      'ID          | STATUS          | ROLE      | ADDRESS               | LAG',
      '-'.repeat(79),
      'node-1      | ACTIVE          | LEADER    | 10.0.0.1:7654         | 0',
      'node-2      | SYNCING         | FOLLOWER  | 10.0.0.2:7654         | 4 (12 ms)',
    ]);
  });

  test('list servers and status read a live API, as text or JSON', async () => {
    const { a } = await twoNodes();
    const io = captureIo();
    await listServersCommand(a, { json: false, color: false }, io);
    expect(io.stdout[0]).toContain('Leader: node-1');
    await listServersCommand(a, { json: true, color: false }, io);
    expect(JSON.parse(io.stdout[1] ?? '')).toHaveLength(2);
    await statusCommand(a, { json: false, color: false }, io);
    expect(io.stdout[2]).toContain('Node ID:        node-1');
  });

  test('an unreachable node gives an error that says what to do', async () => {
    const client = new ApiClient({ endpoint: `http://127.0.0.1:${await freePort()}`, timeoutMs: 2000 });
    await expect(statusCommand(client, { json: false, color: false }, captureIo())).rejects.toThrow(
      /cannot reach the WolfScale API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\).*pass its address with -e/,
    );
  });

  test('a wrong token is reported with the API message', async () => {
    const { a } = await twoNodes();
    const bad = new ApiClient({ endpoint: a.endpoint, token: 'wrong' });
    await expect(promoteCommand(bad, false, captureIo())).rejects.toThrow('missing or wrong token');
    const io = captureIo();
    await promoteCommand(a, true, io);
    expect(io.stdout).toEqual(['Promotion requested (forced)']);
  });

  test('reset asks for RESET, then resets every node through its own API', async () => {
    const { a, resets } = await twoNodes();
    const cancelled = captureIo();
    expect(await resetCommand(a, { force: false, token, confirm: async () => 'yes' }, cancelled)).toBe(1);
    expect(resets).toEqual([]);
    const io = captureIo();
    expect(await resetCommand(a, { force: false, token, confirm: async () => 'RESET' }, io)).toBe(0);
    expect(resets).toEqual(['node-1', 'node-2']);
    expect(io.stdout.at(-1)).toBe('Reset complete: 2 succeeded, 0 failed. Restart every node.');
  });

  test('stats redraws until aborted and computes writes/s from the commit index', async () => {
    const { a } = await twoNodes();
    const controller = new AbortController();
    const frames: string[] = [];
    const io: CliIo = {
      out: (text) => {
        frames.push(text);
        if (frames.length === 3) controller.abort();
      },
      err: () => {},
    };
    expect(
      await statsCommand(a, { json: true, color: false, intervalMs: 10, signal: controller.signal }, io),
    ).toBe(0);
    expect(frames).toHaveLength(3);
    const last = JSON.parse(frames[2] ?? '');
    expect(last.writes_per_s).toBeGreaterThan(0);
    expect(
      writesPerSecond(
        { atMs: 0, status: { commit_index: 10 } as NodeStatusView, nodes: [] },
        { atMs: 2000, status: { commit_index: 30 } as NodeStatusView, nodes: [] },
      ),
    ).toBe(10);
  });

  test('stats shows each follower with its apply lag and when the leader last heard from it', () => {
    const status = {
      node_id: 'node-1',
      role: 'LEADER',
      leader_id: 'node-1',
      term: 2,
      commit_index: 9,
      applied_index: 9,
    };
    const frame = renderStats(
      {
        atMs: 0,
        status: status as NodeStatusView,
        nodes: [view('node-1', 'LEADER', null), view('node-2', 'FOLLOWER', null)],
      },
      [1, 2],
      { color: false },
    );
    const line = frame.split('\n').find((text) => text.includes('node-2'));
    expect(line).toMatch(/node-2\s+SYNCING\s+lag 4 \(12 ms\)\s+seen 5 ms ago/);
    expect(frame).not.toMatch(/^\s+node-1\s+ACTIVE/m);
  });

  test('a wildcard bind address becomes a dialable endpoint', () => {
    expect(endpointFromBindAddress('0.0.0.0:8080')).toBe('http://127.0.0.1:8080');
    expect(endpointFromBindAddress('10.0.0.5:9000')).toBe('http://10.0.0.5:9000');
  });
});

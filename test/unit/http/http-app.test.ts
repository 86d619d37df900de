import { pino } from 'pino';
import { afterEach, describe, expect, test } from 'vitest';
import { fail, ok } from '../../../src/errors/error-codes.js';
import { buildHttpApp, type HttpApp } from '../../../src/http/http-app.js';
import type { ClusterNodeView, NodeApi, NodeStatusView } from '../../../src/http/node-api.js';
import type { Statement } from '../../../src/http/write-sql.js';
import { NodeMetrics } from '../../../src/node/node-metrics.js';
import { freePort } from '../../../src/testing/free-port.js';

const token = 'token-0123456789abcdef';
const auth = { authorization: `Bearer ${token}` };

const status: NodeStatusView = {
  node_id: 'node-2',
  role: 'FOLLOWER',
  status: 'ACTIVE',
  leader_id: 'node-1',
  writable: false,
  term: 3,
  commit_index: 42,
  applied_index: 41,
  last_index: 42,
  gtid_position: '0-1-40',
  lag_entries: 1,
  lag_ms: 3,
  cluster_size: 3,
  has_quorum: true,
  uptime_seconds: 10,
  mariadb: { healthy: true, reason: null },
  detail: null,
};

const nodes: ClusterNodeView[] = [
  {
    id: 'node-1',
    address: '10.0.0.1:7654',
    api_url: 'http://10.0.0.1:8080',
    status: 'ACTIVE',
    role: 'LEADER',
    applied_index: 42,
    lag_entries: 0,
    lag_ms: 0,
    last_seen_ms_ago: 0,
  },
  {
    id: 'node-2',
    address: '10.0.0.2:7654',
    api_url: 'http://10.0.0.2:8080',
    status: 'ACTIVE',
    role: 'FOLLOWER',
    applied_index: 41,
    lag_entries: 1,
    lag_ms: 3,
    last_seen_ms_ago: 120,
  },
  {
    id: 'node-3',
    address: '10.0.0.3:7654',
    api_url: 'http://10.0.0.3:8080',
    status: 'LAGGING',
    role: 'FOLLOWER',
    applied_index: 30,
    lag_entries: 12,
    lag_ms: null,
    last_seen_ms_ago: 2000,
  },
];

/** A node made of plain values that records the writes it is given. */
function fixtureNode(overrides: Partial<NodeApi> = {}): NodeApi & { writes: Statement[] } {
  const writes: Statement[] = [];
  return {
    writes,
    writeRoute: () => ({ kind: 'local' }),
    status: () => status,
    health: () => ({ healthy: true, node_id: 'node-2', is_leader: false, reasons: [] }),
    cluster: () => nodes,
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4', body: 'wolfscale_term 3\n' }),
    write: async (statement) => {
      writes.push(statement);
      return ok({ affected_rows: 1, insert_id: '7', gtid: '0-1-43', wal_index: 43 });
    },
    promote: async ({ force, nodeId }) =>
      ok({ message: `${force ? 'forced' : 'Promotion requested'}: ${nodeId}` }),
    demote: async () => ok({ message: 'Demotion requested' }),
    reset: async () => ok({ message: 'reset' }),
    ...overrides,
  };
}

let app: HttpApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function start(node: NodeApi, options: { token?: string; openStatus?: boolean } = { token }) {
  app = await buildHttpApp({
    node,
    logger: pino({ level: 'silent' }),
    openStatus: options.openStatus ?? true,
    ...(options.token === undefined ? {} : { token: options.token }),
  });
  return app;
}

describe('HTTP API', () => {
  test('status keeps the original field names next to the new ones', async () => {
    const api = await start(fixtureNode());
    const response = await api.inject({ method: 'GET', url: '/status' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      node_id: 'node-2',
      term: 3,
      is_leader: false,
      last_applied_lsn: 41,
      commit_lsn: 42,
    });
  });

  test('health answers 503 with the reasons when the node is unhealthy', async () => {
    const api = await start(
      fixtureNode({
        health: () => ({
          healthy: false,
          node_id: 'node-2',
          is_leader: false,
          reasons: ['MariaDB at 127.0.0.1:3306 does not answer'],
        }),
      }),
    );
    const response = await api.inject({ method: 'GET', url: '/health' });
    expect(response.statusCode).toBe(503);
    expect(response.json().reasons).toEqual(['MariaDB at 127.0.0.1:3306 does not answer']);
  });

  test('cluster summarises node statuses and finds single nodes', async () => {
    const api = await start(fixtureNode());
    expect((await api.inject({ method: 'GET', url: '/cluster' })).json().summary).toEqual({
      total_nodes: 3,
      active_nodes: 2,
      syncing_nodes: 0,
      lagging_nodes: 1,
      dropped_nodes: 0,
      leader_id: 'node-1',
    });
    expect((await api.inject({ method: 'GET', url: '/cluster/nodes/node-3' })).json().status).toBe('LAGGING');
    const missing = await api.inject({ method: 'GET', url: '/cluster/nodes/node-9' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: 'Node node-9 not found', code: 'NODE_NOT_FOUND' });
  });

  test('metrics are served as Prometheus text', async () => {
    const api = await start(fixtureNode());
    const response = await api.inject({ method: 'GET', url: '/metrics' });
    expect(response.headers['content-type']).toContain('text/plain');
    expect(response.body).toBe('wolfscale_term 3\n');
  });

  test("the node's metrics registry: per-follower lag, WAL bytes, apply rate, commit latency, failovers", async () => {
    const metrics = new NodeMetrics();
    metrics.followerApplyLagMs.set({ node: 'node-3' }, 850);
    metrics.followerApplyLagEntries.set({ node: 'node-3' }, 12);
    metrics.followerMatchLag.set({ node: 'node-3' }, 4);
    metrics.walBytes.set(1_048_576);
    metrics.applyRate.set(250);
    metrics.commitLatency.observe(0.003);
    metrics.failovers.inc();
    metrics.throttling.set(1);
    const api = await start(
      fixtureNode({
        metrics: async () => ({
          contentType: metrics.registry.contentType,
          body: await metrics.registry.metrics(),
        }),
      }),
    );
    const body = (await api.inject({ method: 'GET', url: '/metrics' })).body;
    for (const line of [
      'wolfscale_follower_apply_lag_ms{node="node-3"} 850',
      'wolfscale_follower_apply_lag_entries{node="node-3"} 12',
      'wolfscale_follower_lag_entries{node="node-3"} 4',
      'wolfscale_wal_bytes 1048576',
      'wolfscale_apply_rate_entries_per_second 250',
      'wolfscale_commit_latency_seconds_bucket{le="0.005"} 1',
      'wolfscale_failovers_total 1',
      'wolfscale_flow_control_throttling 1',
    ]) {
      expect(body.split('\n')).toContain(line);
    }
  });

  test('a structured write needs the token and reaches the node as a parameterised statement', async () => {
    const node = fixtureNode();
    const api = await start(node);
    const payload = { table: 'app.users', values: { id: 7, name: 'Zoë' } };
    expect((await api.inject({ method: 'POST', url: '/write/insert', payload })).statusCode).toBe(401);
    const wrong = await api.inject({
      method: 'POST',
      url: '/write/insert',
      payload,
      headers: { authorization: 'Bearer nope' },
    });
    expect(wrong.json()).toEqual({
      error: 'missing or wrong token: send "Authorization: Bearer <api.token>"',
      code: 'UNAUTHORIZED',
    });
    expect(node.writes).toEqual([]);
    const response = await api.inject({ method: 'POST', url: '/write/insert', payload, headers: auth });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      success: true,
      affected_rows: 1,
      insert_id: '7',
      gtid: '0-1-43',
      wal_index: 43,
    });
    expect(node.writes).toEqual([
      { sql: 'INSERT INTO `app`.`users` (`id`, `name`) VALUES (?, ?)', values: [7, 'Zoë'] },
    ]);
  });

  test('without a configured token, writes are refused and say which key to set', async () => {
    const api = await start(fixtureNode(), {});
    const response = await api.inject({
      method: 'POST',
      url: '/write/delete',
      payload: { table: 't', where_key: { id: 1 } },
    });
    expect(response.statusCode).toBe(401);
    expect(response.json().error).toContain('set api.token');
  });

  test('malformed bodies, bad identifiers and non-DDL are 400 with a reason', async () => {
    const api = await start(fixtureNode());
    const extra = await api.inject({
      method: 'POST',
      url: '/write/insert',
      payload: { table: 't', values: {}, x: 1 },
      headers: auth,
    });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().code).toBe('BAD_REQUEST');
    const table = await api.inject({
      method: 'POST',
      url: '/write/insert',
      payload: { table: 't;drop', values: { a: 1 } },
      headers: auth,
    });
    expect(table.json().error).toContain('is not a valid table name');
    const ddl = await api.inject({
      method: 'POST',
      url: '/write/ddl',
      payload: { ddl: 'DELETE FROM t' },
      headers: auth,
    });
    expect(ddl.statusCode).toBe(400);
    expect(ddl.json().error).toContain('send other SQL through the MySQL proxy');
    const json = await api.inject({
      method: 'POST',
      url: '/write/insert',
      payload: '{not json',
      headers: { ...auth, 'content-type': 'application/json' },
    });
    expect(json.statusCode).toBe(400);
  });

  test("the node's error values map to the catalogue's statuses", async () => {
    const api = await start(
      fixtureNode({ write: async () => fail('NO_LEADER', 'no leader elected within 5000 ms; retry') }),
    );
    const response = await api.inject({
      method: 'POST',
      url: '/write/ddl',
      payload: { ddl: 'CREATE TABLE t (a INT)' },
      headers: auth,
    });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({ error: 'no leader elected within 5000 ms; retry', code: 'NO_LEADER' });
  });

  test('reset needs the node id as confirmation', async () => {
    const api = await start(fixtureNode());
    const unconfirmed = await api.inject({
      method: 'POST',
      url: '/admin/reset',
      payload: { confirm: 'yes' },
      headers: auth,
    });
    expect(unconfirmed.statusCode).toBe(409);
    expect(unconfirmed.json().error).toContain('{"confirm": "node-2"}');
    const confirmed = await api.inject({
      method: 'POST',
      url: '/admin/reset',
      payload: { confirm: 'node-2' },
      headers: auth,
    });
    expect(confirmed.json()).toEqual({ success: true, message: 'reset' });
  });

  test('promote passes force through; demote needs no body', async () => {
    const api = await start(fixtureNode());
    expect(
      (
        await api.inject({ method: 'POST', url: '/admin/promote', payload: { force: true }, headers: auth })
      ).json(),
    ).toEqual({
      success: true,
      message: 'forced: node-2',
    });
    expect((await api.inject({ method: 'POST', url: '/admin/demote', headers: auth })).json().message).toBe(
      'Demotion requested',
    );
  });

  test('with open_status = false, status routes need the token too', async () => {
    const api = await start(fixtureNode(), { token, openStatus: false });
    expect((await api.inject({ method: 'GET', url: '/status' })).statusCode).toBe(401);
    expect((await api.inject({ method: 'GET', url: '/status', headers: auth })).statusCode).toBe(200);
  });

  test('unknown routes answer with the catalogue shape', async () => {
    const api = await start(fixtureNode());
    const response = await api.inject({ method: 'GET', url: '/nope' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: 'no route GET /nope', code: 'NOT_FOUND' });
  });
});

describe('HTTP API forwarding from a follower', () => {
  const apps: HttpApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  async function pair(route: (leaderUrl: string) => ReturnType<NodeApi['writeRoute']>) {
    const leaderNode = fixtureNode();
    const leader = await buildHttpApp({
      node: leaderNode,
      logger: pino({ level: 'silent' }),
      token,
      openStatus: true,
    });
    apps.push(leader);
    const leaderUrl = await leader.listen({ host: '127.0.0.1', port: 0 });
    const followerNode = fixtureNode({ writeRoute: () => route(leaderUrl) });
    const follower = await buildHttpApp({
      node: followerNode,
      logger: pino({ level: 'silent' }),
      token,
      openStatus: true,
    });
    apps.push(follower);
    return { leaderNode, followerNode, follower };
  }

  test('a write sent to a follower runs on the leader and its answer comes back', async () => {
    const { leaderNode, followerNode, follower } = await pair((apiUrl) => ({
      kind: 'forward',
      leaderId: 'node-1',
      apiUrl,
    }));
    const response = await follower.inject({
      method: 'POST',
      url: '/write/insert',
      payload: { table: 't', values: { a: 1 } },
      headers: auth,
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ success: true, gtid: '0-1-43' });
    expect(leaderNode.writes).toHaveLength(1);
    expect(followerNode.writes).toHaveLength(0);
  });

  test('promote without force is forwarded with the id of the node to promote', async () => {
    const { follower } = await pair((apiUrl) => ({ kind: 'forward', leaderId: 'node-1', apiUrl }));
    const response = await follower.inject({
      method: 'POST',
      url: '/admin/promote',
      payload: {},
      headers: auth,
    });
    // The leader's fixture answers; it was asked to promote the follower (node-2), not itself.
    expect(response.json()).toEqual({ success: true, message: 'Promotion requested: node-2' });
  });

  test('a forced promotion runs on the node that received it', async () => {
    const { follower, leaderNode } = await pair(() => ({ kind: 'no-leader', reason: 'no quorum' }));
    const response = await follower.inject({
      method: 'POST',
      url: '/admin/promote',
      payload: { force: true },
      headers: auth,
    });
    expect(response.json()).toEqual({ success: true, message: 'forced: node-2' });
    expect(leaderNode.writes).toHaveLength(0);
  });

  test('with no leader, writes fail with NO_LEADER and the reason', async () => {
    const { follower } = await pair(() => ({
      kind: 'no-leader',
      reason: 'no leader elected within 5000 ms',
    }));
    const response = await follower.inject({
      method: 'POST',
      url: '/write/delete',
      payload: { table: 't', where_key: { a: 1 } },
      headers: auth,
    });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({ error: 'no leader elected within 5000 ms', code: 'NO_LEADER' });
  });

  test('a request that was already forwarded is never forwarded again', async () => {
    const { follower } = await pair((apiUrl) => ({ kind: 'forward', leaderId: 'node-1', apiUrl }));
    const response = await follower.inject({
      method: 'POST',
      url: '/write/insert',
      payload: { table: 't', values: { a: 1 } },
      headers: { ...auth, 'x-wolfscale-forwarded-by': 'node-3' },
    });
    expect(response.statusCode).toBe(503);
    expect(response.json().code).toBe('NOT_LEADER');
  });

  test('a leader that refuses connections gives FORWARD_FAILED, not a false answer', async () => {
    const closedPort = await freePort();
    const { follower } = await pair(() => ({
      kind: 'forward',
      leaderId: 'node-1',
      apiUrl: `http://127.0.0.1:${closedPort}`,
    }));
    const response = await follower.inject({
      method: 'POST',
      url: '/write/insert',
      payload: { table: 't', values: { a: 1 } },
      headers: auth,
    });
    expect(response.json()).toMatchObject({ code: 'FORWARD_FAILED' });
    expect(response.statusCode).toBe(502);
  });
});

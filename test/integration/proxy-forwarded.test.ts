import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mariadb from 'mariadb';
import * as mysql2 from 'mysql2/promise';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ProxyServer } from '../../src/proxy/proxy-server.js';
import type { ClusterView } from '../../src/proxy/route.js';
import { forwardedAttribute } from '../../src/proxy/session.js';
import { freePort } from '../../src/testing/free-port.js';
import type { MariaDbSet } from '../../src/testing/mariadb-harness.js';
import { startMariaDb } from '../support/mariadb.js';
import { proxyTestConfig } from '../support/proxy-config.js';

/**
 * Regression (docs/RELIABILITY.md failure 7; chaos, 3 nodes, 900 s, seed 11): a node made leader
 * by failback leads before it opens for writes — it first applies its backlog. A follower's proxy
 * forwards a session's read to it (the follower had not applied that session's writes yet); that
 * node's proxy served it from its own MariaDB, which had not applied them either, and the client
 * missed its own acknowledged appends. The node here is that opening leader: its MariaDB is real,
 * the cluster view is set by the test.
 */
describe("a session forwarded by a follower's proxy to a leader that is still opening", () => {
  let set: MariaDbSet;
  let proxy: ProxyServer;
  let dir: string;
  let admin: mariadb.Pool;
  const view: { -readonly [K in keyof ClusterView]: ClusterView[K] } = {
    localIsLeader: false,
    localHealthy: true,
    appliedPosition: new Map(),
    lagMs: 0,
  };

  beforeAll(async () => {
    set = await startMariaDb(1);
    const server = set.servers[0]!;
    dir = await mkdtemp(join(tmpdir(), 'wolfscale-proxy-fwd-'));
    await server.query("CREATE USER app@'%' IDENTIFIED BY 'app-secret'");
    await server.query('CREATE DATABASE app');
    await server.query("GRANT ALL ON app.* TO app@'%'");
    await server.query('CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(20))');
    await server.query("INSERT INTO app.t VALUES (1, 'stale')");
    admin = mariadb.createPool({ host: '127.0.0.1', port: server.port, user: 'root', password: '' });
    proxy = await ProxyServer.start({
      logger: pino({ level: process.env['WOLFSCALE_TEST_LOG'] ?? 'silent' }),
      // This node leads (no other leader to forward to) but is not open for writes yet.
      cluster: { view: () => view, leaderProxy: () => undefined },
      adminQuery: admin,
      config: proxyTestConfig({ dataDir: dir, mariadbPort: server.port, proxyPort: await freePort() }),
    });
  });

  afterAll(async () => {
    await proxy?.close();
    await admin?.end();
    await set?.destroy();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const connect = (forwarded: boolean) =>
    mysql2.createConnection({
      host: '127.0.0.1',
      port: proxy.port,
      user: 'app',
      password: 'app-secret',
      database: 'app',
      ...(forwarded ? { connectAttributes: { [forwardedAttribute]: '1' } } : {}),
    });

  test('its read waits for the node to open and sees what the node applied meanwhile; an ordinary session reads at once', async () => {
    const [forwarded, ordinary] = await Promise.all([connect(true), connect(false)]);
    try {
      // An ordinary client of this node is served by its caught-up local MariaDB, as it should be.
      const [local] = await ordinary.query('SELECT v FROM t WHERE id = 1');
      expect(local).toEqual([{ v: 'stale' }]);

      let openedAt: number | undefined;
      const opening = (async () => {
        await new Promise((resolve) => setTimeout(resolve, 400));
        // The backlog is applied (the client's acknowledged write), then the node opens.
        await admin.query("UPDATE app.t SET v = 'fresh' WHERE id = 1");
        openedAt = Date.now();
        view.localIsLeader = true;
      })();
      const [rows] = await forwarded.query('SELECT v FROM t WHERE id = 1');
      const answeredAt = Date.now();
      await opening;
      // Without the rule the stale row came back at once, before the node opened.
      expect(rows).toEqual([{ v: 'fresh' }]);
      expect(openedAt).toBeDefined();
      expect(answeredAt).toBeGreaterThanOrEqual(openedAt!);
      // Open now: both kinds of session are served locally.
      const [again] = await forwarded.query('SELECT v FROM t WHERE id = 1');
      expect(again).toEqual([{ v: 'fresh' }]);
    } finally {
      view.localIsLeader = false;
      await Promise.all([forwarded.end(), ordinary.end()]);
    }
  });
});

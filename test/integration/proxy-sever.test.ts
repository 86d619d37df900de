import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mariadb from 'mariadb';
import { pino } from 'pino';
import { afterAll, describe, expect, test } from 'vitest';
import { ProxyServer } from '../../src/proxy/proxy-server.js';
import type { ClusterView } from '../../src/proxy/route.js';
import { freePort } from '../../src/testing/free-port.js';
import type { MariaDbSet } from '../../src/testing/mariadb-harness.js';
import { startMariaDb } from '../support/mariadb.js';
import { proxyTestConfig } from '../support/proxy-config.js';
import { waitFor } from '../support/wait-for.js';

/**
 * docs/RELIABILITY.md "Failures found" 10: while a stepping-down node ends the sessions of its
 * MariaDB, MariaDB can release commits no quorum holds with an OK (killing a group commit's
 * leader commits the whole group). The proxy drops its clients whose command runs on the local
 * MariaDB first (`severLocalCommands`), keeping the backends, so such an OK reaches no one. Here
 * semi-sync master is on with no replica, and disabling it releases every waiting commit with an
 * OK: without the sever the clients get them, with it none does.
 */
describe('the proxy drops clients whose commit waits on the local MariaDB', () => {
  let set: MariaDbSet | undefined;
  let proxy: ProxyServer | undefined;
  let admin: mariadb.Pool | undefined;
  let dir: string | undefined;
  afterAll(async () => {
    await proxy?.close();
    await admin?.end();
    await set?.destroy();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test('an OK MariaDB releases after the sever reaches no client; without it, it does', async () => {
    set = await startMariaDb(1);
    const server = set.servers[0];
    if (server === undefined) throw new Error('no server');
    await server.query("CREATE USER app@'%' IDENTIFIED BY 'app'");
    await server.query('CREATE DATABASE app');
    await server.query("GRANT ALL ON app.* TO app@'%'");
    await server.query('CREATE TABLE app.t (id INT PRIMARY KEY)');
    dir = await mkdtemp(join(tmpdir(), 'wolfscale-sever-'));
    const proxyPort = await freePort();
    admin = mariadb.createPool({ ...server.connectOptions(), connectionLimit: 2 });
    const view: ClusterView = {
      localIsLeader: true,
      localHealthy: true,
      appliedPosition: new Map(),
      lagMs: 0,
    };
    proxy = await ProxyServer.start({
      config: proxyTestConfig({ dataDir: dir, mariadbPort: server.port, proxyPort }),
      logger: pino({ level: 'silent' }),
      cluster: { view: () => view, leaderProxy: () => undefined },
      adminQuery: admin,
    });

    const round = async (base: number, sever: boolean) => {
      await server.query("SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC'");
      await server.query('SET GLOBAL rpl_semi_sync_master_timeout = 4294967295');
      await server.query('SET GLOBAL rpl_semi_sync_master_enabled = ON');
      const clients = await Promise.all(
        Array.from({ length: 8 }, () =>
          mariadb.createConnection({
            host: '127.0.0.1',
            port: proxyPort,
            user: 'app',
            password: 'app',
            database: 'app',
          }),
        ),
      );
      const outcomes = clients.map((client, i) =>
        (i % 2 === 0
          ? client.query('INSERT INTO t VALUES (?)', [base + i])
          : client.beginTransaction().then(async () => {
              await client.query('INSERT INTO t VALUES (?)', [base + i]);
              await client.commit();
            })
        ).then(
          () => 'ok',
          () => 'failed',
        ),
      );
      // Every client's commit blocked (one group leader shows the waiting state, the rest queue).
      await waitFor('8 commits blocked waiting for an acknowledgement', async () => {
        const rows = await server.query<Array<{ n: number; w: number }>>(
          "SELECT SUM(command = 'Query') AS n, SUM(state = 'Waiting for semi-sync ACK from slave') AS w FROM information_schema.processlist WHERE user = 'app'",
        );
        return Number(rows[0]?.n) === 8 && Number(rows[0]?.w) > 0;
      });
      const dropped = sever ? (proxy as ProxyServer).severLocalCommands('test: stepping down') : 0;
      // Releases every waiting commit with an OK, as a killed group leader releases its group.
      await server.query('SET GLOBAL rpl_semi_sync_master_enabled = OFF');
      const results = await Promise.all(outcomes);
      for (const client of clients) client.destroy();
      const [row] = await server.query<Array<{ n: number }>>(
        'SELECT COUNT(*) AS n FROM app.t WHERE id >= ?',
        [base],
      );
      return { dropped, oks: results.filter((r) => r === 'ok').length, committed: Number(row?.n) };
    };

    const without = await round(100, false);
    expect(without.oks).toBe(8);
    const severed = await round(200, true);
    expect(severed.dropped).toBe(8);
    expect(severed.committed).toBe(8); // MariaDB committed them and sent OKs ...
    expect(severed.oks).toBe(0); // ... which no client got
  }, 60_000);
});

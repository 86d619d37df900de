import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as mariadb from 'mariadb';
import * as mysql2 from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { MariaDbSet } from '../../src/testing/mariadb-harness.js';
import { compareServers } from '../support/compare.js';
import { startMariaDb } from '../support/mariadb.js';
import { type ClusterNode, clusterConfigs, startNode, stopAll } from '../support/node-cluster.js';
import { waitFor } from '../support/wait-for.js';

const run = promisify(execFile);

/**
 * Real clients through a FOLLOWER's proxy of a 3-node cluster of real MariaDB servers: writes
 * are forwarded to the leader's proxy, reads stay local when causally safe. Every part ends
 * with the servers identical (CHECKSUM TABLE and SHOW CREATE TABLE of every table).
 */
describe('the proxy on a follower of a three-node cluster', () => {
  let set: MariaDbSet;
  let members: ClusterNode[] = [];
  let dir: string;
  let port = 0;
  const user = { user: 'app', password: 'app-pw' };

  beforeAll(async () => {
    set = await startMariaDb(3, { durable: true });
    members = await clusterConfigs(set);
    await Promise.all(members.map(startNode));
    const leader = members[0]?.node;
    if (leader === undefined) throw new Error('node-1 did not start');
    await waitFor('node-1 to lead and accept writes', () => leader.writeRoute().kind === 'local', {
      timeoutMs: 30_000,
    });
    const leaderServer = set.servers[0]!;
    await leaderServer.query("CREATE USER app@'%' IDENTIFIED BY 'app-pw'");
    await leaderServer.query("GRANT ALL ON *.* TO app@'%'");
    await leaderServer.query('CREATE DATABASE app');
    const follower = members[1]?.node;
    if (follower?.proxyPort === undefined) throw new Error('node-2 runs no proxy');
    port = follower.proxyPort;
    // The follower must know the leader's proxy before writes can be forwarded.
    await waitFor('the account to replicate to node-2', async () => {
      const rows = await set.servers[1]!.query<unknown[]>(
        "SELECT 1 FROM mysql.global_priv WHERE User = 'app'",
      );
      return rows.length === 1;
    });
    dir = await mkdtemp(join(tmpdir(), 'wolfscale-proxy-cluster-'));
  });

  afterAll(async () => {
    await stopAll(members);
    await set?.destroy();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  async function expectServersIdentical(): Promise<void> {
    const connections = await Promise.all(set.servers.map((server) => server.connect()));
    try {
      await waitFor(
        'every server to hold the same tables and rows',
        async () => {
          for (const other of connections.slice(1)) {
            const comparison = await compareServers(connections[0]!, other);
            if (!comparison.equal) return false;
          }
          return true;
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
    } finally {
      await Promise.all(connections.map((connection) => connection.end()));
    }
  }

  const cli = (...args: string[]) =>
    run('mariadb', ['-h127.0.0.1', `-P${port}`, `-u${user.user}`, `-p${user.password}`, ...args], {
      maxBuffer: 64 * 1024 * 1024,
    });

  test('the mariadb CLI: queries and source of a script; mariadb-dump and its restore', async () => {
    const script = join(dir, 'script.sql');
    await writeFile(
      script,
      `CREATE TABLE app.items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50), qty INT, at DATETIME(6) DEFAULT NOW(6));
INSERT INTO app.items (name, qty) VALUES ('bolt', 10), ('nut', 20), ('gear', 3);
UPDATE app.items SET qty = qty + 1 WHERE name = 'gear';
SELECT name, qty FROM app.items ORDER BY id;
`,
    );
    const sourced = await cli('app', '-e', `source ${script}`);
    expect(sourced.stdout).toBe('name\tqty\nbolt\t10\nnut\t20\ngear\t4\n');
    // A new session has written nothing: its reads run on the follower once it caught up.
    await waitFor('the follower to serve the rows to a new session', async () => {
      const queried = await cli('app', '-N', '-e', 'SELECT COUNT(*) FROM items');
      return queried.stdout === '3\n';
    });

    const dump = await run(
      'mariadb-dump',
      ['-h127.0.0.1', `-P${port}`, `-u${user.user}`, `-p${user.password}`, '--single-transaction', 'app'],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    expect(dump.stdout).toContain('INSERT INTO `items` VALUES');
    const dumpFile = join(dir, 'app.sql');
    await writeFile(dumpFile, dump.stdout);
    const restore = join(dir, 'restore.sql');
    await writeFile(restore, `CREATE DATABASE restored;\nUSE restored;\nsource ${dumpFile};\n`);
    await cli('-e', `source ${restore}`);
    await waitFor('the restored rows on the follower', async () => {
      const restored = await cli('-N', '-e', 'SELECT name, qty FROM restored.items ORDER BY id');
      return restored.stdout === 'bolt\t10\nnut\t20\ngear\t4\n';
    });
    await expectServersIdentical();
  });

  test('mysql2 and the mariadb connector: pools, prepared statements, transactions', async () => {
    const pool = mysql2.createPool({ host: '127.0.0.1', port, ...user, database: 'app', connectionLimit: 4 });
    const maria = mariadb.createPool({
      host: '127.0.0.1',
      port,
      ...user,
      database: 'app',
      connectionLimit: 4,
    });
    try {
      await pool.query('CREATE TABLE accounts (id INT PRIMARY KEY, balance INT NOT NULL)');
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => pool.execute('INSERT INTO accounts VALUES (?, ?)', [i, 100])),
      );
      // Transfers in transactions, from both drivers at once.
      const transfer = async (from: number, to: number): Promise<void> => {
        const connection = await pool.getConnection();
        try {
          await connection.beginTransaction();
          await connection.execute('UPDATE accounts SET balance = balance - 10 WHERE id = ?', [from]);
          await connection.execute('UPDATE accounts SET balance = balance + 10 WHERE id = ?', [to]);
          await connection.commit();
        } finally {
          connection.release();
        }
      };
      const mariaTransfer = async (from: number, to: number): Promise<void> => {
        const connection = await maria.getConnection();
        try {
          await connection.beginTransaction();
          await connection.execute('UPDATE accounts SET balance = balance - 5 WHERE id = ?', [from]);
          await connection.execute('UPDATE accounts SET balance = balance + 5 WHERE id = ?', [to]);
          await connection.commit();
        } finally {
          await connection.release();
        }
      };
      await Promise.all([
        ...Array.from({ length: 20 }, (_, i) => transfer(i, (i + 1) % 20)),
        ...Array.from({ length: 20 }, (_, i) => mariaTransfer(i, (i + 3) % 20)),
      ]);
      // Pooled connections that did not write read the follower: eventually consistent.
      await waitFor('all transfers visible through any pooled connection', async () => {
        const [sum] = (await pool.execute(
          'SELECT SUM(balance) AS total, COUNT(*) AS n FROM accounts',
        )) as unknown as [Array<{ total: string; n: number }>];
        const rows = (await maria.execute('SELECT balance FROM accounts WHERE id = ?', [0])) as Array<{
          balance: number;
        }>;
        return sum[0]?.total === '2000' && sum[0]?.n === 20 && rows[0]?.balance === 100;
      });
      // A rolled-back transaction leaves nothing.
      const connection = await maria.getConnection();
      await connection.beginTransaction();
      await connection.query('UPDATE accounts SET balance = 0');
      await connection.rollback();
      await connection.release();
      const [after] = await pool.query('SELECT SUM(balance) AS total FROM accounts');
      expect(after).toEqual([{ total: '2000' }]);
    } finally {
      await pool.end();
      await maria.end();
    }
    await expectServersIdentical();
  });

  test('read-your-writes: 10,000 writes each read back at once through the follower', async () => {
    const connections = await Promise.all(
      Array.from({ length: 4 }, () =>
        mysql2.createConnection({ host: '127.0.0.1', port, ...user, database: 'app' }),
      ),
    );
    try {
      await connections[0]!.query('CREATE TABLE ryw (id INT PRIMARY KEY, v INT NOT NULL)');
      let stale = 0;
      await Promise.all(
        connections.map(async (connection, c) => {
          for (let i = 0; i < 2500; i += 1) {
            const id = c * 2500 + i;
            if (i % 2 === 0) await connection.query('INSERT INTO ryw VALUES (?, ?)', [id, i]);
            else await connection.execute('INSERT INTO ryw VALUES (?, ?)', [id, i]);
            const [rows] = (await connection.query('SELECT v FROM ryw WHERE id = ?', [id])) as unknown as [
              Array<{ v: number }>,
            ];
            if (rows[0]?.v !== i) stale += 1;
          }
        }),
      );
      expect(stale).toBe(0);
      // Other sessions' writes reach this session's follower reads eventually (not causally).
      await waitFor('all 10,000 rows on the follower', async () => {
        const [count] = (await connections[0]!.query('SELECT COUNT(*) AS n FROM ryw')) as unknown as [
          Array<{ n: number }>,
        ];
        return count[0]?.n === 10_000;
      });
      // A session that wrote nothing reads on the follower's own MariaDB.
      const fresh = await mysql2.createConnection({ host: '127.0.0.1', port, ...user, database: 'app' });
      const [server] = await fresh.query('SELECT @@server_id AS id');
      await fresh.end();
      expect(server).toEqual([{ id: set.servers[1]!.serverId }]);
    } finally {
      await Promise.all(connections.map((connection) => connection.end()));
    }
    await expectServersIdentical();
  });

  test('sysbench oltp_read_write with prepared statements', async () => {
    await cli('-e', 'CREATE DATABASE sbtest');
    // sysbench logs in with the database: the follower must have it.
    await waitFor('sbtest on the follower', async () => {
      const rows = await set.servers[1]!.query<unknown[]>("SHOW DATABASES LIKE 'sbtest'");
      return rows.length === 1;
    });
    const common = [
      '--db-driver=mysql',
      '--mysql-host=127.0.0.1',
      `--mysql-port=${port}`,
      `--mysql-user=${user.user}`,
      `--mysql-password=${user.password}`,
      '--mysql-db=sbtest',
      '--tables=2',
      '--table-size=500',
    ];
    await run('sysbench', ['oltp_read_write', ...common, 'prepare']);
    const result = await run('sysbench', [
      'oltp_read_write',
      ...common,
      '--threads=4',
      '--events=400',
      '--time=0',
      '--db-ps-mode=auto',
      'run',
    ]);
    expect(result.stdout).toMatch(/transactions:\s+400 /);
    // Deadlocks between sysbench's own threads (1213) are retried by sysbench, as direct to MariaDB.
    expect(result.stdout).not.toMatch(/FATAL/);
    await expectServersIdentical();
  });
});

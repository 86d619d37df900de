import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as mariadb from 'mariadb';
import * as mysql2 from 'mysql2/promise';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ProxyServer } from '../../src/proxy/proxy-server.js';
import type { ClusterView } from '../../src/proxy/route.js';
import { freePort } from '../../src/testing/free-port.js';
import type { MariaDbSet } from '../../src/testing/mariadb-harness.js';
import { startMariaDb } from '../support/mariadb.js';
import { proxyTestConfig } from '../support/proxy-config.js';
import { writeSelfSignedCertificate } from '../support/self-signed.js';
import { waitFor } from '../support/wait-for.js';

const run = promisify(execFile);

/**
 * The proxy in front of one real MariaDB as the leader's proxy would be (everything local):
 * real clients (mysql2, the mariadb connector, the mariadb CLI) through it.
 */
describe('the proxy in front of a real MariaDB', () => {
  let set: MariaDbSet;
  let proxy: ProxyServer;
  let tlsProxy: ProxyServer;
  let dir: string;
  const view: ClusterView = { localIsLeader: true, localHealthy: true, appliedPosition: new Map(), lagMs: 0 };

  beforeAll(async () => {
    set = await startMariaDb(1, { extraArgs: ['--local-infile=1', '--max-allowed-packet=64M'] });
    const server = set.servers[0]!;
    dir = await mkdtemp(join(tmpdir(), 'wolfscale-proxy-'));
    const { certPath, keyPath } = await writeSelfSignedCertificate(dir);
    await server.query("CREATE USER app@'%' IDENTIFIED BY 'app-secret'");
    await server.query("CREATE USER nopw@'%'");
    await server.query("INSTALL SONAME 'auth_ed25519'").catch(() => undefined);
    await server.query("CREATE USER ed@'%' IDENTIFIED VIA ed25519 USING PASSWORD('ed-secret')");
    await server.query('CREATE DATABASE app');
    await server.query("GRANT ALL ON app.* TO app@'%'");
    await server.query("GRANT ALL ON app.* TO ed@'%'");
    await server.query('CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(100), b LONGBLOB)');
    const config = async (tls: boolean) =>
      proxyTestConfig({
        dataDir: dir,
        mariadbPort: server.port,
        proxyPort: await freePort(),
        ...(tls ? { tls: { certPath, keyPath } } : {}),
      });
    const admin = mariadb.createPool({ host: '127.0.0.1', port: server.port, user: 'root', password: '' });
    const options = {
      logger: pino({ level: process.env['WOLFSCALE_TEST_LOG'] ?? 'silent' }),
      cluster: { view: () => view, leaderProxy: () => undefined },
      adminQuery: admin,
    };
    proxy = await ProxyServer.start({ ...options, config: await config(false) });
    tlsProxy = await ProxyServer.start({ ...options, config: await config(true) });
  });

  afterAll(async () => {
    await proxy?.close();
    await tlsProxy?.close();
    await set?.destroy();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const mysql2Options = () => ({
    host: '127.0.0.1',
    port: proxy.port,
    user: 'app',
    password: 'app-secret',
    database: 'app',
  });

  test('mysql2: queries, prepared statements, transactions, multi-statements, session state', async () => {
    const connection = await mysql2.createConnection({ ...mysql2Options(), multipleStatements: true });
    try {
      await connection.query('DELETE FROM t');
      await connection.execute('INSERT INTO t (id, v) VALUES (?, ?)', [1, 'one']);
      await connection.execute('INSERT INTO t (id, v) VALUES (?, ?)', [2, 'two']);
      const [rows] = await connection.execute('SELECT id, v FROM t WHERE id >= ? ORDER BY id', [1]);
      expect(rows).toEqual([
        { id: 1, v: 'one' },
        { id: 2, v: 'two' },
      ]);
      await connection.beginTransaction();
      await connection.query("UPDATE t SET v = 'uno' WHERE id = 1");
      await connection.rollback();
      const [after] = await connection.query('SELECT v FROM t WHERE id = 1');
      expect(after).toEqual([{ v: 'one' }]);
      const [multi] = await connection.query('SELECT 1 AS a; SELECT 2 AS b');
      expect(multi).toEqual([[{ a: 1 }], [{ b: 2 }]]);
      await connection.query('SET @greeting = "hello"');
      const [greeting] = await connection.query('SELECT @greeting AS g');
      expect(greeting).toEqual([{ g: 'hello' }]);
      await connection.changeUser({ user: 'app', password: 'app-secret', database: 'app' });
      const [afterChange] = await connection.query(
        'SELECT @greeting AS g, DATABASE() AS db, CURRENT_USER() AS u',
      );
      expect(afterChange).toEqual([{ g: null, db: 'app', u: 'app@%' }]);
    } finally {
      await connection.end();
    }
  });

  // Regression (chaos, 5 nodes, seed 5; docs/RELIABILITY.md "Failures found" 6): a step-down
  // ends every client session; the proxy then ran the rest of the transaction on a new backend
  // session in autocommit and answered COMMIT with an OK for a transaction that was rolled back.
  test('a transaction whose backend session is killed is not continued elsewhere: COMMIT is an error, nothing committed', async () => {
    const connection = await mysql2.createConnection(mysql2Options());
    try {
      await connection.query('DELETE FROM t WHERE id IN (50, 51)');
      await connection.beginTransaction();
      await connection.query("INSERT INTO t (id, v) VALUES (50, 'in a killed transaction')");
      const [[own]] = (await connection.query('SELECT CONNECTION_ID() AS id')) as unknown as [
        [{ id: number }],
      ];
      await set.servers[0]!.query(`KILL CONNECTION ${own.id}`);
      // Let the proxy see the backend close before the next statement arrives.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await expect(connection.query("INSERT INTO t (id, v) VALUES (51, 'after the kill')")).rejects.toThrow(
        /transaction was not committed|lost/,
      );
      await connection.query('COMMIT');
      const rows = await set.servers[0]!.query<Array<{ id: number }>>(
        'SELECT id FROM app.t WHERE id IN (50, 51)',
      );
      expect(rows).toEqual([]);
      // The session goes on.
      const [[one]] = (await connection.query('SELECT 1 AS one')) as unknown as [[{ one: number }]];
      expect(one.one).toBe(1);
    } finally {
      await connection.end();
    }
  });

  const connectorPool = () =>
    mariadb.createPool({
      host: '127.0.0.1',
      port: proxy.port,
      user: 'app',
      password: 'app-secret',
      database: 'app',
      connectionLimit: 4,
      resetAfterUse: true,
    });

  test('the mariadb connector: a pool with pipelined prepare/execute and batch', async () => {
    const pool = connectorPool();
    try {
      const results = await Promise.all(
        Array.from(
          { length: 40 },
          (_, i) => pool.execute('SELECT ? + 1 AS n', [i]) as Promise<Array<{ n: number }>>,
        ),
      );
      expect(results.map((r) => Number(r[0]?.n))).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      await pool.query('DELETE FROM t WHERE id IN (101, 102)');
      await pool.batch('INSERT INTO t (id, v) VALUES (?, ?)', [
        [101, 'a'],
        [102, 'b'],
      ]);
      const [count] = (await pool.query('SELECT COUNT(*) AS c FROM t WHERE id IN (101, 102)')) as Array<{
        c: bigint;
      }>;
      expect(Number(count?.c)).toBe(2);
    } finally {
      await pool.end();
    }
  });

  test('packets above 16 MiB both ways', async () => {
    const pool = connectorPool();
    try {
      const big = randomBytes(20 * 1024 * 1024);
      await pool.query('DELETE FROM t WHERE id = 100');
      await pool.query('INSERT INTO t (id, v, b) VALUES (?, ?, ?)', [100, 'big', big]);
      const [row] = (await pool.query('SELECT b FROM t WHERE id = 100')) as Array<{ b: Buffer }>;
      expect(row?.b.equals(big)).toBe(true);
    } finally {
      await pool.end();
    }
  });

  test('a wrong password gets MariaDB’s own Access denied; ed25519 and empty passwords log in', async () => {
    await expect(mysql2.createConnection({ ...mysql2Options(), password: 'wrong' })).rejects.toMatchObject({
      errno: 1045,
      sqlState: '28000',
    });
    await expect(mysql2.createConnection({ ...mysql2Options(), user: 'ghost' })).rejects.toMatchObject({
      errno: 1045,
    });
    const nopw = await mysql2.createConnection({
      host: '127.0.0.1',
      port: proxy.port,
      user: 'nopw',
      password: '',
    });
    const [me] = await nopw.query('SELECT CURRENT_USER() AS u');
    expect(me).toEqual([{ u: 'nopw@%' }]);
    await nopw.end();
    const ed = await mariadb.createConnection({
      host: '127.0.0.1',
      port: proxy.port,
      user: 'ed',
      password: 'ed-secret',
      database: 'app',
    });
    expect(await ed.query('SELECT COUNT(*) >= 0 AS ok FROM t')).toEqual([{ ok: 1 }]);
    await ed.end();
  });

  test('the mariadb CLI: queries, source of a script, LOAD DATA LOCAL INFILE, TLS', async () => {
    const script = join(dir, 'script.sql');
    const csv = join(dir, 'rows.csv');
    await writeFile(csv, Array.from({ length: 500 }, (_, i) => `${1000 + i},row ${i}`).join('\n'));
    await writeFile(
      script,
      `DELETE FROM t WHERE id >= 1000;\nLOAD DATA LOCAL INFILE '${csv}' INTO TABLE t FIELDS TERMINATED BY ',' (id, v);\nSELECT COUNT(*) AS loaded FROM t WHERE id >= 1000;\n`,
    );
    const cli = (port: number, ...args: string[]) =>
      run('mariadb', [
        '-h127.0.0.1',
        `-P${port}`,
        '-uapp',
        '-papp-secret',
        '--local-infile=1',
        'app',
        ...args,
      ]);
    const sourced = await cli(proxy.port, '-e', `source ${script}`);
    expect(sourced.stdout).toContain('loaded\n500');
    const tls = await cli(
      tlsProxy.port,
      '--ssl',
      '--ssl-verify-server-cert=0',
      '-e',
      "SHOW STATUS LIKE 'Ssl_cipher'",
    );
    expect(tls.stdout).toContain('Ssl_cipher');
    const status = await cli(tlsProxy.port, '--ssl', '--ssl-verify-server-cert=0', '-e', 'status');
    expect(status.stdout).toMatch(/SSL:\s+Cipher in use is/);
  });

  test('random bytes at many connections close only those; a normal client is still served', async () => {
    const fuzz = Array.from(
      { length: 60 },
      (_, i) =>
        new Promise<void>((resolve) => {
          const socket = connect({ host: '127.0.0.1', port: proxy.port });
          socket.on('error', () => resolve());
          socket.on('close', () => resolve());
          socket.once('data', () => {
            // after the greeting: a handshake of garbage, or garbage after a valid-looking header
            const junk = randomBytes(8 + ((i * 37) % 300));
            if (i % 3 === 0) junk.writeUIntLE(junk.length - 4, 0, 3);
            socket.write(junk);
            if (i % 5 === 0) socket.write(Buffer.from([0xff, 0xff, 0xff, 0x01, 0x03]));
            setTimeout(() => socket.destroy(), 500);
          });
        }),
    );
    await Promise.all(fuzz);
    const connection = await mysql2.createConnection(mysql2Options());
    const [rows] = await connection.query('SELECT 42 AS answer');
    expect(rows).toEqual([{ answer: 42 }]);
    await connection.end();
  });

  test('a client that leaves during a COMMIT waiting for its semi-sync ACK: the backend session waits on', async () => {
    // A vanished client's waiting commit is released by MariaDB as committed and visible
    // (docs/RELIABILITY.md): the proxy keeps the backend connection until the answer arrives.
    const server = set.servers[0]!;
    await server.query('CREATE TABLE app.linger (id INT PRIMARY KEY)');
    await server.query(
      "SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC', rpl_semi_sync_master_timeout = 60000, rpl_semi_sync_master_wait_no_slave = ON, rpl_semi_sync_master_enabled = ON",
    );
    try {
      const client = await mysql2.createConnection(mysql2Options());
      // mysql2 never settles a query of a destroyed connection: not awaited.
      void client.query('INSERT INTO linger VALUES (1)').catch(() => undefined);
      const waiting = async () =>
        (
          await server.query<unknown[]>(
            "SELECT 1 FROM information_schema.processlist WHERE state = 'Waiting for semi-sync ACK from slave'",
          )
        ).length;
      await waitFor('the COMMIT to wait for its ACK', async () => (await waiting()) === 1, {
        timeoutMs: 10_000,
      });
      client.destroy();
      // Time for the proxy to see the client leave; the commit must still wait, invisible.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(await waiting()).toBe(1);
      expect(await server.query('SELECT id FROM app.linger')).toEqual([]);
      expect(proxy.connections).toBeGreaterThan(0);
      // The ACK wait ends (here: semi-sync turned off): the commit returns, the backend closes.
      await server.query('SET GLOBAL rpl_semi_sync_master_enabled = OFF');
      await waitFor('the proxy to close the session', () => proxy.connections === 0);
      expect(await server.query('SELECT id FROM app.linger')).toEqual([{ id: 1 }]);
    } finally {
      await server.query('SET GLOBAL rpl_semi_sync_master_enabled = OFF');
    }
  });

  test('proxy.idle_timeout_s closes a client idle that long; a client that keeps sending stays', async () => {
    const base = proxyTestConfig({
      dataDir: dir,
      mariadbPort: set.servers[0]!.port,
      proxyPort: await freePort(),
    });
    const admin = mariadb.createPool({
      host: '127.0.0.1',
      port: set.servers[0]!.port,
      user: 'root',
      password: '',
    });
    const idleProxy = await ProxyServer.start({
      logger: pino({ level: 'silent' }),
      cluster: { view: () => view, leaderProxy: () => undefined },
      adminQuery: admin,
      config: { ...base, proxy: { ...base.proxy, idle_timeout_s: 1 } },
    });
    const options = { ...mysql2Options(), port: idleProxy.port };
    const idle = await mysql2.createConnection(options);
    const busy = await mysql2.createConnection(options);
    idle.on('error', () => undefined);
    try {
      await idle.query('SELECT 1');
      for (let i = 0; i < 10; i += 1) {
        await busy.query('SELECT 1');
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      // 3 s later: the idle client was closed by the proxy, the busy one still gets answers.
      await expect(idle.query('SELECT 1')).rejects.toThrow();
      const [rows] = await busy.query('SELECT 2 AS two');
      expect(rows).toEqual([{ two: 2 }]);
      expect(idleProxy.connections).toBe(1);
    } finally {
      idle.destroy();
      await busy.end().catch(() => undefined);
      await idleProxy.close();
      await admin.end();
    }
  });

  test('KILL of a connection id the proxy gave reaches that session, never a MariaDB thread', async () => {
    const victim = await mysql2.createConnection(mysql2Options());
    const killer = await mysql2.createConnection(mysql2Options());
    try {
      await expect(killer.query('KILL 2147483000')).rejects.toMatchObject({ errno: 1094 });
      await killer.query(`KILL CONNECTION ${victim.threadId}`);
      await expect(victim.query('SELECT 1')).rejects.toThrow();
      // The mariadb connector's destroy() sends KILL <its id> on a new connection.
      const maria = await mariadb.createConnection(mysql2Options());
      const before = proxy.connections;
      maria.destroy();
      await waitFor('the destroyed connection to close', () => proxy.connections < before);
      const [rows] = await killer.query('SELECT 42 AS answer');
      expect(rows).toEqual([{ answer: 42 }]);
    } finally {
      victim.destroy();
      await killer.end();
    }
  });
});

import type { Connection } from 'mariadb';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { probeHealth } from '../../src/mariadb/health-probe.js';
import { MariaDbAdmin, semiSyncTimeoutMsNever } from '../../src/mariadb/mariadb-admin.js';
import { checkRequiredSettings } from '../../src/mariadb/required-settings.js';
import type { MariaDbServer, MariaDbSet } from '../../src/testing/mariadb-harness.js';
import { startMariaDb } from '../support/mariadb.js';

describe('local MariaDB administration', () => {
  let sets: MariaDbSet[] = [];
  let durable: MariaDbServer;
  let fast: MariaDbServer;
  let connection: Connection;
  let admin: MariaDbAdmin;

  beforeAll(async () => {
    // Server 1 is configured as WolfScale requires; server 2 is the harness default (sync_binlog=0).
    sets = await Promise.all([
      startMariaDb(1, { durable: true, serverIdBase: 11 }),
      startMariaDb(1, { serverIdBase: 12 }),
    ]);
    durable = sets[0]!.servers[0]!;
    fast = sets[1]!.servers[0]!;
    connection = await durable.connect();
    admin = new MariaDbAdmin(connection);
  });
  afterAll(async () => {
    await connection?.end();
    await Promise.all(sets.map((set) => set.destroy()));
  });

  test('read_only is read and set', async () => {
    expect(await admin.readOnly()).toBe(false);
    await admin.setReadOnly(true);
    expect(await admin.readOnly()).toBe(true);
    await admin.setReadOnly(false);
    expect(await admin.readOnly()).toBe(false);
  });

  test('semi-sync master is enabled with AFTER_SYNC and a never-fall-back timeout, then disabled', async () => {
    await admin.enableSemiSyncMaster();
    expect(await admin.semiSyncMasterState()).toEqual({
      enabled: true,
      active: true,
      waitPoint: 'AFTER_SYNC',
      timeoutMs: semiSyncTimeoutMsNever,
      clients: 0,
    });
    await admin.disableSemiSyncMaster();
    expect((await admin.semiSyncMasterState()).enabled).toBe(false);
  });

  test('GTID state follows commits in the binlog', async () => {
    const before = await admin.gtidState();
    await connection.query('CREATE DATABASE gtid_probe');
    await connection.query('CREATE TABLE gtid_probe.t (id INT PRIMARY KEY)');
    const after = await admin.gtidState();
    const domain0Before = before.binlogPos.find((g) => g.domainId === 0)?.sequenceNumber ?? 0n;
    expect(after.binlogPos).toEqual([
      { domainId: 0, serverId: durable.serverId, sequenceNumber: domain0Before + 2n },
    ]);
    expect(after.currentPos).toEqual(after.binlogPos);
    expect(after.slavePos).toEqual([]);
  });

  test('a server configured as required passes the settings check; one with sync_binlog=0 is told how to fix it', async () => {
    expect(await checkRequiredSettings(connection, { serverName: `127.0.0.1:${durable.port}` })).toEqual([]);
    const other = await fast.connect();
    try {
      const problems = await checkRequiredSettings(other, { serverName: `127.0.0.1:${fast.port}` });
      expect(problems.map((p) => p.code)).toEqual(['SYNC_BINLOG']);
      expect(problems[0]?.message).toContain(
        'add sync_binlog=1 under [mariadbd] in /etc/mysql/mariadb.conf.d/50-server.cnf and restart MariaDB',
      );
    } finally {
      await other.end();
    }
  });

  test('the health probe reports healthy, then unhealthy with a reason when the server is gone', async () => {
    const options = { ...fast.connectOptions(), timeoutMs: 5_000 };
    const healthy = await probeHealth(options);
    expect(healthy).toMatchObject({ kind: 'healthy', readOnly: false });
    const cancelled = await probeHealth({ ...options, signal: AbortSignal.abort() });
    expect(cancelled).toMatchObject({ kind: 'unhealthy', code: 'ABORTED' });
    await fast.kill();
    const down = await probeHealth(options);
    expect(down).toMatchObject({ kind: 'unhealthy', code: 'CONNECT_FAILED' });
    if (down.kind === 'unhealthy') expect(down.reason).toContain(`127.0.0.1:${fast.port}`);
  });

  test('the health probe times out against a server that accepts but never answers', async () => {
    // A stopped (SIGSTOP) server keeps its listening socket: connections queue and nobody answers.
    const pid = durable.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      const health = await probeHealth({ ...durable.connectOptions(), timeoutMs: 300 });
      expect(health).toMatchObject({ kind: 'unhealthy', code: 'TIMEOUT' });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });
});

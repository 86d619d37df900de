import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, inject, test } from 'vitest';
import type { MariaDbSet } from '../../src/testing/mariadb-harness.js';
import { processAlive } from '../../src/testing/process-alive.js';
import { startMariaDb } from '../support/mariadb.js';
import { waitFor } from '../support/wait-for.js';

describe('throwaway MariaDB harness', () => {
  let set: MariaDbSet | undefined;
  afterAll(async () => {
    await set?.destroy();
  });

  test('three servers start with the replication settings, keep their own data, and leave nothing behind', async () => {
    set = await startMariaDb(3);
    const servers = set.servers;
    expect(new Set(servers.map((server) => server.port)).size).toBe(3);

    for (const server of servers) {
      const [settings] = await server.query<Array<Record<string, unknown>>>(
        'SELECT @@server_id AS serverId, @@log_bin AS logBin, @@binlog_format AS binlogFormat, ' +
          '@@gtid_strict_mode AS gtidStrict, @@port AS port',
      );
      expect(settings).toEqual({
        serverId: server.serverId,
        logBin: 1,
        binlogFormat: 'ROW',
        gtidStrict: 1,
        port: server.port,
      });
      await server.query('CREATE DATABASE app');
      await server.query('CREATE TABLE app.t (id INT PRIMARY KEY, owner INT NOT NULL)');
      await server.query('INSERT INTO app.t VALUES (1, ?)', [server.serverId]);
    }
    // Each server holds only what was written to it: they share nothing but the template.
    for (const server of servers) {
      const rows = await server.query<Array<{ owner: number }>>('SELECT owner FROM app.t');
      expect(rows.map((row) => row.owner)).toEqual([server.serverId]);
    }

    const pids = servers.map((server) => server.pid);
    const dirs = [set.rootDir, ...servers.map((server) => server.dataDir)];
    expect(pids.every((pid) => pid !== undefined && processAlive(pid))).toBe(true);
    await set.destroy();
    set = undefined;
    expect(pids.filter((pid) => pid !== undefined && processAlive(pid))).toEqual([]);
    expect(dirs.filter((dir) => existsSync(dir))).toEqual([]);
  });

  test('each server has its own tmpdir: another server starting leaves its #sql files alone', async () => {
    set = await startMariaDb(1);
    const [server] = set.servers;
    if (server === undefined) throw new Error('no server');
    const [row] = await server.query<Array<{ tmpdir: string }>>('SELECT @@tmpdir AS tmpdir');
    expect(row?.tmpdir).toBe(server.tmpDir);
    // A MariaDB starting up removes every #sql* file in its tmpdir (leftover temporary tables):
    // with a shared /tmp, that deleted the live temporary tables of servers already running.
    const probe = join(row?.tmpdir ?? '', `#sql-wolfscale-probe-${process.pid}`);
    await writeFile(probe, 'a temporary table of a running server');
    const other = await startMariaDb(1);
    try {
      expect(existsSync(probe)).toBe(true);
    } finally {
      await other.destroy();
      await rm(probe, { force: true });
    }
    const dirs = [server.dataDir, server.tmpDir];
    await set.destroy();
    set = undefined;
    expect(dirs.filter((dir) => existsSync(dir))).toEqual([]);
  });

  test('a killed server restarts on its data directory with its data', async () => {
    set = await startMariaDb(1, { durable: true });
    const [server] = set.servers;
    if (server === undefined) throw new Error('no server');
    await server.query('CREATE TABLE mysql.wolfscale_probe (id INT PRIMARY KEY)');
    await server.query('INSERT INTO mysql.wolfscale_probe VALUES (42)');
    const pid = server.pid;
    await server.kill();
    expect(pid !== undefined && processAlive(pid)).toBe(false);
    await server.start();
    expect(await server.query('SELECT id FROM mysql.wolfscale_probe')).toEqual([{ id: 42 }]);
    await set.destroy();
    set = undefined;
  });

  for (const signal of ['SIGINT', 'SIGKILL'] as const) {
    test(`an owner stopped by ${signal} leaves no server running and no directory behind`, async () => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'test/support/harness-child.ts', inject('mariadbTemplateDir')],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const lines = createInterface({ input: child.stdout });
      const first = await new Promise<string>((resolve, reject) => {
        lines.once('line', resolve);
        child.once('exit', (code) => reject(new Error(`harness child exited early with code ${code}`)));
      });
      const started = JSON.parse(first) as { pids: number[]; dirs: string[] };
      expect(started.pids).toHaveLength(2);
      expect(started.pids.every(processAlive)).toBe(true);
      expect(started.dirs.every((dir) => existsSync(dir))).toBe(true);

      child.kill(signal);
      await waitFor('the harness servers to die', () => started.pids.every((pid) => !processAlive(pid)), {
        timeoutMs: 15_000,
      });
      await waitFor(
        'the harness directories to be removed',
        () => started.dirs.every((dir) => !existsSync(dir)),
        {
          timeoutMs: 15_000,
        },
      );
    });
  }
});

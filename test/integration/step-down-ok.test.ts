import mariadb, { type Connection, type Pool } from 'mariadb';
import { pino } from 'pino';
import { afterAll, describe, expect, test } from 'vitest';
import { MariaDbAdmin } from '../../src/mariadb/mariadb-admin.js';
import type { ApplyLoop } from '../../src/node/apply-loop.js';
import { Leadership } from '../../src/node/leadership.js';
import type { ReplicatedLog } from '../../src/node/replicated-log.js';
import type { MariaDbSet } from '../../src/testing/mariadb-harness.js';
import { startMariaDb } from '../support/mariadb.js';
import { waitFor } from '../support/wait-for.js';

/**
 * docs/RELIABILITY.md "Failures found" 8: a deposed leader's MariaDB holds commits waiting for a
 * semi-sync acknowledgement that will never come. The step-down must end them without any client
 * getting an OK. Here semi-sync master is on and no replica is connected, so every OK a client
 * gets is one no replica acknowledged. Measured on MariaDB 10.11.19: ending the sessions between
 * `read_only=ON` attempts (each bounded by lock_wait_timeout) let 10–38 commits per step-down
 * return OK — commits that clients started right after the waiting session was killed. With the
 * sessions ended while `read_only=ON` is pending, none.
 */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('step-down with commits waiting for a semi-sync acknowledgement', () => {
  let set: MariaDbSet | undefined;
  let pool: Pool | undefined;
  afterAll(async () => {
    await pool?.end();
    await set?.destroy();
  });

  test('16 reconnecting clients, 3 step-downs: no client gets an OK no replica acknowledged', async () => {
    set = await startMariaDb(1);
    const server = set.servers[0];
    if (server === undefined) throw new Error('no server');
    await server.query('CREATE DATABASE app');
    await server.query('CREATE TABLE app.t (id INT PRIMARY KEY, c INT) ENGINE=InnoDB');
    await server.query("CREATE USER app@'%' IDENTIFIED BY 'app'");
    await server.query("GRANT ALL ON app.* TO app@'%'");
    // The node's own account (root here): its sessions are never ended.
    pool = mariadb.createPool({ ...server.connectOptions(), connectionLimit: 4 });
    const admin = new MariaDbAdmin(pool);
    const leadership = new Leadership({
      log: {
        status: () => ({ lastLogId: { index: 0, term: 0 } }),
        commitIndex: 0,
      } as unknown as ReplicatedLog,
      admin,
      sql: pool,
      applyLoop: {} as ApplyLoop,
      logger: pino({ level: 'silent' }),
      capture: {} as never,
    });

    let next = 1;
    for (let round = 1; round <= 3; round++) {
      await admin.setReadOnly(false);
      await admin.enableSemiSyncMaster();
      let running = true;
      const acknowledged: number[] = [];
      let failed = 0;
      const clients = Array.from({ length: 16 }, async (_, k) => {
        while (running) {
          let connection: Connection;
          try {
            connection = await server.connect({ user: 'app', password: 'app', database: 'app' });
          } catch {
            await sleep(5);
            continue;
          }
          try {
            while (running) {
              const id = next++;
              if (k % 2 === 0) {
                await connection.query('INSERT INTO t VALUES (?, 0)', [id]);
              } else {
                await connection.query('BEGIN');
                await connection.query('INSERT INTO t VALUES (?, 1)', [id]);
                await connection.query('COMMIT');
              }
              acknowledged.push(id);
            }
          } catch {
            failed++;
          } finally {
            connection.destroy();
          }
        }
      });
      // Let every client block in the semi-sync wait, then step down as a deposed leader does.
      await waitFor('commits waiting for an acknowledgement', async () => {
        const rows = await server.query<Array<{ n: number }>>(
          "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE state = 'Waiting for semi-sync ACK from slave'",
        );
        return Number(rows[0]?.n) > 0;
      });
      await sleep(100);
      leadership.stepDownNow(); // steppedDown is false from here until semi-sync master is off
      await waitFor('the step-down', () => leadership.steppedDown, { timeoutMs: 30_000 });
      const [semiSync] = await server.query<Array<{ on: number; ro: number }>>(
        'SELECT @@GLOBAL.rpl_semi_sync_master_enabled AS `on`, @@GLOBAL.read_only AS ro',
      );
      expect(semiSync).toEqual({ on: 0, ro: 1 });
      // Clients still trying meanwhile are refused (read_only); anything in flight has ended.
      await sleep(300);
      running = false;
      await Promise.all(clients);
      expect({ round, acknowledged }).toEqual({ round, acknowledged: [] });
      expect(failed).toBeGreaterThan(0);
    }
  }, 120_000);
});

import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Applier, type ApplyOutcome } from '../../src/apply/applier.js';
import type { ApplierTransaction } from '../../src/apply/applier-transaction.js';
import { formatGtidPosition } from '../../src/mariadb/gtid-position.js';
import { formatGtid } from '../../src/protocol/gtid.js';
import type { MariaDbServer, MariaDbSet } from '../../src/testing/mariadb-harness.js';
import { compareServers } from '../support/compare.js';
import { startMariaDb } from '../support/mariadb.js';
import { sourceTransactions } from '../support/source-transactions.js';
import { waitFor } from '../support/wait-for.js';
import { runWorkload } from '../support/workload.js';

const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'silent' });

/** Submits every transaction in order and returns the outcomes. */
async function applyAll(
  applier: Applier,
  transactions: readonly ApplierTransaction[],
): Promise<ApplyOutcome[]> {
  const pending: Promise<ApplyOutcome>[] = [];
  for (const transaction of transactions) pending.push((await applier.submit(transaction)).committed);
  return await Promise.all(pending);
}

async function expectIdentical(source: MariaDbServer, target: MariaDbServer): Promise<void> {
  const [a, b] = await Promise.all([source.connect(), target.connect()]);
  try {
    const comparison = await compareServers(a, b);
    expect(comparison.differences).toEqual([]);
    expect(comparison.tables).toBeGreaterThan(10);
  } finally {
    await Promise.all([a.end(), b.end()]);
  }
}

describe('applying captured transactions to a target MariaDB', () => {
  let set: MariaDbSet;
  let source: MariaDbServer;
  let transactions: ApplierTransaction[];

  beforeAll(async () => {
    set = await startMariaDb(1, { serverIdBase: 31 });
    source = set.servers[0]!;
    await runWorkload(() => source.connect(), { seed: 5, operations: 400, concurrency: 4 });
    transactions = await sourceTransactions(source);
  });
  afterAll(async () => {
    await set?.destroy();
  });

  test('the seeded workload (every column type, DDL, users, 16 MiB row, 100k-row transaction) replays byte-identically', async () => {
    const targetSet = await startMariaDb(1, { serverIdBase: 32 });
    try {
      const target = targetSet.servers[0]!;
      const applier = await Applier.open({ target: target.connectOptions(), logger });
      const outcomes = await applyAll(applier, transactions);
      expect(outcomes.filter((o) => o.kind !== 'applied')).toEqual([]);
      expect(applier.status()).toMatchObject({ kind: 'running', inflight: 0 });
      await applier.close();
      await expectIdentical(source, target);
    } finally {
      await targetSet.destroy();
    }
  });

  test('an apply error stops the applier with the statement, GTID and MariaDB message; nothing after it commits; a new applier resumes', async () => {
    const targetSet = await startMariaDb(1, { serverIdBase: 33 });
    try {
      const target = targetSet.servers[0]!;
      // The 100,000-row transaction will collide, at its last row, with a row only the target has.
      const bulk = transactions.reduce((a, b) => (b.events.length > a.events.length ? b : a));
      const bulkIndex = transactions.indexOf(bulk);
      const before = transactions.slice(0, bulkIndex);
      let applier = await Applier.open({ target: target.connectOptions(), logger });
      expect((await applyAll(applier, before)).every((o) => o.kind === 'applied')).toBe(true);
      const conflict = await target.connect();
      await conflict.query('SET SESSION sql_log_bin=0');
      await conflict.query('INSERT INTO ws_a.bulk (id, note) VALUES (100000, "target only")');

      const outcomes = await applyAll(applier, transactions.slice(bulkIndex));
      expect(outcomes.every((o) => o.kind === 'failed')).toBe(true);
      const status = applier.status();
      expect(status.kind).toBe('failed');
      if (status.kind !== 'failed') throw new Error('unreachable');
      expect(status.error).toMatchObject({ code: 'APPLY_FAILED', errno: 1062, gtid: formatGtid(bulk.gtid) });
      expect(status.error.serverMessage).toContain('Duplicate entry');
      expect(status.error.statement).toContain('BINLOG');
      expect(status.error.message).toContain(formatGtid(bulk.gtid));
      // Acknowledged exactly what committed: the transaction before the failing one.
      const previous = transactions[bulkIndex - 1]!.gtid;
      expect(formatGtidPosition(status.applied)).toBe(formatGtid(previous));
      const [pos] = await target.query<Array<{ pos: string }>>('SELECT @@gtid_binlog_pos AS pos');
      expect(pos?.pos).toBe(formatGtid(previous));
      // The 99,999 rows before the collision were rolled back with the failed statement.
      expect(await target.query('SELECT COUNT(*) AS n FROM ws_a.bulk')).toEqual([{ n: 1 }]);

      await conflict.query('DELETE FROM ws_a.bulk WHERE id = 100000');
      await conflict.end();
      applier = await Applier.open({ target: target.connectOptions(), logger });
      const resumed = await applyAll(applier, transactions);
      expect(resumed.filter((o) => o.kind === 'skipped')).toHaveLength(bulkIndex);
      expect(resumed.filter((o) => o.kind === 'applied')).toHaveLength(transactions.length - bulkIndex);
      await applier.close();
      await expectIdentical(source, target);
    } finally {
      await targetSet.destroy();
    }
  });

  // Failed 1 of 5 runs on 2026-12-02: after the restart `mysql.global_priv` differed from the
  // source's — the kill fell inside a replicated account statement whose GTID reached the binlog
  // and whose effect did not (the privilege tables are Aria). The applier now applies the
  // target's last account statement again on open (regression test at the end of this file).
  test('the target killed mid-apply and restarted: the applier resumes from its GTID position, nothing lost or doubled', async () => {
    const targetSet = await startMariaDb(1, { serverIdBase: 34, durable: true });
    try {
      const target = targetSet.servers[0]!;
      let applier = await Applier.open({ target: target.connectOptions(), logger });
      const running = applyAll(applier, transactions);
      const half = transactions[Math.floor(transactions.length / 2)]!.gtid;
      await waitFor('the applier to pass half of the transactions', () =>
        applier.applied.some((g) => g.domainId === half.domainId && g.sequenceNumber >= half.sequenceNumber),
      );
      await target.kill();
      const outcomes = await running;
      const acknowledged = applier.applied;
      const status = applier.status();
      expect(status.kind).toBe('failed');
      if (status.kind === 'failed') expect(status.error.code).toBe('TARGET_UNAVAILABLE');
      expect(outcomes.some((o) => o.kind === 'failed')).toBe(true);

      await target.start();
      applier = await Applier.open({ target: target.connectOptions(), logger });
      // Never acknowledged what did not commit: the restarted target holds at least that.
      for (const gtid of acknowledged) {
        const held = applier.applied.find((g) => g.domainId === gtid.domainId);
        expect(held !== undefined && held.sequenceNumber >= gtid.sequenceNumber).toBe(true);
      }
      const resumed = await applyAll(applier, transactions);
      expect(resumed.filter((o) => o.kind === 'failed')).toEqual([]);
      expect(resumed.some((o) => o.kind === 'skipped')).toBe(true);
      await applier.close();
      await expectIdentical(source, target);
    } finally {
      await targetSet.destroy();
    }
  });
});

describe('a failure inside a multi-statement transaction', () => {
  test('commits none of its statements: the rows before the failing one are not left behind', async () => {
    const pair = await startMariaDb(2, { serverIdBase: 35 });
    try {
      const [source, target] = pair.servers as [MariaDbServer, MariaDbServer];
      await source.query('CREATE DATABASE m');
      await source.query('CREATE TABLE m.t (id INT PRIMARY KEY)');
      const writer = await source.connect();
      await writer.query('BEGIN');
      for (const id of [1, 2, 3]) await writer.query('INSERT INTO m.t VALUES (?)', [id]);
      await writer.query('COMMIT');
      await writer.end();
      const transactions = await sourceTransactions(source);
      const applier = await Applier.open({ target: target.connectOptions(), logger });
      const ddl = await applyAll(applier, transactions.slice(0, 2));
      expect(ddl.every((o) => o.kind === 'applied')).toBe(true);
      const conflict = await target.connect();
      await conflict.query('SET SESSION sql_log_bin=0');
      await conflict.query('INSERT INTO m.t VALUES (3)');
      await conflict.end();

      const [outcome] = await applyAll(applier, transactions.slice(2));
      expect(outcome).toMatchObject({ kind: 'failed', error: { errno: 1062 } });
      expect(await target.query('SELECT id FROM m.t ORDER BY id')).toEqual([{ id: 3 }]);
      const [pos] = await target.query<Array<{ pos: string }>>('SELECT @@gtid_binlog_pos AS pos');
      expect(pos?.pos).toBe(formatGtid(transactions[1]!.gtid));
      await applier.close();
    } finally {
      await pair.destroy();
    }
  });
});

// Regression (the kill case above, skipped since 2026-12-02): a MariaDB killed during an account
// statement can restart with the statement's GTID in its binlog and without its effect in the
// privilege tables (Aria, not committed with the binlog; seen once in 12 rounds of a killed
// CREATE USER / GRANT loop on 10.11.19). A resuming applier skips that GTID. The state is made
// here directly: the last statement applied, then undone on the target without binlogging.
describe("the target's last transaction is an account statement whose effect is missing", () => {
  let pair: MariaDbSet;
  let source: MariaDbServer;
  let target: MariaDbServer;
  let transactions: ApplierTransaction[];
  beforeAll(async () => {
    pair = await startMariaDb(2, { serverIdBase: 37 });
    [source, target] = pair.servers as [MariaDbServer, MariaDbServer];
    await source.query("CREATE USER acct@'%' IDENTIFIED BY 'acct-secret'");
    await source.query("GRANT SELECT, INSERT ON *.* TO acct@'%'");
    transactions = await sourceTransactions(source);
    const applier = await Applier.open({ target: target.connectOptions(), logger });
    expect((await applyAll(applier, transactions)).every((o) => o.kind === 'applied')).toBe(true);
    await applier.close();
  });
  afterAll(async () => {
    await pair?.destroy();
  });

  const grants = async (server: MariaDbServer) =>
    (await server.query<Array<Record<string, string>>>("SHOW GRANTS FOR acct@'%'")).map(
      (row) => Object.values(row)[0],
    );

  test('a resuming applier applies it again, not binlogged; the accounts end equal', async () => {
    const before = await target.query<Array<{ pos: string }>>('SELECT @@gtid_binlog_pos AS pos');
    const undo = await target.connect();
    await undo.query('SET SESSION sql_log_bin=0');
    await undo.query("REVOKE SELECT, INSERT ON *.* FROM acct@'%'");
    await undo.end();
    expect(await grants(target)).not.toEqual(await grants(source));

    const applier = await Applier.open({ target: target.connectOptions(), logger });
    const outcomes = await applyAll(applier, transactions);
    await applier.close();
    expect(outcomes.every((o) => o.kind === 'skipped')).toBe(true);
    expect(await grants(target)).toEqual(await grants(source));
    // Nothing was written to the target's binlog.
    expect(await target.query('SELECT @@gtid_binlog_pos AS pos')).toEqual(before);
  });

  test('a CREATE USER lost with its account: the account comes back with its password', async () => {
    // Only the CREATE USER was applied (the GRANT after it not yet), and the account is gone.
    const only = transactions.filter((t) => t !== transactions.at(-1));
    const pair2 = await startMariaDb(1, { serverIdBase: 39 });
    try {
      const fresh = pair2.servers[0]!;
      let applier = await Applier.open({ target: fresh.connectOptions(), logger });
      expect((await applyAll(applier, only)).every((o) => o.kind === 'applied')).toBe(true);
      await applier.close();
      const undo = await fresh.connect();
      await undo.query('SET SESSION sql_log_bin=0');
      await undo.query("DROP USER acct@'%'");
      await undo.end();

      applier = await Applier.open({ target: fresh.connectOptions(), logger });
      const outcomes = await applyAll(applier, transactions);
      await applier.close();
      expect(outcomes.at(-1)?.kind).toBe('applied');
      expect(await grants(fresh)).toEqual(await grants(source));
      const hash = "SELECT authentication_string AS h FROM mysql.user WHERE User = 'acct'";
      expect(await fresh.query(hash)).toEqual(await source.query(hash));
    } finally {
      await pair2.destroy();
    }
  });

  test('when its effect is there, running it again changes nothing', async () => {
    const applier = await Applier.open({ target: target.connectOptions(), logger });
    expect((await applyAll(applier, transactions)).every((o) => o.kind === 'skipped')).toBe(true);
    await applier.close();
    expect(await grants(target)).toEqual(await grants(source));
  });
});

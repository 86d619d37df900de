import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Applier, type ApplyOutcome } from '../../src/apply/applier.js';
import type { ApplierTransaction } from '../../src/apply/applier-transaction.js';
import { readBinlogTransactions } from '../../src/apply/binlog-file-transactions.js';
import type { MariaDbServer, MariaDbSet } from '../../src/testing/mariadb-harness.js';
import { compareServers } from '../support/compare.js';
import { startMariaDb } from '../support/mariadb.js';
import { runWorkload } from '../support/workload.js';

const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'silent' });

/** The source's binlog files, the current one flushed first so every transaction is complete. */
async function sourceTransactions(source: MariaDbServer): Promise<ApplierTransaction[]> {
  await source.query('FLUSH BINARY LOGS');
  const index = await readFile(join(source.dataDir, 'binlog.index'), 'utf8');
  const files = index
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => (line.startsWith('/') ? line : join(source.dataDir, line.replace(/^\.\//, ''))));
  return await readBinlogTransactions(files);
}

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
});

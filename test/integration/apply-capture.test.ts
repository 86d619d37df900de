import pino from 'pino';
import { afterAll, describe, expect, test } from 'vitest';
import { Applier, type ApplyOutcome } from '../../src/apply/applier.js';
import { applierTransactionFrom } from '../../src/apply/from-captured.js';
import { BinlogCapture } from '../../src/capture/binlog-capture.js';
import { releaseTransaction } from '../../src/capture/captured-transaction.js';
import { formatGtidPosition, parseGtidPosition, positionContains } from '../../src/mariadb/gtid-position.js';
import type { MariaDbSet } from '../../src/testing/mariadb-harness.js';
import { compareServers } from '../support/compare.js';
import { startMariaDb } from '../support/mariadb.js';
import { waitFor } from '../support/wait-for.js';
import { runWorkload } from '../support/workload.js';

const logger = pino({ level: process.env['LOG_LEVEL'] ?? 'silent' });

describe('source → capture → apply → target', () => {
  let sets: MariaDbSet[] = [];
  afterAll(async () => {
    await Promise.all(sets.map((set) => set.destroy()));
  });

  test('a live seeded workload, captured from the binlog stream and applied, leaves the target byte-identical', async () => {
    sets = await Promise.all([startMariaDb(1, { serverIdBase: 41 }), startMariaDb(1, { serverIdBase: 42 })]);
    const source = sets[0]!.servers[0]!;
    const target = sets[1]!.servers[0]!;
    const capture = new BinlogCapture({
      ...source.connectOptions(),
      replicaServerId: 4100,
      startAfter: [],
      semiSync: false,
      logger,
    });
    await capture.start();
    const applier = await Applier.open({ target: target.connectOptions(), logger });
    // The applier takes whatever the capture yields, while the workload runs on the source.
    let stopping = false;
    const outcomes: Promise<ApplyOutcome>[] = [];
    const consumer = (async () => {
      while (!stopping) {
        const captured = await capture.next();
        outcomes.push((await applier.submit(await applierTransactionFrom(captured))).committed);
        await releaseTransaction(captured);
      }
    })();
    try {
      await runWorkload(() => source.connect(), { seed: 11, operations: 200, concurrency: 3 });
      const [row] = await source.query<Array<{ pos: string }>>('SELECT @@gtid_binlog_pos AS pos');
      const end = parseGtidPosition(row?.pos ?? '');
      if (!end.ok) throw new Error(end.error.message);
      await waitFor(
        `the target to apply up to ${row?.pos}`,
        () => end.value.every((gtid) => positionContains(applier.applied, gtid)),
        { timeoutMs: 120_000 },
      );
      expect((await Promise.all(outcomes)).filter((o) => o.kind !== 'applied')).toEqual([]);
      expect(formatGtidPosition(applier.applied)).toBe(row?.pos);
    } finally {
      stopping = true;
      await capture.stop();
      await consumer.catch(() => undefined);
      await applier.close();
    }
    const [a, b] = await Promise.all([source.connect(), target.connect()]);
    try {
      const comparison = await compareServers(a, b);
      expect(comparison.differences).toEqual([]);
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  });
});

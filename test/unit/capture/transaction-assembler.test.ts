import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  type CapturedTransaction,
  releaseTransaction,
  transactionEvents,
} from '../../../src/capture/captured-transaction.js';
import { TransactionAssembler } from '../../../src/capture/transaction-assembler.js';
import {
  type BinlogDecodeContext,
  binlogDecodeContextFrom,
  decodeBinlogEvent,
} from '../../../src/protocol/binlog/binlog-event.js';
import { splitBinlogFile } from '../../../src/protocol/binlog/binlog-file.js';
import { FL_STANDALONE } from '../../../src/protocol/binlog/gtid-event.js';

const fixture = join(import.meta.dirname, '..', '..', 'fixtures', 'protocol', 'binlog-crc32.bin');

/** Feeds the fixture binlog through an assembler, as the capture does with a dump stream. */
function assemble(options: { transactionBytesMax: number; spillDir: string }): CapturedTransaction[] {
  const split = splitBinlogFile(readFileSync(fixture));
  if (!split.ok) throw new Error(split.error.message);
  const assembler = new TransactionAssembler({ ...options, spillPrefix: 'test' });
  let context: BinlogDecodeContext = { checksum: 'none' };
  let formatDescription: Buffer = Buffer.alloc(0);
  const transactions: CapturedTransaction[] = [];
  for (const raw of split.value) {
    const decoded = decodeBinlogEvent(raw, context);
    if (!decoded.ok) throw new Error(decoded.error.message);
    const body = decoded.value.body;
    if (body.kind === 'format_description') {
      context = binlogDecodeContextFrom(body);
      formatDescription = raw;
      continue;
    }
    if (['rotate', 'gtid_list', 'binlog_checkpoint', 'heartbeat'].includes(body.kind)) continue;
    for (const output of assembler.push(raw, decoded.value, {
      binlogFile: 'binlog.000001',
      formatDescription,
    })) {
      if (output.kind === 'transaction') transactions.push(output.transaction);
    }
  }
  expect(assembler.inGroup).toBe(false);
  return transactions;
}

async function allBytes(transaction: CapturedTransaction): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const event of transactionEvents(transaction)) parts.push(event);
  return Buffer.concat(parts);
}

describe('grouping binlog events into transactions', () => {
  let spillDir: string;
  beforeEach(async () => {
    spillDir = await mkdtemp(join(tmpdir(), 'wolfscale-assembler-'));
  });
  afterEach(async () => {
    await rm(spillDir, { recursive: true, force: true });
  });

  test('each GTID group is one transaction, in order; DDL groups are standalone; commit positions grow', () => {
    const transactions = assemble({ transactionBytesMax: 1 << 30, spillDir });
    expect(transactions.map((transaction) => transaction.gtidText)).toEqual(
      Array.from({ length: transactions.length }, (_, i) => `0-1-${i + 1}`),
    );
    const createDatabase = transactions[0]!;
    expect(createDatabase.gtidFlags & FL_STANDALONE).toBe(FL_STANDALONE);
    expect(createDatabase.events.kind === 'memory' && createDatabase.events.events).toHaveLength(2);
    const positions = transactions.map((transaction) => transaction.binlogPosition);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    for (const transaction of transactions) expect(transaction.formatDescription[4]).toBe(15);
  });

  test('a group on a MyISAM table ends at its COMMIT query', () => {
    const transactions = assemble({ transactionBytesMax: 1 << 30, spillDir });
    const myisam = transactions.find((transaction) => {
      if (transaction.events.kind !== 'memory') return false;
      const last = transaction.events.events.at(-1)!;
      return last[4] === 2 && last.includes(Buffer.from('COMMIT'));
    });
    expect(myisam).toBeDefined();
  });

  test('a transaction above transactionBytesMax is spilled to a binlog-format file and reads back identically', async () => {
    const inMemory = assemble({ transactionBytesMax: 1 << 30, spillDir });
    const spilled = assemble({ transactionBytesMax: 4096, spillDir });
    const big = spilled.filter((transaction) => transaction.events.kind === 'spilled');
    expect(big.length).toBeGreaterThan(0);
    for (const [i, transaction] of spilled.entries()) {
      expect((await allBytes(transaction)).equals(await allBytes(inMemory[i]!))).toBe(true);
      expect(transaction.eventBytes).toBe(inMemory[i]!.eventBytes);
    }
    for (const transaction of big) {
      const file = transaction.events.kind === 'spilled' ? transaction.events.path : '';
      const split = splitBinlogFile(readFileSync(file));
      expect(split.ok).toBe(true);
      await releaseTransaction(transaction);
    }
    expect(await readdir(spillDir)).toEqual([]);
  });

  test('a group interrupted by a new GTID is abandoned and its spill file reported', () => {
    const split = splitBinlogFile(readFileSync(fixture));
    if (!split.ok) throw new Error(split.error.message);
    const assembler = new TransactionAssembler({
      transactionBytesMax: 1 << 30,
      spillDir,
      spillPrefix: 'cut',
    });
    const context: BinlogDecodeContext = { checksum: 'crc32' };
    const gtids = split.value.filter((raw) => raw[4] === 162);
    const first = decodeBinlogEvent(gtids[0]!, context);
    const second = decodeBinlogEvent(gtids[1]!, context);
    if (!first.ok || !second.ok) throw new Error('fixture');
    const position = { binlogFile: 'binlog.000001', formatDescription: Buffer.alloc(0) };
    expect(assembler.push(gtids[0]!, first.value, position)).toEqual([]);
    expect(assembler.push(gtids[1]!, second.value, position)).toEqual([
      { kind: 'abandoned', gtidText: '0-1-1', spillPath: undefined },
    ]);
    expect(assembler.discard()).toEqual({ kind: 'abandoned', gtidText: '0-1-2', spillPath: undefined });
  });
});

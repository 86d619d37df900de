import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import type { ApplierTransaction } from '../../../src/apply/applier-transaction.js';
import { readBinlogTransactions } from '../../../src/apply/binlog-file-transactions.js';
import { BinlogStreamEncoder, defaultFormatDescription } from '../../../src/apply/binlog-stream.js';
import {
  type BinlogChecksumAlgorithm,
  type BinlogDecodeContext,
  binlogDecodeContextFrom,
  decodeBinlogEvent,
  LOG_EVENT_ARTIFICIAL_F,
} from '../../../src/protocol/binlog/index.js';

const fixture = join(import.meta.dirname, '..', '..', 'fixtures', 'protocol', 'binlog-crc32.bin');

let transactions: ApplierTransaction[];
beforeAll(async () => {
  transactions = await readBinlogTransactions([fixture]);
});

function encoder(checksum: BinlogChecksumAlgorithm, startState: ApplierTransaction['gtid'][] = []) {
  return new BinlogStreamEncoder({
    baseName: 'wolfscale-bin',
    serverId: 4_000_000_001,
    checksum,
    startState,
    annotateRows: false,
    nowSeconds: () => 1_800_000_000,
  });
}

/**
 * Reads a stream the way a replica does: every event decodes with the stream's checksum
 * (verified), every in-file event's log_pos is where the next one starts.
 */
function readStream(events: readonly Buffer[], checksum: BinlogChecksumAlgorithm) {
  let context: BinlogDecodeContext = { checksum };
  let position = 0;
  let file = '';
  const kinds: string[] = [];
  for (const raw of events) {
    const decoded = decodeBinlogEvent(raw, context);
    if (!decoded.ok) throw new Error(decoded.error.message);
    const { header, body } = decoded.value;
    kinds.push(body.kind);
    if (body.kind === 'rotate') {
      file = body.fileName;
      position = 4;
      if ((header.flags & LOG_EVENT_ARTIFICIAL_F) !== 0) expect(header.nextPosition).toBe(0);
      continue;
    }
    if (body.kind === 'format_description') {
      expect(body.checksumAlgorithm).toBe(checksum);
      expect(body.createTimestampSeconds).toBe(0);
      context = binlogDecodeContextFrom(body);
    }
    if (body.kind === 'heartbeat') {
      expect(body.fileName).toBe(file);
      expect(header.nextPosition).toBe(position);
      continue;
    }
    expect(header.nextPosition).toBe(position + raw.length);
    position = header.nextPosition;
  }
  return { kinds, file, position };
}

describe('the WAL as a binlog stream (BinlogStreamEncoder)', () => {
  test.each(['crc32', 'none'] as const)(
    'opening, transactions and heartbeats have consistent positions and valid %s checksums',
    (checksum) => {
      const stream = encoder(checksum);
      const events = [...stream.opening(transactions[0]!.formatDescription)];
      for (const transaction of transactions) events.push(...stream.transaction(transaction));
      events.push(stream.heartbeat());
      const { kinds, file, position } = readStream(events, checksum);
      expect(kinds.slice(0, 3)).toEqual(['rotate', 'format_description', 'gtid_list']);
      expect(kinds.filter((kind) => kind === 'gtid')).toHaveLength(transactions.length);
      expect(kinds).not.toContain('annotate_rows');
      expect(file).toBe('wolfscale-bin.000001');
      expect(position).toBe(stream.position);
      expect(kinds.at(-1)).toBe('heartbeat');
    },
  );

  test('transactions the start state covers are not sent; the GTID_LIST names the start state', () => {
    const middle = transactions[Math.floor(transactions.length / 2)]!.gtid;
    const stream = encoder('crc32', [middle]);
    const opening = stream.opening(transactions[0]!.formatDescription);
    const list = decodeBinlogEvent(opening[2]!, { checksum: 'crc32' });
    expect(list.ok && list.value.body.kind === 'gtid_list' && list.value.body.gtids).toEqual([middle]);
    const sent = transactions.filter((transaction) => stream.transaction(transaction).length > 0);
    expect(sent.map((t) => t.gtid.sequenceNumber)).toEqual(
      transactions
        .filter((t) => t.gtid.sequenceNumber > middle.sequenceNumber)
        .map((t) => t.gtid.sequenceNumber),
    );
    // A transaction sent once is covered afterwards (a duplicate from the feed is dropped).
    expect(stream.transaction(transactions.at(-1)!)).toEqual([]);
  });

  test('a new source format description rotates to the next synthetic file; so does a full file', () => {
    const stream = encoder('crc32');
    const events = [...stream.opening(defaultFormatDescription())];
    events.push(...stream.transaction(transactions[0]!));
    const { kinds, file } = readStream(events, 'crc32');
    expect(kinds.slice(3, 7)).toEqual(['rotate', 'format_description', 'gtid_list', 'gtid']);
    expect(file).toBe('wolfscale-bin.000002');

    const small = new BinlogStreamEncoder({
      baseName: 'wolfscale-bin',
      serverId: 1,
      checksum: 'crc32',
      startState: [],
      annotateRows: true,
      fileBytesMax: 8192,
      nowSeconds: () => 0,
    });
    const all = [...small.opening(transactions[0]!.formatDescription)];
    for (const transaction of transactions) all.push(...small.transaction(transaction));
    const read = readStream(all, 'crc32');
    expect(read.file).not.toBe('wolfscale-bin.000001');
    expect(read.kinds.filter((kind) => kind === 'gtid')).toHaveLength(transactions.length);
  });

  test('the default format description decodes as MariaDB 10.11 with CRC32', () => {
    const decoded = decodeBinlogEvent(defaultFormatDescription(), { checksum: 'none' });
    expect(
      decoded.ok &&
        decoded.value.body.kind === 'format_description' &&
        decoded.value.body.postHeaderLengths.length,
    ).toBe(171);
  });
});

import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { LogEntry } from '../../../src/wal/entry.js';
import { decodeFrameHeader } from '../../../src/wal/frame.js';
import { SEGMENT_HEADER_BYTES } from '../../../src/wal/frame-segment.js';
import { Wal } from '../../../src/wal/wal.js';
import type { WalOptions } from '../../../src/wal/wal-options.js';
import { expectSameEntries, makeEntries, removeDir, seededRandom, tempDir } from './wal-fixtures.js';

let dir: string;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => removeDir(dir));

/** Small segments so a few hundred entries span many files. */
const SMALL: WalOptions = { segmentSizeMb: 4096 / (1024 * 1024), clock: () => 1_000 };

async function readAll(wal: Wal, fromIndex = wal.firstIndex()): Promise<LogEntry[]> {
  const result = await wal.read(fromIndex, wal.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
  if (!result.ok) throw new Error(`read failed: ${result.error.code}`);
  return [...result.entries];
}

function segmentFiles(): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.wal'))
    .sort();
}

describe('Wal basics', () => {
  test('a new WAL is empty, starts at index 1 with prevTerm 0', async () => {
    const wal = await Wal.open(dir);
    expect([wal.firstIndex(), wal.lastIndex(), wal.termAt(0), wal.lastTerm()]).toEqual([1, 0, 0, 0]);
    expect(wal.recovery.segmentsFound).toBe(0);
    const read = await wal.read(1, 10, 1000);
    expect(read).toEqual({ ok: true, entries: [] });
    await wal.close();
  });

  test('appended entries read back identical, before and after reopen, across segments', async () => {
    const entries = makeEntries(1, 300, { bytes: 180 });
    const wal = await Wal.open(dir, SMALL);
    for (let i = 0; i < entries.length; i += 7) await wal.append(entries.slice(i, i + 7));
    expectSameEntries(await readAll(wal), entries);
    await wal.close();
    expect(segmentFiles().length).toBeGreaterThan(5);
    const reopened = await Wal.open(dir, SMALL);
    expect([reopened.firstIndex(), reopened.lastIndex()]).toEqual([1, 300]);
    expectSameEntries(await readAll(reopened), entries);
    expectSameEntries(await readAll(reopened, 123), entries.slice(122));
    await reopened.close();
  });

  test('segment files are named by their zero-padded first index', async () => {
    const wal = await Wal.open(dir, SMALL);
    await wal.append(makeEntries(1, 100, { bytes: 180 }));
    await wal.append(makeEntries(101, 1, { bytes: 180 }));
    await wal.close();
    const names = segmentFiles();
    expect(names[0]).toBe('00000000000000000001.wal');
    expect(names.every((name) => /^\d{20}\.wal$/.test(name))).toBe(true);
  });

  test('read honours bytesMax but always returns at least one entry', async () => {
    const wal = await Wal.open(dir, { compression: false });
    await wal.append(makeEntries(1, 10, { bytes: 100 }));
    const one = await wal.read(1, 11, 10);
    expect(one.ok && one.entries.map((e) => e.index)).toEqual([1]);
    const three = await wal.read(2, 11, 300);
    expect(three.ok && three.entries.map((e) => e.index)).toEqual([2, 3, 4]);
    const bounded = await wal.read(5, 7, 10_000);
    expect(bounded.ok && bounded.entries.map((e) => e.index)).toEqual([5, 6]);
    const past = await wal.read(11, 20, 10_000);
    expect(past).toEqual({ ok: true, entries: [] });
    await wal.close();
  });

  test('termAt follows term changes and the index before the first entry', async () => {
    const wal = await Wal.open(dir, SMALL);
    await wal.append(makeEntries(1, 50, { term: 1 }));
    await wal.append(makeEntries(51, 50, { term: 3 }));
    await wal.append(makeEntries(101, 50, { term: 4 }));
    await wal.close();
    const reopened = await Wal.open(dir, SMALL);
    expect([1, 50, 51, 100, 101, 150].map((i) => reopened.termAt(i))).toEqual([1, 1, 3, 3, 4, 4]);
    expect([reopened.termAt(0), reopened.termAt(151), reopened.lastTerm()]).toEqual([0, undefined, 4]);
    await reopened.close();
  });

  test('append rejects entries that do not continue the log, or are too big', async () => {
    const wal = await Wal.open(dir, { entryBytesMax: 1000 });
    await wal.append(makeEntries(1, 2, { term: 2 }));
    expect(() => wal.append(makeEntries(4, 1, { term: 2 }))).toThrow(/does not continue 2/);
    expect(() => wal.append(makeEntries(3, 1, { term: 1 }))).toThrow(/term 1 < 2/);
    expect(() => wal.append(makeEntries(3, 1, { term: 2, bytes: 1001 }))).toThrow(/over entryBytesMax 1000/);
    expect(wal.lastIndex()).toBe(2);
    await wal.close();
    expect(() => wal.append(makeEntries(3, 1))).toThrow(/is closed/);
  });

  test('every entry kind round-trips, including an empty noop payload', async () => {
    const entries: LogEntry[] = [
      { index: 1, term: 1, kind: 'noop', payload: new Uint8Array(0) },
      {
        index: 2,
        term: 1,
        kind: 'configuration',
        payload: new TextEncoder().encode('{"members":["a","b"]}'),
      },
      ...makeEntries(3, 1, { bytes: 5000 }),
    ];
    const wal = await Wal.open(dir);
    await wal.append(entries);
    await wal.close();
    const reopened = await Wal.open(dir);
    expectSameEntries(await readAll(reopened), entries);
    await reopened.close();
  });

  test('wal.compression stores compressible payloads LZ4-compressed, and reads them back whole', async () => {
    const text = new TextEncoder().encode('INSERT INTO orders VALUES (1, "pending", "berlin"); '.repeat(100));
    const entries: LogEntry[] = [1, 2, 3].map((index) => ({
      index,
      term: 1,
      kind: 'transaction',
      payload: text,
    }));
    for (const compression of [true, false]) {
      removeDir(dir);
      const wal = await Wal.open(dir, { compression });
      await wal.append(entries);
      await wal.close();
      const bytes = statSync(join(dir, segmentFiles()[0]!)).size;
      if (compression) expect(bytes).toBeLessThan(text.length);
      else expect(bytes).toBeGreaterThan(3 * text.length);
      const reopened = await Wal.open(dir, { compression });
      expectSameEntries(await readAll(reopened), entries);
      await reopened.close();
    }
  });

  test('random reads into sealed segments, with a one-table cache, return exactly the asked range', async () => {
    const entries = makeEntries(1, 400, { bytes: 150 });
    const wal = await Wal.open(dir, SMALL);
    for (let i = 0; i < entries.length; i += 9) await wal.append(entries.slice(i, i + 9));
    await wal.close();
    const reopened = await Wal.open(dir, { ...SMALL, indexedSegmentsMax: 1 });
    const random = seededRandom(9);
    for (let round = 0; round < 150; round += 1) {
      const from = 1 + Math.floor(random() * 400);
      const to = Math.min(401, from + 1 + Math.floor(random() * 40));
      const result = await reopened.read(from, to, Number.MAX_SAFE_INTEGER);
      expect(result.ok).toBe(true);
      if (result.ok) expectSameEntries(result.entries, entries.slice(from - 1, to - 1));
    }
    await reopened.close();
  });

  test('random reads with random bytesMax return the largest whole prefix that fits, at least one entry', async () => {
    const random = seededRandom(21);
    const entries = Array.from(
      { length: 300 },
      (_, i) =>
        makeEntries(i + 1, 1, { bytes: Math.floor(random() * (random() < 0.1 ? 3000 : 300)), seed: i })[0]!,
    );
    const wal = await Wal.open(dir, SMALL);
    for (let i = 0; i < entries.length; i += 7) await wal.append(entries.slice(i, i + 7));
    await wal.close();
    const reopened = await Wal.open(dir, { ...SMALL, indexedSegmentsMax: 2 });
    for (let round = 0; round < 200; round += 1) {
      const from = 1 + Math.floor(random() * 300);
      const to = Math.min(301, from + 1 + Math.floor(random() * 30));
      const bytesMax = Math.floor(random() * 2000);
      const result = await reopened.read(from, to, bytesMax);
      if (!result.ok) throw new Error('compacted');
      const wanted = entries.slice(from - 1, to - 1);
      let fits = 0;
      for (let total = 0; fits < wanted.length; fits += 1) {
        total += wanted[fits]!.payload.length;
        if (total > bytesMax) break;
      }
      expectSameEntries(result.entries, wanted.slice(0, Math.max(1, fits)));
    }
    await reopened.close();
  });

  test('wal.flush_interval_ms gathers appends from separate turns into one batch, cut early at batch_size', async () => {
    // If the batch did not cut at batch_size it would wait the full 10 s and the test would time out.
    const wal = await Wal.open(dir, { flushIntervalMs: 10_000, batchSize: 4 });
    const pending: Promise<void>[] = [];
    for (let index = 1; index <= 4; index += 1) {
      pending.push(wal.append(makeEntries(index, 1)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(pending);
    const tiny = await Wal.open(join(dir, 'tiny'), { flushIntervalMs: 1 });
    await tiny.append(makeEntries(1, 1));
    await tiny.close();
    await wal.close();
    const bytes = readFileSync(join(dir, segmentFiles()[0]!));
    const positions = [0, 1, 2, 3].map((i) => {
      const header = decodeFrameHeader(
        bytes,
        SEGMENT_HEADER_BYTES + (i * (bytes.length - SEGMENT_HEADER_BYTES)) / 4,
      );
      return header.kind === 'header' ? header.batchPosition : -1;
    });
    expect(positions).toEqual([0, 1, 2, 3]);
  }, 5_000);

  test('recovery logs the torn tail it cut, with file and offset, through the given logger', async () => {
    const wal = await Wal.open(dir);
    await wal.append(makeEntries(1, 3, { bytes: 100 }));
    await wal.close();
    const path = join(dir, segmentFiles()[0]!);
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, bytes.length - 10));
    const warnings: object[] = [];
    const logger = {
      info: () => undefined,
      error: () => undefined,
      warn: (fields: object) => warnings.push(fields),
    };
    const reopened = await Wal.open(dir, { logger });
    expect(reopened.lastIndex()).toBe(2);
    expect(warnings).toEqual([expect.objectContaining({ file: path, bytesDropped: 130, lastIndex: 2 })]);
    await reopened.close();
  });

  test('concurrent reads that both extend the same sealed segment table agree', async () => {
    const entries = makeEntries(1, 400, { bytes: 150 });
    const wal = await Wal.open(dir, SMALL);
    for (let i = 0; i < entries.length; i += 40) await wal.append(entries.slice(i, i + 40));
    await wal.close();
    for (let round = 0; round < 5; round += 1) {
      // A fresh open knows no offsets of sealed segments: every read below starts past the
      // known prefix, so they walk headers at the same time.
      const reopened = await Wal.open(dir, SMALL);
      const starts = [10 + round, 20, 30 - round, 35, 15, 25];
      const results = await Promise.all(
        starts.map((from) => reopened.read(from, from + 3, Number.MAX_SAFE_INTEGER)),
      );
      results.forEach((result, i) => {
        expect(result.ok).toBe(true);
        if (result.ok) expectSameEntries(result.entries, entries.slice(starts[i]! - 1, starts[i]! + 2));
      });
      await reopened.close();
    }
  });

  test('a directory cannot be opened twice in one process until it is closed', async () => {
    const wal = await Wal.open(dir);
    await expect(Wal.open(join(dir, '.'))).rejects.toThrow(/already open in this process/);
    await wal.close();
    const again = await Wal.open(dir);
    await again.close();
  });

  test('invalid options are refused with the config key named', async () => {
    await expect(Wal.open(dir, { segmentSizeMb: 0 })).rejects.toThrow(/wal.segment_size_mb/);
    await expect(Wal.open(dir, { batchSize: 0 })).rejects.toThrow(/wal.batch_size/);
  });
});

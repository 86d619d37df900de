import { readdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { LogEntry } from '../../../src/wal/entry.js';
import { decodeFrameHeader } from '../../../src/wal/frame.js';
import { SEGMENT_HEADER_BYTES } from '../../../src/wal/frame-segment.js';
import { Wal } from '../../../src/wal/wal.js';
import { WalCorruptionError } from '../../../src/wal/wal-errors.js';
import type { WalOptions } from '../../../src/wal/wal-options.js';
import { expectSameEntries, makeEntries, removeDir, seededRandom, tempDir } from './wal-fixtures.js';

/**
 * Fault injection on real files. Every case ends in one of two outcomes: the WAL opens with
 * exactly the entries that were durable (plus, at most, whole entries of the unsynced tail), or
 * it refuses with a WalCorruptionError naming the file and the byte offset.
 */

let dir: string;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => removeDir(dir));

const SEGMENT_BYTES = 3000;
const OPTIONS: WalOptions = { segmentSizeMb: SEGMENT_BYTES / (1024 * 1024), clock: () => 5_000 };

interface FrameInfo {
  readonly offset: number;
  readonly end: number;
  readonly index: number;
  readonly batchStart: boolean;
}

function segmentPaths(): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.wal'))
    .sort()
    .map((name) => join(dir, name));
}

function lastSegment(): string {
  return segmentPaths().at(-1)!;
}

/** The frames of a segment file, walked by their headers. */
function framesOf(bytes: Uint8Array): FrameInfo[] {
  const frames: FrameInfo[] = [];
  for (let offset = SEGMENT_HEADER_BYTES; ; ) {
    const header = decodeFrameHeader(bytes, offset);
    if (header.kind !== 'header') return frames;
    const batchStart = header.batchPosition === 0;
    frames.push({ offset, end: offset + header.frameBytes, index: header.index, batchStart });
    offset += header.frameBytes;
  }
}

/** Writes `batches` (each one append, so one group-commit batch) and closes. */
async function build(batches: readonly LogEntry[][], options: WalOptions = OPTIONS): Promise<LogEntry[]> {
  const wal = await Wal.open(dir, options);
  for (const batch of batches) await wal.append(batch);
  await wal.close();
  return batches.flat();
}

function batchesOf(sizes: readonly number[], bytes = 120): LogEntry[][] {
  let next = 1;
  return sizes.map((size) => {
    const batch = makeEntries(next, size, { bytes, seed: next * 7 });
    next += size;
    return batch;
  });
}

async function openAndReadAll(options: WalOptions = OPTIONS): Promise<{ wal: Wal; entries: LogEntry[] }> {
  const wal = await Wal.open(dir, options);
  const result = await wal.read(wal.firstIndex(), wal.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
  if (!result.ok) throw new Error('compacted');
  return { wal, entries: [...result.entries] };
}

async function openError(options: WalOptions = OPTIONS): Promise<WalCorruptionError> {
  const error = await Wal.open(dir, options).then(
    async (wal) => {
      await wal.close();
      return undefined;
    },
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(WalCorruptionError);
  const corruption = error as WalCorruptionError;
  // The operator learns the file, the offset and what to do.
  expect(corruption.message).toContain(corruption.file);
  expect(corruption.message).toMatch(/at byte \d+/);
  expect(corruption.message).toMatch(/move this WAL directory aside|Restore/);
  return corruption;
}

describe('WAL recovery: torn tails', () => {
  test('truncating the last segment at every offset of its last frames keeps exactly the whole frames', async () => {
    const written = await build(batchesOf([5, 5, 5, 5, 5, 5, 4, 3], 60));
    const path = lastSegment();
    const original = readFileSync(path);
    const frames = framesOf(original);
    expect(segmentPaths().length).toBeGreaterThan(1);
    const from = frames.at(-3)!.offset;
    for (let cut = from; cut <= original.length; cut += 1) {
      writeFileSync(path, original.subarray(0, cut));
      const whole = frames.filter((frame) => frame.end <= cut);
      const { wal, entries } = await openAndReadAll();
      const expectedLast = whole.at(-1)!.index;
      expect(wal.lastIndex()).toBe(expectedLast);
      expectSameEntries(entries, written.slice(0, expectedLast));
      expect(wal.recovery.tornTail !== undefined).toBe(cut !== whole.at(-1)!.end);
      // The WAL continues cleanly after the cut.
      await wal.append(makeEntries(expectedLast + 1, 1, { seed: 99 }));
      await wal.close();
    }
  });

  test('zeros after the last frame (size grew, data never written) are cut off', async () => {
    const written = await build(batchesOf([4, 4, 4]), {});
    const path = lastSegment();
    writeFileSync(path, Buffer.concat([readFileSync(path), Buffer.alloc(5000)]));
    const { wal, entries } = await openAndReadAll({});
    expectSameEntries(entries, written);
    expect(wal.recovery.tornTail).toMatchObject({ bytesDropped: 5000 });
    await wal.close();
  });

  test('crash between write and fsync: any subset of the unsynced batch pages may be lost', async () => {
    const random = seededRandom(11);
    const synced = batchesOf([3, 3, 3], 1500);
    const unsynced = makeEntries(10, 8, { bytes: 1500, seed: 10 });
    await build([...synced, unsynced], {});
    const path = lastSegment();
    const original = readFileSync(path);
    const lastBatchOffset = framesOf(original).find((frame) => frame.index === 10)!.offset;
    const page = 4096;
    for (let round = 0; round < 60; round += 1) {
      const damaged = Buffer.from(original);
      // Lose random pages of the last write (page cache flushed out of order), maybe its end too.
      for (let start = Math.floor(lastBatchOffset / page) * page; start < damaged.length; start += page) {
        if (random() < 0.4)
          damaged.fill(0, Math.max(start, lastBatchOffset), Math.min(start + page, damaged.length));
      }
      const length =
        random() < 0.5
          ? damaged.length
          : lastBatchOffset + Math.floor(random() * (damaged.length - lastBatchOffset));
      writeFileSync(path, damaged.subarray(0, length));
      const { wal, entries } = await openAndReadAll({});
      // Every synced entry survives; of the unsynced batch only whole, undamaged entries.
      expect(entries.length).toBeGreaterThanOrEqual(9);
      expectSameEntries(entries, [...synced.flat(), ...unsynced].slice(0, entries.length));
      await wal.close();
    }
  });
});

describe('WAL recovery: damage that must not be dropped', () => {
  test('random bit flips in the last segment: cut only inside the last batch, else refuse', async () => {
    const written = await build(batchesOf([5, 5, 5, 5, 5, 5, 4, 4]));
    const path = lastSegment();
    const original = readFileSync(path);
    const frames = framesOf(original);
    const lastBatch = frames.findLast((frame) => frame.batchStart)!;
    const random = seededRandom(3);
    for (let round = 0; round < 150; round += 1) {
      const damaged = Buffer.from(original);
      const bits = Array.from({ length: 1 + Math.floor(random() * 3) }, () =>
        Math.floor(random() * original.length * 8),
      );
      for (const bit of bits) damaged[bit >> 3]! ^= 1 << (bit & 7);
      writeFileSync(path, damaged);
      const firstByte = Math.min(...bits) >> 3;
      const hit = frames.find((frame) => firstByte < frame.end);
      if (firstByte < SEGMENT_HEADER_BYTES || hit === undefined || hit.offset < lastBatch.offset) {
        const opened = await Wal.open(dir, OPTIONS).catch(() => undefined);
        if (opened !== undefined) {
          throw new Error(
            `opened after flips ${bits} (frame ${hit?.index} at ${hit?.offset}, last batch at ${lastBatch.offset}, last ${opened.lastIndex()})`,
          );
        }
        const error = await openError();
        expect(error.file).toBe(path);
      } else {
        const { wal, entries } = await openAndReadAll();
        expectSameEntries(entries, written.slice(0, hit.index - 1));
        await wal.close();
      }
    }
  });

  test('a bad frame followed by a good batch refuses to open, naming the file and offset', async () => {
    await build(batchesOf([3, 3, 3], 200), {});
    const path = lastSegment();
    const bytes = readFileSync(path);
    const second = framesOf(bytes)[1]!;
    bytes[second.offset + 40]! ^= 0xff;
    writeFileSync(path, bytes);
    const error = await openError({});
    expect([error.file, error.offset]).toEqual([path, second.offset]);
    expect(error.message).toMatch(/CRC mismatch, but .* so (it|this one) had been synced/);
  });

  test('a missing segment in the middle refuses to open and names the missing range', async () => {
    await build(batchesOf(Array(24).fill(5)));
    const paths = segmentPaths();
    expect(paths.length).toBeGreaterThanOrEqual(4);
    rmSync(paths[1]!);
    const error = await openError();
    expect(error.file).toBe(paths[2]);
    expect(error.message).toMatch(/entries \d+\.\.\d+ are missing/);
  });

  test('swapped or renamed segment files refuse to open', async () => {
    await build(batchesOf(Array(12).fill(5)));
    const paths = segmentPaths();
    renameSync(paths[1]!, join(dir, 'swap'));
    renameSync(paths[2]!, paths[1]!);
    renameSync(join(dir, 'swap'), paths[2]!);
    const error = await openError();
    expect(error.message).toMatch(/but its name says/);
  });

  test('damage anywhere in a sealed segment: refused by open with verifyOnOpen, else by open, read or verify', async () => {
    const written = await build(batchesOf(Array(12).fill(5)));
    const path = segmentPaths()[1]!;
    const original = readFileSync(path);
    const random = seededRandom(5);
    for (let round = 0; round < 60; round += 1) {
      const damaged = Buffer.from(original);
      const bit = Math.floor(random() * original.length * 8);
      damaged[bit >> 3]! ^= 1 << (bit & 7);
      writeFileSync(path, damaged);
      const strict = await openError({ ...OPTIONS, verifyOnOpen: true });
      expect(strict.file).toBe(path);
      const opened = await Wal.open(dir, OPTIONS).catch((error: unknown) => error);
      if (!(opened instanceof Wal)) {
        expect(opened).toBeInstanceOf(WalCorruptionError);
        continue;
      }
      const read = await opened
        .read(1, written.length + 1, Number.MAX_SAFE_INTEGER)
        .catch((error: unknown) => error);
      expect(read).toBeInstanceOf(WalCorruptionError);
      expect((read as WalCorruptionError).file).toBe(path);
      await expect(opened.verify()).rejects.toThrow(WalCorruptionError);
      await opened.close();
    }
    writeFileSync(path, original);
    const healthy = await Wal.open(dir, { ...OPTIONS, verifyOnOpen: true });
    expect((await healthy.verify()).segmentsVerified).toBe(segmentPaths().length - 1);
    await healthy.close();
  });

  test('an empty or headerless last segment refuses to open', async () => {
    await build(batchesOf([3]), {});
    truncateSync(lastSegment(), 10);
    const error = await openError({});
    expect(error.message).toMatch(/shorter than a segment header/);
  });
});

describe('WAL recovery: segments added and removed', () => {
  test('deleting the first segments is a purge: the rest opens and still knows prevLogTerm', async () => {
    const entries = makeEntries(1, 60, { bytes: 120, term: 2 });
    await build([entries.slice(0, 30), entries.slice(30).map((entry) => ({ ...entry, term: 3 }))]);
    const paths = segmentPaths();
    rmSync(paths[0]!);
    const wal = await Wal.open(dir, OPTIONS);
    const secondFirst = Number(paths[1]!.slice(-24, -4));
    expect(wal.firstIndex()).toBe(secondFirst);
    expect(wal.termAt(secondFirst - 1)).toBe(secondFirst - 1 <= 30 ? 2 : 3);
    await wal.close();
  });

  test('a crash after sealing, before the next segment exists: opens, and appends start a new segment', async () => {
    const written = await build(batchesOf(Array(8).fill(5)));
    const paths = segmentPaths();
    rmSync(paths.at(-1)!);
    const kept = Number(paths.at(-1)!.slice(-24, -4)) - 1;
    const wal = await Wal.open(dir, OPTIONS);
    expect(wal.lastIndex()).toBe(kept);
    await wal.append(makeEntries(kept + 1, 3, { seed: 1 }));
    await wal.close();
    const { wal: reopened, entries } = await openAndReadAll();
    expectSameEntries(entries, [...written.slice(0, kept), ...makeEntries(kept + 1, 3, { seed: 1 })]);
    await reopened.close();
  });

  test('a half-created segment (temp file) from a crash during a roll is removed', async () => {
    const written = await build(batchesOf([4, 4]));
    writeFileSync(join(dir, '00000000000000000009.wal.tmp'), Buffer.alloc(7));
    const { wal, entries } = await openAndReadAll();
    expect(wal.recovery.tempFilesRemoved).toEqual([join(dir, '00000000000000000009.wal.tmp')]);
    expectSameEntries(entries, written);
    await wal.close();
    expect(readdirSync(dir).some((name) => name.endsWith('.tmp'))).toBe(false);
  });

  test('a torn seal (crash while sealing) is cut and the segment reused', async () => {
    const written = await build(batchesOf(Array(8).fill(5)));
    const paths = segmentPaths();
    rmSync(paths.at(-1)!);
    const sealed = paths.at(-2)!;
    const bytes = readFileSync(sealed);
    const framesEnd = framesOf(bytes).at(-1)!.end;
    writeFileSync(sealed, bytes.subarray(0, framesEnd + Math.floor((bytes.length - framesEnd) / 2)));
    const kept = Number(paths.at(-1)!.slice(-24, -4)) - 1;
    const { wal, entries } = await openAndReadAll();
    expect(wal.recovery.tornTail?.offset).toBe(framesEnd);
    expectSameEntries(entries, written.slice(0, kept));
    await wal.close();
  });
});

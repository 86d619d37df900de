import fs, { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { LogEntry } from '../../../src/wal/entry.js';
import { decodeFrameHeader } from '../../../src/wal/frame.js';
import { SEGMENT_HEADER_BYTES } from '../../../src/wal/frame-segment.js';
import { Wal } from '../../../src/wal/wal.js';
import { WalFailedError } from '../../../src/wal/wal-errors.js';
import type { WalOptions } from '../../../src/wal/wal-options.js';
import { expectSameEntries, makeEntries, removeDir, seededRandom, tempDir } from './wal-fixtures.js';

let dir: string;
beforeEach(() => {
  dir = tempDir();
});
afterEach(() => {
  vi.restoreAllMocks();
  removeDir(dir);
});

const HOUR_MS = 3_600_000;
const SMALL: WalOptions = { segmentSizeMb: 2000 / (1024 * 1024) };

async function readAll(wal: Wal): Promise<LogEntry[]> {
  const result = await wal.read(wal.firstIndex(), wal.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
  if (!result.ok) throw new Error(`read: ${result.error.code}`);
  return [...result.entries];
}

function segmentPaths(): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.wal'))
    .sort()
    .map((name) => join(dir, name));
}

/** Batch positions of every frame on disk, in order: 0 starts a group-commit batch. */
function batchPositions(): number[] {
  return segmentPaths().flatMap((path) => {
    const bytes = readFileSync(path);
    const positions: number[] = [];
    for (let offset = SEGMENT_HEADER_BYTES; ; ) {
      const header = decodeFrameHeader(bytes, offset);
      if (header.kind !== 'header') return positions;
      positions.push(header.batchPosition);
      offset += header.frameBytes;
    }
  });
}

describe('group commit and concurrency', () => {
  test('64 concurrent appenders get consecutive indexes and all their entries back', async () => {
    const wal = await Wal.open(dir, SMALL);
    const mine = new Map<number, LogEntry[]>();
    async function appender(id: number): Promise<void> {
      const entries: LogEntry[] = [];
      for (let round = 0; round < 20; round += 1) {
        const count = 1 + ((id + round) % 3);
        // Indexes are taken synchronously from lastIndex(): append accepts them in call order.
        const batch = makeEntries(wal.lastIndex() + 1, count, { seed: id * 1000 + round });
        entries.push(...batch);
        await wal.append(batch);
      }
      mine.set(id, entries);
    }
    await Promise.all(Array.from({ length: 64 }, (_, id) => appender(id)));
    const all = await readAll(wal);
    expect(all.map((entry) => entry.index)).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
    const byIndex = new Map(all.map((entry) => [entry.index, entry]));
    for (const entries of mine.values()) {
      expectSameEntries(
        entries.map((entry) => byIndex.get(entry.index)!),
        entries,
      );
    }
    await wal.close();
    const reopened = await Wal.open(dir, SMALL);
    expectSameEntries(await readAll(reopened), all);
    await reopened.close();
  });

  test('appends issued together are written as one batch (one write, one fsync)', async () => {
    const wal = await Wal.open(dir);
    await Promise.all(Array.from({ length: 64 }, (_, i) => wal.append(makeEntries(i + 1, 1))));
    await wal.close();
    expect(batchPositions()).toEqual(Array.from({ length: 64 }, (_, i) => i));
  });

  test('batches respect wal.batch_size and batchBytesMax', async () => {
    const wal = await Wal.open(dir, { batchSize: 10, batchBytesMax: 2000, compression: false });
    const pending = Array.from({ length: 64 }, (_, i) => wal.append(makeEntries(i + 1, 1, { bytes: 150 })));
    pending.push(wal.append(makeEntries(65, 1, { bytes: 5000 })));
    await Promise.all(pending);
    await wal.close();
    const positions = batchPositions();
    expect(positions.length).toBe(65);
    // 150-byte payloads + 40-byte headers: 10 fit in 2000 bytes, the batch_size bound cuts first.
    expect(Math.max(...positions)).toBe(9);
    // The oversized entry is written alone rather than refused.
    expect(positions.at(-1)).toBe(0);
  });

  test('appends beyond pendingBytesMax wait their turn, in order, without growing the queue', async () => {
    const wal = await Wal.open(dir, { pendingBytesMax: 1000, compression: false });
    const entries = makeEntries(1, 60, { bytes: 200 });
    const pending = entries.map((entry) => wal.append([entry]));
    // Four 240-byte frames fit; the other calls wait, in order, until the writer drains the queue.
    expect(wal.pendingBytes()).toBeLessThanOrEqual(1000);
    expect(wal.lastIndex()).toBe(60);
    await Promise.all(pending);
    expect(wal.pendingBytes()).toBe(0);
    expectSameEntries(await readAll(wal), entries);
    await wal.close();
  });

  test('close waits for queued appends; reads run alongside appends and see only whole entries', async () => {
    const wal = await Wal.open(dir, SMALL);
    const entries = makeEntries(1, 300, { bytes: 100 });
    const appends = entries.map((entry) => wal.append([entry]));
    const reads: Promise<void>[] = [];
    for (let i = 0; i < 20; i += 1) {
      reads.push(
        wal.read(1, 301, Number.MAX_SAFE_INTEGER).then((result) => {
          if (!result.ok) throw new Error('compacted');
          expectSameEntries(result.entries, entries.slice(0, result.entries.length));
        }),
      );
    }
    const closed = wal.close();
    await Promise.all([...appends, ...reads, closed]);
    const reopened = await Wal.open(dir, SMALL);
    expectSameEntries(await readAll(reopened), entries);
    await reopened.close();
  });

  test('a failed fsync fails the WAL: pending and later calls are refused, a reopen recovers', async () => {
    const wal = await Wal.open(dir);
    await wal.append(makeEntries(1, 3));
    vi.spyOn(fs, 'fdatasync').mockImplementation(((_fd: number, callback: (error: Error | null) => void) =>
      callback(
        Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }),
      )) as typeof fs.fdatasync);
    // Where the append handle is O_DSYNC, the write itself is the fsync and fails instead.
    vi.spyOn(fs, 'write').mockImplementation(((...args: unknown[]) =>
      (args.at(-1) as (error: Error | null) => void)(
        Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' }),
      )) as typeof fs.write);
    const failed = wal.append(makeEntries(4, 1));
    const queued = wal.append(makeEntries(5, 1));
    await expect(failed).rejects.toThrow(WalFailedError);
    await expect(queued).rejects.toThrow(/EIO.*restart the node/);
    expect(() => wal.append(makeEntries(6, 1))).toThrow(WalFailedError);
    vi.restoreAllMocks();
    await wal.close();
    const reopened = await Wal.open(dir);
    expect(reopened.lastIndex()).toBeGreaterThanOrEqual(3);
    await reopened.close();
  });
});

/** The open flags of this process's handles on `*.wal` files in `walDir` (Linux /proc). */
function segmentHandleFlags(walDir: string): number[] {
  const flags: number[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (!target.startsWith(walDir) || !target.endsWith('.wal')) continue;
    const line = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    if (line?.[1] !== undefined) flags.push(Number.parseInt(line[1], 8));
  }
  return flags;
}

describe.runIf(process.platform === 'linux')('durable writes in one call', () => {
  test('with fsync on, the append handle is O_DSYNC, also after a roll, a truncation and a reopen; not with fsync off', async () => {
    const dsync = fs.constants.O_DSYNC;
    const wal = await Wal.open(dir, SMALL);
    for (let first = 1; first <= 60; first += 10)
      await wal.append(makeEntries(first, 10, { bytes: 100, term: 1 }));
    expect(wal.segmentCount()).toBeGreaterThan(2);
    await wal.truncateFrom(5);
    await wal.append(makeEntries(5, 3, { bytes: 100, term: 2 }));
    const afterWrites = segmentHandleFlags(dir);
    expect(afterWrites.length).toBeGreaterThan(0);
    expect(afterWrites.every((flags) => (flags & dsync) !== 0)).toBe(true);
    await wal.close();
    const reopened = await Wal.open(dir, SMALL);
    expect(segmentHandleFlags(dir).every((flags) => (flags & dsync) !== 0)).toBe(true);
    expect(segmentHandleFlags(dir).length).toBeGreaterThan(0);
    await reopened.close();
    const unsynced = await Wal.open(dir, { ...SMALL, fsync: false });
    await unsynced.append(makeEntries(8, 2, { bytes: 100, term: 2 }));
    expect(segmentHandleFlags(dir).some((flags) => (flags & dsync) !== 0)).toBe(false);
    await unsynced.close();
  });
});

describe('truncateFrom', () => {
  test('truncation at, inside and across segment boundaries, durable across reopen', async () => {
    const entries = makeEntries(1, 120, { bytes: 100, term: 1 });
    for (const cutAt of ['first', 'middle', 'last', 'start'] as const) {
      removeDir(dir);
      fs.mkdirSync(dir);
      const wal = await Wal.open(dir, SMALL);
      // Segments roll between batches, so append in several.
      for (let i = 0; i < entries.length; i += 10) await wal.append(entries.slice(i, i + 10));
      await wal.close();
      const starts = segmentPaths().map((path) => Number(path.slice(-24, -4)));
      expect(starts.length).toBeGreaterThan(3);
      const index = { first: starts[2]!, middle: starts[1]! + 3, last: 120, start: 1 }[cutAt];
      const opened = await Wal.open(dir, SMALL);
      await opened.truncateFrom(index);
      expect(opened.lastIndex()).toBe(index - 1);
      await opened.close();
      const reopened = await Wal.open(dir, SMALL);
      expect(reopened.lastIndex()).toBe(index - 1);
      expectSameEntries(await readAll(reopened), entries.slice(0, index - 1));
      const replacement = makeEntries(index, 30, { term: 2, seed: 77 });
      await reopened.append(replacement);
      await reopened.close();
      const again = await Wal.open(dir, SMALL);
      expectSameEntries(await readAll(again), [...entries.slice(0, index - 1), ...replacement]);
      expect([again.termAt(index - 1), again.termAt(index), again.lastTerm()]).toEqual([
        index === 1 ? 0 : 1,
        2,
        2,
      ]);
      await again.close();
    }
  });

  test('truncate then append without awaiting: applied in call order, reads never see replaced entries', async () => {
    const wal = await Wal.open(dir, SMALL);
    await wal.append(makeEntries(1, 50, { term: 1 }));
    const truncated = wal.truncateFrom(20);
    const replacement = makeEntries(20, 10, { term: 3, seed: 5 });
    const appended = wal.append(replacement);
    const during = await wal.read(1, 100, Number.MAX_SAFE_INTEGER);
    expect(during.ok && during.entries.every((entry) => entry.index < 20 || entry.term === 3)).toBe(true);
    await Promise.all([truncated, appended]);
    expectSameEntries(await readAll(wal), [...makeEntries(1, 19, { term: 1 }), ...replacement]);
    await wal.close();
  });

  test('a purge queued before a truncation never removes what the truncation must find', async () => {
    const wal = await Wal.open(dir, { ...SMALL, retentionHours: 0, clock: () => 0 });
    const entries = makeEntries(1, 60, { bytes: 100 });
    for (let i = 0; i < 60; i += 10) await wal.append(entries.slice(i, i + 10));
    const purged = wal.purgeBefore(61, 0);
    const truncated = wal.truncateFrom(25);
    const replacement = makeEntries(25, 50, { bytes: 100, term: 2, seed: 3 });
    const appended = wal.append(replacement);
    const [purge] = await Promise.all([purged, truncated, appended]);
    expect(purge.firstIndex).toBeLessThanOrEqual(25);
    const all = await readAll(wal);
    expectSameEntries(
      all,
      [...entries, ...replacement].filter(
        (e) => e.index >= purge.firstIndex && (e.index < 25 || e.term === 2),
      ),
    );
    await wal.close();
  });

  test('truncateFrom outside [firstIndex, lastIndex + 1] is a caller bug and throws', async () => {
    const wal = await Wal.open(dir);
    await wal.append(makeEntries(1, 5));
    expect(() => wal.truncateFrom(7)).toThrow(/outside \[1, 6\]/);
    expect(() => wal.truncateFrom(0)).toThrow(/outside/);
    await wal.truncateFrom(6);
    expect(wal.lastIndex()).toBe(5);
    await wal.close();
  });
});

describe('purgeBefore and retention', () => {
  test('removes only whole segments below the index and older than retention, never the last', async () => {
    let nowMs = 0;
    const options: WalOptions = { ...SMALL, retentionHours: 2, clock: () => nowMs };
    const wal = await Wal.open(dir, options);
    const entries: LogEntry[] = [];
    for (let i = 0; i < 6; i += 1) {
      nowMs = i * HOUR_MS;
      const batch = makeEntries(i * 20 + 1, 20, { term: i + 1, bytes: 100, seed: i });
      entries.push(...batch);
      await wal.append(batch);
    }
    const before = segmentPaths();
    expect(before.length).toBeGreaterThan(4);
    // Nothing is old enough yet: the second segment was created at hour 0 or later.
    expect((await wal.purgeBefore(1000, 0)).segmentsRemoved).toBe(0);
    // Old enough, but the index keeps everything from 45 on.
    const result = await wal.purgeBefore(45, 100 * HOUR_MS);
    expect(result.segmentsRemoved).toBeGreaterThan(0);
    expect(result.firstIndex).toBeLessThanOrEqual(45);
    expect(wal.firstIndex()).toBe(result.firstIndex);
    expect(segmentPaths().length).toBe(before.length - result.segmentsRemoved);
    // Raft still finds prevLogTerm for the first retained entry.
    expect(wal.termAt(result.firstIndex - 1)).toBe(entries[result.firstIndex - 2]!.term);
    expect(await wal.read(1, 10, 1000)).toEqual({
      ok: false,
      error: { code: 'COMPACTED', firstIndex: result.firstIndex },
    });
    expectSameEntries(await readAll(wal), entries.slice(result.firstIndex - 1));
    // Everything below lastIndex + 1, long ago: all but the last segment go.
    const all = await wal.purgeBefore(10_000, 1000 * HOUR_MS);
    expect(segmentPaths().length).toBe(1);
    expect(all.firstIndex).toBeLessThanOrEqual(120);
    await wal.close();
    const reopened = await Wal.open(dir, options);
    expect([reopened.firstIndex(), reopened.lastIndex()]).toEqual([all.firstIndex, 120]);
    expect(reopened.termAt(all.firstIndex - 1)).toBe(entries[all.firstIndex - 2]!.term);
    expectSameEntries(await readAll(reopened), entries.slice(all.firstIndex - 1));
    await reopened.close();
  });

  test('purgeableBefore predicts exactly where purgeBefore leaves the first index', async () => {
    let nowMs = 0;
    const wal = await Wal.open(dir, { ...SMALL, retentionHours: 1, clock: () => nowMs });
    for (let i = 0; i < 6; i += 1) {
      nowMs = i * HOUR_MS;
      await wal.append(makeEntries(i * 20 + 1, 20, { term: 1, bytes: 100, seed: i }));
    }
    const sizeBefore = wal.sizeBytes();
    expect(wal.segmentCount()).toBeGreaterThan(4);
    for (const [index, now] of [
      [10, 100 * HOUR_MS],
      [45, 2 * HOUR_MS],
      [45, 100 * HOUR_MS],
      [90, 100 * HOUR_MS],
      [10_000, 1000 * HOUR_MS],
    ] as const) {
      const predicted = wal.purgeableBefore(index, now);
      const result = await wal.purgeBefore(index, now);
      expect(result.firstIndex).toBe(predicted);
      expect(predicted).toBeLessThanOrEqual(Math.max(index, wal.firstIndex()));
    }
    expect(wal.segmentCount()).toBe(1);
    expect(wal.sizeBytes()).toBeLessThan(sizeBefore);
    await wal.close();
  });

  test('retention counts from when a segment was sealed (the next one created), by the injected clock', async () => {
    let nowMs = 10 * HOUR_MS;
    const wal = await Wal.open(dir, { ...SMALL, retentionHours: 1, clock: () => nowMs });
    await wal.append(makeEntries(1, 20, { bytes: 100 }));
    nowMs = 20 * HOUR_MS;
    await wal.append(makeEntries(21, 40, { bytes: 100 }));
    // The first segment was sealed when the second was created, at hour 20.
    const sealedAt = 20 * HOUR_MS;
    expect((await wal.purgeBefore(61, sealedAt + HOUR_MS - 1)).segmentsRemoved).toBe(0);
    expect((await wal.purgeBefore(61, sealedAt + HOUR_MS)).segmentsRemoved).toBeGreaterThan(0);
    await wal.close();
  });
});

describe('reopen after every operation', () => {
  test('random appends, truncations, purges and reopens match a model of the log', async () => {
    for (const seed of [1, 2, 3]) {
      removeDir(dir);
      fs.mkdirSync(dir);
      const random = seededRandom(seed);
      let nowMs = 0;
      const options: WalOptions = { ...SMALL, retentionHours: 1, clock: () => nowMs };
      let wal = await Wal.open(dir, options);
      let model: LogEntry[] = [];
      let firstIndex = 1;
      let term = 1;
      for (let step = 0; step < 40; step += 1) {
        nowMs += HOUR_MS;
        const roll = random();
        const lastIndex = firstIndex + model.length - 1;
        if (roll < 0.55) {
          if (random() < 0.2) term += 1;
          const batch = makeEntries(lastIndex + 1, 1 + Math.floor(random() * 15), {
            term,
            bytes: 20 + Math.floor(random() * 300),
            seed: seed * 1000 + step,
          });
          await wal.append(batch);
          model.push(...batch);
        } else if (roll < 0.75) {
          const index = firstIndex + Math.floor(random() * (model.length + 1));
          await wal.truncateFrom(index);
          model = model.slice(0, index - firstIndex);
        } else if (roll < 0.85) {
          const below = firstIndex + Math.floor(random() * (model.length + 1));
          const result = await wal.purgeBefore(below, nowMs);
          model = model.slice(result.firstIndex - firstIndex);
          firstIndex = result.firstIndex;
        }
        await wal.close();
        wal = await Wal.open(dir, options);
        expect([wal.firstIndex(), wal.lastIndex()]).toEqual([firstIndex, firstIndex + model.length - 1]);
        expectSameEntries(await readAll(wal), model);
        for (const entry of model) expect(wal.termAt(entry.index)).toBe(entry.term);
      }
      await wal.close();
    }
  });
});

describe('calls issued without awaiting, under random bounds', () => {
  test('random interleavings of appends, truncations, purges and reads match a model, across reopens', async () => {
    for (let seed = 1; seed <= 12; seed += 1) {
      removeDir(dir);
      const random = seededRandom(seed * 7919);
      let nowMs = 0;
      const options: WalOptions = {
        segmentSizeMb: (500 + Math.floor(random() * 3000)) / (1024 * 1024),
        retentionHours: 1,
        clock: () => nowMs,
        indexedSegmentsMax: 1 + Math.floor(random() * 3),
        batchSize: 1 + Math.floor(random() * 20),
        batchBytesMax: 500 + Math.floor(random() * 5000),
        pendingBytesMax: 1000 + Math.floor(random() * 10_000),
      };
      let wal = await Wal.open(dir, options);
      let model: LogEntry[] = [];
      let term = 1;
      for (let step = 0; step < 40; step += 1) {
        nowMs += HOUR_MS;
        const calls: Promise<unknown>[] = [];
        for (let call = 1 + Math.floor(random() * 4); call > 0; call -= 1) {
          const first = wal.firstIndex();
          const roll = random();
          if (roll < 0.6) {
            if (random() < 0.2) term += 1;
            const batch = makeEntries(wal.lastIndex() + 1, 1 + Math.floor(random() * 12), {
              term,
              bytes: random() < 0.1 ? 3000 : Math.floor(random() * 300),
              seed: seed * 1000 + step * 10 + call,
            });
            calls.push(wal.append(batch));
            model.push(...batch);
          } else if (roll < 0.8) {
            const index = first + Math.floor(random() * (wal.lastIndex() - first + 2));
            calls.push(wal.truncateFrom(index));
            model = model.filter((entry) => entry.index < index);
          } else if (roll < 0.9) {
            calls.push(wal.purgeBefore(first + Math.floor(random() * (wal.lastIndex() - first + 2)), nowMs));
          } else {
            calls.push(wal.read(first, wal.lastIndex() + 1, Math.floor(random() * 5000)));
          }
        }
        await Promise.all(calls);
        model = model.filter((entry) => entry.index >= wal.firstIndex());
        if (random() < 0.3) {
          await wal.close();
          wal = await Wal.open(dir, options);
        }
        expect(wal.lastIndex()).toBe(wal.firstIndex() + model.length - 1);
        expectSameEntries(await readAll(wal), model);
        for (const entry of model) expect(wal.termAt(entry.index)).toBe(entry.term);
      }
      await wal.close();
      const verified = await Wal.open(dir, { ...options, verifyOnOpen: true });
      await verified.close();
    }
  });
});

import fs from 'node:fs';
import { resolve } from 'node:path';
import { traceWrite } from '../node/write-trace.js';
import type { LogEntry } from './entry.js';
import { encodeFrameInto, frameBytesMax } from './frame.js';
import { encodeSeal } from './frame-segment.js';
import { OffsetTable } from './offset-table.js';
import { ReadGate } from './read-gate.js';
import { type RecoveryReport, recoverWal } from './recovery.js';
import { createSegment, type Segment, verifySealedSegment } from './segment.js';
import {
  appendHandleFlags,
  closeFile,
  dsyncFlag,
  openFile,
  syncData,
  syncDir,
  truncateFile,
  writeAt,
} from './segment-files.js';
import { type ReadBudget, SegmentReader } from './segment-reader.js';
import { TermRuns } from './term-runs.js';
import { WalClosedError, WalFailedError } from './wal-errors.js';
import { type ResolvedWalOptions, resolveWalOptions, type WalOptions } from './wal-options.js';

/** read()'s outcome: entries, or the expected case of a start below the retained log. */
export type ReadResult =
  | { readonly ok: true; readonly entries: readonly LogEntry[] }
  | { readonly ok: false; readonly error: { readonly code: 'COMPACTED'; readonly firstIndex: number } };

export interface PurgeResult {
  readonly segmentsRemoved: number;
  /** The first retained index after the purge. */
  readonly firstIndex: number;
}

interface Settle<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: Error) => void;
}

/** Entries cut from the queue for one write + fsync, and the calls it completes. */
interface Batch {
  readonly entries: LogEntry[];
  readonly boundBytes: number;
  readonly done: AppendOp[];
}

interface AppendOp {
  readonly kind: 'append';
  readonly entries: readonly LogEntry[];
  /** Frame bytes of these entries at most (uncompressed), counted against pendingBytesMax. */
  readonly boundBytes: number;
  /** Entries already written. */
  written: number;
  readonly settle: Settle<void>;
}

type Op =
  | AppendOp
  | { readonly kind: 'truncate'; readonly index: number; readonly settle: Settle<void> }
  | {
      readonly kind: 'purge';
      readonly index: number;
      readonly nowMs: number;
      readonly settle: Settle<PurgeResult>;
    }
  | { readonly kind: 'close'; readonly settle: Settle<void> };

const MIB = 1024 * 1024;
const HOUR_MS = 3_600_000;
/** Finished ops are sliced off the queue once at least this many have piled up at its head. */
const QUEUE_COMPACT_HEAD_MIN = 1024;

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`WAL invariant broken: ${message}`);
}

/** Directories of the WALs open in this process (resolved paths). */
const openDirs = new Set<string>();

function unreachable(value: never): never {
  throw new Error(`WAL invariant broken: unexpected ${JSON.stringify(value)}`);
}

function settled<T>(): { promise: Promise<T>; settle: Settle<T> } {
  let settle!: Settle<T>;
  const promise = new Promise<T>((resolve, reject) => {
    settle = { resolve, reject };
  });
  return { promise, settle };
}

/**
 * WolfScale's write-ahead log: a directory of segment files holding consecutive LogEntries.
 *
 * Contract:
 * - Indexes: firstIndex() <= lastIndex() + 1; the WAL holds [firstIndex(), lastIndex()], empty
 *   when firstIndex() = lastIndex() + 1. termAt() also answers for firstIndex() - 1 (prevLogTerm).
 * - append(entries): entries must continue the log (index = lastIndex() + 1, ...; terms never
 *   decrease). They count in lastIndex()/termAt() as soon as append is called; the promise
 *   resolves once they are durable (written and fdatasync'd; with fsync off: handed to the OS).
 *   The payloads are encoded when their batch is written: do not modify them before that.
 * - Every call is applied in call order: append, truncateFrom and purgeBefore may be issued
 *   without awaiting the previous call.
 * - read(from, toExclusive, bytesMax): entries in [from, toExclusive) that are durable, whole, in
 *   order, at most bytesMax payload bytes but always at least one when any is in range.
 * - A failed write or fsync makes the WAL refuse all further work (WalFailedError): restart and
 *   let recovery find what reached the disk.
 */
export class Wal {
  readonly dir: string;
  /** What open() found and repaired. */
  readonly recovery: RecoveryReport;
  readonly #options: ResolvedWalOptions;
  readonly #segmentBytesMax: number;
  readonly #segments: Segment[];
  /** Terms of all accepted entries (including those still queued): answers termAt/lastIndex. */
  readonly #accepted: TermRuns;
  /** Terms of the entries on disk: what seals and reads are checked against. */
  readonly #written: TermRuns;
  /** Handle of the last segment, open for appending; -1 while closed (during a roll, after close). */
  #activeFd: number;
  #activeOffsets: OffsetTable;
  /** Reused for every batch (see #encodeBatch). */
  #batchBuffer: Buffer = Buffer.alloc(0);
  readonly #reader: SegmentReader;
  readonly #gate: ReadGate;
  /** Ops in call order; #head is the next one to run (amortised O(1) dequeue). */
  #queue: Op[] = [];
  #head = 0;
  /** Calls that arrived while the queue held pendingBytesMax of frames: not yet encoded. */
  readonly #waiting: Op[] = [];
  #queuedBytes = 0;
  #queuedEntries = 0;
  #writerScheduled = false;
  #writerRunning = false;
  #gatherWake: (() => void) | undefined;
  /** Reads never go past this while a truncation is queued (the entries there are being replaced). */
  #truncatesQueued = 0;
  #truncateFloor = Number.POSITIVE_INFINITY;
  #failed: WalFailedError | undefined;
  #closing: Promise<void> | undefined;
  #closed = false;

  private constructor(
    dir: string,
    options: ResolvedWalOptions,
    recovered: Awaited<ReturnType<typeof recoverWal>>,
  ) {
    this.dir = dir;
    this.#options = options;
    this.#segmentBytesMax = Math.floor(options.segmentSizeMb * MIB);
    this.recovery = recovered.report;
    this.#segments = recovered.segments;
    this.#written = recovered.terms;
    this.#accepted = new TermRuns(recovered.terms.prevIndex, recovered.terms.prevTerm);
    this.#accepted.appendRuns(
      recovered.terms.runsBetween(recovered.terms.firstIndex, recovered.terms.lastIndex),
      recovered.terms.lastIndex,
    );
    this.#activeFd = recovered.activeFd;
    this.#activeOffsets = recovered.activeOffsets;
    this.#gate = new ReadGate(options.readsConcurrentMax);
    this.#reader = new SegmentReader(options.indexedSegmentsMax, (index) => this.#written.termAt(index));
  }

  /**
   * Opens (creating if needed) the WAL in `dir` and recovers it: a torn write at the end of the
   * last segment is cut off and logged; any other damage throws WalCorruptionError naming the
   * file, the byte offset and what to do. Reads every frame of the last segment only.
   */
  static async open(dir: string, options: WalOptions = {}): Promise<Wal> {
    const resolved = resolveWalOptions(options);
    const key = resolve(dir);
    // Two writers on one directory would interleave batches and corrupt it. This guards one
    // process; one node per data directory across processes is the caller's rule.
    if (openDirs.has(key)) {
      throw new Error(`WAL in ${dir} is already open in this process: close it before opening it again`);
    }
    openDirs.add(key);
    let recovered: Awaited<ReturnType<typeof recoverWal>>;
    try {
      recovered = await recoverWal(dir, resolved);
    } catch (error) {
      openDirs.delete(key);
      throw error;
    }
    const wal = new Wal(dir, resolved, recovered);
    if (resolved.verifyOnOpen) {
      await wal.verify().catch(async (error: unknown) => {
        await wal.close();
        throw error;
      });
    }
    return wal;
  }

  /**
   * CRC-checks every frame of every sealed segment, one segment in memory at a time (open()
   * checks only the last segment's frames). Throws WalCorruptionError naming the file and offset
   * of the first damage. Runs as a read: appends go on meanwhile. Meant to run in the background
   * after open, before the node offers to lead.
   */
  async verify(): Promise<{ readonly segmentsVerified: number; readonly bytesVerified: number }> {
    this.#assertUsable();
    let segmentsVerified = 0;
    let bytesVerified = 0;
    for (let index = this.firstIndex(); ; ) {
      const segment = this.#segments.find((each) => each.firstIndex === index && each.sealed);
      if (segment === undefined) break;
      bytesVerified += await this.#gate.read(() => verifySealedSegment(segment));
      segmentsVerified += 1;
      index = segment.lastIndex + 1;
    }
    return { segmentsVerified, bytesVerified };
  }

  /** First retained index (lastIndex() + 1 when the WAL is empty). */
  firstIndex(): number {
    return this.#accepted.firstIndex;
  }

  /** Last accepted index (appended, durable or about to be). 0 for a new WAL. */
  lastIndex(): number {
    return this.#accepted.lastIndex;
  }

  /** Term of lastIndex() (or of the entry before the first one when empty). */
  lastTerm(): number {
    return this.#accepted.lastTerm;
  }

  /** Last index that read() can return: durable and not being truncated. */
  durableIndex(): number {
    return Math.min(this.#written.lastIndex, this.#truncateFloor);
  }

  /** Bytes of encoded frames queued for the writer; at most pendingBytesMax (or one append's worth). */
  pendingBytes(): number {
    return this.#queuedBytes;
  }

  /** Term of entry `index` for firstIndex() - 1 <= index <= lastIndex(); undefined outside. */
  termAt(index: number): number | undefined {
    return this.#accepted.termAt(index);
  }

  /** Appends entries that continue the log; resolves once they are durable (see the class contract). */
  append(entries: readonly LogEntry[]): Promise<void> {
    this.#assertUsable();
    this.#checkAppend(entries);
    if (entries.length === 0) return Promise.resolve();
    for (const entry of entries) this.#accepted.append(entry.index, entry.term);
    const { promise, settle } = settled<void>();
    let boundBytes = 0;
    for (const entry of entries) boundBytes += frameBytesMax(entry.payload.byteLength);
    this.#enqueue({ kind: 'append', entries, boundBytes, written: 0, settle });
    return promise;
  }

  /**
   * Drops entries >= index (index - 1 becomes the last), durably when the promise resolves.
   * firstIndex() <= index <= lastIndex() + 1. Truncating below a purged index is not possible.
   */
  truncateFrom(index: number): Promise<void> {
    this.#assertUsable();
    assert(
      Number.isSafeInteger(index) &&
        index >= this.#accepted.firstIndex &&
        index <= this.#accepted.lastIndex + 1,
      `truncateFrom(${index}) outside [${this.#accepted.firstIndex}, ${this.#accepted.lastIndex + 1}]`,
    );
    this.#accepted.truncateFrom(index);
    this.#truncatesQueued += 1;
    this.#truncateFloor = Math.min(this.#truncateFloor, index - 1);
    const { promise, settle } = settled<void>();
    this.#enqueue({ kind: 'truncate', index, settle });
    return promise;
  }

  /**
   * Removes whole segments whose every entry is < index and that were sealed at least
   * wal.retention_hours before nowMs. The last segment is never removed. Resolves after the
   * removals are durable. The (index, term) before the new first entry stays known.
   */
  purgeBefore(index: number, nowMs: number): Promise<PurgeResult> {
    this.#assertUsable();
    assert(Number.isSafeInteger(index) && Number.isFinite(nowMs), `purgeBefore(${index}, ${nowMs})`);
    const { promise, settle } = settled<PurgeResult>();
    this.#enqueue({ kind: 'purge', index, nowMs, settle });
    return promise;
  }

  /**
   * The first index the WAL would keep if `purgeBefore(index, nowMs)` ran now with no other call
   * queued: purges remove whole segments only, so a caller that must announce what it purges
   * (the consensus engine's `purged`) asks here first. Equals firstIndex() when nothing would go.
   */
  purgeableBefore(index: number, nowMs: number): number {
    const retentionMs = this.#options.retentionHours * HOUR_MS;
    let firstIndex = this.firstIndex();
    for (let i = 0; i + 1 < this.#segments.length; i++) {
      const segment = this.#segments[i] as Segment;
      const next = this.#segments[i + 1] as Segment;
      if (segment.lastIndex >= index || segment.lastIndex > this.#truncateFloor) break;
      if (segment.lastIndex > this.#accepted.lastIndex) break;
      if (nowMs - next.createdMs < retentionMs) break;
      firstIndex = next.firstIndex;
    }
    return firstIndex;
  }

  /** Bytes of frames in the segment files (headers and seals aside), for metrics. */
  sizeBytes(): number {
    let bytes = 0;
    for (const segment of this.#segments) bytes += segment.framesEndBytes;
    return bytes;
  }

  /** Segment files currently held. */
  segmentCount(): number {
    return this.#segments.length;
  }

  /**
   * Durable entries in [fromIndex, toIndexExclusive): whole entries, in order, whose payloads
   * total at most bytesMax, except that the first entry in range is always returned. Fewer (or
   * none) when the range goes past durableIndex(). fromIndex < firstIndex() is the value
   * { ok: false, error: { code: 'COMPACTED' } }. Throws WalCorruptionError for a damaged frame.
   * Uncompressed payloads are views into one read buffer (up to 8 MiB): copy a payload you keep
   * long after dropping the others, or it pins the whole buffer.
   */
  read(fromIndex: number, toIndexExclusive: number, bytesMax: number): Promise<ReadResult> {
    this.#assertUsable();
    assert(
      Number.isSafeInteger(fromIndex) && fromIndex >= 1 && Number.isSafeInteger(toIndexExclusive),
      `read(${fromIndex}, ${toIndexExclusive})`,
    );
    assert(
      toIndexExclusive >= fromIndex && bytesMax >= 0,
      `read(${fromIndex}, ${toIndexExclusive}, ${bytesMax})`,
    );
    return this.#gate.read(() => this.#readLocked(fromIndex, toIndexExclusive, bytesMax));
  }

  /** Finishes every queued call, then closes the files. Idempotent. */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    if (this.#failed !== undefined || this.#closed) {
      this.#closed = true;
      openDirs.delete(resolve(this.dir));
      return Promise.resolve();
    }
    const { promise, settle } = settled<void>();
    this.#enqueue({ kind: 'close', settle });
    this.#closing = promise;
    return promise;
  }

  #assertUsable(): void {
    if (this.#failed !== undefined) throw this.#failed;
    if (this.#closing !== undefined || this.#closed) throw new WalClosedError(this.dir);
  }

  #checkAppend(entries: readonly LogEntry[]): void {
    let index = this.#accepted.lastIndex;
    let term = this.#accepted.lastTerm;
    for (const entry of entries) {
      assert(entry.index === index + 1, `append of index ${entry.index} does not continue ${index}`);
      assert(
        Number.isSafeInteger(entry.term) && entry.term >= term,
        `term ${entry.term} < ${term} at ${entry.index}`,
      );
      if (entry.payload.byteLength > this.#options.entryBytesMax) {
        throw new RangeError(
          `WAL entry ${entry.index} has a ${entry.payload.byteLength}-byte payload, over entryBytesMax ${this.#options.entryBytesMax}`,
        );
      }
      index = entry.index;
      term = entry.term;
    }
  }

  // ---- the queue and its writer ----

  #enqueue(op: Op): void {
    if (this.#waiting.length > 0 || !this.#hasRoomFor(op)) this.#waiting.push(op);
    else this.#admit(op);
    this.#scheduleWriter();
  }

  #hasRoomFor(op: Op): boolean {
    if (op.kind !== 'append' || this.#queuedBytes === 0) return true;
    return this.#queuedBytes + op.boundBytes <= this.#options.pendingBytesMax;
  }

  #admit(op: Op): void {
    if (op.kind === 'append') {
      this.#queuedBytes += op.boundBytes;
      this.#queuedEntries += op.entries.length;
      if (this.#queuedEntries >= this.#options.batchSize) this.#gatherWake?.();
    }
    this.#queue.push(op);
  }

  #admitWaiting(): void {
    while (this.#waiting.length > 0 && this.#hasRoomFor(this.#waiting[0]!))
      this.#admit(this.#waiting.shift()!);
  }

  #scheduleWriter(): void {
    if (this.#writerScheduled || this.#writerRunning) return;
    this.#writerScheduled = true;
    // setImmediate, not a microtask: every append issued in this turn (and in the microtasks
    // it triggers) joins the first batch.
    setImmediate(() => {
      this.#writerScheduled = false;
      void this.#runWriter();
    });
  }

  async #runWriter(): Promise<void> {
    this.#writerRunning = true;
    try {
      for (let op = this.#queue[this.#head]; op !== undefined; op = this.#queue[this.#head]) {
        await this.#runOp(op);
        // Under sustained load the writer never goes idle: drop finished ops as it goes.
        if (this.#head >= QUEUE_COMPACT_HEAD_MIN && this.#head * 2 >= this.#queue.length)
          this.#compactQueue();
        this.#admitWaiting();
        if (op.kind === 'close' || this.#failed !== undefined) return;
        // Let the callers just resolved append again before the next batch is cut.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.#writerRunning = false;
      this.#compactQueue();
    }
  }

  async #runOp(op: Op): Promise<void> {
    try {
      switch (op.kind) {
        case 'append':
          return await this.#writeBatch();
        case 'truncate':
          this.#dequeue();
          await this.#gate.exclusive(() => this.#truncateLocked(op.index));
          this.#truncatesQueued -= 1;
          if (this.#truncatesQueued === 0) this.#truncateFloor = Number.POSITIVE_INFINITY;
          return op.settle.resolve();
        case 'purge': {
          this.#dequeue();
          const result = await this.#gate.exclusive(() => this.#purgeLocked(op.index, op.nowMs));
          return op.settle.resolve(result);
        }
        case 'close':
          this.#dequeue();
          return await this.#closeLocked(op.settle);
        default:
          return unreachable(op);
      }
    } catch (error) {
      this.#fail(error, op);
    }
  }

  #dequeue(): Op {
    const op = this.#queue[this.#head];
    assert(op !== undefined, 'dequeue from an empty queue');
    this.#head += 1;
    return op;
  }

  #compactQueue(): void {
    if (this.#head === 0) return;
    this.#queue = this.#queue.slice(this.#head);
    this.#head = 0;
  }

  async #gather(): Promise<void> {
    if (this.#options.flushIntervalMs === 0 || this.#queuedEntries >= this.#options.batchSize) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.#options.flushIntervalMs);
      this.#gatherWake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#gatherWake = undefined;
  }

  /** Cuts one batch from the queue head: whole entries, within batchSize and batchBytesMax. */
  #cutBatch(): Batch {
    const entries: LogEntry[] = [];
    const done: AppendOp[] = [];
    let boundBytes = 0;
    for (let i = this.#head; i < this.#queue.length; i += 1) {
      const op = this.#queue[i]!;
      if (op.kind !== 'append') break;
      while (op.written < op.entries.length) {
        const entry = op.entries[op.written]!;
        const bytes = frameBytesMax(entry.payload.byteLength);
        const full =
          entries.length >= this.#options.batchSize ||
          (entries.length > 0 && boundBytes + bytes > this.#options.batchBytesMax);
        if (full) return { entries, boundBytes, done };
        entries.push(entry);
        boundBytes += bytes;
        op.written += 1;
      }
      done.push(op);
    }
    return { entries, boundBytes, done };
  }

  /**
   * Encodes a batch into the reusable batch buffer: one allocation-free pass, one CRC per frame.
   * Safe to reuse because the next batch is only cut after this one's write and fsync returned.
   */
  #encodeBatch(batch: Batch): { bytes: Buffer; frameBytes: number[] } {
    if (this.#batchBuffer.byteLength < batch.boundBytes)
      this.#batchBuffer = Buffer.allocUnsafe(batch.boundBytes);
    const options = { compress: this.#options.compression, compressBytesMin: this.#options.compressBytesMin };
    const frameBytes: number[] = [];
    let offset = 0;
    const last = batch.entries.length - 1;
    batch.entries.forEach((entry, batchPosition) => {
      const place = { batchPosition, batchEnd: batchPosition === last };
      const bytes = encodeFrameInto(this.#batchBuffer, offset, entry, options, place);
      frameBytes.push(bytes);
      offset += bytes;
    });
    const bytes = this.#batchBuffer.subarray(0, offset);
    // A one-off huge entry must not pin its buffer: keep at most batchBytesMax around.
    if (this.#batchBuffer.byteLength > this.#options.batchBytesMax) this.#batchBuffer = Buffer.alloc(0);
    return { bytes, frameBytes };
  }

  async #writeBatch(): Promise<void> {
    await this.#gather();
    const active = this.#segments[this.#segments.length - 1]!;
    if (
      active.sealed ||
      (active.framesEndBytes >= this.#segmentBytesMax && active.lastIndex >= active.firstIndex)
    ) {
      await this.#roll();
    }
    const batch = this.#cutBatch();
    const firstIndex = batch.entries[0]?.index;
    const segment = this.#segments[this.#segments.length - 1]!;
    assert(firstIndex === segment.lastIndex + 1, `batch starts at ${firstIndex} after ${segment.lastIndex}`);
    const encoded = this.#encodeBatch(batch);
    const lastIndex = batch.entries.at(-1)?.index ?? 0;
    traceWrite('wal.write', lastIndex);
    await writeAt(this.#activeFd, encoded.bytes, segment.framesEndBytes);
    traceWrite('wal.written', lastIndex);
    // With fsync on, the active handle is O_DSYNC where the platform has it (appendHandleFlags):
    // the write returned once durable, as write + fdatasync, with one threadpool trip less.
    if (this.#options.fsync && dsyncFlag === 0) await syncData(this.#activeFd);
    traceWrite('wal.synced', lastIndex);
    this.#recordWritten(segment, batch, encoded.frameBytes);
    this.#head += batch.done.length;
    for (const op of batch.done) op.settle.resolve();
  }

  #recordWritten(segment: Segment, batch: Batch, frameBytes: readonly number[]): void {
    let offset = segment.framesEndBytes;
    batch.entries.forEach((entry, i) => {
      const bytes = frameBytes[i]!;
      this.#activeOffsets.push(offset, bytes);
      this.#written.append(entry.index, entry.term);
      offset += bytes;
    });
    segment.framesEndBytes = offset;
    segment.lastIndex = batch.entries[batch.entries.length - 1]!.index;
    this.#queuedBytes -= batch.boundBytes;
    this.#queuedEntries -= batch.entries.length;
  }

  /** Seals the active segment and starts the next one; see DESIGN.md for the crash analysis. */
  async #roll(): Promise<void> {
    const active = this.#segments[this.#segments.length - 1]!;
    if (!active.sealed) {
      const seal = encodeSeal({
        lastIndex: active.lastIndex,
        lastTerm: this.#written.lastTerm,
        runs: this.#written.runsBetween(active.firstIndex, active.lastIndex),
      });
      await writeAt(this.#activeFd, seal, active.framesEndBytes);
      // Always synced, even with wal.fsync off: recovery trusts a sealed segment's frames.
      await syncData(this.#activeFd);
      active.sealed = true;
    }
    await this.#closeActive();
    this.#reader.adopt(active.firstIndex, this.#activeOffsets);
    const created = await createSegment(
      this.dir,
      {
        firstIndex: active.lastIndex + 1,
        prevTerm: this.#written.lastTerm,
        createdMs: this.#options.clock(),
      },
      this.#options.fsync,
    );
    this.#segments.push(created.segment);
    this.#activeFd = created.fd;
    this.#activeOffsets = new OffsetTable();
  }

  async #truncateLocked(index: number): Promise<void> {
    assert(index >= this.#written.firstIndex, `truncate at ${index} below ${this.#written.firstIndex}`);
    if (index > this.#written.lastIndex) return;
    let target = this.#segments.length - 1;
    while (this.#segments[target]!.firstIndex > index) target -= 1;
    if (target < this.#segments.length - 1) await this.#dropSegmentsAfter(target);
    const segment = this.#segments[target]!;
    const keep = index - segment.firstIndex;
    const endBytes =
      keep < this.#activeOffsets.length ? this.#activeOffsets.offsetAt(keep) : segment.framesEndBytes;
    await truncateFile(this.#activeFd, endBytes);
    await new Promise<void>((resolve, reject) =>
      fs.fsync(this.#activeFd, (e) => (e ? reject(e) : resolve())),
    );
    this.#activeOffsets.truncate(keep);
    segment.lastIndex = index - 1;
    segment.framesEndBytes = endBytes;
    segment.sealed = false;
    this.#written.truncateFrom(index);
    this.#options.logger?.info({ dir: this.dir, fromIndex: index }, 'WAL: truncated the log');
  }

  /** Deletes segments after `target`, last first, so a crash leaves a contiguous prefix. */
  async #dropSegmentsAfter(target: number): Promise<void> {
    await this.#closeActive();
    while (this.#segments.length - 1 > target) {
      const segment = this.#segments.pop()!;
      this.#reader.forget(segment.firstIndex);
      await fs.promises.unlink(segment.path);
      await syncDir(this.dir);
    }
    const segment = this.#segments[target]!;
    this.#activeOffsets = await this.#reader.completeTable(segment);
    this.#reader.forget(segment.firstIndex);
    this.#activeFd = await openFile(segment.path, appendHandleFlags('r+', this.#options.fsync));
  }

  async #purgeLocked(index: number, nowMs: number): Promise<PurgeResult> {
    const retentionMs = this.#options.retentionHours * HOUR_MS;
    let removed = 0;
    for (;;) {
      const [segment, next] = this.#segments;
      if (segment === undefined || next === undefined) break;
      // Every entry below index, none of them at or after a truncation still queued (it must
      // find them), and sealed (the next segment was created) long enough ago.
      if (segment.lastIndex >= index || segment.lastIndex > this.#truncateFloor) break;
      if (segment.lastIndex > this.#accepted.lastIndex) break;
      if (nowMs - next.createdMs < retentionMs) break;
      // One directory fsync per removal: removals become durable oldest first, so a crash can
      // never leave a gap (which open would refuse) in front of the retained segments.
      await fs.promises.unlink(segment.path);
      await syncDir(this.dir);
      this.#segments.shift();
      this.#reader.forget(segment.firstIndex);
      removed += 1;
    }
    if (removed > 0) {
      const firstIndex = this.#segments[0]!.firstIndex;
      this.#written.purgeBefore(firstIndex);
      this.#accepted.purgeBefore(firstIndex);
      this.#options.logger?.info(
        { dir: this.dir, segmentsRemoved: removed, firstIndex },
        'WAL: purged segments',
      );
    }
    return { segmentsRemoved: removed, firstIndex: this.#written.firstIndex };
  }

  async #closeLocked(settle: Settle<void>): Promise<void> {
    this.#closed = true;
    await this.#closeActive();
    openDirs.delete(resolve(this.dir));
    settle.resolve();
  }

  /**
   * Closes the active segment's handle once. The number is forgotten first, so a failure path
   * can never close it again after the OS has handed the same number to another open file.
   */
  async #closeActive(): Promise<void> {
    const fd = this.#activeFd;
    this.#activeFd = -1;
    if (fd >= 0) await closeFile(fd);
  }

  /** After an I/O failure nothing more is trusted: reject everything queued and refuse new work. */
  #fail(error: unknown, op: Op): void {
    const failure = new WalFailedError(this.dir, error);
    this.#failed = failure;
    this.#options.logger?.error({ dir: this.dir, err: error }, 'WAL: failed; refusing further writes');
    const pending = [op, ...this.#queue.slice(this.#head), ...this.#waiting.splice(0)];
    this.#queue = [];
    this.#head = 0;
    for (const each of new Set(pending)) each.settle.reject(failure);
    void this.#closeActive().catch(() => undefined);
    // A failed WAL writes nothing more: it may be opened again (recovery decides what survived).
    openDirs.delete(resolve(this.dir));
  }

  // ---- reads ----

  async #readLocked(fromIndex: number, toIndexExclusive: number, bytesMax: number): Promise<ReadResult> {
    if (this.#closed) throw new WalClosedError(this.dir);
    if (fromIndex < this.#written.firstIndex) {
      return { ok: false, error: { code: 'COMPACTED', firstIndex: this.#written.firstIndex } };
    }
    const endExclusive = Math.min(toIndexExclusive, this.durableIndex() + 1);
    const budget: ReadBudget = { entries: [], payloadBytes: 0, bytesMax };
    let index = fromIndex;
    while (index < endExclusive) {
      const segment = this.#segmentOf(index);
      const isActive = segment === this.#segments[this.#segments.length - 1];
      const table = isActive ? this.#activeOffsets : this.#reader.tableOf(segment);
      const end = Math.min(endExclusive, segment.lastIndex + 1);
      const added = await this.#reader.readInto(segment, table, index, end, budget);
      index += added;
      if (added === 0 || budget.payloadBytes >= bytesMax) break;
    }
    return { ok: true, entries: budget.entries };
  }

  #segmentOf(index: number): Segment {
    let low = 0;
    let high = this.#segments.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.#segments[middle]!.firstIndex <= index) low = middle;
      else high = middle - 1;
    }
    const segment = this.#segments[low]!;
    assert(index >= segment.firstIndex && index <= segment.lastIndex, `no segment holds ${index}`);
    return segment;
  }
}

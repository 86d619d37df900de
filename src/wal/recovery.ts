import fs from 'node:fs';
import { dirname } from 'node:path';
import { scanSegment } from './frame-scan.js';
import { OffsetTable } from './offset-table.js';
import { createSegment, readSegmentHeader, readSegmentSeal, type Segment } from './segment.js';
import {
  appendHandleFlags,
  closeFile,
  type ListedSegment,
  listSegments,
  openFile,
  syncDir,
  truncateFile,
} from './segment-files.js';
import { type TermRun, TermRuns } from './term-runs.js';
import { WalCorruptionError } from './wal-errors.js';
import type { ResolvedWalOptions } from './wal-options.js';

/** What open() found and repaired; also logged. */
export interface RecoveryReport {
  /** Segment files found (0 for a new WAL). */
  readonly segmentsFound: number;
  /** A torn write at the end of the last segment that was cut off, if any. */
  readonly tornTail:
    | {
        readonly file: string;
        readonly offset: number;
        readonly bytesDropped: number;
        readonly reason: string;
      }
    | undefined;
  /** Half-created segment files (crash during a roll) that were removed; they held no entries. */
  readonly tempFilesRemoved: readonly string[];
}

export interface RecoveredWal {
  readonly segments: Segment[];
  readonly terms: TermRuns;
  /** The last segment, open for appending at its framesEndBytes. */
  readonly activeFd: number;
  readonly activeOffsets: OffsetTable;
  readonly report: RecoveryReport;
}

const REMEDY_GAP =
  'Entries are missing from the middle of the log. Restore the missing segment file from a backup if you have one; ' +
  "otherwise stop the node, move this WAL directory aside and restart it with an empty WAL so it catches up from the leader's log (or via `wolfctl migrate`).";

interface SealedInfo {
  readonly segment: Segment;
  readonly runs: readonly TermRun[];
  readonly lastTerm: number;
}

async function readSealed(listed: ListedSegment): Promise<SealedInfo> {
  const fd = await openFile(listed.path, 'r');
  try {
    const header = await readSegmentHeader(fd, listed.path, listed.firstIndex);
    const { seal, framesEndBytes } = await readSegmentSeal(fd, listed.path);
    if (seal.runs[0]?.startIndex !== header.firstIndex || seal.runs[0].term < header.prevTerm) {
      throw new WalCorruptionError(listed.path, framesEndBytes, 'the seal does not match the segment header');
    }
    const segment: Segment = {
      ...header,
      path: listed.path,
      lastIndex: seal.lastIndex,
      framesEndBytes,
      sealed: true,
    };
    return { segment, runs: seal.runs, lastTerm: seal.lastTerm };
  } finally {
    await closeFile(fd);
  }
}

/** Each segment must start right after the previous one ends, with the term it ended on. */
function checkContinuity(previous: SealedInfo, next: Segment): void {
  if (next.firstIndex !== previous.segment.lastIndex + 1) {
    const what =
      next.firstIndex > previous.segment.lastIndex + 1
        ? `entries ${previous.segment.lastIndex + 1}..${next.firstIndex - 1} are missing before this segment (a segment file is missing)`
        : `this segment starts at ${next.firstIndex} but the previous one already holds entries up to ${previous.segment.lastIndex}`;
    throw new WalCorruptionError(next.path, 0, what, REMEDY_GAP);
  }
  if (next.prevTerm !== previous.lastTerm) {
    throw new WalCorruptionError(
      next.path,
      16,
      `the header says entry ${next.firstIndex - 1} has term ${next.prevTerm}, the previous segment says ${previous.lastTerm}`,
    );
  }
}

async function removeTempFiles(dir: string, tempPaths: readonly string[], options: ResolvedWalOptions) {
  for (const path of tempPaths) {
    await fs.promises.unlink(path);
    options.logger?.warn({ file: path }, 'WAL: removed a half-created segment left by a crash during a roll');
  }
  if (tempPaths.length > 0) await syncDir(dir);
}

/** Opens the last segment: every frame is checked, and a torn tail is cut off durably. */
async function recoverLast(listed: ListedSegment, options: ResolvedWalOptions) {
  const fd = await openFile(listed.path, appendHandleFlags('r+', options.fsync));
  try {
    const header = await readSegmentHeader(fd, listed.path, listed.firstIndex);
    const bytes = await fs.promises.readFile(listed.path);
    const scan = scanSegment(bytes, header);
    if (scan.kind === 'damaged') throw new WalCorruptionError(listed.path, scan.offset, scan.what);
    let tornTail: RecoveryReport['tornTail'];
    if (scan.kind === 'torn') {
      tornTail = {
        file: listed.path,
        offset: scan.framesEndBytes,
        bytesDropped: bytes.byteLength - scan.framesEndBytes,
        reason: scan.reason,
      };
      // Cut before anything is appended, so new frames never follow torn bytes.
      await truncateFile(fd, scan.framesEndBytes);
      await new Promise<void>((resolve, reject) =>
        fs.fsync(fd, (error) => (error ? reject(error) : resolve())),
      );
      options.logger?.warn(
        { ...tornTail, lastIndex: scan.lastIndex },
        'WAL: cut a torn write off the end of the last segment (it was never acknowledged as durable)',
      );
    }
    const segment: Segment = {
      ...header,
      path: listed.path,
      lastIndex: scan.lastIndex,
      framesEndBytes: scan.framesEndBytes,
      sealed: scan.sealed,
    };
    return { fd, segment, scan, tornTail };
  } catch (error) {
    await closeFile(fd).catch(() => undefined);
    throw error;
  }
}

/**
 * Opens the WAL in `dir` (created when missing). Reads the header and the seal of every segment
 * but the last, and every frame of the last one: the cost is one segment plus a few bytes per
 * other segment, whatever the WAL's size.
 */
export async function recoverWal(dir: string, options: ResolvedWalOptions): Promise<RecoveredWal> {
  const created = await fs.promises.mkdir(dir, { recursive: true });
  // A new WAL directory must itself survive a crash: make its entry in the parent durable.
  if (created !== undefined) await syncDir(dirname(created));
  const listing = await listSegments(dir);
  await removeTempFiles(dir, listing.tempPaths, options);
  const lastListed = listing.segments[listing.segments.length - 1];
  if (lastListed === undefined) {
    const created = await createSegment(
      dir,
      { firstIndex: 1, prevTerm: 0, createdMs: options.clock() },
      options.fsync,
    );
    const terms = new TermRuns(0, 0);
    const report: RecoveryReport = {
      segmentsFound: 0,
      tornTail: undefined,
      tempFilesRemoved: listing.tempPaths,
    };
    return {
      segments: [created.segment],
      terms,
      activeFd: created.fd,
      activeOffsets: new OffsetTable(),
      report,
    };
  }
  const sealed: SealedInfo[] = [];
  for (const listed of listing.segments.slice(0, -1)) {
    const info = await readSealed(listed);
    const previous = sealed[sealed.length - 1];
    if (previous !== undefined) checkContinuity(previous, info.segment);
    sealed.push(info);
  }
  const last = await recoverLast(lastListed, options);
  try {
    const previous = sealed[sealed.length - 1];
    if (previous !== undefined) checkContinuity(previous, last.segment);
    const first = sealed[0]?.segment ?? last.segment;
    const terms = new TermRuns(first.firstIndex - 1, first.prevTerm);
    for (const info of sealed) terms.appendRuns(info.runs, info.segment.lastIndex);
    terms.appendRuns(last.scan.runs, last.scan.lastIndex);
    const segments = [...sealed.map((info) => info.segment), last.segment];
    const report: RecoveryReport = {
      segmentsFound: listing.segments.length,
      tornTail: last.tornTail,
      tempFilesRemoved: listing.tempPaths,
    };
    options.logger?.info(
      { dir, segments: segments.length, firstIndex: terms.firstIndex, lastIndex: terms.lastIndex },
      'WAL: opened',
    );
    return { segments, terms, activeFd: last.fd, activeOffsets: last.scan.offsets, report };
  } catch (error) {
    await closeFile(last.fd).catch(() => undefined);
    throw error;
  }
}

import { decodeFrameHeader, FRAME_MAGIC_BYTES, type HeaderResult, verifyFrame } from './frame.js';
import {
  decodeSeal,
  decodeSealTrailer,
  SEAL_TRAILER_BYTES,
  SEGMENT_HEADER_BYTES,
  type SegmentSeal,
} from './frame-segment.js';
import { OffsetTable } from './offset-table.js';
import type { TermRun } from './term-runs.js';

/**
 * Walks the frames of one segment's bytes and decides what its end means. Pure: the caller reads
 * the file. The rules (see DESIGN.md "Recovery"):
 * - frames must be valid, carry consecutive indexes from the header's firstIndex, and
 *   non-decreasing terms from the header's prevTerm; a valid frame that breaks this is damage;
 * - a valid seal right after the last frame ends the segment;
 * - anything else ends the frames. It is a torn write (the tail of the last, unsynced batch) only
 *   if nothing after it proves that its batch had been synced: a valid frame of a later batch (its
 *   index minus its batch position is past the damaged index), bytes after a valid frame that
 *   ends a batch, or a seal at the end all prove it (batches are written one after another, each
 *   only once the previous one's fsync returned). Otherwise it is damage, and recovery must not
 *   drop it.
 */

export interface ScannedFrames {
  /** Offset of every whole frame, in index order. */
  readonly offsets: OffsetTable;
  /** Term runs of those frames (empty when there are none). */
  readonly runs: readonly TermRun[];
  /** Index of the last whole frame, firstIndex - 1 when there is none. */
  readonly lastIndex: number;
  /** Term of the last whole frame, prevTerm when there is none. */
  readonly lastTerm: number;
  /** Byte offset just after the last whole frame. */
  readonly framesEndBytes: number;
  /** The frames are followed by a valid seal that ends the file. */
  readonly sealed: boolean;
}

export type ScanResult =
  | ({ readonly kind: 'clean' } & ScannedFrames)
  /** Whole frames up to framesEndBytes; the bytes after them are a torn write, safe to drop. */
  | ({ readonly kind: 'torn'; readonly reason: string } & ScannedFrames)
  | { readonly kind: 'damaged'; readonly offset: number; readonly what: string };

interface ScanStart {
  readonly firstIndex: number;
  readonly prevTerm: number;
}

class FrameWalk {
  readonly offsets = new OffsetTable();
  readonly runs: TermRun[] = [];
  lastIndex: number;
  lastTerm: number;
  position = SEGMENT_HEADER_BYTES;

  constructor(start: ScanStart) {
    this.lastIndex = start.firstIndex - 1;
    this.lastTerm = start.prevTerm;
  }

  /** Accepts a valid frame, or says why its index or term cannot follow the previous one. */
  accept(header: Extract<HeaderResult, { kind: 'header' }>): string | undefined {
    if (header.index !== this.lastIndex + 1)
      return `frame holds index ${header.index}, expected ${this.lastIndex + 1}`;
    if (header.term < this.lastTerm)
      return `frame ${header.index} has term ${header.term} below ${this.lastTerm}`;
    if (this.runs.length === 0 || header.term > this.lastTerm) {
      this.runs.push({ startIndex: header.index, term: header.term });
    }
    this.offsets.push(this.position, header.frameBytes);
    this.lastIndex = header.index;
    this.lastTerm = header.term;
    this.position += header.frameBytes;
    return undefined;
  }

  result(sealed: boolean): ScannedFrames {
    const { offsets, runs, lastIndex, lastTerm } = this;
    return { offsets, runs, lastIndex, lastTerm, framesEndBytes: this.position, sealed };
  }
}

/**
 * Scans `bytes`, a whole segment file whose header (already checked) starts it. checkCrc false
 * only walks the headers (to index a sealed segment whose frames are CRC-checked when read).
 */
export function scanSegment(bytes: Uint8Array, start: ScanStart, checkCrc = true): ScanResult {
  const walk = new FrameWalk(start);
  const next = checkCrc ? verifyFrame : decodeFrameHeader;
  while (walk.position < bytes.byteLength) {
    const header = next(bytes, walk.position);
    if (header.kind === 'header') {
      const problem = walk.accept(header);
      if (problem !== undefined) return { kind: 'damaged', offset: walk.position, what: problem };
      continue;
    }
    const seal = sealAt(bytes, walk.position);
    if (seal !== undefined && sealMatches(seal, walk)) return { kind: 'clean', ...walk.result(true) };
    const reason = header.kind === 'incomplete' ? 'incomplete frame' : header.reason;
    const proof = syncedAfter(bytes, walk.position, walk.lastIndex + 1);
    if (proof !== undefined) {
      return { kind: 'damaged', offset: walk.position, what: `${reason}, but ${proof}` };
    }
    return { kind: 'torn', reason, ...walk.result(false) };
  }
  return { kind: 'clean', ...walk.result(false) };
}

function sealMatches(seal: SegmentSeal, walk: FrameWalk): boolean {
  const runsMatch =
    seal.runs.length === walk.runs.length &&
    seal.runs.every(
      (run, i) => run.startIndex === walk.runs[i]?.startIndex && run.term === walk.runs[i]?.term,
    );
  return runsMatch && seal.lastIndex === walk.lastIndex && seal.lastTerm === walk.lastTerm;
}

/** The seal that starts at `offset` and ends the file, if there is one. */
function sealAt(bytes: Uint8Array, offset: number): SegmentSeal | undefined {
  const footer = bytes.subarray(offset);
  if (footer.byteLength < SEAL_TRAILER_BYTES) return undefined;
  const decoded = decodeSeal(footer);
  return decoded.ok ? decoded.value : undefined;
}

/** Why the bytes from `offset` on cannot be an unsynced tail, or undefined when they can be. */
function syncedAfter(bytes: Uint8Array, offset: number, damagedIndex: number): string | undefined {
  const trailer = decodeSealTrailer(bytes.subarray(Math.max(0, bytes.byteLength - SEAL_TRAILER_BYTES)));
  if (trailer.ok && bytes.byteLength - trailer.value > offset) {
    const seal = decodeSeal(bytes.subarray(bytes.byteLength - trailer.value));
    if (seal.ok) return 'the segment was sealed after it, so it had been synced';
  }
  const search = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let position = offset + 1;
  for (;;) {
    position = search.indexOf(FRAME_MAGIC_BYTES, position);
    if (position < 0) return undefined;
    const header = verifyFrame(bytes, position);
    if (header.kind !== 'header') {
      position += 1;
      continue;
    }
    if (header.index < damagedIndex) {
      return `a valid frame of entry ${header.index} follows at byte ${position}, out of order`;
    }
    if (header.index - header.batchPosition > damagedIndex) {
      return `entry ${header.index} at byte ${position} belongs to a later batch, so this one had been synced`;
    }
    const end = position + header.frameBytes;
    if (header.batchEnd && end < bytes.byteLength) {
      return `its batch ends with a valid frame at byte ${position} and more was written after it, so it had been synced`;
    }
    position = end;
  }
}

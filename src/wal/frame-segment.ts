import { crc32 } from 'node:zlib';
import type { TermRun } from './term-runs.js';

/**
 * Codecs for the two fixed records of a segment file: the header at offset 0 and the seal footer
 * written at the end when the segment is full and the next one begins. Pure: no I/O, no clock.
 *
 * Segment header, SEGMENT_HEADER_BYTES = 36 (little-endian):
 *   0  4  magic "WSEG"
 *   4  1  version (1)
 *   5  3  reserved, 0
 *   8  8  firstIndex: index of the first entry this segment holds (or will hold)
 *  16  8  prevTerm: term of entry firstIndex - 1 (0 when firstIndex is 1); survives purges, so
 *         the WAL always knows the (index, term) just before its first entry
 *  24  8  createdMs: clock time the segment was created; ages the previous segment for retention
 *  32  4  CRC-32 over [0, 32)
 *
 * Seal footer, 16 * runCount + 32 bytes, directly after the last frame:
 *   runCount x (startIndex u64, term u64)   the term runs of the segment's entries, ascending
 *   lastIndex u64, lastTerm u64
 *   runCount u32, footerBytes u32 (this whole footer), CRC-32 over the footer before it, magic "WEND"
 * Opening reads only the last bytes of a sealed segment to learn its last index and its terms.
 */

export const SEGMENT_HEADER_BYTES = 36;
export const SEAL_TRAILER_BYTES = 16;
const SEGMENT_VERSION = 1;
const SEGMENT_MAGIC = 0x47455357; // "WSEG"
const SEAL_MAGIC = 0x444e4557; // "WEND"
const RUN_BYTES = 16;
/** A seal never holds more runs than this; a damaged runCount cannot ask for gigabytes. */
export const SEAL_RUNS_MAX = 1_000_000;

export interface SegmentHeader {
  readonly firstIndex: number;
  readonly prevTerm: number;
  readonly createdMs: number;
}

export interface SegmentSeal {
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly runs: readonly TermRun[];
}

export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string };

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function readU64(view: DataView, offset: number): number {
  const high = view.getUint32(offset + 4, true);
  if (high > 0x1fffff) return Number.NaN;
  return high * 0x1_0000_0000 + view.getUint32(offset, true);
}

function writeU64(view: DataView, offset: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`WAL segment invariant broken: ${value} is not a safe unsigned integer`);
  }
  view.setUint32(offset, value % 0x1_0000_0000, true);
  view.setUint32(offset + 4, Math.floor(value / 0x1_0000_0000), true);
}

export function encodeSegmentHeader(header: SegmentHeader): Buffer {
  const bytes = Buffer.alloc(SEGMENT_HEADER_BYTES);
  const view = viewOf(bytes);
  view.setUint32(0, SEGMENT_MAGIC, true);
  bytes[4] = SEGMENT_VERSION;
  writeU64(view, 8, header.firstIndex);
  writeU64(view, 16, header.prevTerm);
  writeU64(view, 24, header.createdMs);
  view.setUint32(32, crc32(bytes.subarray(0, 32)), true);
  return bytes;
}

export function decodeSegmentHeader(bytes: Uint8Array): Decoded<SegmentHeader> {
  if (bytes.byteLength < SEGMENT_HEADER_BYTES) return { ok: false, reason: 'header is incomplete' };
  const view = viewOf(bytes);
  if (view.getUint32(0, true) !== SEGMENT_MAGIC) return { ok: false, reason: 'bad segment magic' };
  if (bytes[4] !== SEGMENT_VERSION) return { ok: false, reason: `unknown segment version ${bytes[4]}` };
  if (view.getUint32(32, true) !== crc32(bytes.subarray(0, 32)))
    return { ok: false, reason: 'header CRC mismatch' };
  const firstIndex = readU64(view, 8);
  const prevTerm = readU64(view, 16);
  const createdMs = readU64(view, 24);
  if (!(firstIndex >= 1) || Number.isNaN(prevTerm) || Number.isNaN(createdMs)) {
    return { ok: false, reason: 'header field out of range' };
  }
  return { ok: true, value: { firstIndex, prevTerm, createdMs } };
}

export function encodeSeal(seal: SegmentSeal): Buffer {
  const footerBytes = seal.runs.length * RUN_BYTES + 16 + SEAL_TRAILER_BYTES;
  const bytes = Buffer.alloc(footerBytes);
  const view = viewOf(bytes);
  seal.runs.forEach((run, i) => {
    writeU64(view, i * RUN_BYTES, run.startIndex);
    writeU64(view, i * RUN_BYTES + 8, run.term);
  });
  const tail = seal.runs.length * RUN_BYTES;
  writeU64(view, tail, seal.lastIndex);
  writeU64(view, tail + 8, seal.lastTerm);
  view.setUint32(tail + 16, seal.runs.length, true);
  view.setUint32(tail + 20, footerBytes, true);
  view.setUint32(tail + 24, crc32(bytes.subarray(0, tail + 24)), true);
  view.setUint32(tail + 28, SEAL_MAGIC, true);
  return bytes;
}

/** From the last SEAL_TRAILER_BYTES of a file: the size of the whole footer, if it is a seal. */
export function decodeSealTrailer(trailer: Uint8Array): Decoded<number> {
  if (trailer.byteLength !== SEAL_TRAILER_BYTES) return { ok: false, reason: 'trailer is incomplete' };
  const view = viewOf(trailer);
  if (view.getUint32(12, true) !== SEAL_MAGIC) return { ok: false, reason: 'no seal at the end' };
  const runCount = view.getUint32(0, true);
  const footerBytes = view.getUint32(4, true);
  if (runCount < 1 || runCount > SEAL_RUNS_MAX || footerBytes !== runCount * RUN_BYTES + 32) {
    return { ok: false, reason: 'seal lengths out of range' };
  }
  return { ok: true, value: footerBytes };
}

/** Decodes a whole footer (exactly footerBytes long) and checks its CRC and its run order. */
export function decodeSeal(footer: Uint8Array): Decoded<SegmentSeal> {
  const trailer = decodeSealTrailer(footer.subarray(footer.byteLength - SEAL_TRAILER_BYTES));
  if (!trailer.ok) return trailer;
  if (trailer.value !== footer.byteLength) return { ok: false, reason: 'seal length mismatch' };
  const view = viewOf(footer);
  const tail = footer.byteLength - 32;
  if (view.getUint32(tail + 24, true) !== crc32(footer.subarray(0, tail + 24))) {
    return { ok: false, reason: 'seal CRC mismatch' };
  }
  const runs: TermRun[] = [];
  for (let offset = 0; offset < tail; offset += RUN_BYTES) {
    runs.push({ startIndex: readU64(view, offset), term: readU64(view, offset + 8) });
  }
  const lastIndex = readU64(view, tail);
  const lastTerm = readU64(view, tail + 8);
  const ordered = runs.every(
    (run, i) => i === 0 || (run.startIndex > runs[i - 1]!.startIndex && run.term > runs[i - 1]!.term),
  );
  const last = runs[runs.length - 1];
  if (!ordered || last === undefined || last.term !== lastTerm || last.startIndex > lastIndex) {
    return { ok: false, reason: 'seal runs are inconsistent' };
  }
  return { ok: true, value: { lastIndex, lastTerm, runs } };
}

import { crc32 } from 'node:zlib';
import { compressSync, uncompressSync } from 'lz4-napi';
import type { EntryKind, LogEntry } from './entry.js';

/**
 * The WAL frame codec: one LogEntry <-> one self-checking byte string. Pure: no I/O, no clock.
 *
 * Layout (little-endian), FRAME_HEADER_BYTES = 40, then the stored payload:
 *   0  4  magic "WFRM"
 *   4  4  CRC-32 (IEEE) over bytes [8, 40 + storedBytes): every header field after it and the
 *         stored payload (one contiguous range, so one checksum call per frame)
 *   8  1  version (1)
 *   9  1  flags: bit 0 = payload is LZ4-compressed (lz4-napi compressSync block with its 4-byte
 *         length prefix); bit 2 = last frame of its group-commit batch; every other bit must be 0
 *  10  1  kind: 1 transaction, 2 configuration, 3 noop
 *  11  1  reserved, 0
 *  12  4  storedBytes: payload bytes as stored after the header
 *  16  4  payloadBytes: payload bytes after decompression (== storedBytes when not compressed)
 *  20  8  term  (u64, must be <= 2^53 - 1)
 *  28  8  index (u64, >= 1, must be <= 2^53 - 1)
 *  36  4  batchPosition: frames before this one in its group-commit batch (0 = first). With the
 *         batch-end flag, recovery tells a torn unsynced batch from damage to synced data
 *  40  .. stored payload
 *
 * The magic is compared exactly and the CRC covers everything else, so a bit flip anywhere is detected
 * (any burst of up to 32 bits always, any other damage with probability 1 - 2^-32) before the
 * payload is decompressed. Length fields are also range-checked, so a damaged length cannot make
 * the decoder allocate or skip an absurd amount.
 */

export const FRAME_HEADER_BYTES = 40;
export const FRAME_VERSION = 1;
/** Hard ceiling for one payload; options.entryBytesMax must not exceed it. */
export const FRAME_PAYLOAD_BYTES_LIMIT = 256 * 1024 * 1024;

const MAGIC = 0x4d524657; // "WFRM" read as a little-endian u32
const FLAG_LZ4 = 0x01;
const FLAG_BATCH_END = 0x04;
const FLAGS_KNOWN = FLAG_LZ4 | FLAG_BATCH_END;
const CRC_OFFSET = 4;
const CRC_START = 8;
/** lz4-napi prefixes its block with the uncompressed length (u32 LE). */
const LZ4_PREFIX_BYTES = 4;
/** Payloads this small never shrink under LZ4: never try below it, whatever the caller asks. */
const COMPRESS_BYTES_FLOOR = 64;

const KIND_CODES: Readonly<Record<EntryKind, number>> = { transaction: 1, configuration: 2, noop: 3 };
const KINDS_BY_CODE: readonly (EntryKind | undefined)[] = [undefined, 'transaction', 'configuration', 'noop'];

export interface EncodeOptions {
  /** Try LZ4; it is used only when it makes the stored payload strictly smaller. */
  readonly compress: boolean;
  /** Only try LZ4 on payloads of at least this many bytes (default 64). */
  readonly compressBytesMin?: number;
}

/** A frame decoded from bytes; `frameBytes` is how many bytes it occupied (header + stored). */
export type DecodeResult =
  | {
      readonly kind: 'frame';
      readonly entry: LogEntry;
      readonly frameBytes: number;
      readonly compressed: boolean;
    }
  /** The bytes end before the frame does: a torn write when at the end of the log. */
  | { readonly kind: 'incomplete'; readonly bytesNeeded: number }
  /** Not a valid frame: wrong magic/version/flags/kind, impossible lengths, or CRC mismatch. */
  | { readonly kind: 'invalid'; readonly reason: string };

/** Header fields readable without the payload; used to index a segment without decoding it. */
export type HeaderResult =
  | {
      readonly kind: 'header';
      readonly term: number;
      readonly index: number;
      readonly frameBytes: number;
      /** Frames before this one in its batch: entry index - batchPosition started the batch. */
      readonly batchPosition: number;
      /** Last frame of its batch. */
      readonly batchEnd: boolean;
    }
  | { readonly kind: 'incomplete'; readonly bytesNeeded: number }
  | { readonly kind: 'invalid'; readonly reason: string };

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`WAL frame invariant broken: ${message}`);
}

/** Little-endian u32 without a DataView (one allocation less per field on the hot path). */
function readU32(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset] ?? 0) | ((bytes[offset + 1] ?? 0) << 8) | ((bytes[offset + 2] ?? 0) << 16)) +
    (bytes[offset + 3] ?? 0) * 0x100_0000
  );
}

function readU64(bytes: Uint8Array, offset: number): number {
  const low = readU32(bytes, offset);
  const high = readU32(bytes, offset + 4);
  // Above 2^53 - 1 the value cannot be a number exactly; report it as unsafe (NaN fails checks).
  if (high > 0x1fffff) return Number.NaN;
  return high * 0x1_0000_0000 + low;
}

function storedPayload(payload: Uint8Array, options: EncodeOptions): { stored: Uint8Array; flags: number } {
  const bytesMin = Math.max(options.compressBytesMin ?? 0, COMPRESS_BYTES_FLOOR);
  if (!options.compress || payload.byteLength < bytesMin) return { stored: payload, flags: 0 };
  const input = Buffer.isBuffer(payload)
    ? payload
    : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const compressed = compressSync(input);
  if (compressed.byteLength >= payload.byteLength) return { stored: payload, flags: 0 };
  return { stored: compressed, flags: FLAG_LZ4 };
}

/** Bytes the frame of a payload takes at most (uncompressed): the room encodeFrameInto needs. */
export function frameBytesMax(payloadBytes: number): number {
  return FRAME_HEADER_BYTES + payloadBytes;
}

/** Where a frame sits in its group-commit batch; recovery reads it back (see frame-scan.ts). */
export interface BatchPlace {
  /** Frames before this one in its batch (0 = first). */
  readonly batchPosition: number;
  /** Last frame of its batch. */
  readonly batchEnd: boolean;
}

const OUTSIDE_BATCH: BatchPlace = { batchPosition: 0, batchEnd: false };

function checkEntry(entry: LogEntry): number {
  assert(
    Number.isSafeInteger(entry.index) && entry.index >= 1,
    `index ${entry.index} must be an integer >= 1`,
  );
  assert(Number.isSafeInteger(entry.term) && entry.term >= 0, `term ${entry.term} must be an integer >= 0`);
  assert(
    entry.payload.byteLength <= FRAME_PAYLOAD_BYTES_LIMIT,
    `payload of ${entry.payload.byteLength} bytes`,
  );
  const kindCode = KIND_CODES[entry.kind];
  assert(kindCode !== undefined, `unknown entry kind ${String(entry.kind)}`);
  return kindCode;
}

/**
 * Encodes one entry into `target` at `offset`, which needs frameBytesMax(payload) bytes of room,
 * and returns the frame's length. Throws on an entry that breaks LogEntry's invariants.
 */
export function encodeFrameInto(
  target: Buffer,
  offset: number,
  entry: LogEntry,
  options: EncodeOptions,
  place: BatchPlace = OUTSIDE_BATCH,
): number {
  const kindCode = checkEntry(entry);
  const { batchPosition, batchEnd } = place;
  assert(
    Number.isInteger(batchPosition) && batchPosition >= 0 && batchPosition < entry.index,
    'batch position',
  );
  const { stored, flags } = storedPayload(entry.payload, options);
  const frameBytes = FRAME_HEADER_BYTES + stored.byteLength;
  assert(offset >= 0 && offset + frameBytes <= target.byteLength, 'no room for the frame');
  target.writeUInt32LE(MAGIC, offset);
  target[offset + 8] = FRAME_VERSION;
  target[offset + 9] = flags | (batchEnd ? FLAG_BATCH_END : 0);
  target[offset + 10] = kindCode;
  target[offset + 11] = 0;
  target.writeUInt32LE(stored.byteLength, offset + 12);
  target.writeUInt32LE(entry.payload.byteLength, offset + 16);
  writeU64LE(target, offset + 20, entry.term);
  writeU64LE(target, offset + 28, entry.index);
  target.writeUInt32LE(batchPosition, offset + 36);
  target.set(stored, offset + FRAME_HEADER_BYTES);
  target.writeUInt32LE(crc32(target.subarray(offset + CRC_START, offset + frameBytes)), offset + CRC_OFFSET);
  return frameBytes;
}

/** Encodes one entry into a new buffer of exactly its frame's length. */
export function encodeFrame(
  entry: LogEntry,
  options: EncodeOptions,
  place: BatchPlace = OUTSIDE_BATCH,
): Buffer {
  const scratch = Buffer.allocUnsafe(frameBytesMax(entry.payload.byteLength));
  const frameBytes = encodeFrameInto(scratch, 0, entry, options, place);
  return Buffer.from(scratch.subarray(0, frameBytes));
}

function writeU64LE(target: Buffer, offset: number, value: number): void {
  target.writeUInt32LE(value % 0x1_0000_0000, offset);
  target.writeUInt32LE(Math.floor(value / 0x1_0000_0000), offset + 4);
}

interface ParsedHeader {
  readonly flags: number;
  readonly kind: EntryKind;
  readonly storedBytes: number;
  readonly payloadBytes: number;
  readonly term: number;
  readonly index: number;
  readonly batchPosition: number;
}

function headerProblem(bytes: Uint8Array, offset: number): string | ParsedHeader {
  if (readU32(bytes, offset) !== MAGIC) return 'bad magic';
  if (bytes[offset + 8] !== FRAME_VERSION) return `unknown version ${bytes[offset + 8]}`;
  const flags = bytes[offset + 9] ?? 0;
  if ((flags & ~FLAGS_KNOWN) !== 0) return `unknown flags 0x${flags.toString(16)}`;
  const kind = KINDS_BY_CODE[bytes[offset + 10] ?? 0];
  if (kind === undefined) return `unknown kind ${bytes[offset + 10]}`;
  if (bytes[offset + 11] !== 0) return 'reserved byte is not 0';
  const storedBytes = readU32(bytes, offset + 12);
  const payloadBytes = readU32(bytes, offset + 16);
  if (payloadBytes > FRAME_PAYLOAD_BYTES_LIMIT) return `payload length ${payloadBytes} over the limit`;
  const compressed = (flags & FLAG_LZ4) !== 0;
  if (!compressed && storedBytes !== payloadBytes) return 'stored and payload lengths differ';
  if (compressed && (storedBytes <= LZ4_PREFIX_BYTES || storedBytes >= payloadBytes)) {
    return 'compressed length out of range';
  }
  const term = readU64(bytes, offset + 20);
  const index = readU64(bytes, offset + 28);
  if (Number.isNaN(term) || Number.isNaN(index) || index < 1) return 'term or index out of range';
  const batchPosition = readU32(bytes, offset + 36);
  if (batchPosition >= index) return 'batch position out of range';
  return { flags, kind, storedBytes, payloadBytes, term, index, batchPosition };
}

/** Reads and sanity-checks the header at `offset` without touching the payload or the CRC. */
export function decodeFrameHeader(bytes: Uint8Array, offset: number): HeaderResult {
  const available = bytes.byteLength - offset;
  if (available < FRAME_HEADER_BYTES)
    return { kind: 'incomplete', bytesNeeded: FRAME_HEADER_BYTES - available };
  const parsed = headerProblem(bytes, offset);
  if (typeof parsed === 'string') return { kind: 'invalid', reason: parsed };
  const frameBytes = FRAME_HEADER_BYTES + parsed.storedBytes;
  if (available < frameBytes) return { kind: 'incomplete', bytesNeeded: frameBytes - available };
  const { term, index, batchPosition } = parsed;
  return {
    kind: 'header',
    term,
    index,
    frameBytes,
    batchPosition,
    batchEnd: (parsed.flags & FLAG_BATCH_END) !== 0,
  };
}

function crcMatches(bytes: Uint8Array, offset: number, frameBytes: number): boolean {
  const crcActual = crc32(bytes.subarray(offset + CRC_START, offset + frameBytes));
  return crcActual === readU32(bytes, offset + CRC_OFFSET);
}

/** Like decodeFrameHeader, and also checks the CRC: a whole valid frame, without decompressing it. */
export function verifyFrame(bytes: Uint8Array, offset: number): HeaderResult {
  const header = decodeFrameHeader(bytes, offset);
  if (header.kind !== 'header') return header;
  if (!crcMatches(bytes, offset, header.frameBytes)) return { kind: 'invalid', reason: 'CRC mismatch' };
  return header;
}

/** The magic every frame starts with, for scanning damaged bytes for a later valid frame. */
export const FRAME_MAGIC_BYTES: Uint8Array = Uint8Array.of(0x57, 0x46, 0x52, 0x4d);

/**
 * Decodes the frame that starts at `offset`. Never throws on bad input: damage is a value. The
 * returned payload is a view into `bytes` when the frame is not compressed (no copy).
 */
export function decodeFrame(bytes: Uint8Array, offset: number): DecodeResult {
  const available = bytes.byteLength - offset;
  if (available < FRAME_HEADER_BYTES)
    return { kind: 'incomplete', bytesNeeded: FRAME_HEADER_BYTES - available };
  const parsed = headerProblem(bytes, offset);
  if (typeof parsed === 'string') return { kind: 'invalid', reason: parsed };
  const frameBytes = FRAME_HEADER_BYTES + parsed.storedBytes;
  if (available < frameBytes) return { kind: 'incomplete', bytesNeeded: frameBytes - available };
  const stored = bytes.subarray(offset + FRAME_HEADER_BYTES, offset + frameBytes);
  if (!crcMatches(bytes, offset, frameBytes)) return { kind: 'invalid', reason: 'CRC mismatch' };
  const compressed = (parsed.flags & FLAG_LZ4) !== 0;
  const payload = compressed ? decompress(stored, parsed.payloadBytes) : stored;
  if (payload === undefined) return { kind: 'invalid', reason: 'LZ4 block does not decode to its length' };
  const entry: LogEntry = { term: parsed.term, index: parsed.index, kind: parsed.kind, payload };
  return { kind: 'frame', entry, frameBytes, compressed };
}

function decompress(stored: Uint8Array, payloadBytes: number): Uint8Array | undefined {
  // The CRC already matched, so these bytes are what the encoder wrote; a mismatch here means an
  // encoder bug or a foreign writer, and is reported as invalid rather than trusted.
  if (readU32(stored, 0) !== payloadBytes) return undefined;
  let payload: Buffer;
  try {
    payload = uncompressSync(stored);
  } catch {
    return undefined;
  }
  return payload.byteLength === payloadBytes ? payload : undefined;
}

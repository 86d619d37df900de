import { crc32 } from 'node:zlib';
import { type Decoded, decodedError, decodedOk } from '../decoded.js';
import { binlogEventHeaderBytes } from './binlog-event-header.js';

/** Bytes of the CRC32 trailer of an event when the binlog checksum is CRC32. */
export const binlogChecksumBytes = 4;

/**
 * The checksum algorithm of a binlog stream, from its FORMAT_DESCRIPTION event (or from
 * `@@global.binlog_checksum` announced by the replica as `@master_binlog_checksum`).
 */
export type BinlogChecksumAlgorithm = 'none' | 'crc32';

/** The algorithm byte in a FORMAT_DESCRIPTION event. 0xff means "unknown/undefined" (old servers). */
export function checksumAlgorithmFromCode(code: number): BinlogChecksumAlgorithm | undefined {
  if (code === 0) return 'none';
  if (code === 1) return 'crc32';
  return undefined;
}

export function checksumAlgorithmCode(algorithm: BinlogChecksumAlgorithm): number {
  return algorithm === 'crc32' ? 1 : 0;
}

/** CRC-32/IEEE of `bytes`, as MariaDB computes an event's checksum (over header and body). */
export function binlogCrc32(bytes: Uint8Array): number {
  return crc32(bytes) >>> 0;
}

/**
 * Verifies an event's CRC32 trailer and returns the event without it. With 'none' the event is
 * returned unchanged. The result shares memory with the input.
 */
export function verifyAndStripChecksum(
  event: Uint8Array,
  algorithm: BinlogChecksumAlgorithm,
): Decoded<Uint8Array> {
  if (algorithm === 'none') return decodedOk(event);
  if (event.length < binlogEventHeaderBytes + binlogChecksumBytes) {
    return decodedError('TRUNCATED', `binlog event of ${event.length} bytes is too short to carry a CRC32`);
  }
  const bodyEnd = event.length - binlogChecksumBytes;
  const stored = Buffer.from(event.buffer, event.byteOffset, event.byteLength).readUInt32LE(bodyEnd);
  const computed = binlogCrc32(event.subarray(0, bodyEnd));
  if (stored !== computed) {
    return decodedError(
      'CHECKSUM_MISMATCH',
      `binlog event checksum mismatch: stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)}; the event is corrupt`,
    );
  }
  return decodedOk(event.subarray(0, bodyEnd));
}

/** Returns `event` (header and body, no trailer) with its CRC32 appended, or unchanged for 'none'. */
export function appendChecksum(event: Uint8Array, algorithm: BinlogChecksumAlgorithm): Buffer {
  if (algorithm === 'none') return Buffer.from(event);
  const out = Buffer.alloc(event.length + binlogChecksumBytes);
  out.set(event, 0);
  out.writeUInt32LE(binlogCrc32(event), event.length);
  return out;
}

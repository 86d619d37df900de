import { deflateSync, inflateSync } from 'node:zlib';
import { assert, type Decoded, decodedError, decodedOk } from '../decoded.js';

/** Compressed packet header: compressed length (3), compressed sequence id (1), original length (3). */
export const compressedHeaderBytes = 7;
/** Most bytes one compressed packet carries, compressed or not. */
export const compressedChunkBytesMax = 0xffffff;
/** Below this, MariaDB sends content uncompressed (original length 0): deflate would not pay. */
export const compressMinBytes = 50;

/** The decompressed content of one compressed packet: a piece of the ordinary packet stream. */
export interface CompressedChunk {
  readonly sequenceId: number;
  readonly bytes: Buffer;
}

/**
 * The compressed protocol's outer framing (CLIENT_COMPRESS), without sockets: feed it chunks,
 * get back decompressed pieces of the ordinary packet stream, to feed into a PacketFramer.
 * Decompression is bounded by the declared original length of each packet.
 */
export class CompressedPacketFramer {
  #pending: Buffer = Buffer.alloc(0);
  #failed = false;

  push(chunk: Uint8Array): Decoded<CompressedChunk[]> {
    if (this.#failed) return decodedError('MALFORMED', 'the compressed stream already failed; reconnect');
    this.#pending = this.#pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#pending, chunk]);
    const out: CompressedChunk[] = [];
    let offset = 0;
    while (this.#pending.length - offset >= compressedHeaderBytes) {
      const length = this.#pending.readUIntLE(offset, 3);
      const sequenceId = this.#pending[offset + 3]!;
      const originalBytes = this.#pending.readUIntLE(offset + 4, 3);
      if (this.#pending.length - offset < compressedHeaderBytes + length) break;
      const body = this.#pending.subarray(
        offset + compressedHeaderBytes,
        offset + compressedHeaderBytes + length,
      );
      offset += compressedHeaderBytes + length;
      if (originalBytes === 0) {
        out.push({ sequenceId, bytes: Buffer.from(body) });
        continue;
      }
      const inflated = inflateBounded(body, originalBytes);
      if (!inflated.ok) {
        this.#failed = true;
        return inflated;
      }
      out.push({ sequenceId, bytes: inflated.value });
    }
    this.#pending = this.#pending.subarray(offset);
    return decodedOk(out);
  }
}

function inflateBounded(body: Buffer, originalBytes: number): Decoded<Buffer> {
  let inflated: Buffer;
  try {
    inflated = inflateSync(body, { maxOutputLength: originalBytes });
  } catch (error) {
    // zlib reports corrupt data and output beyond the bound by throwing: both mean a bad packet.
    return decodedError('MALFORMED', `a compressed packet does not inflate: ${(error as Error).message}`);
  }
  if (inflated.length !== originalBytes) {
    return decodedError(
      'MALFORMED',
      `a compressed packet inflates to ${inflated.length} bytes, not the declared ${originalBytes}`,
    );
  }
  return decodedOk(inflated);
}

/**
 * Wraps bytes of the ordinary packet stream in compressed packets starting at `sequenceId`;
 * content under `compressMinBytes` is sent uncompressed, as MariaDB does.
 */
export function encodeCompressedPackets(
  bytes: Uint8Array,
  sequenceId: number,
): { bytes: Buffer; nextSequenceId: number } {
  assert(Number.isInteger(sequenceId) && sequenceId >= 0 && sequenceId <= 0xff, `sequence id ${sequenceId}`);
  const parts: Buffer[] = [];
  let sequence = sequenceId;
  for (let start = 0; start < bytes.length || start === 0; start += compressedChunkBytesMax) {
    const piece = bytes.subarray(start, start + compressedChunkBytesMax);
    const compressed = piece.length >= compressMinBytes ? deflateSync(piece) : undefined;
    const useCompressed = compressed !== undefined && compressed.length < piece.length;
    const body = useCompressed ? compressed : Buffer.from(piece);
    const header = Buffer.alloc(compressedHeaderBytes);
    header.writeUIntLE(body.length, 0, 3);
    header[3] = sequence;
    header.writeUIntLE(useCompressed ? piece.length : 0, 4, 3);
    parts.push(header, body);
    sequence = (sequence + 1) & 0xff;
    if (bytes.length === 0) break;
  }
  return { bytes: Buffer.concat(parts), nextSequenceId: sequence };
}

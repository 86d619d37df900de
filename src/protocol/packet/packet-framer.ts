import { assert, type Decoded, decodedError, decodedOk } from '../decoded.js';

/** Bytes of a packet header: 3-byte payload length, 1-byte sequence id. */
export const packetHeaderBytes = 4;
/**
 * The largest payload one physical packet carries. A payload of exactly this length means "more
 * follows": larger logical payloads are split into 16 MiB - 1 chunks, ending with a shorter (possibly
 * empty) one.
 */
export const packetChunkBytesMax = 0xffffff;
/** Default bound on a joined logical payload; the server's max_allowed_packet is at most 1 GiB. */
export const packetBytesMaxDefault = 1024 * 1024 * 1024;

/** One logical packet: its payload (joined when it came in several chunks) and sequence ids. */
export interface Packet {
  /** Sequence id of the first physical packet. */
  readonly firstSequenceId: number;
  /** Sequence id of the last physical packet: the next packet in this exchange uses this + 1. */
  readonly sequenceId: number;
  readonly payload: Buffer;
}

export interface PacketFramerOptions {
  /** Bound on a joined payload; a longer one is an error (`TOO_LARGE`). */
  readonly packetBytesMax?: number;
}

/**
 * Turns a byte stream into logical packets. Knows no sockets: feed it chunks as they arrive, in
 * any split, and it returns the packets they complete. After an error the framer is unusable (the
 * stream has lost its framing): close the connection.
 *
 * Memory: buffers at most one incomplete logical packet, bounded by `packetBytesMax`.
 */
export class PacketFramer {
  readonly #packetBytesMax: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Chunks of a logical packet split over several physical packets. */
  #parts: Buffer[] = [];
  #partsBytes = 0;
  #firstSequenceId: number | undefined;
  #failed = false;

  constructor(options: PacketFramerOptions = {}) {
    this.#packetBytesMax = options.packetBytesMax ?? packetBytesMaxDefault;
  }

  /** Bytes received but not yet part of a returned packet. */
  get bufferedBytes(): number {
    return this.#pendingBytes + this.#partsBytes;
  }

  push(chunk: Uint8Array): Decoded<Packet[]> {
    if (this.#failed) return decodedError('MALFORMED', 'the packet stream already failed; reconnect');
    if (chunk.length > 0) {
      this.#pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.#pendingBytes += chunk.length;
    }
    const packets: Packet[] = [];
    let buffer =
      this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
    let offset = 0;
    while (buffer.length - offset >= packetHeaderBytes) {
      const length = buffer.readUIntLE(offset, 3);
      const sequenceId = buffer[offset + 3]!;
      if (buffer.length - offset < packetHeaderBytes + length) break;
      const payload = buffer.subarray(offset + packetHeaderBytes, offset + packetHeaderBytes + length);
      offset += packetHeaderBytes + length;
      if (this.#firstSequenceId === undefined) this.#firstSequenceId = sequenceId;
      if (this.#partsBytes + length > this.#packetBytesMax) {
        this.#failed = true;
        return decodedError(
          'TOO_LARGE',
          `a packet of more than ${this.#packetBytesMax} bytes arrived; raise packetBytesMax or lower the peer's max_allowed_packet`,
        );
      }
      if (length === packetChunkBytesMax) {
        this.#parts.push(payload);
        this.#partsBytes += length;
        continue;
      }
      const joined = this.#parts.length === 0 ? payload : Buffer.concat([...this.#parts, payload]);
      packets.push({ firstSequenceId: this.#firstSequenceId, sequenceId, payload: joined });
      this.#parts = [];
      this.#partsBytes = 0;
      this.#firstSequenceId = undefined;
    }
    buffer = buffer.subarray(offset);
    this.#pending = buffer.length === 0 ? [] : [buffer];
    this.#pendingBytes = buffer.length;
    return decodedOk(packets);
  }
}

/**
 * Frames a payload as one or more physical packets starting at `sequenceId` (wrapping at 256).
 * Returns the bytes and the sequence id the next packet of the exchange must use.
 */
export function encodePacket(
  payload: Uint8Array,
  sequenceId: number,
): { bytes: Buffer; nextSequenceId: number } {
  assert(Number.isInteger(sequenceId) && sequenceId >= 0 && sequenceId <= 0xff, `sequence id ${sequenceId}`);
  const chunkCount = Math.floor(payload.length / packetChunkBytesMax) + 1;
  const out = Buffer.alloc(payload.length + chunkCount * packetHeaderBytes);
  let sequence = sequenceId;
  let written = 0;
  for (let chunk = 0; chunk < chunkCount; chunk += 1) {
    const start = chunk * packetChunkBytesMax;
    const length = Math.min(packetChunkBytesMax, payload.length - start);
    out.writeUIntLE(length, written, 3);
    out[written + 3] = sequence;
    out.set(payload.subarray(start, start + length), written + packetHeaderBytes);
    written += packetHeaderBytes + length;
    sequence = (sequence + 1) & 0xff;
  }
  assert(written === out.length, 'packet framing filled the buffer exactly');
  return { bytes: out, nextSequenceId: sequence };
}

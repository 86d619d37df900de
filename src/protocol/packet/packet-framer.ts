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
 * Memory: besides what a caller has not yet taken with `next`, at most one incomplete logical
 * packet, bounded by `packetBytesMax`.
 */
export class PacketFramer {
  readonly #packetBytesMax: number;
  /** Received bytes; those before #offset are consumed. */
  #buffer: Buffer = Buffer.alloc(0);
  #offset = 0;
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
    return this.#buffer.length - this.#offset + this.#partsBytes;
  }

  /** Feeds a chunk and returns every packet it completes. */
  push(chunk: Uint8Array): Decoded<Packet[]> {
    this.feed(chunk);
    const packets: Packet[] = [];
    for (;;) {
      const packet = this.next();
      if (!packet.ok) return packet;
      if (packet.value === undefined) return decodedOk(packets);
      packets.push(packet.value);
    }
  }

  /** Adds received bytes without taking packets out (see `next`). */
  feed(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const incoming = Buffer.isBuffer(chunk)
      ? chunk
      : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.#buffer =
      this.#offset >= this.#buffer.length
        ? incoming
        : Buffer.concat([this.#buffer.subarray(this.#offset), incoming]);
    this.#offset = 0;
  }

  /**
   * The next complete packet, or undefined when more bytes are needed. Taking packets one at a
   * time lets a server stop right after an SSLRequest and hand the rest to TLS (`takeBuffered`).
   */
  next(): Decoded<Packet | undefined> {
    if (this.#failed) return decodedError('MALFORMED', 'the packet stream already failed; reconnect');
    for (;;) {
      const available = this.#buffer.length - this.#offset;
      if (available < packetHeaderBytes) return decodedOk(undefined);
      const length = this.#buffer.readUIntLE(this.#offset, 3);
      const sequenceId = this.#buffer[this.#offset + 3]!;
      if (available < packetHeaderBytes + length) return decodedOk(undefined);
      const start = this.#offset + packetHeaderBytes;
      const payload = this.#buffer.subarray(start, start + length);
      this.#offset = start + length;
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
      const packet = { firstSequenceId: this.#firstSequenceId, sequenceId, payload: joined };
      this.#parts = [];
      this.#partsBytes = 0;
      this.#firstSequenceId = undefined;
      return decodedOk(packet);
    }
  }

  /**
   * Removes and returns the bytes not yet framed: after an SSLRequest they are the start of the
   * TLS handshake (the client may send both in one segment), to be given to the TLS layer.
   */
  takeBuffered(): Buffer {
    const rest = Buffer.from(this.#buffer.subarray(this.#offset));
    this.#buffer = Buffer.alloc(0);
    this.#offset = 0;
    return rest;
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

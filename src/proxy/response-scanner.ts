import type { Decoded } from '../protocol/decoded.js';
import { decodedError, decodedOk } from '../protocol/decoded.js';
import { packetChunkBytesMax, packetHeaderBytes } from '../protocol/packet/packet-framer.js';
import { errHeader } from '../protocol/response/err-packet.js';
import { type ResponseExpectation, ResponseFramer } from '../protocol/response/response-framer.js';

/** Bytes of a packet's payload kept for the framer: whole OK/ERR/EOF packets, row prefixes. */
const capturedBytesMax = 64 * 1024;
/** What the framer is given for a logical packet split over several physical packets (always a row). */
const splitPacketStandIn = Buffer.from([0x01]);

/**
 * Follows one backend response through raw chunks as they arrive, without copying rows: walks
 * the packet headers, hands each packet's first bytes to `ResponseFramer`, and reports where the
 * response ends, its last status flags, its OK and ERR packets. Pure (no sockets): the caller
 * writes the chunk on unchanged. See DESIGN.md "Backends and the hot path".
 */
export class ResponseScanner {
  readonly #deprecateEof: boolean;
  #framer: ResponseFramer | undefined;
  /** Header bytes of the current physical packet seen so far (a header may straddle chunks). */
  readonly #header = Buffer.alloc(packetHeaderBytes);
  #headerBytes = 0;
  /** Payload bytes of the current physical packet still to come. */
  #remaining = 0;
  #physicalLength = 0;
  /** The current logical packet spans several physical packets. */
  #split = false;
  /** Captured prefix of the current (single physical) packet when it straddles chunks. */
  #parts: Buffer[] = [];
  #partsBytes = 0;
  #inPacket = false;

  /** Status flags of the last OK/EOF of the response. */
  statusFlags: number | undefined;
  /** Payloads (copies) of the response's OK packets. */
  okPayloads: Buffer[] = [];
  /** The ERR packet's payload (copy) when the response ended in one. */
  errPayload: Buffer | undefined;
  /** The server asked for a LOCAL INFILE: the client's file must follow. */
  localInfile = false;

  constructor(deprecateEof: boolean) {
    this.#deprecateEof = deprecateEof;
  }

  get busy(): boolean {
    return this.#framer !== undefined;
  }

  /** Starts following the response to a command just sent. */
  begin(expectation: ResponseExpectation): void {
    this.#framer = new ResponseFramer(expectation, { deprecateEof: this.#deprecateEof });
    this.statusFlags = undefined;
    this.okPayloads = [];
    this.errPayload = undefined;
    this.localInfile = false;
    this.#headerBytes = 0;
    this.#remaining = 0;
    this.#split = false;
    this.#parts = [];
    this.#partsBytes = 0;
    this.#inPacket = false;
  }

  /**
   * Scans `chunk`. Returns the offset just past the response's last byte when the response ended
   * in this chunk, -1 when more is to come, or an error when the bytes are not a response.
   * `localInfile` turning true also returns the offset: the caller sends the file, then scans on.
   */
  scan(chunk: Buffer): Decoded<number> {
    const framer = this.#framer;
    if (framer === undefined)
      return decodedError('MALFORMED', 'bytes arrived while no command was waiting for them');
    let at = 0;
    const end = chunk.length;
    while (at < end) {
      if (!this.#inPacket) {
        // Read (the rest of) a 4-byte header.
        if (this.#headerBytes === 0 && end - at >= packetHeaderBytes) {
          this.#physicalLength = chunk[at]! | (chunk[at + 1]! << 8) | (chunk[at + 2]! << 16);
          at += packetHeaderBytes;
        } else {
          while (this.#headerBytes < packetHeaderBytes && at < end)
            this.#header[this.#headerBytes++] = chunk[at++]!;
          if (this.#headerBytes < packetHeaderBytes) return decodedOk(-1);
          this.#physicalLength = this.#header.readUIntLE(0, 3);
          this.#headerBytes = 0;
        }
        this.#remaining = this.#physicalLength;
        this.#inPacket = true;
        // A physical packet of 0xFFFFFF bytes continues in the next one.
        if (this.#physicalLength === packetChunkBytesMax) this.#split = true;
      }
      const take = Math.min(this.#remaining, end - at);
      if (!this.#split && this.#partsBytes < capturedBytesMax && take > 0) {
        if (this.#partsBytes === 0 && take === this.#remaining) {
          // The whole payload is in this chunk: no copy.
        } else {
          const keep = Math.min(take, capturedBytesMax - this.#partsBytes);
          this.#parts.push(Buffer.from(chunk.subarray(at, at + keep)));
          this.#partsBytes += keep;
        }
      }
      const payloadStart = at;
      at += take;
      this.#remaining -= take;
      if (this.#remaining > 0) return decodedOk(-1);
      this.#inPacket = false;
      if (this.#physicalLength === packetChunkBytesMax) continue; // the logical packet goes on
      let payload: Buffer;
      if (this.#split) {
        payload = splitPacketStandIn;
        this.#split = false;
      } else if (this.#parts.length === 0) {
        payload = chunk.subarray(payloadStart, at);
      } else {
        payload = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts);
      }
      this.#parts = [];
      this.#partsBytes = 0;
      const step = framer.next(payload);
      if (!step.ok) {
        this.#framer = undefined;
        return step;
      }
      const { packet, statusFlags, complete } = step.value;
      if (statusFlags !== undefined) this.statusFlags = statusFlags;
      if (packet === 'ok') this.okPayloads.push(Buffer.from(payload));
      else if (packet === 'err' && payload[0] === errHeader) this.errPayload = Buffer.from(payload);
      else if (packet === 'local_infile') {
        this.localInfile = true;
        return decodedOk(at);
      }
      if (complete) {
        this.#framer = undefined;
        return decodedOk(at);
      }
    }
    return decodedOk(-1);
  }
}

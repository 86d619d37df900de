import { ProtocolDecodeError } from './decoded.js';

/**
 * A cursor over bytes for decoders: little-endian integers, MySQL length-encoded integers and
 * strings. Every read checks its bounds first and throws ProtocolDecodeError('TRUNCATED') instead
 * of reading past the end, so decoders can be written straight-line inside `decodeSafely`.
 *
 * Slices (`bytes`, `rest`) share memory with the input: decoders that hand them out promise that
 * callers copy them if they keep the input's buffer for reuse.
 */
export class ByteReader {
  readonly #buffer: Buffer;
  #offset: number;
  readonly #end: number;
  readonly #what: string;

  /** `what` names the structure being decoded, for error messages. */
  constructor(bytes: Uint8Array, what: string, start = 0, end = bytes.length) {
    this.#buffer = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#offset = start;
    this.#end = end;
    this.#what = what;
  }

  get offset(): number {
    return this.#offset;
  }

  get remaining(): number {
    return this.#end - this.#offset;
  }

  get atEnd(): boolean {
    return this.#offset >= this.#end;
  }

  #need(count: number, field: string): number {
    if (count < 0 || this.#offset + count > this.#end) {
      throw new ProtocolDecodeError(
        'TRUNCATED',
        `${this.#what}: ${field} needs ${count} bytes at offset ${this.#offset}, only ${this.remaining} left`,
      );
    }
    const at = this.#offset;
    this.#offset += count;
    return at;
  }

  fail(message: string): never {
    throw new ProtocolDecodeError('MALFORMED', `${this.#what}: ${message}`);
  }

  u8(field = 'u8'): number {
    return this.#buffer[this.#need(1, field)]!;
  }

  peekU8(): number | undefined {
    return this.#offset < this.#end ? this.#buffer[this.#offset] : undefined;
  }

  u16(field = 'u16'): number {
    return this.#buffer.readUInt16LE(this.#need(2, field));
  }

  u24(field = 'u24'): number {
    return this.#buffer.readUIntLE(this.#need(3, field), 3);
  }

  u32(field = 'u32'): number {
    return this.#buffer.readUInt32LE(this.#need(4, field));
  }

  u48(field = 'u48'): number {
    return this.#buffer.readUIntLE(this.#need(6, field), 6);
  }

  u64(field = 'u64'): bigint {
    return this.#buffer.readBigUInt64LE(this.#need(8, field));
  }

  /** Unsigned integer of `width` bytes (1..6) as a number. */
  uintLE(width: number, field = 'uint'): number {
    return this.#buffer.readUIntLE(this.#need(width, field), width);
  }

  /**
   * Length-encoded integer. Values above 2^53 would lose precision as a number; they cannot be a
   * real length in a packet of ours, so they are rejected.
   */
  lenencInt(field = 'length-encoded integer'): number {
    const first = this.u8(field);
    if (first < 0xfb) return first;
    switch (first) {
      case 0xfc:
        return this.u16(field);
      case 0xfd:
        return this.u24(field);
      case 0xfe: {
        const value = this.u64(field);
        if (value > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${field} ${value} is beyond 2^53`);
        return Number(value);
      }
      default:
        // 0xfb is NULL in a text row and 0xff starts an ERR packet: never an integer here.
        return this.fail(
          `${field} starts with 0x${first.toString(16)}, which is not a length-encoded integer`,
        );
    }
  }

  bytes(count: number, field = 'bytes'): Buffer {
    const at = this.#need(count, field);
    return this.#buffer.subarray(at, at + count);
  }

  rest(): Buffer {
    return this.bytes(this.remaining, 'rest');
  }

  lenencBytes(field = 'length-encoded string'): Buffer {
    return this.bytes(this.lenencInt(field), field);
  }

  lenencString(field = 'length-encoded string'): string {
    return this.lenencBytes(field).toString('utf8');
  }

  string(count: number, field = 'string'): string {
    return this.bytes(count, field).toString('utf8');
  }

  /** Bytes up to a NUL; the NUL is consumed and not returned. */
  nulBytes(field = 'NUL-terminated string'): Buffer {
    const nul = this.#buffer.indexOf(0, this.#offset);
    if (nul < 0 || nul >= this.#end) {
      throw new ProtocolDecodeError(
        'TRUNCATED',
        `${this.#what}: ${field} at offset ${this.#offset} has no NUL`,
      );
    }
    const value = this.#buffer.subarray(this.#offset, nul);
    this.#offset = nul + 1;
    return value;
  }

  nulString(field = 'NUL-terminated string'): string {
    return this.nulBytes(field).toString('utf8');
  }

  skip(count: number, field = 'skipped bytes'): void {
    this.#need(count, field);
  }
}

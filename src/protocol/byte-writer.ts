import { assert } from './decoded.js';

const initialBytes = 256;

/**
 * Builds bytes for encoders: little-endian integers, length-encoded integers and strings. Grows
 * by doubling; `finish()` returns a Buffer of exactly the bytes written.
 */
export class ByteWriter {
  #buffer: Buffer;
  #length = 0;

  constructor(capacityBytes = initialBytes) {
    this.#buffer = Buffer.alloc(Math.max(capacityBytes, 16));
  }

  get length(): number {
    return this.#length;
  }

  #reserve(count: number): number {
    const needed = this.#length + count;
    if (needed > this.#buffer.length) {
      let size = this.#buffer.length * 2;
      while (size < needed) size *= 2;
      const grown = Buffer.alloc(size);
      this.#buffer.copy(grown, 0, 0, this.#length);
      this.#buffer = grown;
    }
    const at = this.#length;
    this.#length = needed;
    return at;
  }

  u8(value: number): this {
    assert(Number.isInteger(value) && value >= 0 && value <= 0xff, `u8 out of range: ${value}`);
    const at = this.#reserve(1);
    this.#buffer[at] = value;
    return this;
  }

  u16(value: number): this {
    const at = this.#reserve(2);
    this.#buffer.writeUInt16LE(value, at);
    return this;
  }

  u24(value: number): this {
    const at = this.#reserve(3);
    this.#buffer.writeUIntLE(value, at, 3);
    return this;
  }

  u32(value: number): this {
    const at = this.#reserve(4);
    this.#buffer.writeUInt32LE(value, at);
    return this;
  }

  u48(value: number): this {
    const at = this.#reserve(6);
    this.#buffer.writeUIntLE(value, at, 6);
    return this;
  }

  u64(value: bigint): this {
    const at = this.#reserve(8);
    this.#buffer.writeBigUInt64LE(value, at);
    return this;
  }

  uintLE(value: number, width: number): this {
    const at = this.#reserve(width);
    this.#buffer.writeUIntLE(value, at, width);
    return this;
  }

  lenencInt(value: number): this {
    assert(Number.isSafeInteger(value) && value >= 0, `length-encoded integer out of range: ${value}`);
    if (value < 0xfb) return this.u8(value);
    if (value <= 0xffff) return this.u8(0xfc).u16(value);
    if (value <= 0xffffff) return this.u8(0xfd).u24(value);
    return this.u8(0xfe).u64(BigInt(value));
  }

  bytes(value: Uint8Array): this {
    const at = this.#reserve(value.length);
    this.#buffer.set(value, at);
    return this;
  }

  string(value: string): this {
    return this.bytes(Buffer.from(value, 'utf8'));
  }

  lenencBytes(value: Uint8Array): this {
    return this.lenencInt(value.length).bytes(value);
  }

  lenencString(value: string): this {
    return this.lenencBytes(Buffer.from(value, 'utf8'));
  }

  nulBytes(value: Uint8Array): this {
    assert(!value.includes(0), 'a NUL-terminated string cannot contain NUL');
    return this.bytes(value).u8(0);
  }

  nulString(value: string): this {
    return this.nulBytes(Buffer.from(value, 'utf8'));
  }

  zeros(count: number): this {
    const at = this.#reserve(count);
    this.#buffer.fill(0, at, this.#length);
    return this;
  }

  /** Overwrites a u32 already written at `offset` (e.g. a size known only at the end). */
  patchU32(offset: number, value: number): this {
    assert(offset + 4 <= this.#length, 'patchU32 beyond written bytes');
    this.#buffer.writeUInt32LE(value, offset);
    return this;
  }

  finish(): Buffer {
    return Buffer.from(this.#buffer.subarray(0, this.#length));
  }
}

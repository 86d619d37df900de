import { SEGMENT_HEADER_BYTES } from './frame-segment.js';

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`WAL offset table invariant broken: ${message}`);
}

/**
 * Byte offset of the frames of one segment, in index order: entry firstIndex + i starts at
 * offsetAt(i), and endBytes is where the frame after the last known one starts. Frames are
 * contiguous, so a table can also be a known prefix that reads extend as they go. u32 is enough
 * because a segment stays below 4 GiB (segment_size_mb <= 1024 plus one batch). Grows by
 * doubling; 4 bytes per entry.
 */
export class OffsetTable {
  #offsets: Uint32Array;
  #length = 0;
  #endBytes = SEGMENT_HEADER_BYTES;

  constructor(capacity = 1024) {
    this.#offsets = new Uint32Array(Math.max(16, capacity));
  }

  get length(): number {
    return this.#length;
  }

  /** Where the frame after the last known one starts. */
  get endBytes(): number {
    return this.#endBytes;
  }

  /** Adds the next frame; it must start where the previous one ended. */
  push(offset: number, frameBytes: number): void {
    assert(
      offset === this.#endBytes,
      `frame at ${offset} does not follow the previous one ending at ${this.#endBytes}`,
    );
    assert(
      frameBytes > 0 && offset + frameBytes < 0x1_0000_0000,
      `frame of ${frameBytes} bytes at ${offset}`,
    );
    if (this.#length === this.#offsets.length) {
      const grown = new Uint32Array(this.#offsets.length * 2);
      grown.set(this.#offsets);
      this.#offsets = grown;
    }
    this.#offsets[this.#length] = offset;
    this.#length += 1;
    this.#endBytes = offset + frameBytes;
  }

  offsetAt(position: number): number {
    assert(position >= 0 && position < this.#length, `position ${position} outside [0, ${this.#length})`);
    return this.#offsets[position]!;
  }

  /** Where frame `position` ends (the next one starts), for 0 <= position < length. */
  endOf(position: number): number {
    return position + 1 < this.#length ? this.offsetAt(position + 1) : this.#endBytes;
  }

  /** Keeps the first `length` offsets. */
  truncate(length: number): void {
    assert(length >= 0 && length <= this.#length, `truncate to ${length} of ${this.#length}`);
    if (length < this.#length) this.#endBytes = this.#offsets[length]!;
    this.#length = length;
  }
}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`WAL offset table invariant broken: ${message}`);
}

/**
 * Byte offset of every frame of one segment, in index order: entry firstIndex + i starts at
 * offsetAt(i). u32 is enough because a segment stays below 4 GiB (segment_size_mb <= 1024 plus
 * one batch). Grows by doubling; 4 bytes per entry.
 */
export class OffsetTable {
  #offsets: Uint32Array;
  #length = 0;

  constructor(capacity = 1024) {
    this.#offsets = new Uint32Array(Math.max(16, capacity));
  }

  get length(): number {
    return this.#length;
  }

  push(offset: number): void {
    assert(offset >= 0 && offset < 0x1_0000_0000, `offset ${offset} does not fit in u32`);
    assert(this.#length === 0 || offset > this.#offsets[this.#length - 1]!, `offset ${offset} does not grow`);
    if (this.#length === this.#offsets.length) {
      const grown = new Uint32Array(this.#offsets.length * 2);
      grown.set(this.#offsets);
      this.#offsets = grown;
    }
    this.#offsets[this.#length] = offset;
    this.#length += 1;
  }

  offsetAt(position: number): number {
    assert(position >= 0 && position < this.#length, `position ${position} outside [0, ${this.#length})`);
    return this.#offsets[position]!;
  }

  /** Keeps the first `length` offsets. */
  truncate(length: number): void {
    assert(length >= 0 && length <= this.#length, `truncate to ${length} of ${this.#length}`);
    this.#length = length;
  }
}

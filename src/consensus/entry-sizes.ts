/**
 * Payload sizes of the most recent entries, for the in-flight byte bound. Bounded by
 * `trackedMax`: older sizes are forgotten (and count as 0), half at a time, so recording is
 * amortised O(1). Sizes are learnt when entries are appended; after a restart they are unknown
 * until new entries arrive, and only the entry bound applies to the old ones.
 */
export class EntrySizes {
  /** sizes[i] is the payload size of entry base + i. */
  private sizes: number[] = [];
  private base: number;

  constructor(
    nextIndex: number,
    private readonly trackedMax: number,
  ) {
    this.base = nextIndex;
  }

  record(index: number, bytes: number): void {
    if (index !== this.base + this.sizes.length) {
      this.sizes = [];
      this.base = index;
    }
    this.sizes.push(bytes);
    if (this.sizes.length > this.trackedMax) this.forgetBefore(this.base + Math.ceil(this.sizes.length / 2));
  }

  /** Entries from `index` on are gone (truncated). */
  truncateFrom(index: number): void {
    if (index - this.base < this.sizes.length) this.sizes.length = Math.max(0, index - this.base);
  }

  /** Entries before `index` are no longer needed (purged). */
  forgetBefore(index: number): void {
    const count = Math.min(this.sizes.length, index - this.base);
    if (count <= 0) return;
    this.sizes.splice(0, count);
    this.base += count;
  }

  bytesOf(index: number): number {
    return this.sizes[index - this.base] ?? 0;
  }

  bytesBetween(fromIndex: number, toIndex: number): number {
    let bytes = 0;
    for (let index = fromIndex; index <= toIndex; index++) bytes += this.bytesOf(index);
    return bytes;
  }
}

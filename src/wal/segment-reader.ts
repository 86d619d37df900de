import type { LogEntry } from './entry.js';
import { decodeFrame, decodeFrameHeader, FRAME_HEADER_BYTES } from './frame.js';
import { OffsetTable } from './offset-table.js';
import type { Segment } from './segment.js';
import { closeFile, openFile, readAt } from './segment-files.js';
import { WalCorruptionError } from './wal-errors.js';

/** What one read() has collected so far, and its limit (payload bytes, after decompression). */
export interface ReadBudget {
  readonly entries: LogEntry[];
  payloadBytes: number;
  readonly bytesMax: number;
}

/** One file read covers at most this many bytes. */
const READ_CHUNK_BYTES_MAX = 8 * 1024 * 1024;

/**
 * Reads entries out of segment files. Sealed segments get their (index -> offset) tables lazily
 * and progressively: a table is the known prefix of the segment's frames, extended by the reads
 * themselves (a sequential reader never reads a byte twice) or by a header walk when a read
 * starts beyond it. At most tablesMax sealed tables are kept (least recently used go first).
 * Every frame returned is CRC-checked and must carry the expected index and term.
 */
export class SegmentReader {
  readonly #tables = new Map<number, OffsetTable>();
  readonly #tablesMax: number;
  readonly #termAt: (index: number) => number | undefined;

  constructor(tablesMax: number, termAt: (index: number) => number | undefined) {
    this.#tablesMax = tablesMax;
    this.#termAt = termAt;
  }

  /** The table of a sealed segment (possibly partial), created empty when not cached. */
  tableOf(segment: Segment): OffsetTable {
    let table = this.#tables.get(segment.firstIndex);
    if (table === undefined) table = new OffsetTable();
    else this.#tables.delete(segment.firstIndex);
    this.adopt(segment.firstIndex, table);
    return table;
  }

  /** Caches a complete table (the active segment's, once sealed). */
  adopt(firstIndex: number, table: OffsetTable): void {
    this.#tables.set(firstIndex, table);
    while (this.#tables.size > this.#tablesMax) this.#tables.delete(this.#tables.keys().next().value!);
  }

  forget(firstIndex: number): void {
    this.#tables.delete(firstIndex);
  }

  /** The whole table of a sealed segment, checked against its seal (for truncation). */
  async completeTable(segment: Segment): Promise<OffsetTable> {
    const table = this.tableOf(segment);
    const entries = segment.lastIndex - segment.firstIndex + 1;
    await this.#extend(segment, table, entries);
    if (table.length !== entries || table.endBytes !== segment.framesEndBytes) {
      throw new WalCorruptionError(segment.path, table.endBytes, `the frames do not end where the seal says`);
    }
    return table;
  }

  /**
   * Reads entries [fromIndex, endExclusive) of `segment` into `budget` with one file read (two
   * when the first frame is larger than the chunk), stopping before the payload bytes would pass
   * budget.bytesMax but always taking a first entry. Returns how many entries it added. Opens its
   * own handle: the writer may close the active segment's during a roll.
   */
  async readInto(
    segment: Segment,
    table: OffsetTable,
    fromIndex: number,
    endExclusive: number,
    budget: ReadBudget,
  ): Promise<number> {
    const position = fromIndex - segment.firstIndex;
    if (position > table.length) await this.#extend(segment, table, position);
    const startBytes = position < table.length ? table.offsetAt(position) : table.endBytes;
    const fd = await openFile(segment.path, 'r');
    try {
      const wantBytes = this.#chunkBytes(segment, table, position, endExclusive - fromIndex, budget);
      const bytes = await readFirstFrame(fd, segment, startBytes, wantBytes);
      return this.#decodeInto(segment, table, bytes, startBytes, fromIndex, endExclusive, budget);
    } finally {
      await closeFile(fd);
    }
  }

  /** Bytes to read: exactly the known frames that may fit the budget, or an estimate past them. */
  #chunkBytes(
    segment: Segment,
    table: OffsetTable,
    position: number,
    count: number,
    budget: ReadBudget,
  ): number {
    const remaining = Math.max(budget.bytesMax - budget.payloadBytes, 1);
    const wantBytes = Math.min(Math.max(remaining, FRAME_HEADER_BYTES), READ_CHUNK_BYTES_MAX);
    if (position + count <= table.length) {
      const startBytes = table.offsetAt(position);
      let last = position;
      while (last + 1 < position + count && table.endOf(last + 1) - startBytes <= wantBytes) last += 1;
      return table.endOf(last) - startBytes;
    }
    const startBytes = position < table.length ? table.offsetAt(position) : table.endBytes;
    return Math.min(wantBytes, segment.framesEndBytes - startBytes);
  }

  #decodeInto(
    segment: Segment,
    table: OffsetTable,
    bytes: Buffer,
    startBytes: number,
    fromIndex: number,
    endExclusive: number,
    budget: ReadBudget,
  ): number {
    let offset = 0;
    let index = fromIndex;
    for (; index < endExclusive; index += 1) {
      const decoded = decodeFrame(bytes, offset);
      // A chunk read past the known frames may end inside one; the next read starts there.
      if (decoded.kind === 'incomplete' && index > fromIndex) break;
      if (decoded.kind !== 'frame') {
        const reason = decoded.kind === 'invalid' ? decoded.reason : 'the file ends inside the frame';
        throw new WalCorruptionError(segment.path, startBytes + offset, `entry ${index}: ${reason}`);
      }
      const { entry } = decoded;
      const term = this.#termAt(index);
      if (entry.index !== index || entry.term !== term) {
        throw new WalCorruptionError(
          segment.path,
          startBytes + offset,
          `expected entry ${index} (term ${term}), found entry ${entry.index} (term ${entry.term})`,
        );
      }
      if (index - segment.firstIndex === table.length) table.push(startBytes + offset, decoded.frameBytes);
      const payloadBytes = budget.payloadBytes + entry.payload.byteLength;
      if (budget.entries.length > 0 && payloadBytes > budget.bytesMax) break;
      budget.entries.push(entry);
      budget.payloadBytes = payloadBytes;
      offset += decoded.frameBytes;
    }
    return index - fromIndex;
  }

  /** Walks frame headers from the end of the known prefix until the table has `length` entries. */
  async #extend(segment: Segment, table: OffsetTable, length: number): Promise<void> {
    if (table.length >= length) return;
    const fd = await openFile(segment.path, 'r');
    try {
      while (table.length < length) {
        const startBytes = table.endBytes;
        const wantBytes = Math.min(READ_CHUNK_BYTES_MAX, segment.framesEndBytes - startBytes);
        const bytes = await readFirstFrame(fd, segment, startBytes, wantBytes);
        // A concurrent read may have extended the table meanwhile: walk only from its frontier.
        if (table.endBytes !== startBytes) continue;
        this.#walkHeaders(segment, table, bytes, startBytes, length);
      }
    } finally {
      await closeFile(fd);
    }
  }

  #walkHeaders(
    segment: Segment,
    table: OffsetTable,
    bytes: Buffer,
    startBytes: number,
    length: number,
  ): void {
    for (let offset = 0; table.length < length; ) {
      const header = decodeFrameHeader(bytes, offset);
      if (header.kind === 'incomplete' && offset > 0) return;
      const expected = segment.firstIndex + table.length;
      if (header.kind !== 'header' || header.index !== expected) {
        const what =
          header.kind === 'header'
            ? `found entry ${header.index}`
            : header.kind === 'invalid'
              ? header.reason
              : 'cut short';
        throw new WalCorruptionError(
          segment.path,
          startBytes + offset,
          `frame of entry ${expected}: ${what}`,
        );
      }
      table.push(startBytes + offset, header.frameBytes);
      offset += header.frameBytes;
    }
  }
}

/** Reads [startBytes, startBytes + bytes) of a segment; a short file is damage. */
async function readRange(fd: number, segment: Segment, startBytes: number, bytes: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(bytes);
  const filled = await readAt(fd, buffer, startBytes);
  if (filled !== bytes) {
    throw new WalCorruptionError(
      segment.path,
      startBytes + filled,
      'the file ends before the frames it should hold',
    );
  }
  return buffer;
}

/**
 * Reads `bytes` at startBytes (at least a frame header), re-reading more when the first frame is
 * larger than that: at most three reads (header, then the whole frame).
 */
async function readFirstFrame(
  fd: number,
  segment: Segment,
  startBytes: number,
  bytes: number,
): Promise<Buffer> {
  const available = segment.framesEndBytes - startBytes;
  let chunk = await readRange(
    fd,
    segment,
    startBytes,
    Math.min(Math.max(bytes, FRAME_HEADER_BYTES), available),
  );
  for (let reads = 1; reads < 3; reads += 1) {
    const first = decodeFrameHeader(chunk, 0);
    if (first.kind !== 'incomplete') return chunk;
    const wanted = chunk.length + first.bytesNeeded;
    if (wanted > available) {
      throw new WalCorruptionError(
        segment.path,
        startBytes,
        'a frame claims to run past the end of the segment',
      );
    }
    chunk = await readRange(fd, segment, startBytes, wanted);
  }
  return chunk;
}

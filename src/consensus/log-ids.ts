import { assert } from './assert.js';
import type { LogId } from './log-id.js';

/** The first index of each run of entries of one term. */
export interface TermStart {
  readonly term: number;
  readonly index: number;
}

/**
 * The engine's picture of its own log without the payloads: which term holds each index. Stored as
 * runs of one term (terms only grow along a log), so memory grows with elections, not with entries.
 * This is what lets the engine check log matching and answer conflicts without reading the WAL.
 *
 * Covered indexes: `purged.index` (its term is remembered) through `lastIndex`.
 */
export class LogIds {
  private runs: TermStart[];
  private purgedId: LogId;
  private last: number;

  constructor(options: { purged: LogId; termStarts: readonly TermStart[]; lastIndex: number }) {
    this.purgedId = options.purged;
    this.runs = [...options.termStarts];
    this.last = options.lastIndex;
    assert(this.last >= this.purgedId.index, 'log: lastIndex below the purged index');
    let previous = this.purgedId;
    for (const run of this.runs) {
      assert(run.index > previous.index && run.term >= previous.term, 'log: term starts out of order');
      assert(run.index <= this.last, 'log: a term starts after the last index');
      previous = run;
    }
    if (this.last > this.purgedId.index) {
      assert(this.runs[0]?.index === this.purgedId.index + 1, 'log: the first retained entry has no term');
    }
  }

  get lastIndex(): number {
    return this.last;
  }

  /** The first index still held (entries below it are purged). */
  get firstIndex(): number {
    return this.purgedId.index + 1;
  }

  get purged(): LogId {
    return this.purgedId;
  }

  lastId(): LogId {
    return { term: this.termAt(this.last) ?? 0, index: this.last };
  }

  /** The term of the entry at `index`, or undefined when the index is purged (below the purge point) or beyond the end. */
  termAt(index: number): number | undefined {
    if (index === this.purgedId.index) return this.purgedId.term;
    if (index < this.purgedId.index || index > this.last) return undefined;
    return this.runs[this.runPosition(index)]?.term;
  }

  /** Position of the run holding `index` (binary search: a long-lived log has many terms), or -1. */
  private runPosition(index: number): number {
    let low = 0;
    let high = this.runs.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      if (this.runs[middle]!.index <= index) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found;
  }

  /** The first index of the run that holds `index` (never below the first retained index): the conflict hint. */
  runStartAt(index: number): number {
    return this.runs[this.runPosition(index)]?.index ?? this.firstIndex;
  }

  /** The last index holding `term`, or undefined when this log holds no entry of that term. */
  lastIndexOfTerm(term: number): number | undefined {
    for (let i = this.runs.length - 1; i >= 0; i--) {
      const run = this.runs[i]!;
      if (run.term === term) return (this.runs[i + 1]?.index ?? this.last + 1) - 1;
      if (run.term < term) break;
    }
    if (this.purgedId.term === term) return this.purgedId.index;
    return undefined;
  }

  append(id: LogId): void {
    assert(id.index === this.last + 1, `log: append ${id.index} after ${this.last}`);
    const tail = this.termAt(this.last) ?? 0;
    assert(id.term >= tail, `log: term ${id.term} appended after term ${tail}`);
    if (this.runs.length === 0 || this.runs[this.runs.length - 1]!.term !== id.term) {
      this.runs.push({ term: id.term, index: id.index });
    }
    this.last = id.index;
  }

  /** Removes entries from `index` on (inclusive). */
  truncateFrom(index: number): void {
    assert(index > this.purgedId.index, `log: truncate ${index} at or below the purge point`);
    if (index > this.last) return;
    this.runs = this.runs.filter((run) => run.index < index);
    this.last = index - 1;
  }

  /** Forgets entries up to `index` (inclusive); the runtime has removed them from the WAL. */
  purgeTo(index: number): void {
    if (index <= this.purgedId.index) return;
    assert(index <= this.last, `log: purge ${index} beyond the last index ${this.last}`);
    const term = this.termAt(index)!;
    this.purgedId = { term, index };
    const kept = this.runs.filter((run) => run.index > index);
    if (index < this.last && kept[0]?.index !== index + 1) kept.unshift({ term, index: index + 1 });
    this.runs = kept;
  }

  /** Replaces the whole log by a snapshot point (after a migration). */
  resetTo(purged: LogId): void {
    this.purgedId = purged;
    this.runs = [];
    this.last = purged.index;
  }
}

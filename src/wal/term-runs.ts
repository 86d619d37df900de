/** Entries from `startIndex` up to the next run's start (or the log's end) all have `term`. */
export interface TermRun {
  readonly startIndex: number;
  readonly term: number;
}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`WAL term invariant broken: ${message}`);
}

/**
 * The term of every retained entry, kept as runs: terms only grow along a Raft log and change
 * rarely, so a whole WAL costs a few runs of memory and termAt is a binary search. It also keeps
 * (prevIndex, prevTerm), the entry just before the first retained one, which Raft needs as
 * prevLogTerm after a purge. Covers indexes [prevIndex, lastIndex], both inclusive.
 */
export class TermRuns {
  #runs: TermRun[] = [];
  #prevIndex: number;
  #prevTerm: number;
  #lastIndex: number;

  constructor(prevIndex: number, prevTerm: number) {
    assert(Number.isSafeInteger(prevIndex) && prevIndex >= 0, `prevIndex ${prevIndex}`);
    this.#prevIndex = prevIndex;
    this.#prevTerm = prevTerm;
    this.#lastIndex = prevIndex;
  }

  get prevIndex(): number {
    return this.#prevIndex;
  }

  get prevTerm(): number {
    return this.#prevTerm;
  }

  get firstIndex(): number {
    return this.#prevIndex + 1;
  }

  get lastIndex(): number {
    return this.#lastIndex;
  }

  get lastTerm(): number {
    return this.#runs[this.#runs.length - 1]?.term ?? this.#prevTerm;
  }

  /** Appends one entry; terms never decrease along the log. */
  append(index: number, term: number): void {
    assert(index === this.#lastIndex + 1, `index ${index} does not follow ${this.#lastIndex}`);
    const lastTerm = this.lastTerm;
    assert(term >= lastTerm, `term ${term} at index ${index} is below the previous term ${lastTerm}`);
    if (this.#runs.length === 0 || term > lastTerm) this.#runs.push({ startIndex: index, term });
    this.#lastIndex = index;
  }

  /** Appends whole runs covering entries up to lastIndex (a sealed segment's, read at open). */
  appendRuns(runs: readonly TermRun[], lastIndex: number): void {
    for (const run of runs) {
      assert(run.startIndex > this.#lastIndex, `run at ${run.startIndex} overlaps ${this.#lastIndex}`);
      this.#lastIndex = run.startIndex - 1;
      this.append(run.startIndex, run.term);
    }
    assert(lastIndex >= this.#lastIndex, `last index ${lastIndex} is before run end ${this.#lastIndex}`);
    this.#lastIndex = lastIndex;
  }

  /** The term at `index`, for prevIndex <= index <= lastIndex; undefined outside. */
  termAt(index: number): number | undefined {
    if (index === this.#prevIndex) return this.#prevTerm;
    if (index < this.#prevIndex || index > this.#lastIndex) return undefined;
    let low = 0;
    let high = this.#runs.length - 1;
    // Find the last run that starts at or before index.
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.#runs[middle]!.startIndex <= index) low = middle;
      else high = middle - 1;
    }
    return this.#runs[low]?.term;
  }

  /** Runs of entries in [fromIndex, toIndex], both inclusive, with the first clamped to fromIndex. */
  runsBetween(fromIndex: number, toIndex: number): TermRun[] {
    const runs: TermRun[] = [];
    for (let index = fromIndex; index <= toIndex; ) {
      const term = this.termAt(index);
      assert(term !== undefined, `no term for ${index}`);
      runs.push({ startIndex: index, term });
      const next = this.#runs.find((run) => run.startIndex > index);
      index = next === undefined ? toIndex + 1 : next.startIndex;
    }
    return runs;
  }

  /** Forgets entries >= index (index - 1 becomes the last). */
  truncateFrom(index: number): void {
    assert(index > this.#prevIndex && index <= this.#lastIndex + 1, `truncate from ${index}`);
    while ((this.#runs[this.#runs.length - 1]?.startIndex ?? 0) >= index) this.#runs.pop();
    this.#lastIndex = index - 1;
  }

  /** Forgets entries < firstIndex; firstIndex - 1 becomes prevIndex with its term. */
  purgeBefore(firstIndex: number): void {
    assert(firstIndex > this.firstIndex && firstIndex <= this.#lastIndex + 1, `purge before ${firstIndex}`);
    const prevTerm = this.termAt(firstIndex - 1)!;
    this.#runs = this.#runs.filter((_run, i) => (this.#runs[i + 1]?.startIndex ?? Infinity) > firstIndex);
    if (this.#runs[0] !== undefined && this.#runs[0].startIndex < firstIndex) {
      this.#runs[0] = { startIndex: firstIndex, term: this.#runs[0].term };
    }
    if (firstIndex > this.#lastIndex) this.#runs = [];
    this.#prevIndex = firstIndex - 1;
    this.#prevTerm = prevTerm;
  }
}

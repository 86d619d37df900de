/**
 * A leader that does not open for writes and makes no progress towards it hands leadership over
 * (docs/RELIABILITY.md failure 19): before this, a step-down stuck in one of its steps kept the
 * node's next opening queued behind it, and the cluster had a leader that took no writes for 30 s.
 *
 * Pure: the node observes once per health probe and acts on `handOver`.
 */

/** What the node sees at one probe. */
export interface OpeningObservation {
  /** The consensus engine says this node leads `term`. */
  readonly leading: boolean;
  readonly term: number;
  /** The local MariaDB takes this term's writes, or a transfer of this term holds them on purpose. */
  readonly open: boolean;
  /** Where the role transitions are (state and step): a change is progress. */
  readonly stage: string;
  /** The apply loop's position: the first step of an opening applies the log up to its term's first entry. */
  readonly appliedIndex: number;
  /** A leadership transfer is already under way. */
  readonly transferring: boolean;
}

/** Since when the opening of `term` has been at `stage` and `appliedIndex`. */
export interface OpeningWatch {
  readonly term: number;
  readonly stage: string;
  readonly appliedIndex: number;
  readonly sinceMs: number;
}

export interface OpeningVerdict {
  readonly watch: OpeningWatch | undefined;
  /** Hand leadership to another node now (after `stalledMs` without progress). */
  readonly handOver: boolean;
  readonly stalledMs: number;
}

/** A leader whose opening has made no progress for `limitMs` hands over; it tries again every `limitMs`. */
export function watchOpening(
  previous: OpeningWatch | undefined,
  seen: OpeningObservation,
  nowMs: number,
  limitMs: number,
): OpeningVerdict {
  if (!seen.leading || seen.open) return { watch: undefined, handOver: false, stalledMs: 0 };
  if (
    previous === undefined ||
    previous.term !== seen.term ||
    previous.stage !== seen.stage ||
    previous.appliedIndex !== seen.appliedIndex
  ) {
    const watch = { term: seen.term, stage: seen.stage, appliedIndex: seen.appliedIndex, sinceMs: nowMs };
    return { watch, handOver: false, stalledMs: 0 };
  }
  const stalledMs = nowMs - previous.sinceMs;
  if (seen.transferring || stalledMs < limitMs) return { watch: previous, handOver: false, stalledMs };
  return { watch: { ...previous, sinceMs: nowMs }, handOver: true, stalledMs };
}

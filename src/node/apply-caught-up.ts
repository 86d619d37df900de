/**
 * Whether this node's MariaDB has applied the committed log closely enough to take over as
 * leader by failback (reported to the leader in every response, `applyCaughtUpChanged`).
 *
 * A new leader applies its whole backlog before its MariaDB takes writes (its opening), so
 * failback to a node behind applying stops writes for as long as that backlog takes: a chaos run
 * (3 nodes, seed 31, 9357aba) handed leadership to a node 18 s behind that had just come back
 * from a partition, and writes stopped for 6.8 s. Two signs, both needed:
 *
 * - `lagMs` (since this node learned of the oldest commit it has not applied) within the bound:
 *   applying is not stuck on something old;
 * - the backlog no larger than what this node applied in the last `maxLagMs`: it would drain in
 *   about the bound at the rate just seen. `lagMs` alone misses a node that just learned of many
 *   commits at once (back from a partition or a restart: its lag starts at 0), and the rate
 *   misses nothing of a node whose applying is paused (a rewind check) or stopped.
 *
 * Pure: the node samples its applied index once a heartbeat and passes the numbers.
 */
export interface ApplyProgress {
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lagMs: number;
  /** The applied index at the newest sample taken at least `maxLagMs` ago (the oldest sample when none is that old). */
  readonly appliedIndexBoundAgo: number;
  readonly applyFailed: boolean;
  readonly maxLagMs: number;
}

export function applyCaughtUp(progress: ApplyProgress): boolean {
  if (progress.applyFailed) return false;
  const backlog = progress.commitIndex - progress.appliedIndex;
  if (backlog <= 0) return true;
  const appliedRecently = progress.appliedIndex - progress.appliedIndexBoundAgo;
  return progress.lagMs <= progress.maxLagMs && backlog <= appliedRecently;
}

/** From samples taken in time order: the applied index at the newest sample at least `ageMs` old. */
export function appliedIndexAgo(
  samples: readonly { readonly atMs: number; readonly index: number }[],
  nowMs: number,
  ageMs: number,
): number | undefined {
  let found = samples[0]?.index;
  for (const sample of samples) {
    if (sample.atMs > nowMs - ageMs) break;
    found = sample.index;
  }
  return found;
}

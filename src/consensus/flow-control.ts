import type { EngineConfig } from './engine-config.js';
import type { EntrySizes } from './entry-sizes.js';
import type { LogId } from './log-id.js';
import type { LogIds } from './log-ids.js';
import { inflightBytes, inflightEntryCount, type Progress } from './progress.js';

export type FlowLimits = Pick<
  EngineConfig,
  'inflightMessagesMax' | 'inflightEntriesMax' | 'inflightBytesMax' | 'batchEntriesMax'
>;

/**
 * The last index of the next append to pipeline to a follower in the replicate state, or null when
 * flow control says wait: nothing new, or the follower's in-flight messages, entries or bytes are
 * at their bound. A single entry larger than the byte bound still goes, but only into an empty
 * pipeline, so it cannot stall replication forever.
 */
export function nextBatchEnd(
  progress: Progress,
  limits: FlowLimits,
  lastIndex: number,
  sizes: EntrySizes,
): number | null {
  if (progress.nextIndex > lastIndex || progress.inflight.length >= limits.inflightMessagesMax) return null;
  const entriesRoom = limits.inflightEntriesMax - inflightEntryCount(progress);
  const bytesRoom = limits.inflightBytesMax - inflightBytes(progress);
  if (entriesRoom <= 0 || bytesRoom <= 0) return null;
  if (progress.inflight.length > 0 && sizes.bytesOf(progress.nextIndex) > bytesRoom) return null;
  const toIndexMax = Math.min(
    lastIndex,
    progress.nextIndex + Math.min(limits.batchEntriesMax, entriesRoom) - 1,
  );
  let toIndex = progress.nextIndex;
  let bytes = sizes.bytesOf(toIndex);
  while (toIndex < toIndexMax && bytes + sizes.bytesOf(toIndex + 1) <= bytesRoom) {
    toIndex++;
    bytes += sizes.bytesOf(toIndex);
  }
  return toIndex;
}

/**
 * Where to probe next after a follower rejected `rejectedPrevIndex` (Raft §5.3, with the thesis'
 * conflict-term optimisation): past our last entry of the conflicting term if we have that term,
 * else the first index of that term in the follower's log (or its log end); always back by at
 * least one, never below what is known to match, never beyond our log end.
 */
export function nextIndexAfterReject(
  matchIndex: number,
  rejectedPrevIndex: number,
  conflict: LogId | null,
  log: LogIds,
): number {
  let nextIndex = rejectedPrevIndex;
  if (conflict !== null) {
    const lastOfTerm = conflict.term > 0 ? log.lastIndexOfTerm(conflict.term) : undefined;
    nextIndex = Math.min(nextIndex, lastOfTerm === undefined ? conflict.index : lastOfTerm + 1);
  }
  return Math.max(matchIndex + 1, Math.min(nextIndex, log.lastIndex + 1));
}

import type { LogId, NodeId } from '../../src/consensus/index.js';
import type { LogEntry } from '../../src/wal/entry.js';

/** A broken safety or liveness property, found by the simulator's checkers. */
export class Violation extends Error {
  override readonly name = 'Violation';
}

const decoder = new TextDecoder();

/** Content of an entry, as compared across nodes: kind, term and payload. */
export function entryKey(entry: LogEntry): string {
  return `${entry.kind}@${entry.term}:${decoder.decode(entry.payload)}`;
}

interface Registered {
  readonly key: string;
  readonly prevTerm: number;
}

/**
 * Safety checks run as the simulation goes, on every event that could break them:
 * - election safety: at most one leader per term;
 * - log matching: every (term, index) anywhere has the same content and the same previous term
 *   (by induction, two logs that share an entry share the whole prefix);
 * - commit agreement: every node that commits index i committed the same entry;
 * - leader completeness: a new leader holds every entry committed so far;
 * - durability: no node ever removes a committed entry from its WAL;
 * - state machine safety: every node applies exactly the committed entries, in index order.
 * `collect` mode records violations instead of throwing (for transcripts of unsafe operations).
 */
export class SafetyChecker {
  readonly violations: string[] = [];
  private readonly leaders = new Map<number, NodeId>();
  private readonly registry = new Map<string, Registered>();
  /** committed[i - 1] is the key of the entry committed at index i. */
  private readonly committed: string[] = [];
  /** commitTerms[i - 1]: the term in which index i was first committed (the committing leader's). */
  private readonly commitTerms: number[] = [];
  private readonly acked = new Map<number, string>();

  constructor(private readonly mode: 'throw' | 'collect' = 'throw') {}

  private fail(message: string): void {
    if (this.mode === 'throw') throw new Violation(message);
    this.violations.push(message);
  }

  get committedCount(): number {
    return this.committed.length;
  }

  committedKey(index: number): string | undefined {
    return this.committed[index - 1];
  }

  ackedEntries(): ReadonlyMap<number, string> {
    return this.acked;
  }

  onLeader(
    nodeId: NodeId,
    term: number,
    entryAt: (index: number) => LogEntry | undefined,
    firstIndex: number,
  ): void {
    const existing = this.leaders.get(term);
    if (existing !== undefined && existing !== nodeId) {
      this.fail(`election safety: ${existing} and ${nodeId} both lead term ${term}`);
    }
    this.leaders.set(term, nodeId);
    // Raft's leader completeness: entries committed in earlier terms. (A leader of term 3 whose
    // vote responses were delayed may win after term 4 committed something: that is allowed.)
    for (let index = firstIndex; index <= this.committed.length; index++) {
      if (this.commitTerms[index - 1]! >= term) break;
      const entry = entryAt(index);
      const key = this.committed[index - 1];
      if (entry === undefined || entryKey(entry) !== key) {
        this.fail(
          `leader completeness: ${nodeId} leads term ${term} without committed entry ${index} (${key}); has ${entry === undefined ? 'nothing' : entryKey(entry)}`,
        );
        return;
      }
    }
  }

  onAppend(nodeId: NodeId, entry: LogEntry, prevTerm: number): void {
    const id = `${entry.term}/${entry.index}`;
    const key = entryKey(entry);
    const known = this.registry.get(id);
    if (known === undefined) {
      this.registry.set(id, { key, prevTerm });
      return;
    }
    if (known.key !== key || known.prevTerm !== prevTerm) {
      this.fail(
        `log matching: ${nodeId} holds ${id} as ${key} after term ${prevTerm}; elsewhere ${known.key} after term ${known.prevTerm}`,
      );
    }
  }

  onRemoved(nodeId: NodeId, entry: LogEntry, why: string): void {
    if (this.committed[entry.index - 1] === entryKey(entry)) {
      this.fail(`durability: ${nodeId} removed committed entry ${entry.term}/${entry.index} (${why})`);
    }
  }

  onCommit(nodeId: NodeId, index: number, entry: LogEntry, nodeTerm: number): void {
    const key = entryKey(entry);
    const known = this.committed[index - 1];
    if (known === undefined) {
      if (index !== this.committed.length + 1) {
        // A node may commit past what others reported; fill in order only.
        this.fail(`commit order: ${nodeId} committed ${index} but only ${this.committed.length} are known`);
        return;
      }
      this.committed.push(key);
      this.commitTerms.push(nodeTerm);
      return;
    }
    if (known !== key)
      this.fail(`commit agreement: ${nodeId} committed ${index} as ${key}, elsewhere ${known}`);
  }

  onApply(nodeId: NodeId, index: number, entry: LogEntry): void {
    const known = this.committed[index - 1];
    if (known !== entryKey(entry)) {
      this.fail(`state machine safety: ${nodeId} applied ${index} as ${entryKey(entry)}, committed ${known}`);
    }
  }

  onAck(logId: LogId, entry: LogEntry): void {
    const key = entryKey(entry);
    if (this.committed[logId.index - 1] !== key) {
      this.fail(`ack: ${logId.term}/${logId.index} acknowledged but not committed`);
    }
    this.acked.set(logId.index, key);
  }

  /** Liveness/durability at the end: every acknowledged entry sits in `nodeId`'s WAL and was applied there. */
  checkHoldsAcked(
    nodeId: NodeId,
    entryAt: (index: number) => LogEntry | undefined,
    firstIndex: number,
    appliedIndex: number,
  ): void {
    for (const [index, key] of this.acked) {
      if (index < firstIndex) continue;
      const entry = entryAt(index);
      if (entry === undefined || entryKey(entry) !== key) {
        this.fail(`acknowledged entry lost: ${nodeId} lacks ${index} (${key})`);
        return;
      }
      if (appliedIndex < index) {
        this.fail(
          `liveness: ${nodeId} has not applied acknowledged entry ${index} (applied ${appliedIndex})`,
        );
        return;
      }
    }
  }
}

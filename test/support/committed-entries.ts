import type { ApplierTransaction } from '../../src/apply/applier-transaction.js';
import type { ReplicatedLog } from '../../src/node/replicated-log.js';
import { encodeTransaction } from '../../src/node/transaction-payload.js';
import type { LogEntry } from '../../src/wal/entry.js';

/**
 * The part of the replicated log the apply loop reads: committed entries in index order. The
 * entries are real captured transactions; only consensus is left out.
 */
export class CommittedEntries {
  readonly entries: LogEntry[] = [];
  commitIndex = 0;
  readonly #listeners: Array<(commitIndex: number) => void> = [];

  append(kind: LogEntry['kind'], payload: Uint8Array): number {
    const index = this.entries.length + 1;
    this.entries.push({ term: 1, index, kind, payload });
    return index;
  }

  commitTo(index: number): void {
    this.commitIndex = index;
    for (const listener of this.#listeners) listener(index);
  }

  asLog(): ReplicatedLog {
    const log = {
      firstIndex: () => 1,
      commitIndex: 0,
      onCommit: (listener: (commitIndex: number) => void) => this.#listeners.push(listener),
      read: async (fromIndex: number, toIndex: number) => this.entries.slice(fromIndex - 1, toIndex),
    };
    Object.defineProperty(log, 'commitIndex', { get: () => this.commitIndex });
    return log as unknown as ReplicatedLog;
  }
}

export function appendTransaction(
  log: CommittedEntries,
  transaction: ApplierTransaction,
  chunkBytesMax: number,
): number {
  const chunks = encodeTransaction(
    {
      gtid: transaction.gtid,
      gtidFlags: 0,
      timestampSeconds: 0,
      binlogFile: 'source-bin.000001',
      binlogPosition: 4,
      formatDescription: transaction.formatDescription,
      events: transaction.events,
    },
    chunkBytesMax,
  );
  let index = 0;
  for (const chunk of chunks) index = log.append('transaction', chunk);
  return index;
}

/**
 * One entry of WolfScale's replicated log: the unit the consensus engine orders, the WAL stores
 * and the applier executes. Shared by src/consensus (which never reads payloads) and src/wal.
 *
 * `index` counts from 1 and grows by exactly one per entry; `term` is the leader's term when the
 * entry was created. (term, index) identifies an entry across the whole cluster.
 */
export type EntryKind = 'transaction' | 'configuration' | 'noop';

export interface LogEntry {
  readonly term: number;
  readonly index: number;
  readonly kind: EntryKind;
  /**
   * Opaque to the log. transaction: the encoded captured transaction (GTID and raw binlog event
   * bytes); configuration: the encoded member list; noop: empty.
   */
  readonly payload: Uint8Array;
}

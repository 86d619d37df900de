/** Identifies one log entry across the whole cluster. `{ term: 0, index: 0 }` is the empty log. */
export interface LogId {
  readonly term: number;
  readonly index: number;
}

export const emptyLogId: LogId = { term: 0, index: 0 };

/** Raft §5.4.1: a log is at least as up to date when its last term is higher, or equal with an index at least as high. */
export function isAtLeastAsUpToDate(candidate: LogId, own: LogId): boolean {
  return candidate.term > own.term || (candidate.term === own.term && candidate.index >= own.index);
}

export function formatLogId(id: LogId): string {
  return `${id.term}/${id.index}`;
}

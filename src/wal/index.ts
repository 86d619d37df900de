/** The write-ahead log's public surface; see DESIGN.md in this folder. */
export type { EntryKind, LogEntry } from './entry.js';
export { type HardState, HardStateDamagedError, HardStateStore } from './hard-state.js';
export type { RecoveryReport } from './recovery.js';
export { type PurgeResult, type ReadResult, Wal } from './wal.js';
export { WalClosedError, WalCorruptionError, WalFailedError } from './wal-errors.js';
export type { WalLogger, WalOptions } from './wal-options.js';

import { FRAME_PAYLOAD_BYTES_LIMIT } from './frame.js';

/**
 * What a WAL honours. The `wal.*` config keys map to the camelCase fields (wal.segment_size_mb ->
 * segmentSizeMb, ...); everything else is an internal bound with a safe default.
 */
export interface WalOptions {
  /** wal.segment_size_mb (default 64): a segment is sealed once it holds at least this much. */
  readonly segmentSizeMb?: number;
  /** wal.compression (default true): LZ4 each payload when that makes it smaller. */
  readonly compression?: boolean;
  /**
   * Payloads below this many bytes are stored uncompressed (default 512): LZ4 through N-API
   * costs ~3-7 us per call whatever the size, which for binlog-like 256 B payloads buys only
   * ~1.4x and halves small-entry group-commit throughput, while the disk is not the bottleneck.
   */
  readonly compressBytesMin?: number;
  /** wal.batch_size (default 1000): entries max in one group-commit write + fsync. */
  readonly batchSize?: number;
  /**
   * wal.flush_interval_ms (default 0): how long an idle writer waits for more appends before it
   * writes a batch smaller than batchSize. 0 writes at once; batches still form while the previous
   * fsync is in flight, which is where group commit gets its batches under load.
   */
  readonly flushIntervalMs?: number;
  /**
   * wal.fsync (default true). false: append resolves once the OS has the bytes (they survive a
   * crash of this process, NOT a power loss or kernel crash). Unsafe for a voting node.
   */
  readonly fsync?: boolean;
  /** wal.retention_hours (default 168): purgeBefore keeps a segment at least this long after it was sealed. */
  readonly retentionHours?: number;
  /** Largest payload accepted by append, bytes (default 16 MiB). */
  readonly entryBytesMax?: number;
  /** Largest group-commit write, bytes (default 4 MiB; a single bigger entry is written alone). */
  readonly batchBytesMax?: number;
  /** Queued, not yet written frame bytes (uncompressed bound); above it, append waits (default 64 MiB). */
  readonly pendingBytesMax?: number;
  /** Concurrent reads, hence read file handles, at most (default 16). */
  readonly readsConcurrentMax?: number;
  /**
   * Also CRC-check every frame of every sealed segment before open() returns (default false:
   * open reads one segment, whatever the WAL's size; call wal.verify() in the background instead).
   */
  readonly verifyOnOpen?: boolean;
  /** Sealed segments whose (index -> offset) table stays in memory (default 8). */
  readonly indexedSegmentsMax?: number;
  /** Clock for segment creation times (default Date.now). Tests inject their own. */
  readonly clock?: () => number;
  /** pino-compatible logger for recovery and failures (default: none). */
  readonly logger?: WalLogger;
}

/** The subset of pino's Logger the WAL uses. */
export interface WalLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export type ResolvedWalOptions = Required<Omit<WalOptions, 'logger'>> & {
  readonly logger: WalLogger | undefined;
};

const MIB = 1024 * 1024;

function check(condition: boolean, key: string, value: unknown, expected: string): void {
  if (!condition) {
    throw new RangeError(
      `WAL option ${key} = ${String(value)} is invalid: it must be ${expected}. Fix the config.`,
    );
  }
}

function positiveInteger(value: number, key: string, max: number): void {
  check(Number.isSafeInteger(value) && value >= 1 && value <= max, key, value, `an integer in [1, ${max}]`);
}

export function resolveWalOptions(options: WalOptions): ResolvedWalOptions {
  const resolved: ResolvedWalOptions = {
    segmentSizeMb: options.segmentSizeMb ?? 64,
    compression: options.compression ?? true,
    compressBytesMin: options.compressBytesMin ?? 512,
    batchSize: options.batchSize ?? 1000,
    flushIntervalMs: options.flushIntervalMs ?? 0,
    fsync: options.fsync ?? true,
    retentionHours: options.retentionHours ?? 168,
    entryBytesMax: options.entryBytesMax ?? 16 * MIB,
    batchBytesMax: options.batchBytesMax ?? 4 * MIB,
    pendingBytesMax: options.pendingBytesMax ?? 64 * MIB,
    readsConcurrentMax: options.readsConcurrentMax ?? 16,
    indexedSegmentsMax: options.indexedSegmentsMax ?? 8,
    verifyOnOpen: options.verifyOnOpen ?? false,
    clock: options.clock ?? Date.now,
    logger: options.logger,
  };
  // Segment offsets are kept as u32, so a segment (plus one oversized last entry) stays < 4 GiB.
  check(
    resolved.segmentSizeMb > 0 && resolved.segmentSizeMb <= 1024,
    'wal.segment_size_mb',
    resolved.segmentSizeMb,
    'in (0, 1024]',
  );
  positiveInteger(resolved.batchSize, 'wal.batch_size', 1_000_000);
  check(
    Number.isFinite(resolved.flushIntervalMs) &&
      resolved.flushIntervalMs >= 0 &&
      resolved.flushIntervalMs <= 10_000,
    'wal.flush_interval_ms',
    resolved.flushIntervalMs,
    'in [0, 10000]',
  );
  check(
    Number.isFinite(resolved.retentionHours) && resolved.retentionHours >= 0,
    'wal.retention_hours',
    resolved.retentionHours,
    '>= 0',
  );
  check(
    Number.isSafeInteger(resolved.compressBytesMin) && resolved.compressBytesMin >= 0,
    'compressBytesMin',
    resolved.compressBytesMin,
    'an integer >= 0',
  );
  positiveInteger(resolved.entryBytesMax, 'entryBytesMax', FRAME_PAYLOAD_BYTES_LIMIT);
  positiveInteger(resolved.batchBytesMax, 'batchBytesMax', 1024 * MIB);
  positiveInteger(resolved.pendingBytesMax, 'pendingBytesMax', 16 * 1024 * MIB);
  positiveInteger(resolved.readsConcurrentMax, 'readsConcurrentMax', 1024);
  positiveInteger(resolved.indexedSegmentsMax, 'indexedSegmentsMax', 1024);
  return resolved;
}

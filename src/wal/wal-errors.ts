/**
 * The WAL's exceptions. Expected outcomes (a read below the first retained index) are values;
 * these are for damage found on disk and for I/O failures, and each message tells the operator
 * what happened, where, and what to do.
 */

const REMEDY_DAMAGE =
  'Entries after this point may be committed, so the WAL will not drop them. Stop the node, move this ' +
  "WAL directory aside (keep it for diagnosis) and restart the node with an empty WAL: it catches up from the leader's log, or needs `wolfctl migrate` if the leader no longer retains those entries.";

/** Damage on disk that recovery must not repair silently: the WAL refuses to open or to read. */
export class WalCorruptionError extends Error {
  readonly code = 'WAL_CORRUPT';
  readonly file: string;
  readonly offset: number;

  constructor(file: string, offset: number, what: string, remedy: string = REMEDY_DAMAGE) {
    super(`WAL damaged: ${file} at byte ${offset}: ${what}. ${remedy}`);
    this.name = 'WalCorruptionError';
    this.file = file;
    this.offset = offset;
  }
}

/**
 * A write, fsync or truncate failed. After a failed fsync the kernel may have dropped the dirty
 * pages, so retrying could report durability that is not there: the WAL stops accepting work.
 */
export class WalFailedError extends Error {
  readonly code = 'WAL_FAILED';

  constructor(dir: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(
      `WAL in ${dir} failed and accepts no more writes: ${detail}. Check the disk (space, I/O errors in dmesg), ` +
        'then restart the node: recovery keeps exactly what reached the disk.',
      { cause },
    );
    this.name = 'WalFailedError';
  }
}

/** The WAL was closed; the caller used it afterwards (a bug in the caller's shutdown order). */
export class WalClosedError extends Error {
  readonly code = 'WAL_CLOSED';

  constructor(dir: string) {
    super(`WAL in ${dir} is closed`);
    this.name = 'WalClosedError';
  }
}

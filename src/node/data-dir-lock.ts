import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** What the lock file says about its holder. */
export interface LockHolder {
  readonly pid: number;
  readonly node_id: string;
  readonly hostname: string;
  /** The kernel's boot id: a pid from an earlier boot says nothing about a process now. */
  readonly boot_id: string;
  readonly started_at: string;
}

export class DataDirLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirLockedError';
  }
}

export const lockFileName = 'wolfscale.lock';

/**
 * One node process per data directory. Two processes on one data directory (a second `wolfscale
 * start` beside a service, a copied unit file) would both append to its WAL and both cast its
 * votes — two voters with one identity, which breaks the quorum arithmetic that prevents a split
 * brain. The lock is a file created atomically (written aside, then `link`ed into place, which
 * fails when it exists) holding the holder's pid, node id, host and boot id. A lock whose process
 * is gone (a `kill -9`, a crash, a reboot) is stale and taken over; a live one stops the start
 * with a message that says which process holds it.
 */
export class DataDirLock {
  readonly #path: string;
  readonly #content: string;
  #released = false;

  private constructor(path: string, content: string) {
    this.#path = path;
    this.#content = content;
  }

  get path(): string {
    return this.#path;
  }

  /**
   * Takes the lock of `dataDir` (created when missing). `onStale` hears of a stale lock taken over.
   * Throws DataDirLockedError when a live process holds it.
   */
  static async acquire(
    dataDir: string,
    nodeId: string,
    onStale: (holder: LockHolder | undefined) => void = () => {},
  ): Promise<DataDirLock> {
    await mkdir(dataDir, { recursive: true });
    const path = join(dataDir, lockFileName);
    const mine: LockHolder = {
      pid: process.pid,
      node_id: nodeId,
      hostname: hostname(),
      boot_id: await bootId(),
      started_at: new Date().toISOString(),
    };
    const content = `${JSON.stringify(mine)}\n`;
    const aside = `${path}.${process.pid}.tmp`;
    await writeFile(aside, content, { mode: 0o644 });
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          await link(aside, path);
          return new DataDirLock(path, content);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        const found = await readFile(path, 'utf8').catch(() => undefined);
        if (found === undefined) continue; // removed meanwhile: try again
        const holder = parseHolder(found);
        if (holder !== undefined && holdsNow(holder, mine)) {
          throw new DataDirLockedError(
            `data_dir ${dataDir} is in use by another wolfscale process (pid ${holder.pid}, node ${holder.node_id}, since ${holder.started_at}): two processes on one data directory would both write its WAL and cast its votes. Stop that process first, or give this node its own node.data_dir; if no such process runs, remove ${path}.`,
          );
        }
        onStale(holder);
        // Removed only if it is still the stale file read above (another starter may have
        // replaced it meanwhile).
        const again = await readFile(path, 'utf8').catch(() => undefined);
        if (again === found) await unlink(path).catch(() => undefined);
      }
      throw new DataDirLockedError(
        `could not take the lock ${path}: other processes keep taking it; start one node per data directory`,
      );
    } finally {
      await unlink(aside).catch(() => undefined);
    }
  }

  /** Removes the lock file, when it is still this holder's. Idempotent. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    const found = await readFile(this.#path, 'utf8').catch(() => undefined);
    if (found === this.#content) await unlink(this.#path).catch(() => undefined);
  }
}

/** The holder's process still runs: same host and boot, and the pid exists (or is not ours to signal). */
export function holdsNow(holder: LockHolder, me: Pick<LockHolder, 'hostname' | 'boot_id'>): boolean {
  if (holder.hostname !== me.hostname) return true; // a shared directory: cannot tell, assume held
  if (holder.boot_id !== '' && me.boot_id !== '' && holder.boot_id !== me.boot_id) return false;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function parseHolder(text: string): LockHolder | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    if (typeof value.pid !== 'number' || !Number.isInteger(value.pid) || value.pid <= 0) return undefined;
    return {
      pid: value.pid,
      node_id: String(value.node_id ?? '?'),
      hostname: String(value.hostname ?? ''),
      boot_id: String(value.boot_id ?? ''),
      started_at: String(value.started_at ?? '?'),
    };
  } catch {
    return undefined;
  }
}

async function bootId(): Promise<string> {
  return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
}

import { readFile } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { replaceFileAtomically } from '../wal/segment-files.js';

/**
 * One JSON value in one file, replaced atomically (temp file, fsync, rename, fsync of the
 * directory) and checksummed, so after a crash it holds the old or the new value, and damage is
 * reported rather than believed. Saves run one at a time in call order.
 */
export class AtomicJsonFile<T> {
  readonly file: string;
  readonly #what: string;
  #saving: Promise<void> = Promise.resolve();

  /** `what` names the content in error messages, e.g. "membership record". */
  constructor(file: string, what: string) {
    this.file = file;
    this.#what = what;
  }

  /** The saved value, or undefined when the file does not exist. Throws when it is damaged. */
  async load(): Promise<T | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const outer = JSON.parse(text) as { crc32?: unknown; body?: unknown };
      if (typeof outer.body !== 'string' || outer.crc32 !== crc32(outer.body))
        throw new Error('checksum mismatch');
      return JSON.parse(outer.body) as T;
    } catch (error) {
      throw new Error(
        `${this.#what} ${this.file} is damaged (${(error as Error).message}): restore it from a backup, or wipe this node's data directory and migrate it again (wolfctl migrate)`,
      );
    }
  }

  /** Resolves once `value` is durable. */
  save(value: T): Promise<void> {
    const next = this.#saving.then(() => this.#replace(value));
    this.#saving = next.catch(() => undefined);
    return next;
  }

  async #replace(value: T): Promise<void> {
    const body = JSON.stringify(value);
    await replaceFileAtomically(this.file, `${JSON.stringify({ crc32: crc32(body), body })}\n`);
  }
}

import fs from 'node:fs';
import { crc32 } from 'node:zlib';
import { z } from 'zod';
import { replaceFileAtomically } from './segment-files.js';

/**
 * Raft's hard state: what a node must remember across a crash before it answers a vote or
 * acts in a term. A node that forgets its vote can vote twice in one term and elect two leaders.
 */
export interface HardState {
  readonly term: number;
  /** Node voted for in `term`, or null. */
  readonly votedFor: string | null;
}

const VERSION = 1;
/** A hard-state file larger than this is not ours; refuse to parse it. */
const FILE_BYTES_MAX = 64 * 1024;

const stateSchema = z.object({
  term: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  votedFor: z.string().min(1).nullable(),
});
const fileSchema = z.object({ version: z.literal(VERSION), crc32: z.number().int(), body: z.string() });

/** The hard-state file exists but cannot be trusted. */
export class HardStateDamagedError extends Error {
  readonly code = 'HARD_STATE_DAMAGED';
  readonly file: string;

  constructor(file: string, what: string) {
    super(
      `Hard state ${file} is damaged: ${what}. This node cannot know which term it is in or whom it voted for, ` +
        'and guessing could let it vote twice. Restore the file from a backup, or remove this node from the cluster ' +
        '(`wolfctl` on a healthy node), wipe its data directory and join it again as a new node.',
    );
    this.name = 'HardStateDamagedError';
    this.file = file;
  }
}

/**
 * Stores one HardState in one file, replaced atomically: written to `<file>.tmp`, fsynced,
 * renamed over the file, directory fsynced. After a crash the file holds either the old or the
 * new state, never a mix. Body checksummed (CRC-32) so damage is reported, not believed.
 */
export class HardStateStore {
  readonly file: string;
  /** Saves run one at a time, in call order, so an older state never lands last. */
  #saving: Promise<void> = Promise.resolve();

  constructor(file: string) {
    this.file = file;
  }

  /** The saved state; undefined when none was ever saved. Throws HardStateDamagedError. */
  async load(): Promise<HardState | undefined> {
    let text: string;
    try {
      const stats = await fs.promises.stat(this.file);
      if (stats.size > FILE_BYTES_MAX)
        throw new HardStateDamagedError(this.file, `it is ${stats.size} bytes`);
      text = await fs.promises.readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    return decodeHardState(this.file, text);
  }

  /** Resolves once `state` is durable: a crash after that loads `state` (or a later one). */
  save(state: HardState): Promise<void> {
    const parsed = stateSchema.safeParse(state);
    if (!parsed.success) {
      return Promise.reject(
        new RangeError(`hard state ${JSON.stringify(state)} is invalid: ${parsed.error.message}`),
      );
    }
    const next = this.#saving.then(() => replaceFileAtomically(this.file, encodeHardState(parsed.data)));
    this.#saving = next.catch(() => undefined);
    return next;
  }
}

export function encodeHardState(state: HardState): string {
  const body = JSON.stringify({ term: state.term, votedFor: state.votedFor });
  return `${JSON.stringify({ version: VERSION, crc32: crc32(body), body })}\n`;
}

export function decodeHardState(file: string, text: string): HardState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new HardStateDamagedError(file, 'it is not valid JSON (torn or overwritten)');
  }
  const outer = fileSchema.safeParse(json);
  if (!outer.success) throw new HardStateDamagedError(file, 'it does not have the hard-state layout');
  if (crc32(outer.data.body) !== outer.data.crc32)
    throw new HardStateDamagedError(file, 'its checksum does not match');
  let inner: unknown;
  try {
    inner = JSON.parse(outer.data.body);
  } catch {
    throw new HardStateDamagedError(file, 'its body is not valid JSON');
  }
  const state = stateSchema.safeParse(inner);
  if (!state.success) throw new HardStateDamagedError(file, 'its fields are out of range');
  return state.data;
}

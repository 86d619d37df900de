import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { HardStateDamagedError, HardStateStore } from '../../../src/wal/hard-state.js';
import { removeDir, tempDir } from './wal-fixtures.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = tempDir();
  file = join(dir, 'hard-state.json');
});
afterEach(() => removeDir(dir));

describe('HardStateStore', () => {
  test('nothing saved yet loads as undefined', async () => {
    expect(await new HardStateStore(file).load()).toBeUndefined();
  });

  test('save then load round-trips, and a later save replaces the state', async () => {
    const store = new HardStateStore(file);
    await store.save({ term: 3, votedFor: 'node-2' });
    expect(await new HardStateStore(file).load()).toEqual({ term: 3, votedFor: 'node-2' });
    await store.save({ term: 4, votedFor: null });
    expect(await new HardStateStore(file).load()).toEqual({ term: 4, votedFor: null });
    expect(existsSync(`${file}.tmp`)).toBe(false);
  });

  test('saves issued together land in call order: the last one wins', async () => {
    const store = new HardStateStore(file);
    await Promise.all([1, 2, 3, 4, 5].map((term) => store.save({ term, votedFor: `n${term}` })));
    expect(await store.load()).toEqual({ term: 5, votedFor: 'n5' });
  });

  test('a crash before the rename leaves the old state; the stray temp file is ignored', async () => {
    const store = new HardStateStore(file);
    await store.save({ term: 7, votedFor: 'a' });
    writeFileSync(`${file}.tmp`, '{"version":1,"crc32":1,"body":"{\\"te');
    expect(await store.load()).toEqual({ term: 7, votedFor: 'a' });
  });

  test('every single-byte change or truncation of the file is reported as damage, naming the file', async () => {
    const store = new HardStateStore(file);
    await store.save({ term: 12, votedFor: 'node-1' });
    const original = readFileSync(file);
    for (let i = 0; i < original.length; i += 1) {
      for (const damaged of [
        Buffer.concat([
          original.subarray(0, i),
          Buffer.from([original[i]! ^ 0x01]),
          original.subarray(i + 1),
        ]),
        original.subarray(0, i),
      ]) {
        writeFileSync(file, damaged);
        const outcome = await store.load().catch((error: unknown) => error);
        // Whitespace at the end of the file is the one byte whose change is harmless.
        if (!(outcome instanceof Error)) {
          expect(outcome).toEqual({ term: 12, votedFor: 'node-1' });
          continue;
        }
        expect(outcome).toBeInstanceOf(HardStateDamagedError);
        expect(outcome.message).toContain(file);
        expect(outcome.message).toMatch(/vote twice/);
      }
    }
  });

  test('invalid states are refused before anything is written', async () => {
    const store = new HardStateStore(file);
    await expect(store.save({ term: -1, votedFor: null })).rejects.toThrow();
    expect(existsSync(file)).toBe(false);
  });
});

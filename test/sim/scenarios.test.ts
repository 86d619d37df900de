import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { rewriteTranscriptFile, runTranscriptFile } from './transcript.js';

// Scenario transcripts: each file is a readable story of commands and the exact output the
// cluster must produce. `REWRITE=1 npx vitest run test/sim/scenarios.test.ts` regenerates them;
// review the diff like code.
const dir = join(import.meta.dirname, 'testdata');
const files = readdirSync(dir)
  .filter((name) => name.endsWith('.txt'))
  .sort();

describe('scenario transcripts', () => {
  test('there is one per required scenario', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'first-election.txt',
        'leader-crash.txt',
        'partition-and-heal.txt',
        'failback.txt',
        'divergent-tail.txt',
        'lost-majority.txt',
        'dead-node-removal.txt',
      ]),
    );
  });

  for (const file of files) {
    test(file, () => {
      const path = join(dir, file);
      const { expected, actual } = runTranscriptFile(path);
      if (process.env['REWRITE'] === '1') {
        rewriteTranscriptFile(path, actual);
        return;
      }
      expect(actual).toBe(expected);
    });
  }
});

import { expect, test } from 'vitest';
import { runSeedSlice, suiteFileCount } from './seed-batch.js';

// One slice of the default seeds: mixed faults (loss, duplication, reordering, delay, partitions,
// crashes with torn WAL tails, pauses, unhealthy MariaDB, transfers), every safety checker after
// every step, liveness after the heal. A failure names the seed and the command to reproduce it.
test(`seeds slice 3/${suiteFileCount}: no checker fires`, () => {
  const results = runSeedSlice(2);
  expect(results.every((result) => result.ok)).toBe(true);
}, 170_000);

import { expect } from 'vitest';
import { nodeCountForSeed, settleTicksDefault } from './cli-defaults.js';
import { runSimulation, type SimulationResult } from './simulation.js';

/** Ticks of each default-suite seed: chaos, then `settleTicksDefault` to heal and converge. */
export const suiteTicksPerSeed = 1300;
/** `npm test` runs seeds 1..suiteSeedCount, split over files so vitest runs them in parallel workers. */
export const suiteSeedCount = 2000;
export const suiteFileCount = 4;

/**
 * Runs one slice of the default seed range and fails with the seed and the exact command that
 * reproduces the first failing run.
 */
export function runSeedSlice(slice: number): SimulationResult[] {
  const perFile = Math.ceil(suiteSeedCount / suiteFileCount);
  const first = slice * perFile + 1;
  const last = Math.min(suiteSeedCount, first + perFile - 1);
  const results: SimulationResult[] = [];
  for (let seed = first; seed <= last; seed++) {
    const result = runSimulation({
      seed,
      nodeCount: nodeCountForSeed(seed),
      chaosTicks: suiteTicksPerSeed - settleTicksDefault,
      settleTicks: settleTicksDefault,
    });
    results.push(result);
    if (!result.ok) {
      expect.fail(
        `seed ${seed} failed at tick ${result.failedAtTick}: ${result.failure}\nreproduce: ${result.reproduce}`,
      );
    }
  }
  return results;
}

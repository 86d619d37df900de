import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { nodeCountForSeed, settleTicksDefault } from './cli-defaults.js';
import { suiteSeedCount, suiteTicksPerSeed } from './seed-batch.js';
import { runSimulation } from './simulation.js';

describe('the checkers catch a planted safety bug', () => {
  // `unsafeCommitWithoutQuorum` makes a leader commit (and acknowledge) on its own copy: the
  // classic minority commit. If the checkers are worth anything, the default seed range finds it.
  test('commit without a quorum is caught within the default seed count, with a reproducible report', () => {
    let caught: ReturnType<typeof runSimulation> | null = null;
    let seedsRun = 0;
    for (let seed = 1; seed <= suiteSeedCount && caught === null; seed++) {
      seedsRun++;
      const result = runSimulation({
        seed,
        nodeCount: nodeCountForSeed(seed),
        chaosTicks: suiteTicksPerSeed - settleTicksDefault,
        settleTicks: settleTicksDefault,
        engineConfig: { unsafeCommitWithoutQuorum: true },
      });
      if (!result.ok) caught = result;
    }
    expect(caught).not.toBeNull();
    expect(seedsRun).toBeLessThanOrEqual(suiteSeedCount);
    expect(caught?.failure).toMatch(
      /leader completeness|durability|commit agreement|acknowledged entry lost|log matching/,
    );
    expect(caught?.reproduce).toMatch(/^npm run sim -- --seed \d+ --nodes \d --ticks \d+ --plant-bug$/);
    // The same seed fails the same way: the report is a reproducible bug report.
    const again = runSimulation({
      seed: caught!.seed,
      nodeCount: nodeCountForSeed(caught!.seed),
      chaosTicks: suiteTicksPerSeed - settleTicksDefault,
      settleTicks: settleTicksDefault,
      engineConfig: { unsafeCommitWithoutQuorum: true },
    });
    expect(again.failure).toBe(caught!.failure);
    expect(again.failedAtTick).toBe(caught!.failedAtTick);
  });

  test('without the bug the same seed passes', () => {
    const result = runSimulation({
      seed: 1,
      nodeCount: nodeCountForSeed(1),
      chaosTicks: suiteTicksPerSeed - settleTicksDefault,
      settleTicks: settleTicksDefault,
    });
    expect(result.failure).toBeNull();
  });
});

describe('the CLI reports a failure as a reproducible bug report', () => {
  test('prints the seed, what broke and the exact command; that command fails the same way', () => {
    const cli = join(import.meta.dirname, 'cli.ts');
    const run = (args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', cli, ...args], { encoding: 'utf8', timeout: 60_000 });
    const first = run(['--seeds', '1..50', '--plant-bug']);
    expect(first.status).toBe(1);
    const failed = /FAILED seed (\d+) at tick (\d+): (.*)/.exec(first.stdout);
    const reproduce = /reproduce: npm run sim -- (.*)/.exec(first.stdout);
    expect(failed).not.toBeNull();
    expect(reproduce).not.toBeNull();
    const again = run(reproduce![1]!.split(' '));
    expect(again.status).toBe(1);
    expect(again.stdout).toContain(failed![0]);
  });
});

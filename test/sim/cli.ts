/**
 * npm run sim -- --seed N [--nodes 3..7] [--ticks T] [--seeds A..B] [--plant-bug]
 *
 * Runs whole-cluster simulations on virtual time. `--seed` reproduces one run exactly (a failing
 * run prints this command); `--seeds 1..5000` runs a range (each with its own node count when
 * --nodes is not given) and stops at the first failure. Exit status 1 when a run fails.
 */
import { parseArgs } from 'node:util';
import { nodeCountForSeed, settleTicksDefault } from './cli-defaults.js';
import { runSimulation, type SimulationResult } from './simulation.js';

function main(): number {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      seeds: { type: 'string' },
      nodes: { type: 'string' },
      ticks: { type: 'string', default: '1300' },
      'plant-bug': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
    },
  });
  const ticks = Number(values.ticks);
  const settleTicks = Math.min(settleTicksDefault, Math.floor(ticks / 2));
  let first: number;
  let last: number;
  if (values.seeds !== undefined) {
    const match = /^(\d+)\.\.(\d+)$/.exec(values.seeds);
    if (match === null) throw new Error(`--seeds wants A..B, got ${values.seeds}`);
    first = Number(match[1]);
    last = Number(match[2]);
  } else {
    first = Number(values.seed ?? '1');
    last = first;
  }
  const started = performance.now();
  let runs = 0;
  for (let seed = first; seed <= last; seed++) {
    const nodeCount = values.nodes !== undefined ? Number(values.nodes) : nodeCountForSeed(seed);
    if (!(nodeCount >= 1 && nodeCount <= 7)) throw new Error('--nodes must be between 1 and 7');
    const result: SimulationResult = runSimulation({
      seed,
      nodeCount,
      chaosTicks: ticks - settleTicks,
      settleTicks,
      engineConfig: values['plant-bug'] ? { unsafeCommitWithoutQuorum: true } : {},
    });
    runs++;
    if (values.verbose || first === last) {
      console.log(JSON.stringify({ seed, ok: result.ok, digest: result.digest, stats: result.stats }));
    }
    if (!result.ok) {
      console.log(`FAILED seed ${seed} at tick ${result.failedAtTick}: ${result.failure}`);
      console.log(`reproduce: ${result.reproduce}`);
      return 1;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`ok: ${runs} seed(s) ${first}..${last}, ${ticks} ticks each, ${seconds.toFixed(1)} s`);
  return 0;
}

process.exitCode = main();

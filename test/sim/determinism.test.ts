import { expect, test } from 'vitest';
import { runSimulation } from './simulation.js';

// A seed is a bug report only if it replays exactly: same seed, same run, bit for bit.
test('the same seed gives the same run; another seed a different one', () => {
  const options = { seed: 42, nodeCount: 5, chaosTicks: 900, settleTicks: 300 };
  const first = runSimulation(options);
  const second = runSimulation(options);
  expect(second.digest).toBe(first.digest);
  expect(second.stats).toEqual(first.stats);
  expect(runSimulation({ ...options, seed: 43 }).digest).not.toBe(first.digest);
});

// The default suite is only worth its seeds if faults actually happen and work still gets done.
test('a run injects faults and still commits and acknowledges work', () => {
  const { stats } = runSimulation({ seed: 7, nodeCount: 5, chaosTicks: 900, settleTicks: 300 });
  expect(stats.acked).toBeGreaterThan(10);
  expect(stats.maxTerm).toBeGreaterThan(1);
  expect(stats.messagesDropped).toBeGreaterThan(0);
  expect(stats.crashes + stats.partitions + stats.pauses + stats.unhealthy).toBeGreaterThan(0);
});

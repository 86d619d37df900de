/**
 * How fast the test harness brings up throwaway MariaDB servers: the template initialisation
 * (once per test run) and three servers started in parallel from it (once per test file).
 * Prints one JSON line last.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTemplateDataDir, MariaDbSet } from '../src/testing/mariadb-harness.js';

const rounds = Number(process.env['ROUNDS'] ?? 5);
const root = await mkdtemp(join(tmpdir(), 'wolfscale-bench-harness-'));
try {
  let started = performance.now();
  const templateDir = await createTemplateDataDir(join(root, 'template'));
  const templateMs = performance.now() - started;

  const threeReadyMs: number[] = [];
  for (let round = 0; round < rounds; round++) {
    started = performance.now();
    const set = await MariaDbSet.start({ count: 3, templateDir, rootDir: join(root, `round-${round}`) });
    threeReadyMs.push(performance.now() - started);
    await set.destroy();
  }
  const sorted = [...threeReadyMs].sort((a, b) => a - b);
  const result = {
    bench: 'harness',
    template_ms: Math.round(templateMs),
    three_ready_ms_p50: Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0),
    three_ready_ms_max: Math.round(sorted.at(-1) ?? 0),
    rounds,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await rm(root, { recursive: true, force: true });
}

import { readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { runChaos } from '../chaos/runner.js';

/**
 * The chaos suite in `npm test` (issue 9): a short mixed-nemesis run on the real build must be
 * valid, and a deliberately broken build (MariaDB acknowledged before the quorum holds the
 * transaction) must be caught losing acknowledged writes. Longer runs: `npm run chaos`.
 */
const out = (name: string): string => join(tmpdir(), `wolfscale-chaos-test-${process.pid}-${name}`);
const log = (): void => {};

describe('chaos', () => {
  test('planted bug (acknowledge before the quorum): the checker reports lost acknowledged writes', async () => {
    const report = await runChaos({
      nodes: 3,
      durationS: 25,
      seed: 9,
      nemeses: ['isolate'],
      outDir: out('planted'),
      nodeEnv: { WOLFSCALE_PLANTED_BUG: 'ack-before-quorum' },
      log,
    });
    expect(report.faults.length, report.summary).toBeGreaterThan(0);
    expect(report.result.valid, report.summary).toBe(false);
    expect(report.result.lost.length, report.summary).toBeGreaterThan(0);
    // An invalid run keeps each MariaDB's binlogs and error log for the post-mortem.
    const kept = await readdir(join(out('planted'), 'node-1-mariadb'));
    expect(kept).toContain('error.log');
    expect(kept.some((name) => /^binlog\.0/.test(name))).toBe(true);
    // … its diagnostics (the set table's definition among them) and a copy of its data directory.
    expect(kept).toContain('datadir');
    expect(await readdir(join(out('planted'), 'node-1-mariadb', 'datadir', 'app'))).toContain(
      'chaos_set.ibd',
    );
    const diagnostics = await readFile(join(out('planted'), 'node-1-mariadb', 'diagnostics.txt'), 'utf8');
    expect(diagnostics).toContain('PRIMARY KEY (`v`)');
    await rm(out('planted'), { recursive: true, force: true });
  }, 400_000);

  test('real build, 3 nodes, mixed nemeses for ~100 s: nothing acknowledged lost, bank conserved, lists consistent, all nodes equal and ACTIVE', async () => {
    const report = await runChaos({
      nodes: 3,
      durationS: 100,
      seed: 1,
      nemeses: ['kill', 'pause', 'partition', 'db-kill'],
      outDir: out('real'),
      log,
    });
    expect(report.faults.length, report.summary).toBeGreaterThan(5);
    expect(report.result.counts.ok, report.summary).toBeGreaterThan(100);
    expect(report.result.lost, report.summary).toEqual([]);
    expect(report.result.unexpected, report.summary).toEqual([]);
    expect(report.result.bank, report.summary).toEqual([]);
    expect(report.result.append, report.summary).toEqual([]);
    expect(report.result.divergence, report.summary).toEqual([]);
  }, 600_000);
});

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import type { MariaDbSet } from '../../src/testing/mariadb-harness.js';
import { startMariaDb } from '../support/mariadb.js';

const execFileAsync = promisify(execFile);

async function race(port: number, mode: 'guard' | 'none'): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await execFileAsync(
      process.execPath,
      ['--import', 'tsx', 'test/support/driver-destroy-race.ts', String(port), mode],
      { timeout: 60_000 },
    );
    return { code: 0, out: stdout };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

// The mariadb driver's destroy() of a busy connection sends KILL <id> on a second connection and
// leaves its failure unhandled (src/mariadb/driver-destroy-guard.ts): a 5-node chaos run lost a
// node to it. Each case runs in its own process, since the failure ends the process.
describe('the MariaDB driver destroying a busy connection whose thread is gone', () => {
  let set: MariaDbSet | undefined;
  afterAll(async () => {
    await set?.destroy();
  });

  test('without the guard the process dies of the unhandled KILL failure; with it, it goes on and warns', async () => {
    set = await startMariaDb(1);
    const port = (set.servers[0] as NonNullable<(typeof set.servers)[0]>).port;
    const unguarded = await race(port, 'none');
    expect(unguarded.code).not.toBe(0);
    expect(unguarded.out).toContain('Unknown thread id');
    const guarded = await race(port, 'guard');
    expect(guarded).toMatchObject({ code: 0 });
    expect(guarded.out).toContain('survived');
    expect(guarded.out).toContain('could not KILL the thread of a connection it was closing');
  }, 120_000);
});

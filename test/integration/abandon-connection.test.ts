import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';

const execFileAsync = promisify(execFile);

async function run(mode: 'destroy' | 'abandon'): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(
      process.execPath,
      ['--import', 'tsx', 'test/support/driver-kill-server-dies.ts', mode],
      { timeout: 60_000 },
    );
    return { code: 0, out: `${stdout}${stderr}` };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

// Regression (docs/RELIABILITY.md failure 16; chaos, 3 nodes, 900 s, seed 31): a node process died
// of the unhandled failure of the KILL that the mariadb driver's destroy() sends for a busy
// connection, when the server died while that KILL ran. Each case runs in its own process, since
// the failure ends the process; the server is a stand-in that drops the KILL connection.
describe('giving up a busy connection while its server dies inside the KILL', () => {
  test("the driver's destroy() ends the process (the chaos failure); abandonConnection does not", async () => {
    const destroyed = await run('destroy');
    expect(destroyed.code).not.toBe(0);
    expect(destroyed.out).toContain('socket has unexpectedly been closed');
    expect(destroyed.out).not.toContain('survived');
    const abandoned = await run('abandon');
    expect(abandoned).toMatchObject({ code: 0 });
    expect(abandoned.out).toContain('survived');
  }, 120_000);
});

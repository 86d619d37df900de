import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { packageInfo } from '../../src/cli/package-info.js';

const execFileAsync = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');

async function run(bin: string, args: readonly string[]): Promise<string> {
  const { stdout } = await execFileAsync(
    process.execPath,
    ['--import', 'tsx', join(root, 'src/bin', bin), ...args],
    {
      cwd: root,
    },
  );
  return stdout;
}

describe('command-line entry points', () => {
  for (const bin of ['wolfscale.ts', 'wolfctl.ts']) {
    test(`${bin} --version prints the package version`, async () => {
      expect((await run(bin, ['--version'])).trim()).toBe(packageInfo().version);
    });

    test(`${bin} --help names the program and its options`, async () => {
      const help = await run(bin, ['--help']);
      expect(help).toContain(`Usage: ${bin.replace('.ts', '')}`);
      expect(help).toContain('--version');
    });
  }
});

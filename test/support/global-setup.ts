import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { createTemplateDataDir } from '../../src/testing/mariadb-harness.js';
import { Reaper } from '../../src/testing/reaper.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A data directory made once per run by `mariadb-install-db`; servers start from copies. */
    mariadbTemplateDir: string;
  }
}

/** The programs integration tests run besides MariaDB, with the package that has each. */
const requiredPrograms = [
  { program: 'sysbench', args: ['--version'], package: 'sysbench' },
  { program: 'mariadb-binlog', args: ['--version'], package: 'mariadb-client' },
] as const;

/**
 * Integration runs: initialise one MariaDB template data directory for the whole run. Fails the
 * run with an install hint when `mariadbd` or another program the tests need is missing (a
 * missing sysbench once showed up only as a 180 s timeout deep in the run).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  for (const { program, args, package: name } of requiredPrograms) {
    try {
      execFileSync(program, args, { stdio: 'ignore' });
    } catch {
      throw new Error(
        `${program} is not installed, and integration tests need it: apt-get install -y ${name} (.ci/run installs what is missing)`,
      );
    }
  }
  const root = await mkdtemp(join(tmpdir(), 'wolfscale-test-'));
  Reaper.shared().watchDir(root);
  const templateDir = await createTemplateDataDir(join(root, 'template'));
  project.provide('mariadbTemplateDir', templateDir);
  return async () => {
    await rm(root, { recursive: true, force: true });
    Reaper.shared().forgetDir(root);
  };
}

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

/**
 * Integration runs: initialise one MariaDB template data directory for the whole run. Fails the
 * run with an install hint when `mariadbd` is missing.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = await mkdtemp(join(tmpdir(), 'wolfscale-test-'));
  Reaper.shared().watchDir(root);
  const templateDir = await createTemplateDataDir(join(root, 'template'));
  project.provide('mariadbTemplateDir', templateDir);
  return async () => {
    await rm(root, { recursive: true, force: true });
    Reaper.shared().forgetDir(root);
  };
}

import { inject } from 'vitest';
import { MariaDbSet, type MariaDbSetOptions } from '../../src/testing/mariadb-harness.js';

/** Starts `count` throwaway servers from the run's template. The caller destroys the set. */
export async function startMariaDb(
  count: number,
  options: Omit<MariaDbSetOptions, 'count' | 'templateDir'> = {},
): Promise<MariaDbSet> {
  // log_slave_updates as a WolfScale node's MariaDB needs it (apply.mode = "replica", the default).
  return await MariaDbSet.start({
    ...options,
    extraArgs: ['--log-slave-updates=ON', ...(options.extraArgs ?? [])],
    count,
    templateDir: inject('mariadbTemplateDir'),
  });
}

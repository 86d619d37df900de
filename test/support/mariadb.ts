import { inject } from 'vitest';
import { MariaDbSet, type MariaDbSetOptions } from '../../src/testing/mariadb-harness.js';

/** Starts `count` throwaway servers from the run's template. The caller destroys the set. */
export async function startMariaDb(
  count: number,
  options: Omit<MariaDbSetOptions, 'count' | 'templateDir'> = {},
): Promise<MariaDbSet> {
  return await MariaDbSet.start({ ...options, count, templateDir: inject('mariadbTemplateDir') });
}

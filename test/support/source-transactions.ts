import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ApplierTransaction } from '../../src/apply/applier-transaction.js';
import { readBinlogTransactions } from '../../src/apply/binlog-file-transactions.js';
import type { MariaDbServer } from '../../src/testing/mariadb-harness.js';

/** Every transaction in `source`'s binlog files, read from disk after a FLUSH BINARY LOGS. */
export async function sourceTransactions(source: MariaDbServer): Promise<ApplierTransaction[]> {
  await source.query('FLUSH BINARY LOGS');
  const index = await readFile(join(source.dataDir, 'binlog.index'), 'utf8');
  const files = index
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => (line.startsWith('/') ? line : join(source.dataDir, line.replace(/^\.\//, ''))));
  return await readBinlogTransactions(files);
}

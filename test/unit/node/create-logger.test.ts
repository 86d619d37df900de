import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { describe, expect, test } from 'vitest';
import { createLogger } from '../../../src/node/create-logger.js';
import { waitFor } from '../../support/wait-for.js';

async function flush(logger: Logger): Promise<void> {
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
}

describe('createLogger', () => {
  test('json format writes one JSON object per line with the bound fields', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wolfscale-log-'));
    try {
      const file = join(dir, 'nested', 'node.log');
      const logger = createLogger({ level: 'info', format: 'json', file, base: { node: 'node-1' } });
      logger.debug('hidden below the level');
      logger.info({ term: 4, reason: 'lowest eligible id' }, 'became leader');
      await flush(logger);
      const lines = await waitFor('the log line', async () => {
        const text = await readFile(file, 'utf8').catch(() => '');
        return text.trim() === '' ? undefined : text.trim().split('\n');
      });
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0] ?? '')).toMatchObject({
        level: 30,
        node: 'node-1',
        term: 4,
        msg: 'became leader',
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('pretty format writes readable lines', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wolfscale-log-'));
    try {
      const file = join(dir, 'node.log');
      const logger = createLogger({ level: 'info', format: 'pretty', file });
      logger.warn({ peer: 'node-2' }, 'cluster connection lost');
      await flush(logger);
      const text = await waitFor('the log line', async () => {
        const content = await readFile(file, 'utf8').catch(() => '');
        return content.includes('cluster connection lost') ? content : undefined;
      });
      expect(text).toMatch(/WARN.*cluster connection lost/);
      expect(text).toContain('peer: "node-2"');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

import { pino } from 'pino';
import { describe, expect, test } from 'vitest';
import type { MariaDbAdmin } from '../../../src/mariadb/mariadb-admin.js';
import type { ApplyLoop } from '../../../src/node/apply-loop.js';
import { Leadership } from '../../../src/node/leadership.js';
import type { ReplicatedLog } from '../../../src/node/replicated-log.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * MariaDB as the step-down sees it: `read_only=ON` waits for the commits in progress, and one of
 * them waits for a semi-sync acknowledgement that will never come, until its session is killed.
 */
function blockedServer() {
  const statements: string[] = [];
  let release: (() => void) | undefined;
  let waiterAlive = true;
  const admin = {
    setReadOnly: (on: boolean) => {
      statements.push(`read_only=${on ? 'ON' : 'OFF'}`);
      if (!on || !waiterAlive) return Promise.resolve();
      return new Promise<void>((resolve) => {
        release = resolve;
      });
    },
    disableSemiSyncMaster: () => {
      statements.push('disable semi-sync');
      return Promise.resolve();
    },
  };
  const sql = {
    query: (text: string) => {
      if (text.startsWith('SELECT id FROM information_schema.processlist'))
        return Promise.resolve(waiterAlive ? [{ id: 128 }] : []);
      if (text.startsWith('KILL CONNECTION')) {
        statements.push(text);
        waiterAlive = false;
        release?.();
        return Promise.resolve([]);
      }
      return Promise.reject(new Error(`unexpected ${text}`));
    },
  };
  return { admin, sql, statements };
}

describe('leadership: stepping down', () => {
  test('read_only=ON blocked by a commit no quorum will acknowledge ends that session, then completes', async () => {
    const server = blockedServer();
    const leadership = new Leadership({
      log: {} as ReplicatedLog,
      admin: server.admin as unknown as MariaDbAdmin,
      sql: server.sql,
      applyLoop: {} as ApplyLoop,
      logger: pino({ level: 'silent' }),
      capture: { host: '127.0.0.1', port: 1, user: 'u', password: 'p', replicaServerId: 1001 },
    });
    leadership.stepDownNow();
    await waitFor('the step-down to finish', () => server.statements.includes('disable semi-sync'), {
      timeoutMs: 5000,
    });
    expect(server.statements).toEqual(['read_only=ON', 'KILL CONNECTION 128', 'disable semi-sync']);
    expect(leadership.state.kind).toBe('follower');
  });
});

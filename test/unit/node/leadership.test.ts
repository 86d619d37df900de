import { pino } from 'pino';
import { describe, expect, test } from 'vitest';
import type { MariaDbAdmin } from '../../../src/mariadb/mariadb-admin.js';
import type { SqlRunner } from '../../../src/mariadb/sql-runner.js';
import type { ApplyLoop } from '../../../src/node/apply-loop.js';
import { Leadership } from '../../../src/node/leadership.js';
import type { ReplicatedLog } from '../../../src/node/replicated-log.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * Regression (chaos seed 1, docs/RELIABILITY.md "Failures found" 2): a leader steps down while
 * commits wait for a semi-sync ACK, and is elected again before its step-down is done. Disabling
 * semi-sync before read_only=ON succeeded released a queued commit with an OK no quorum backed.
 * Here MariaDB is a script: read_only=ON stays pending (blocked by the waiting session) until
 * that session is killed; the kill must come while it is pending (failure 8: sessions ended
 * between read_only attempts let new commits return OK; test/integration/step-down-ok.test.ts).
 */
describe('Leadership step-down', () => {
  test('semi-sync is disabled only after read_only=ON succeeded, even when re-elected meanwhile', async () => {
    const events: string[] = [];
    let killed: () => void = () => {};
    const sessionEnded = new Promise<void>((resolve) => {
      killed = resolve;
    });
    let readOnlyPending = false;
    const sql: SqlRunner = {
      query: async (statement: string) => {
        // Sessions are in flight until read_only=ON succeeds (it waits for every commit).
        if (statement.includes('processlist')) return events.includes('read_only=ON') ? [] : [{ id: 7 }];
        if (statement.startsWith('KILL')) {
          events.push(`${statement}${readOnlyPending ? ' (read_only=ON pending)' : ''}`);
          killed();
          return [];
        }
        throw new Error(`unexpected statement ${statement}`);
      },
    } as SqlRunner;
    const admin = {
      disableSemiSyncMaster: async () => {
        events.push('disable semi-sync');
      },
      enableSemiSyncMaster: async () => {
        events.push('enable semi-sync');
      },
      setReadOnly: async (on: boolean) => {
        if (!on) {
          events.push('read_only=OFF');
          return;
        }
        readOnlyPending = true;
        await sessionEnded;
        readOnlyPending = false;
        events.push('read_only=ON');
      },
    } as unknown as MariaDbAdmin;
    // The new term's opening never gets past its first step here (its no-op is not committed).
    const log = {
      status: () => ({ lastLogId: { index: 10, term: 9 } }),
      commitIndex: 0,
    } as unknown as ReplicatedLog;
    const applyLoop = { waitApplied: async () => undefined } as unknown as ApplyLoop;
    const leadership = new Leadership({
      log,
      admin,
      sql,
      applyLoop,
      logger: pino({ level: 'silent' }),
      capture: {} as never,
    });
    leadership.handle({ kind: 'roleChanged', role: 'FOLLOWER', term: 8, leaderId: 'node-2', reason: 'test' });
    leadership.handle({
      kind: 'roleChanged',
      role: 'LEADER',
      term: 9,
      leaderId: 'node-1',
      reason: 'failback',
    });
    await waitFor('semi-sync disabled', () => events.includes('disable semi-sync'), { timeoutMs: 10_000 });
    expect(events.indexOf('read_only=ON')).toBeGreaterThan(-1);
    expect(events.indexOf('disable semi-sync')).toBeGreaterThan(events.indexOf('read_only=ON'));
    expect(events[0]).toBe('KILL CONNECTION 7 (read_only=ON pending)');
    expect(leadership.state).toMatchObject({ kind: 'opening', term: 9 });
    await leadership.close();
  });

  // Regression (chaos, 5 nodes, seed 5; docs/RELIABILITY.md "Failures found" 4): the rewind
  // check let applying resume after read_only=ON while the step-down still had semi-sync master
  // on; the applied commit waited for an acknowledgement forever and so did the step-down.
  test('steppedDown is false from the moment a step-down is queued until semi-sync master is off', async () => {
    let releaseDisable: () => void = () => {};
    const disableGate = new Promise<void>((resolve) => {
      releaseDisable = resolve;
    });
    const events: string[] = [];
    const sql: SqlRunner = {
      query: async (statement: string) => {
        if (statement.includes('read_only = ON')) return [];
        if (statement.includes('COUNT(*)')) return [{ n: 0 }];
        throw new Error(`unexpected statement ${statement}`);
      },
    } as SqlRunner;
    const admin = {
      setReadOnly: async () => {},
      disableSemiSyncMaster: async () => {
        await disableGate;
        events.push('disable semi-sync');
      },
    } as unknown as MariaDbAdmin;
    const leadership = new Leadership({
      log: {} as ReplicatedLog,
      admin,
      sql,
      applyLoop: {} as ApplyLoop,
      logger: pino({ level: 'silent' }),
      capture: {} as never,
    });
    expect(leadership.steppedDown).toBe(true);
    leadership.handle({ kind: 'roleChanged', role: 'FOLLOWER', term: 3, leaderId: 'node-2', reason: 'test' });
    expect(leadership.steppedDown).toBe(false);
    // read_only=ON and the quiet rounds are done; semi-sync is still on.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(leadership.state.kind).toBe('follower');
    expect(leadership.steppedDown).toBe(false);
    releaseDisable();
    await waitFor('the step-down to finish', () => leadership.steppedDown, { timeoutMs: 5000 });
    expect(events).toEqual(['disable semi-sync']);
  });

  // Regression (chaos L1, 3 nodes, seed 11; docs/RELIABILITY.md "Failures found" 12): a node won an
  // election, lost it before its no-op committed, and its opening went on to wait for the apply
  // loop with an already aborted signal. The rewind check paused applying until the step-down
  // queued behind that opening ran: neither ever did, and the node stayed SYNCING.
  test('an opening whose term ended before its no-op committed gives way to the step-down', async () => {
    const sql: SqlRunner = {
      query: async (statement: string) => {
        if (statement.includes('COUNT(*)')) return [{ n: 0 }];
        throw new Error(`unexpected statement ${statement}`);
      },
    } as SqlRunner;
    const admin = {
      setReadOnly: async () => {},
      disableSemiSyncMaster: async () => {},
    } as unknown as MariaDbAdmin;
    const log = {
      status: () => ({ lastLogId: { index: 10, term: 9 } }),
      commitIndex: 0,
    } as unknown as ReplicatedLog;
    // Applying is paused (the rewind check waits for the step-down): only an abort ends a wait.
    const applyLoop = {
      waitApplied: (_index: number, signal?: AbortSignal) =>
        new Promise<void>((_resolve, reject) => {
          signal?.addEventListener('abort', () => reject(new Error('aborted')));
        }),
    } as unknown as ApplyLoop;
    const leadership = new Leadership({
      log,
      admin,
      sql,
      applyLoop,
      logger: pino({ level: 'silent' }),
      capture: {} as never,
    });
    leadership.handle({ kind: 'roleChanged', role: 'LEADER', term: 9, leaderId: 'node-3', reason: 'won' });
    await waitFor('the opening to wait for its no-op', () => leadership.state.kind === 'opening');
    leadership.handle({
      kind: 'roleChanged',
      role: 'FOLLOWER',
      term: 9,
      leaderId: null,
      reason: 'no quorum',
    });
    await waitFor('the step-down to finish', () => leadership.steppedDown, { timeoutMs: 10_000 });
    expect(leadership.state).toMatchObject({ kind: 'follower' });
    await leadership.close();
  });
});

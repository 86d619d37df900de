import { describe, expect, test } from 'vitest';
import type { Command } from '../../../src/consensus/index.js';
import {
  ack,
  engine,
  entry,
  kinds,
  leader,
  receive,
  recovered,
  sent,
  step,
  ticks,
} from './engine-helpers.js';

const payload = new Uint8Array([7]);

describe('follower: append, durability, acknowledgement', () => {
  test('entries are appended, and acknowledged only once the runtime reports them durable', () => {
    const e = engine('n2');
    const commands = receive(e, {
      kind: 'appendEntries',
      from: 'n1',
      to: 'n2',
      term: 1,
      prevLogId: { term: 0, index: 0 },
      entries: [entry(1, 1, 'noop'), entry(1, 2)],
      leaderCommit: 0,
    });
    expect(commands).toEqual([
      { kind: 'roleChanged', role: 'FOLLOWER', term: 1, leaderId: 'n1', reason: 'following n1' },
      { kind: 'append', entries: [entry(1, 1, 'noop'), entry(1, 2)] },
      { kind: 'persistHardState', term: 1, votedFor: null },
    ]);
    expect(step(e, { kind: 'appended', logId: { term: 1, index: 2 } })).toEqual([
      {
        kind: 'send',
        message: {
          kind: 'appendEntriesResponse',
          from: 'n2',
          to: 'n1',
          term: 1,
          success: true,
          matchIndex: 2,
          rejectedPrevIndex: 0,
          conflict: null,
          diverged: false,
          healthy: true,
          applyCaughtUp: true,
          lastLogId: { term: 1, index: 2 },
          firstIndex: 1,
        },
      },
    ]);
  });

  test('the commit index follows the leader only as far as this node is durable and verified', () => {
    const e = engine('n2');
    receive(e, {
      kind: 'appendEntries',
      from: 'n1',
      to: 'n2',
      term: 1,
      prevLogId: { term: 0, index: 0 },
      entries: [entry(1, 1), entry(1, 2)],
      leaderCommit: 2,
    });
    expect(e.status()).toMatchObject({ commitIndex: 0, localStatus: 'SYNCING' });
    expect(step(e, { kind: 'appended', logId: { term: 1, index: 1 } })).toContainEqual({
      kind: 'commit',
      index: 1,
    });
    expect(step(e, { kind: 'appended', logId: { term: 1, index: 2 } })).toContainEqual({
      kind: 'commit',
      index: 2,
    });
  });

  test('a mismatch at prevLogId is rejected with a conflict hint: the first index of the conflicting term', () => {
    const e = engine('n2', { recovered: recovered([1, 1, 2, 2, 2], 2) });
    const commands = receive(e, {
      kind: 'appendEntries',
      from: 'n1',
      to: 'n2',
      term: 3,
      prevLogId: { term: 3, index: 5 },
      entries: [],
      leaderCommit: 0,
    });
    expect(commands).toContainEqual(
      expect.objectContaining({
        kind: 'send',
        message: expect.objectContaining({
          success: false,
          rejectedPrevIndex: 5,
          conflict: { term: 2, index: 3 },
        }),
      }),
    );
    const shorter = receive(e, {
      kind: 'appendEntries',
      from: 'n1',
      to: 'n2',
      term: 3,
      prevLogId: { term: 3, index: 9 },
      entries: [],
      leaderCommit: 0,
    });
    expect(shorter).toContainEqual(
      expect.objectContaining({
        message: expect.objectContaining({ success: false, conflict: { term: 0, index: 6 } }),
      }),
    );
  });

  test('a conflicting uncommitted tail is truncated before the leader entries are appended', () => {
    const e = engine('n2', { recovered: recovered([1, 1, 2, 2], 2) });
    const commands = receive(e, {
      kind: 'appendEntries',
      from: 'n1',
      to: 'n2',
      term: 3,
      prevLogId: { term: 1, index: 2 },
      entries: [entry(3, 3), entry(3, 4), entry(3, 5)],
      leaderCommit: 0,
    });
    expect(kinds(commands)).toEqual(['roleChanged', 'truncate', 'append', 'persistHardState']);
    expect(commands[1]).toEqual({ kind: 'truncate', fromIndex: 3 });
    expect(commands[2]).toEqual({ kind: 'append', entries: [entry(3, 3), entry(3, 4), entry(3, 5)] });
  });

  test('duplicated and reordered appends never truncate what matches', () => {
    const e = engine('n2');
    const first = {
      kind: 'appendEntries' as const,
      from: 'n1',
      to: 'n2',
      term: 1,
      prevLogId: { term: 0, index: 0 },
      entries: [entry(1, 1), entry(1, 2), entry(1, 3)],
      leaderCommit: 0,
    };
    receive(e, first);
    const stale = receive(e, { ...first, entries: [entry(1, 1)] });
    expect(kinds(stale)).toEqual([]);
    expect(e.status().lastLogId).toEqual({ term: 1, index: 3 });
  });

  test('a committed entry is never overwritten: the follower reports it diverged instead', () => {
    const e = engine('n2', { recovered: { ...recovered([1, 1, 1], 1), appliedIndex: 3 } });
    const commands = receive(e, {
      kind: 'appendEntries',
      from: 'n3',
      to: 'n2',
      term: 5,
      prevLogId: { term: 1, index: 1 },
      entries: [entry(5, 2)],
      leaderCommit: 2,
    });
    expect(commands).toContainEqual({ kind: 'event', event: { kind: 'diverged', index: 2, commitIndex: 3 } });
    expect(commands.some((c) => c.kind === 'truncate')).toBe(false);
    expect(e.status().localStatus).toBe('NEEDS_MIGRATION');
  });
});

describe('leader: commit and flow control', () => {
  test('commit needs a quorum of durable copies, the leader counting only its own fsynced entries', () => {
    const e = leader();
    const proposed = step(e, { kind: 'propose', payload });
    expect(kinds(proposed)).toEqual(['append', 'proposalAccepted', 'replicate', 'replicate']);
    expect(receive(e, ack('n2', 1, 2))).toEqual([]);
    // n2 has nothing in flight: it hears the commit at once; n3's append of 2 is still in flight.
    expect(step(e, { kind: 'appended', logId: { term: 1, index: 2 } })).toEqual([
      { kind: 'commit', index: 2 },
      { kind: 'send', message: { kind: 'heartbeat', from: 'n1', to: 'n2', term: 1, commitIndex: 2 } },
    ]);
  });

  test('a follower with nothing in flight hears a new commit index at once, once; one with an append in flight when its ack comes', () => {
    const e = leader();
    step(e, { kind: 'propose', payload });
    step(e, { kind: 'appended', logId: { term: 1, index: 2 } });
    // n2's ack makes the quorum: the commit goes to n2 (its pipeline is empty), not to n3 yet.
    const committed = receive(e, ack('n2', 1, 2));
    expect(committed).toEqual([
      { kind: 'commit', index: 2 },
      { kind: 'send', message: { kind: 'heartbeat', from: 'n1', to: 'n2', term: 1, commitIndex: 2 } },
    ]);
    // n3 acknowledges 2 later: it learns that 2 is committed; never beyond what it holds.
    expect(receive(e, ack('n3', 1, 2))).toEqual([
      { kind: 'send', message: { kind: 'heartbeat', from: 'n1', to: 'n3', term: 1, commitIndex: 2 } },
    ]);
    // Nothing new: no second notice.
    expect(receive(e, ack('n3', 1, 2))).toEqual([]);
    // The next proposal's appends carry the commit index; no separate notice while they fly.
    const next = step(e, { kind: 'propose', payload });
    expect(next).toContainEqual(expect.objectContaining({ kind: 'replicate', to: 'n2', leaderCommit: 2 }));
    expect(sent(next)).toEqual([]);
  });

  test('under sustained writes no separate notice: while an entry is not committed, the next append carries the commit index', () => {
    const e = leader();
    step(e, { kind: 'propose', payload });
    step(e, { kind: 'propose', payload });
    // n2 holds 2 and 3 (nothing in flight); the leader's own fsync of 3 is still running.
    receive(e, ack('n2', 1, 3));
    expect(step(e, { kind: 'appended', logId: { term: 1, index: 2 } })).toEqual([
      { kind: 'commit', index: 2 },
    ]);
    expect(step(e, { kind: 'appended', logId: { term: 1, index: 3 } })).toEqual([
      { kind: 'commit', index: 3 },
      { kind: 'send', message: { kind: 'heartbeat', from: 'n1', to: 'n2', term: 1, commitIndex: 3 } },
    ]);
  });

  test('an entry of an earlier term is not committed by counting; the no-op of the new term commits it (raft §5.4.2)', () => {
    const e = engine('n1', { recovered: recovered([1, 2], 2) });
    ticks(e, 11);
    receive(e, { kind: 'preVoteResponse', from: 'n2', to: 'n1', term: 2, proposedTerm: 3, granted: true });
    receive(e, { kind: 'voteResponse', from: 'n2', to: 'n1', term: 3, granted: true });
    expect(e.status()).toMatchObject({ role: 'LEADER', term: 3, lastLogId: { term: 3, index: 3 } });
    // n2 holds index 2 (term 2): a majority, but not of this term. No commit.
    expect(receive(e, ack('n2', 3, 2))).toEqual(
      expect.not.arrayContaining([expect.objectContaining({ kind: 'commit' })]),
    );
    expect(e.status().commitIndex).toBe(0);
    step(e, { kind: 'appended', logId: { term: 3, index: 3 } });
    expect(receive(e, ack('n2', 3, 3))).toContainEqual({ kind: 'commit', index: 3 });
  });

  test('in-flight appends per follower are bounded by messages and entries', () => {
    const e = leader({ config: { inflightMessagesMax: 2, batchEntriesMax: 2, inflightEntriesMax: 3 } });
    const commands: Command[] = [];
    for (let i = 0; i < 10; i++) commands.push(...step(e, { kind: 'propose', payload }));
    const toN2 = commands.filter((c) => c.kind === 'replicate' && c.to === 'n2');
    const sentEntries = toN2.reduce(
      (sum, c) => (c.kind === 'replicate' ? sum + c.toIndex - c.fromIndex + 1 : sum),
      0,
    );
    expect(toN2.length).toBeLessThanOrEqual(2);
    expect(sentEntries).toBeLessThanOrEqual(3);
    // An acknowledgement frees room: more is sent.
    expect(receive(e, ack('n2', 1, 3)).some((c) => c.kind === 'replicate' && c.to === 'n2')).toBe(true);
  });

  test('in-flight bytes are bounded too (at least one entry per message)', () => {
    const e = leader({ config: { inflightBytesMax: 10, inflightMessagesMax: 8 } });
    const commands: Command[] = [];
    for (let i = 0; i < 5; i++) commands.push(...step(e, { kind: 'propose', payload: new Uint8Array(6) }));
    const toN2 = commands.filter((c) => c.kind === 'replicate' && c.to === 'n2');
    expect(toN2.map((c) => (c.kind === 'replicate' ? [c.fromIndex, c.toIndex] : []))).toEqual([[2, 2]]);
  });

  test('a rejection backs off by the conflict hint, then replication resumes from there', () => {
    const e = engine('n1', { recovered: recovered([1, 1, 1, 1], 1) });
    ticks(e, 11);
    receive(e, { kind: 'preVoteResponse', from: 'n2', to: 'n1', term: 1, proposedTerm: 2, granted: true });
    receive(e, { kind: 'voteResponse', from: 'n2', to: 'n1', term: 2, granted: true });
    const commands = receive(e, {
      kind: 'appendEntriesResponse',
      from: 'n2',
      to: 'n1',
      term: 2,
      success: false,
      matchIndex: 0,
      rejectedPrevIndex: 4,
      conflict: { term: 0, index: 3 },
      diverged: false,
      healthy: true,
      applyCaughtUp: true,
      lastLogId: { term: 1, index: 2 },
      firstIndex: 1,
    });
    expect(commands).toEqual([
      {
        kind: 'replicate',
        to: 'n2',
        term: 2,
        prevLogId: { term: 1, index: 2 },
        fromIndex: 3,
        toIndex: 5,
        leaderCommit: 0,
      },
    ]);
  });

  test('a follower that needs purged entries is reported NEEDS_MIGRATION (after the purge point is tried)', () => {
    const e = leader();
    for (let i = 0; i < 4; i++) step(e, { kind: 'propose', payload });
    step(e, { kind: 'appended', logId: { term: 1, index: 5 } });
    receive(e, ack('n2', 1, 5));
    step(e, { kind: 'purged', upToIndex: 4 });
    expect(e.status().firstIndex).toBe(5);
    // n3 says it only has index 1: the leader offers the purge point once, then gives up.
    const reject = {
      kind: 'appendEntriesResponse' as const,
      from: 'n3',
      to: 'n1',
      term: 1,
      success: false,
      matchIndex: 0,
      rejectedPrevIndex: 5,
      conflict: { term: 0, index: 2 },
      diverged: false,
      healthy: true,
      applyCaughtUp: true,
      lastLogId: { term: 1, index: 1 },
      firstIndex: 1,
    };
    const first = receive(e, reject);
    expect(first).toEqual([
      {
        kind: 'replicate',
        to: 'n3',
        term: 1,
        prevLogId: { term: 1, index: 4 },
        fromIndex: 5,
        toIndex: 5,
        leaderCommit: 5,
      },
    ]);
    const second = receive(e, { ...reject, rejectedPrevIndex: 4 });
    expect(second).toEqual([{ kind: 'needsMigration', nodeId: 'n3', nextIndex: 2, firstIndex: 5 }]);
    expect(ticks(e, 2)).toContainEqual({ kind: 'statusChanged', nodeId: 'n3', status: 'NEEDS_MIGRATION' });
    // Migrated, its log now even ends beyond ours (a divergent tail kept): probing starts from our end.
    const migrated = receive(e, {
      kind: 'heartbeatResponse',
      from: 'n3',
      to: 'n1',
      term: 1,
      healthy: true,
      applyCaughtUp: true,
      lastLogId: { term: 1, index: 9 },
      firstIndex: 5,
    });
    expect(migrated).toEqual([
      {
        kind: 'replicate',
        to: 'n3',
        term: 1,
        prevLogId: { term: 1, index: 5 },
        fromIndex: 6,
        toIndex: 5,
        leaderCommit: 5,
      },
    ]);
  });
});

import { describe, expect, test } from 'vitest';
import {
  compareNodeIds,
  decodeMembership,
  encodeMembership,
  LogIds,
  Prng,
  quorumSize,
  sortNodeIds,
} from '../../../src/consensus/index.js';
import { ack, engine, leader, receive, recovered, step, ticks } from './engine-helpers.js';

describe('membership changes', () => {
  test('removal is one configuration entry, effective when appended, committed by the new quorum', () => {
    const e = leader();
    const commands = step(e, { kind: 'removeMember', id: 'n3' });
    const append = commands.find((c) => c.kind === 'append');
    expect(append).toBeDefined();
    if (append?.kind !== 'append') return;
    expect(append.entries[0]?.kind).toBe('configuration');
    expect(decodeMembership(append.entries[0]!.payload)).toEqual([
      { id: 'n1', neverLeader: false },
      { id: 'n2', neverLeader: false },
    ]);
    expect(e.status().members.map((m) => m.id)).toEqual(['n1', 'n2']);
    // One change at a time: a second one waits for the first to commit.
    expect(step(e, { kind: 'removeMember', id: 'n2' })).toContainEqual({
      kind: 'event',
      event: { kind: 'membershipChangeRejected', reason: 'a configuration change is in progress' },
    });
    step(e, { kind: 'appended', logId: { term: 1, index: 2 } });
    expect(receive(e, ack('n2', 1, 2))).toContainEqual({ kind: 'commit', index: 2 });
  });

  test('a new node catches up as a non-voter first, then joins the configuration', () => {
    const e = leader();
    const added = step(e, { kind: 'addMember', id: 'n4', neverLeader: true });
    expect(added).toEqual([
      {
        kind: 'replicate',
        to: 'n4',
        term: 1,
        prevLogId: { term: 1, index: 1 },
        fromIndex: 2,
        toIndex: 1,
        leaderCommit: 1,
      },
    ]);
    expect(e.status().members.map((m) => m.id)).toEqual(['n1', 'n2', 'n3']);
    const caughtUp = receive(e, ack('n4', 1, 1));
    expect(caughtUp).toContainEqual(
      expect.objectContaining({
        kind: 'event',
        event: expect.objectContaining({ kind: 'membershipChangeStarted' }),
      }),
    );
    expect(e.status().members).toContainEqual({ id: 'n4', neverLeader: true });
  });

  test('a member silent for deadNodeRemovalTicks is removed while a quorum is alive', () => {
    const e = leader({ config: { deadNodeRemovalTicks: 50 } });
    const removedAt: number[] = [];
    for (let tick = 1; tick <= 60; tick++) {
      const commands = ticks(e, 1);
      receive(e, {
        kind: 'heartbeatResponse',
        from: 'n2',
        to: 'n1',
        term: 1,
        healthy: true,
        applyCaughtUp: true,
        lastLogId: { term: 1, index: 1 },
        firstIndex: 1,
      });
      if (commands.some((c) => c.kind === 'event' && c.event.kind === 'membershipChangeStarted'))
        removedAt.push(tick);
    }
    expect(removedAt).toEqual([50]);
    expect(e.status().members.map((m) => m.id)).toEqual(['n1', 'n2']);
  });

  test('statuses: LAGGING after 3 missed heartbeats, DROPPED after an election timeout', () => {
    const e = leader();
    const changes: string[] = [];
    for (let tick = 1; tick <= 11; tick++) {
      for (const c of ticks(e, 1))
        if (c.kind === 'statusChanged' && c.nodeId === 'n3') changes.push(`${tick}:${c.status}`);
      receive(e, {
        kind: 'heartbeatResponse',
        from: 'n2',
        to: 'n1',
        term: 1,
        healthy: true,
        applyCaughtUp: true,
        lastLogId: { term: 1, index: 1 },
        firstIndex: 1,
      });
    }
    expect(changes).toEqual(['1:ACTIVE', '6:LAGGING', '10:DROPPED']);
  });

  test('forced promotion: a new term, the reachable set as configuration, and a report of what may be lost', () => {
    const e = engine('n3', { recovered: { ...recovered([1, 1, 1, 1, 1], 1), appliedIndex: 3 } });
    const commands = step(e, { kind: 'forcePromote', members: ['n3'] });
    expect(commands[0]).toEqual({
      kind: 'event',
      event: {
        kind: 'forcedPromotion',
        term: 2,
        members: [{ id: 'n3', neverLeader: false }],
        knownCommitIndex: 3,
        uncommittedRange: { from: 4, to: 5 },
        lastIndex: 5,
      },
    });
    expect(e.status()).toMatchObject({
      role: 'LEADER',
      term: 2,
      members: [{ id: 'n3', neverLeader: false }],
    });
    expect(commands).toContainEqual({ kind: 'persistHardState', term: 2, votedFor: 'n3' });
    step(e, { kind: 'appended', logId: { term: 2, index: 7 } });
    expect(e.status().commitIndex).toBe(7);
  });

  test('a removed leader steps down once the configuration without it commits', () => {
    const e = leader();
    step(e, { kind: 'removeMember', id: 'n1' });
    step(e, { kind: 'appended', logId: { term: 1, index: 2 } });
    receive(e, ack('n2', 1, 2));
    const commands = receive(e, ack('n3', 1, 2));
    expect(commands).toContainEqual({
      kind: 'event',
      event: { kind: 'steppedDown', reason: 'removed from the configuration' },
    });
  });
});

describe('small parts', () => {
  test('membership payload round-trips and is sorted', () => {
    const members = [
      { id: 'n2', neverLeader: true },
      { id: 'n1', neverLeader: false },
    ];
    expect(new TextDecoder().decode(encodeMembership(members))).toBe(
      '{"v":1,"members":[{"id":"n1","neverLeader":false},{"id":"n2","neverLeader":true}]}',
    );
    expect(decodeMembership(encodeMembership(members))).toEqual([members[1], members[0]]);
    expect(() => decodeMembership(new TextEncoder().encode('{"v":2,"members":[]}'))).toThrow(/version/);
  });

  test('configuration bounds are checked at construction', () => {
    expect(() => engine('n1', { config: { inflightEntriesMax: 0 } })).toThrow(/inflightEntriesMax/);
    expect(() => engine('n1', { config: { electionTimeoutTicks: 2, heartbeatIntervalTicks: 2 } })).toThrow(
      /electionTimeoutTicks/,
    );
    expect(() => engine('n1', { config: { deadNodeRemovalTicks: 5 } })).toThrow(/deadNodeRemovalTicks/);
  });

  test('quorum is a strict majority', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(quorumSize)).toEqual([1, 2, 2, 3, 3, 4, 4]);
  });

  test('node IDs compare byte-wise on UTF-8 (code points), not UTF-16 units', () => {
    expect(sortNodeIds(['n2', 'n10', 'n1'])).toEqual(['n1', 'n10', 'n2']);
    // U+FF5E (3 UTF-8 bytes, EF BD 9E) sorts before U+1F600 (F0 9F 98 80); UTF-16 would say otherwise.
    expect(compareNodeIds('\uff5e', '\u{1f600}')).toBeLessThan(0);
    expect('\uff5e' < '\u{1f600}').toBe(false);
  });

  test('LogIds: terms by index, truncation, purge, conflict hints', () => {
    const log = new LogIds({
      purged: { term: 0, index: 0 },
      termStarts: [
        { term: 1, index: 1 },
        { term: 3, index: 4 },
      ],
      lastIndex: 6,
    });
    expect([0, 1, 3, 4, 6, 7].map((i) => log.termAt(i))).toEqual([0, 1, 1, 3, 3, undefined]);
    expect(log.lastIndexOfTerm(1)).toBe(3);
    expect(log.lastIndexOfTerm(2)).toBeUndefined();
    expect(log.runStartAt(6)).toBe(4);
    log.truncateFrom(5);
    expect(log.lastId()).toEqual({ term: 3, index: 4 });
    log.append({ term: 4, index: 5 });
    log.purgeTo(4);
    expect(log.firstIndex).toBe(5);
    expect(log.termAt(4)).toBe(3);
    expect(log.termAt(3)).toBeUndefined();
    expect(() => log.append({ term: 2, index: 6 })).toThrow(/term 2 appended after term 4/);
  });

  test('the PRNG is deterministic and seed-dependent', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const xs = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(xs);
    expect(new Prng(43).nextUint32()).not.toBe(xs[0]);
    const r = new Prng(1);
    for (let i = 0; i < 1000; i++) {
      const v = r.between(3, 7);
      expect(v >= 3 && v <= 7).toBe(true);
    }
  });
});

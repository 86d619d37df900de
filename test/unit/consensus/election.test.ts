import { describe, expect, test } from 'vitest';
import type { Command } from '../../../src/consensus/index.js';
import { ack, engine, leader, receive, recovered, step, ticks } from './engine-helpers.js';

describe('election: exact commands', () => {
  test('the lowest ID times out after the election timeout and asks for pre-votes without changing its term', () => {
    const e = engine('n1');
    expect(ticks(e, 10)).toEqual([]);
    expect(ticks(e, 1)).toEqual([
      {
        kind: 'roleChanged',
        role: 'CANDIDATE',
        term: 0,
        leaderId: null,
        reason: 'election timeout: pre-vote for term 1',
      },
      { kind: 'event', event: { kind: 'campaignStarted', term: 1, preVote: true, rank: 0 } },
      {
        kind: 'send',
        message: { kind: 'preVote', from: 'n1', to: 'n2', term: 1, lastLogId: { term: 0, index: 0 } },
      },
      {
        kind: 'send',
        message: { kind: 'preVote', from: 'n1', to: 'n3', term: 1, lastLogId: { term: 0, index: 0 } },
      },
    ]);
    expect(e.status().term).toBe(0);
  });

  test('rank × stagger: n1 waits one tick past the election timeout, n2 3 ticks more, n3 six more', () => {
    const firstCampaignTick = (id: string) => {
      const e = engine(id);
      for (let tick = 1; tick <= 40; tick++) {
        if (ticks(e, 1).some((c) => c.kind === 'roleChanged')) return tick;
      }
      return null;
    };
    expect([firstCampaignTick('n1'), firstCampaignTick('n2'), firstCampaignTick('n3')]).toEqual([11, 14, 17]);
  });

  test('winning the pre-vote persists the new term and the self-vote before the vote requests go out', () => {
    const e = engine('n1');
    ticks(e, 11);
    expect(
      receive(e, { kind: 'preVoteResponse', from: 'n2', to: 'n1', term: 0, proposedTerm: 1, granted: true }),
    ).toEqual([
      // Still CANDIDATE with no leader: roleChanged reports only changes of role or leader.
      { kind: 'event', event: { kind: 'campaignStarted', term: 1, preVote: false, rank: 0 } },
      { kind: 'persistHardState', term: 1, votedFor: 'n1' },
      {
        kind: 'send',
        message: {
          kind: 'vote',
          from: 'n1',
          to: 'n2',
          term: 1,
          lastLogId: { term: 0, index: 0 },
          transfer: false,
        },
      },
      {
        kind: 'send',
        message: {
          kind: 'vote',
          from: 'n1',
          to: 'n3',
          term: 1,
          lastLogId: { term: 0, index: 0 },
          transfer: false,
        },
      },
    ]);
  });

  test('a vote is persisted before it is granted', () => {
    const e = engine('n2');
    expect(
      receive(e, {
        kind: 'vote',
        from: 'n1',
        to: 'n2',
        term: 1,
        lastLogId: { term: 0, index: 0 },
        transfer: false,
      }),
    ).toEqual([
      { kind: 'persistHardState', term: 1, votedFor: 'n1' },
      { kind: 'send', message: { kind: 'voteResponse', from: 'n2', to: 'n1', term: 1, granted: true } },
    ]);
  });

  test('one vote per term, and only for a log at least as up to date', () => {
    const e = engine('n3', { recovered: recovered([1, 1, 2], 2) });
    const behind = receive(e, {
      kind: 'vote',
      from: 'n1',
      to: 'n3',
      term: 3,
      lastLogId: { term: 1, index: 5 },
      transfer: false,
    });
    expect(behind).toContainEqual({
      kind: 'send',
      message: { kind: 'voteResponse', from: 'n3', to: 'n1', term: 3, granted: false },
    });
    const upToDate = receive(e, {
      kind: 'vote',
      from: 'n2',
      to: 'n3',
      term: 3,
      lastLogId: { term: 2, index: 3 },
      transfer: false,
    });
    expect(upToDate).toEqual([
      { kind: 'persistHardState', term: 3, votedFor: 'n2' },
      { kind: 'send', message: { kind: 'voteResponse', from: 'n3', to: 'n2', term: 3, granted: true } },
    ]);
    const second = receive(e, {
      kind: 'vote',
      from: 'n1',
      to: 'n3',
      term: 3,
      lastLogId: { term: 9, index: 9 },
      transfer: false,
    });
    expect(second).toEqual([
      { kind: 'send', message: { kind: 'voteResponse', from: 'n3', to: 'n1', term: 3, granted: false } },
    ]);
  });

  test('a new leader appends a no-op of its term and replicates it before anything else', () => {
    const e = engine('n1');
    ticks(e, 11);
    receive(e, { kind: 'preVoteResponse', from: 'n2', to: 'n1', term: 0, proposedTerm: 1, granted: true });
    expect(receive(e, { kind: 'voteResponse', from: 'n2', to: 'n1', term: 1, granted: true })).toEqual([
      { kind: 'roleChanged', role: 'LEADER', term: 1, leaderId: 'n1', reason: 'won the election' },
      { kind: 'append', entries: [{ term: 1, index: 1, kind: 'noop', payload: new Uint8Array(0) }] },
      {
        kind: 'replicate',
        to: 'n2',
        term: 1,
        prevLogId: { term: 0, index: 0 },
        fromIndex: 1,
        toIndex: 1,
        leaderCommit: 0,
      },
      {
        kind: 'replicate',
        to: 'n3',
        term: 1,
        prevLogId: { term: 0, index: 0 },
        fromIndex: 1,
        toIndex: 1,
        leaderCommit: 0,
      },
    ]);
  });

  test('leader lease: a follower that heard from its leader rejects pre-votes and votes, keeping its term', () => {
    const e = engine('n2');
    receive(e, { kind: 'heartbeat', from: 'n1', to: 'n2', term: 1, commitIndex: 0 });
    const preVote = receive(e, {
      kind: 'preVote',
      from: 'n3',
      to: 'n2',
      term: 2,
      lastLogId: { term: 9, index: 9 },
    });
    expect(preVote).toEqual([
      {
        kind: 'send',
        message: { kind: 'preVoteResponse', from: 'n2', to: 'n3', term: 1, proposedTerm: 2, granted: false },
      },
    ]);
    const vote = receive(e, {
      kind: 'vote',
      from: 'n3',
      to: 'n2',
      term: 5,
      lastLogId: { term: 9, index: 9 },
      transfer: false,
    });
    expect(vote).toEqual([
      { kind: 'send', message: { kind: 'voteResponse', from: 'n2', to: 'n3', term: 1, granted: false } },
    ]);
    expect(e.status().term).toBe(1);
    // A leadership transfer is the leader's own wish: the lease does not apply.
    const transfer = receive(e, {
      kind: 'vote',
      from: 'n3',
      to: 'n2',
      term: 2,
      lastLogId: { term: 1, index: 0 },
      transfer: true,
    });
    expect(transfer).toContainEqual({
      kind: 'send',
      message: { kind: 'voteResponse', from: 'n2', to: 'n3', term: 2, granted: true },
    });
  });

  test('a node returning from a partition cannot depose a healthy leader: its pre-vote fails and its term stays', () => {
    const e = engine('n3');
    ticks(e, 17);
    expect(e.status().role).toBe('CANDIDATE');
    receive(e, { kind: 'preVoteResponse', from: 'n1', to: 'n3', term: 1, proposedTerm: 1, granted: false });
    // The higher term in the rejection is adopted: n3 follows and will hear from the leader.
    expect(e.status()).toMatchObject({ role: 'FOLLOWER', term: 1 });
  });

  test('unhealthy MariaDB, never_leader and a non-member never campaign', () => {
    expect(ticks(engine('n1', { healthy: false }), 100).filter((c) => c.kind === 'send')).toEqual([]);
    const neverLeader = engine('n1', {
      members: [
        { id: 'n1', neverLeader: true },
        { id: 'n2', neverLeader: false },
      ],
    });
    expect(ticks(neverLeader, 100).filter((c) => c.kind === 'send')).toEqual([]);
    expect(ticks(engine('n9'), 100).filter((c) => c.kind === 'send')).toEqual([]);
  });

  test('a single-node cluster elects itself', () => {
    const e = engine('n1', { members: [{ id: 'n1', neverLeader: false }] });
    const commands = ticks(e, 11);
    expect(commands).toContainEqual({ kind: 'persistHardState', term: 1, votedFor: 'n1' });
    expect(e.status().role).toBe('LEADER');
    expect(step(e, { kind: 'appended', logId: { term: 1, index: 1 } })).toEqual([
      { kind: 'commit', index: 1 },
    ]);
  });
});

describe('step-down, transfer and failback', () => {
  test('check-quorum: a leader that hears from no quorum for an election timeout steps down', () => {
    const e = leader();
    const commands = ticks(e, 12);
    expect(commands.filter((c) => c.kind === 'event' || c.kind === 'roleChanged')).toEqual([
      { kind: 'event', event: { kind: 'steppedDown', reason: 'no quorum heard for an election timeout' } },
      {
        kind: 'roleChanged',
        role: 'FOLLOWER',
        term: 1,
        leaderId: null,
        reason: 'no quorum heard for an election timeout',
      },
    ]);
  });

  test('a leader that keeps hearing from one follower keeps leading', () => {
    const e = leader();
    for (let i = 0; i < 30; i++) {
      ticks(e, 1);
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
    expect(e.status().role).toBe('LEADER');
  });

  test('demote: the leader transfers to the best caught-up node with TimeoutNow and still takes proposals', () => {
    const e = leader();
    const commands = step(e, { kind: 'transferLeadership', to: null });
    expect(commands).toEqual([
      { kind: 'event', event: { kind: 'transferStarted', to: 'n2', reason: 'demoted by operator' } },
      // n2 is caught up: nothing to replicate first.
      { kind: 'send', message: { kind: 'timeoutNow', from: 'n1', to: 'n2', term: 1, byOperator: true } },
    ]);
    // A proposal during the transfer is a transaction already in the leader's binlog: it is
    // appended and replicated, and TimeoutNow waits until the target holds it too.
    const during = step(e, { kind: 'propose', payload: new Uint8Array([1]) });
    expect(during[0]).toMatchObject({ kind: 'append' });
    expect(during).toContainEqual(expect.objectContaining({ kind: 'proposalAccepted' }));
    expect(during.some((command) => command.kind === 'proposalRejected')).toBe(false);
  });

  test("a node's own hand-over (a stuck opening) names its reason and is not an operator's transfer", () => {
    const e = leader();
    const commands = step(e, {
      kind: 'transferLeadership',
      to: null,
      reason: 'no progress opening for writes for 10000 ms',
    });
    expect(commands).toEqual([
      {
        kind: 'event',
        event: { kind: 'transferStarted', to: 'n2', reason: 'no progress opening for writes for 10000 ms' },
      },
      // Not byOperator: the new leader's failback to a lower ID is not suppressed.
      { kind: 'send', message: { kind: 'timeoutNow', from: 'n1', to: 'n2', term: 1, byOperator: false } },
    ]);
  });

  test('TimeoutNow makes a healthy follower campaign at once, without pre-vote', () => {
    const e = engine('n2');
    receive(e, { kind: 'heartbeat', from: 'n1', to: 'n2', term: 1, commitIndex: 0 });
    const commands = receive(e, { kind: 'timeoutNow', from: 'n1', to: 'n2', term: 1, byOperator: false });
    expect(commands).toContainEqual({ kind: 'persistHardState', term: 2, votedFor: 'n2' });
    expect(commands).toContainEqual({
      kind: 'send',
      message: {
        kind: 'vote',
        from: 'n2',
        to: 'n1',
        term: 2,
        lastLogId: { term: 0, index: 0 },
        transfer: true,
      },
    });
  });

  test('failback: a leader with a higher ID hands over to a caught-up, healthy lower ID', () => {
    const e = engine('n2');
    ticks(e, 14);
    receive(e, { kind: 'preVoteResponse', from: 'n3', to: 'n2', term: 0, proposedTerm: 1, granted: true });
    receive(e, { kind: 'voteResponse', from: 'n3', to: 'n2', term: 1, granted: true });
    step(e, { kind: 'appended', logId: { term: 1, index: 1 } });
    receive(e, { ...ack('n3', 1, 1), to: 'n2' });
    receive(e, { ...ack('n1', 1, 1), to: 'n2' });
    const commands = ticks(e, 2);
    expect(commands).toContainEqual({
      kind: 'event',
      event: { kind: 'transferStarted', to: 'n1', reason: 'failback to lower node ID n1' },
    });
    expect(commands).toContainEqual({
      kind: 'send',
      message: { kind: 'timeoutNow', from: 'n2', to: 'n1', term: 1, byOperator: false },
    });
  });

  test('no failback to a lower ID that is behind applying; it follows once that node has caught up', () => {
    const e = engine('n2');
    ticks(e, 14);
    receive(e, { kind: 'preVoteResponse', from: 'n3', to: 'n2', term: 0, proposedTerm: 1, granted: true });
    receive(e, { kind: 'voteResponse', from: 'n3', to: 'n2', term: 1, granted: true });
    step(e, { kind: 'appended', logId: { term: 1, index: 1 } });
    receive(e, { ...ack('n3', 1, 1), to: 'n2' });
    // n1 holds the log and is healthy, but its MariaDB has a backlog to apply.
    receive(e, { ...ack('n1', 1, 1, true, false), to: 'n2' });
    const transfers = (commands: Command[]) =>
      commands.filter((c) => c.kind === 'event' && c.event.kind === 'transferStarted');
    for (let tick = 0; tick < 30; tick++) {
      expect(transfers(ticks(e, 1))).toEqual([]);
      receive(e, { ...ack('n3', 1, 1), to: 'n2' });
      receive(e, { ...ack('n1', 1, 1, true, false), to: 'n2' });
    }
    expect(e.status().role).toBe('LEADER');
    receive(e, { ...ack('n1', 1, 1, true, true), to: 'n2' });
    expect(transfers(ticks(e, 2))).toEqual([
      {
        kind: 'event',
        event: { kind: 'transferStarted', to: 'n1', reason: 'failback to lower node ID n1' },
      },
    ]);
  });

  // n2 is behind applying in both; n3 has applied the log, and is healthy only in the first.
  test.each([
    ['prefers a node that has applied the log to a lower ID that has not', true, 'n3'],
    ['still hands over to a node behind applying when no other can take over', false, 'n2'],
  ])('an unhealthy leader %s', (_name, n3Healthy, to) => {
    const e = leader();
    receive(e, ack('n2', 1, 1, true, false));
    receive(e, ack('n3', 1, 1, n3Healthy, true));
    expect(step(e, { kind: 'healthChanged', healthy: false })).toContainEqual({
      kind: 'event',
      event: { kind: 'transferStarted', to, reason: 'local MariaDB is unhealthy' },
    });
  });

  test('a follower reports whether it has applied the log in its responses', () => {
    const e = engine('n2');
    const heartbeat = { kind: 'heartbeat', from: 'n1', to: 'n2', term: 1, commitIndex: 0 } as const;
    const response = (commands: Command[]) =>
      commands.find((c) => c.kind === 'send' && c.message.kind === 'heartbeatResponse');
    expect(response(receive(e, heartbeat))).toMatchObject({ message: { applyCaughtUp: true } });
    step(e, { kind: 'applyCaughtUpChanged', caughtUp: false });
    expect(response(receive(e, heartbeat))).toMatchObject({ message: { applyCaughtUp: false } });
  });

  test('a former leader checked while it follows campaigns first when that leader dies, not last', () => {
    // n1 led term 1, then follows n3 (term 2): unchecked until its rewind check reports back.
    const campaignTick = (checkedAfterTicks: number | null) => {
      const e = leader();
      const heartbeat = { kind: 'heartbeat', from: 'n3', to: 'n1', term: 2, commitIndex: 1 } as const;
      receive(e, heartbeat);
      const epoch = e.status().checkEpoch;
      expect(e.status().localStateChecked).toBe(false);
      // Heartbeats every 3 ticks for a while; the check reports back in between.
      for (let tick = 1; tick <= 12; tick++) {
        ticks(e, 1);
        if (tick === checkedAfterTicks) step(e, { kind: 'localStateChecked', epoch });
        if (tick % 3 === 0) receive(e, heartbeat);
      }
      // n3 dies: count the ticks from its last heartbeat to n1's pre-vote.
      for (let tick = 1; tick <= 40; tick++) {
        if (ticks(e, 1).some((c) => c.kind === 'roleChanged' && c.role === 'CANDIDATE')) return tick;
      }
      return null;
    };
    // Checked: rank 0 among the nodes other than the dead leader, one tick past the timeout.
    expect(campaignTick(4)).toBe(11);
    // Never checked: after every checked node (3 ranks of 3 ticks more).
    expect(campaignTick(null)).toBe(20);
  });

  test('the leader whose MariaDB fails hands over; with no one ready it steps down', () => {
    const e = leader();
    expect(step(e, { kind: 'healthChanged', healthy: false })).toContainEqual({
      kind: 'event',
      event: { kind: 'transferStarted', to: 'n2', reason: 'local MariaDB is unhealthy' },
    });
    const alone = leader();
    receive(alone, ack('n2', 1, 1, false));
    receive(alone, ack('n3', 1, 1, false));
    expect(step(alone, { kind: 'healthChanged', healthy: false })).toContainEqual({
      kind: 'event',
      event: { kind: 'steppedDown', reason: 'local MariaDB is unhealthy and no node is ready to take over' },
    });
  });
});

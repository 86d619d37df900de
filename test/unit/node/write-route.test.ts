import { describe, expect, it } from 'vitest';
import { writeRouteOf } from '../../../src/node/wolfscale-node.js';

const noApi = (): undefined => undefined;

describe('writeRouteOf', () => {
  it('is local when this node leads the current term and opened its MariaDB in that term', () => {
    expect(
      writeRouteOf({ role: 'LEADER', term: 9, leaderId: 'node-1' }, { kind: 'writable', term: 9 }, noApi),
    ).toEqual({ kind: 'local' });
  });

  // Regression (chaos run seed 1, docs/RELIABILITY.md): node-1 led term 7, was paused, resumed,
  // stepped down (term 8) and was elected again (term 9) before its transitions ran. Its state
  // still said writable for term 7, /status said writable, and clients read commits of term 7
  // that no quorum acknowledged, rewound a moment later.
  it('is not local while the writable state is left over from an earlier term', () => {
    const route = writeRouteOf(
      { role: 'LEADER', term: 9, leaderId: 'node-1' },
      { kind: 'writable', term: 7 },
      noApi,
    );
    expect(route.kind).toBe('no-leader');
    expect(route.kind === 'no-leader' && route.reason).toContain('stepping down from an earlier term');
  });

  it('says what it waits for while opening, transferring or failed', () => {
    const engine = { role: 'LEADER', term: 3, leaderId: 'node-1' };
    const reason = (state: Parameters<typeof writeRouteOf>[1]): string => {
      const route = writeRouteOf(engine, state, noApi);
      return route.kind === 'no-leader' ? route.reason : route.kind;
    };
    expect(reason({ kind: 'opening', term: 3, step: 'start the capture' })).toContain('start the capture');
    expect(reason({ kind: 'transferring', term: 3, to: 'node-2' })).toContain('node-2');
    expect(reason({ kind: 'failed', term: 3, reason: 'applying failed' })).toContain('applying failed');
    expect(reason({ kind: 'follower' })).toContain('cannot take writes');
  });

  it('forwards to the leader a follower knows the API of, else says why not', () => {
    const follower = { role: 'FOLLOWER', term: 3, leaderId: 'node-2' };
    expect(writeRouteOf(follower, { kind: 'writable', term: 3 }, () => 'http://127.0.0.1:1')).toEqual({
      kind: 'forward',
      leaderId: 'node-2',
      apiUrl: 'http://127.0.0.1:1',
    });
    expect(writeRouteOf(follower, { kind: 'follower' }, noApi).kind).toBe('no-leader');
    expect(writeRouteOf({ ...follower, leaderId: null }, { kind: 'follower' }, noApi).kind).toBe('no-leader');
  });
});

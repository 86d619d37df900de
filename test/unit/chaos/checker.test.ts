import { describe, expect, test } from 'vitest';
import { check, type FinalState, type Operation } from '../../chaos/checker.js';

const base: FinalState = {
  sets: [[1, 2]],
  bankTotals: [500],
  lists: [{ '0': [10, 11] }],
  checksums: ['a'],
  gtidPositions: ['0-1-5'],
  statuses: ['ACTIVE'],
};

function op(partial: Partial<Operation> & Pick<Operation, 'f' | 'workload'>): Operation {
  return { id: 0, client: 0, start: 0, end: 1, outcome: 'ok', ...partial } as Operation;
}

/** Two acknowledged set inserts (1, 2) and two appends to list 0 (10, then 11). */
function twoInsertsTwoAppends(): Operation[] {
  return [
    op({ id: 1, workload: 'set', f: 'insert', value: 1 }),
    op({ id: 2, workload: 'set', f: 'insert', value: 2 }),
    op({ id: 3, workload: 'append', f: 'append', key: 0, value: 10, list: [10] }),
    op({ id: 4, workload: 'append', f: 'append', key: 0, value: 11, list: [10, 11], start: 2, end: 3 }),
  ];
}

describe('chaos checker', () => {
  test('a consistent history is valid', () => {
    const history = [
      op({ id: 1, workload: 'set', f: 'insert', value: 1 }),
      op({ id: 2, workload: 'set', f: 'insert', value: 2, outcome: 'unknown' }),
      op({ id: 3, workload: 'set', f: 'insert', value: 3, outcome: 'unknown' }),
      op({ id: 4, workload: 'bank', f: 'read', total: 500 }),
      op({ id: 5, workload: 'append', f: 'append', key: 0, value: 10, list: [10] }),
      op({ id: 6, workload: 'append', f: 'append', key: 0, value: 11, list: [10, 11], start: 2, end: 3 }),
      op({ id: 7, workload: 'append', f: 'read', key: 0, list: [10, 11], start: 4, end: 5 }),
    ];
    const result = check(history, [], base, 500);
    expect(result).toMatchObject({
      valid: true,
      lost: [],
      unexpected: [],
      bank: [],
      append: [],
      divergence: [],
    });
    expect(result.counts).toMatchObject({ operations: 7, ok: 5, unknown: 2, failed: 0 });
  });

  test('writes are checked against the state most nodes share, not node 1 when it is behind', () => {
    const history = twoInsertsTwoAppends();
    const behind: FinalState = {
      sets: [[1], [1, 2], [1, 2]],
      bankTotals: [500, 500, 500],
      lists: [{ '0': [10] }, { '0': [10, 11] }, { '0': [10, 11] }],
      checksums: ['old', 'a', 'a'],
      gtidPositions: ['0-1-4', '0-1-5', '0-1-5'],
      statuses: ['SYNCING', 'ACTIVE', 'ACTIVE'],
    };
    const result = check(history, [], behind, 500);
    expect(result).toMatchObject({ valid: false, lost: [], append: [], reference: 2 });
    expect(result.divergence.length).toBeGreaterThan(0);
  });

  test('a node process that exited on its own makes the run invalid, whatever the data says', () => {
    const history = twoInsertsTwoAppends();
    const crash = 'node-2 exited on its own at 5400 ms (code 1, signal null); see node-2.log';
    const result = check(history, [], { ...base, crashes: [crash] }, 500);
    expect(result).toMatchObject({ valid: false, lost: [], append: [], divergence: [], crashes: [crash] });
    expect(check(history, [], base, 500)).toMatchObject({ valid: true, crashes: [] });
  });

  test('finds lost, unattempted and failed-but-present writes, bad totals, backwards reads, divergence', () => {
    const history = [
      op({ id: 1, workload: 'set', f: 'insert', value: 1 }),
      op({ id: 2, workload: 'set', f: 'insert', value: 2, outcome: 'failed', error: 'read only' }),
      op({ id: 3, workload: 'set', f: 'insert', value: 4 }),
      op({ id: 4, workload: 'bank', f: 'read', total: 499 }),
      op({ id: 5, workload: 'append', f: 'append', key: 0, value: 10, list: [10] }),
      op({ id: 6, workload: 'append', f: 'append', key: 0, value: 12, list: [10, 12] }),
      op({ id: 7, workload: 'append', f: 'read', key: 0, list: [10, 11], start: 2, end: 3, node: 'node-2' }),
      op({ id: 8, workload: 'append', f: 'read', key: 0, list: [10], start: 4, end: 5, node: 'node-2' }),
      // A shorter list on another node is no anomaly: followers may lag.
      op({ id: 9, workload: 'append', f: 'read', key: 0, list: [], start: 6, end: 7, node: 'node-3' }),
      // Read your writes counts only appends with an OK: session 4's was unknown, no anomaly.
      op({ id: 10, workload: 'append', f: 'append', key: 0, value: 99, outcome: 'unknown', session: 4 }),
      op({ id: 11, workload: 'append', f: 'read', key: 0, list: [], start: 8, end: 9, session: 5 }),
    ];
    const final: FinalState = {
      ...base,
      sets: [
        [1, 2, 3],
        [1, 2, 3],
      ],
      bankTotals: [500, 501],
      checksums: ['a', 'b'],
      gtidPositions: ['0-1-5', '0-1-5'],
      statuses: ['ACTIVE', 'NEEDS_MIGRATION'],
    };
    const result = check(history, [{ kind: 'kill', target: 'node-1', start: 0, end: 1 }], final, 500);
    expect(result.valid).toBe(false);
    expect(result.lost).toEqual(['set insert 4 (op 3)', 'append 12 to list 0 (op 6)']);
    expect(result.unexpected.join('\n')).toMatch(/value 2 is present though its insert failed/);
    expect(result.unexpected.join('\n')).toMatch(/value 3 was never attempted/);
    expect(result.bank).toHaveLength(2);
    expect(result.append.join('\n')).toMatch(/list 0 holds 11, never appended/);
    expect(result.append.join('\n')).toMatch(/went backwards on node-2: op 8/);
    expect(result.append.join('\n')).not.toMatch(/op 9 /);
    expect(result.append.join('\n')).toMatch(
      /op 6 \(.*\) read list 0 as \[10,12\] .*not a prefix of the final \[10,11\]/,
    );
    expect(result.divergence.join('\n')).toMatch(/CHECKSUM/);
    expect(result.divergence.join('\n')).toMatch(/node 2 is NEEDS_MIGRATION/);
    expect(result.unavailability).toEqual([{ fault: 'kill node-1', start: 0, ms: 1 }]);
  });

  // What chaos seed 1 found (docs/RELIABILITY.md, "Failures found"): an append whose client timed
  // out (unknown) was read by later reads, then rewound. Values out of numeric order (13 before
  // 12) are fine: the list is in commit order, and values are numbered when an operation starts.
  test('a read that saw an unknown append the final list lacks is an anomaly; commit order is not value order', () => {
    const final: FinalState = { ...base, lists: [{ '0': [10, 13, 12, 14] }] };
    const history = [
      op({ id: 1, workload: 'append', f: 'append', key: 0, value: 10, list: [10] }),
      op({ id: 2, workload: 'append', f: 'append', key: 0, value: 12, list: [10, 13, 12], start: 1, end: 4 }),
      op({ id: 3, workload: 'append', f: 'append', key: 0, value: 13, list: [10, 13], start: 2, end: 3 }),
      op({ id: 4, workload: 'append', f: 'append', key: 0, value: 15, outcome: 'unknown', start: 5, end: 9 }),
      op({
        id: 5,
        workload: 'append',
        f: 'read',
        key: 0,
        list: [10, 13, 12, 15],
        start: 10,
        end: 11,
        node: 'node-1',
      }),
      op({
        id: 6,
        workload: 'append',
        f: 'append',
        key: 0,
        value: 14,
        list: [10, 13, 12, 14],
        start: 12,
        end: 13,
      }),
    ];
    const result = check(history, [], final, 500);
    expect(result.lost).toEqual([]);
    expect(result.append).toHaveLength(1);
    expect(result.append[0]).toMatch(
      /op 5 \(read on node-1, 10–11 ms\) read list 0 as \[10,13,12,15\].*differ at position 3/,
    );
  });

  test('read your writes: a session reads every append it had acknowledged', () => {
    const final: FinalState = { ...base, lists: [{ '0': [10, 11] }] };
    const history = [
      op({ id: 1, workload: 'append', f: 'append', key: 0, value: 10, list: [10], session: 1, end: 2 }),
      op({ id: 2, workload: 'append', f: 'append', key: 0, value: 11, list: [10, 11], session: 2, end: 2 }),
      // A lagging follower may miss another session's appends (an empty list is a prefix), but
      // session 1 must see its own 10.
      op({
        id: 3,
        workload: 'append',
        f: 'read',
        key: 0,
        list: [],
        start: 3,
        end: 4,
        session: 1,
        node: 'node-2',
      }),
      op({
        id: 4,
        workload: 'append',
        f: 'read',
        key: 0,
        list: [10, 11],
        start: 3,
        end: 4,
        session: 2,
        node: 'node-1',
      }),
    ];
    const result = check(history, [], final, 500);
    expect(result.append).toHaveLength(1);
    expect(result.append[0]).toMatch(/op 3 \(read on node-2, session 1\) read list 0 without 10/);
  });
});

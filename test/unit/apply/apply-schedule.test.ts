import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ApplySchedule, type ScheduleTraits, sameGroupCommit } from '../../../src/apply/apply-schedule.js';

let sequence = 0n;
/** A transaction of source server 1, domain 0; `group` is its binlog commit id, undefined for none. */
function tx(
  group: number | undefined,
  options: { parallelSafe?: boolean; serverId?: number; domainId?: number } = {},
): ScheduleTraits {
  sequence += 1n;
  return {
    gtid: { domainId: options.domainId ?? 0, serverId: options.serverId ?? 1, sequenceNumber: sequence },
    ...(group === undefined ? {} : { commitId: BigInt(group) }),
    parallelSafe: options.parallelSafe ?? group !== undefined,
  };
}

describe('which transactions may run together', () => {
  test('the same binlog group commit of the same server and domain, both parallel-safe', () => {
    expect(sameGroupCommit(tx(7), tx(7))).toBe(true);
    expect(sameGroupCommit(tx(7), tx(8))).toBe(false);
    expect(sameGroupCommit(tx(undefined), tx(undefined))).toBe(false);
    expect(sameGroupCommit(tx(7), tx(7, { parallelSafe: false }))).toBe(false);
    expect(sameGroupCommit(tx(7, { parallelSafe: false }), tx(7))).toBe(false);
    // Commit ids are per source server: after a leader change the same number is another group.
    expect(sameGroupCommit(tx(7, { serverId: 1 }), tx(7, { serverId: 2 }))).toBe(false);
    expect(sameGroupCommit(tx(7, { domainId: 0 }), tx(7, { domainId: 1 }))).toBe(false);
  });
});

describe('placing transactions on sessions', () => {
  test('one session: everything in order on session 0, no waits, no locks', () => {
    const schedule = new ApplySchedule(1);
    const placements = [tx(1), tx(1), tx(undefined), tx(2)].map((t) => schedule.place(t));
    expect(placements).toEqual([0, 1, 2, 3].map((ticket) => ({ ticket, session: 0, locks: false })));
  });

  test('a group runs on several sessions, each member committing after the one before it', () => {
    const schedule = new ApplySchedule(4);
    const serial = schedule.place(tx(undefined));
    expect(serial).toEqual({ ticket: 0, session: 0, locks: false });
    // The group's first member follows the serial one on its session: no wait needed.
    expect(schedule.place(tx(5))).toEqual({ ticket: 1, session: 0, locks: true });
    // The others run concurrently on the least loaded sessions; their bodies wait for the serial
    // transaction (it holds no lock: the client waits), their commits for the one before.
    expect(schedule.place(tx(5))).toEqual({
      ticket: 2,
      session: 1,
      bodyAfter: { ticket: 0, wait: 'client' },
      commitAfter: 1,
      locks: true,
    });
    expect(schedule.place(tx(5))).toEqual({
      ticket: 3,
      session: 2,
      bodyAfter: { ticket: 0, wait: 'client' },
      commitAfter: 2,
      locks: true,
    });
    schedule.settled(0);
    // The serial one committed: nothing to wait for before the body any more.
    expect(schedule.place(tx(5))).toEqual({ ticket: 4, session: 3, commitAfter: 3, locks: true });
  });

  test('the next group starts after the previous group committed; non-parallel-safe transactions go to session 0', () => {
    const schedule = new ApplySchedule(3);
    schedule.place(tx(1)); // 0 → session 0
    schedule.place(tx(1)); // 1 → session 1
    // New group: on the session of the last transaction, which it follows there.
    expect(schedule.place(tx(2))).toEqual({ ticket: 2, session: 1, locks: true });
    // Its second member waits on the server for the previous group's last commit (ticket 1).
    expect(schedule.place(tx(2))).toEqual({
      ticket: 3,
      session: 2,
      bodyAfter: { ticket: 1, wait: 'server' },
      commitAfter: 2,
      locks: true,
    });
    // DDL (not parallel-safe): session 0, after everything before it committed.
    expect(schedule.place(tx(2, { parallelSafe: false }))).toEqual({
      ticket: 4,
      session: 0,
      bodyAfter: { ticket: 3, wait: 'server' },
      locks: false,
    });
    // A group after the DDL starts on session 0 behind it.
    expect(schedule.place(tx(3))).toMatchObject({ ticket: 5, session: 0 });
    expect(schedule.place(tx(3))).toMatchObject({
      ticket: 6,
      bodyAfter: { ticket: 4, wait: 'client' },
      commitAfter: 5,
    });
  });

  test('settling an unknown ticket is a broken invariant', () => {
    const schedule = new ApplySchedule(2);
    expect(() => schedule.settled(0)).toThrow(/not in flight/);
    expect(() => new ApplySchedule(0)).toThrow(/≥ 1/);
  });

  test('property: only transactions of one group commit are ever in flight concurrently without an order between them', () => {
    const traitArb = fc.record({
      group: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
      safe: fc.boolean(),
      server: fc.constantFrom(1, 2),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.record({ traits: traitArb, settle: fc.integer({ min: 0, max: 3 }) }), { maxLength: 60 }),
        (sessions, steps) => {
          const schedule = new ApplySchedule(sessions);
          const placed: Array<{ traits: ScheduleTraits; session: number; locks: boolean; ticket: number }> =
            [];
          let settledUpTo = 0;
          for (const step of steps) {
            const traits = tx(step.traits.group, {
              parallelSafe: step.traits.group !== undefined && step.traits.safe,
              serverId: step.traits.server,
            });
            const placement = schedule.place(traits);
            expect(placement.ticket).toBe(placed.length);
            expect(placement.session).toBeGreaterThanOrEqual(0);
            expect(placement.session).toBeLessThan(sessions);
            const previous = placed.at(-1);
            const previousLive = previous !== undefined && previous.ticket >= settledUpTo;
            if (sessions === 1) expect(placement.locks).toBe(false);
            if (!placement.locks) expect(placement.session).toBe(0);
            if (placement.commitAfter !== undefined) {
              // Only inside a group, on another session than a live, locking predecessor.
              expect(placement.commitAfter).toBe(placement.ticket - 1);
              expect(previous?.locks).toBe(true);
              expect(previous?.session).not.toBe(placement.session);
            }
            if (previous !== undefined && previousLive) {
              const sameSession = previous.session === placement.session;
              const ordered =
                sameSession || placement.commitAfter !== undefined || placement.bodyAfter !== undefined;
              // Committed in order: the predecessor commits first (same session, or a wait).
              expect(ordered).toBe(true);
              if (!sameGroupCommit(previous.traits, traits)) {
                // A new group never overlaps the one before it: FIFO, or its body waits.
                expect(sameSession || placement.bodyAfter?.ticket === previous.ticket).toBe(true);
              }
            }
            // Every live transaction before this one's group commits before its body starts:
            // its body waits for a transaction at or after it (and before the group), or this one
            // runs behind one at or after it on the same session (FIFO; commits are in ticket order).
            let groupStart = placed.length;
            let member = traits;
            while (groupStart > settledUpTo) {
              const before = placed[groupStart - 1];
              if (before === undefined || !sameGroupCommit(before.traits, member)) break;
              groupStart -= 1;
              member = before.traits;
            }
            for (let earlier = settledUpTo; earlier < groupStart; earlier++) {
              const waits =
                placement.bodyAfter !== undefined &&
                placement.bodyAfter.ticket >= earlier &&
                placement.bodyAfter.ticket < groupStart;
              const behind = placed.slice(earlier).some((other) => other.session === placement.session);
              expect(waits || behind).toBe(true);
            }
            if (placement.bodyAfter !== undefined) {
              expect(placement.bodyAfter.ticket).toBeLessThan(placement.ticket);
              expect(placement.bodyAfter.ticket).toBeGreaterThanOrEqual(settledUpTo);
              expect(placement.bodyAfter.wait).toBe(
                placed[placement.bodyAfter.ticket]?.locks ? 'server' : 'client',
              );
            }
            placed.push({
              traits,
              session: placement.session,
              locks: placement.locks,
              ticket: placement.ticket,
            });
            // Outcomes settle in ticket order.
            for (let n = 0; n < step.settle && settledUpTo < placed.length; n++)
              schedule.settled(settledUpTo++);
          }
          expect(schedule.inflight).toBe(placed.length - settledUpTo);
        },
      ),
      { numRuns: 300 },
    );
  });
});

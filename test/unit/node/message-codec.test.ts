import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import type { Message } from '../../../src/consensus/index.js';
import { decodeMessage, encodeMessage } from '../../../src/node/message-codec.js';

const nodeId = fc.string({ minLength: 1, maxLength: 20 });
const index = fc.integer({ min: 0, max: 2 ** 48 - 1 });
const logId = fc.record({ term: index, index });
const entry = fc.record({
  term: index,
  index,
  kind: fc.constantFrom('transaction' as const, 'configuration' as const, 'noop' as const),
  payload: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
});
const envelope = { from: nodeId, to: nodeId, term: index };

const message: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ kind: fc.constant('preVote' as const), ...envelope, lastLogId: logId }),
  fc.record({
    kind: fc.constant('preVoteResponse' as const),
    ...envelope,
    proposedTerm: index,
    granted: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('vote' as const), ...envelope, lastLogId: logId, transfer: fc.boolean() }),
  fc.record({ kind: fc.constant('voteResponse' as const), ...envelope, granted: fc.boolean() }),
  fc.record({
    kind: fc.constant('appendEntries' as const),
    ...envelope,
    prevLogId: logId,
    leaderCommit: index,
    entries: fc.array(entry, { maxLength: 5 }),
  }),
  fc.record({
    kind: fc.constant('appendEntriesResponse' as const),
    ...envelope,
    success: fc.boolean(),
    matchIndex: index,
    rejectedPrevIndex: index,
    conflict: fc.option(logId, { nil: null }),
    diverged: fc.boolean(),
    healthy: fc.boolean(),
    lastLogId: logId,
    firstIndex: index,
  }),
  fc.record({ kind: fc.constant('heartbeat' as const), ...envelope, commitIndex: index }),
  fc.record({
    kind: fc.constant('heartbeatResponse' as const),
    ...envelope,
    healthy: fc.boolean(),
    lastLogId: logId,
    firstIndex: index,
  }),
  fc.record({ kind: fc.constant('timeoutNow' as const), ...envelope, byOperator: fc.boolean() }),
);

describe('cluster message codec', () => {
  test.prop([message])('decode(encode(m)) is m', (original) => {
    const decoded = decodeMessage(encodeMessage(original));
    expect(decoded).toEqual({ ok: true, value: original });
  });

  test.prop([message, fc.nat()])(
    'every truncation is an error value, never a different message',
    (original, cut) => {
      const bytes = encodeMessage(original);
      const decoded = decodeMessage(bytes.subarray(0, cut % bytes.length));
      expect(decoded.ok).toBe(false);
    },
  );

  test.prop([fc.uint8Array({ maxLength: 200 })])('arbitrary bytes never throw', (bytes) => {
    expect(() => decodeMessage(bytes)).not.toThrow();
  });

  test.prop([message])('trailing bytes are refused', (original) => {
    const decoded = decodeMessage(Buffer.concat([encodeMessage(original), Buffer.from([0])]));
    expect(decoded.ok).toBe(false);
  });
});

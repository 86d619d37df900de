import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { decodeMessage, encodeMessage } from '../../../src/node/message-codec.js';
import {
  decodeNodeReport,
  encodeNodeReport,
  isNodeReport,
  type NodeReport,
} from '../../../src/node/node-report-codec.js';

const nodeId = fc.string({ minLength: 1, maxLength: 20 });
const index = fc.integer({ min: 0, max: 2 ** 48 - 1 });
const envelope = { from: nodeId, to: nodeId, term: index };
const report: fc.Arbitrary<NodeReport> = fc.oneof(
  fc.record({
    kind: fc.constant('applyReport' as const),
    ...envelope,
    appliedIndex: index,
    applyLagMs: index,
    applyFailed: fc.boolean(),
    mariadbHealthy: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('clusterReport' as const),
    ...envelope,
    commitIndex: index,
    retentionFloor: index,
    nodes: fc.array(
      fc.record({ id: nodeId, matchIndex: index, appliedIndex: index, applyLagMs: index, heardMsAgo: index }),
      { maxLength: 7 },
    ),
  }),
);

describe('node report codec', () => {
  test.prop([report])('round trips, and is told apart from engine messages', (value) => {
    const bytes = encodeNodeReport(value);
    expect(isNodeReport(bytes)).toBe(true);
    const decoded = decodeNodeReport(bytes);
    expect(decoded.ok && decoded.value).toEqual(value);
    expect(decodeMessage(bytes).ok).toBe(false);
  });

  test.prop([report, fc.nat()])('a truncated report is an error value, never a throw', (value, cut) => {
    const bytes = encodeNodeReport(value);
    const at = cut % bytes.length;
    expect(decodeNodeReport(bytes.subarray(0, at)).ok).toBe(false);
  });

  test('engine messages are not node reports', () => {
    const heartbeat = encodeMessage({ kind: 'heartbeat', from: 'a', to: 'b', term: 1, commitIndex: 3 });
    expect(isNodeReport(heartbeat)).toBe(false);
  });
});

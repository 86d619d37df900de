import { describe, expect, test } from 'vitest';
import {
  computeProof,
  decodeHello,
  encodeJson,
  judgeHello,
  type Transcript,
  transportProtocolVersion,
  verifyProof,
} from '../../../src/transport/handshake.js';

const nonceA = Buffer.alloc(32, 1).toString('base64');
const nonceB = Buffer.alloc(32, 2).toString('base64');
const transcript: Transcript = {
  clusterName: 'c',
  dialerId: 'node-2',
  acceptorId: 'node-1',
  dialerNonce: nonceA,
  acceptorNonce: nonceB,
};

describe('cluster handshake', () => {
  test('a proof verifies only with the same secret, role and transcript', () => {
    const proof = computeProof('dialer', 'secret-0123456789', transcript);
    expect(verifyProof('dialer', 'secret-0123456789', transcript, proof)).toBe(true);
    expect(verifyProof('dialer', 'other-secret-0123', transcript, proof)).toBe(false);
    expect(verifyProof('acceptor', 'secret-0123456789', transcript, proof)).toBe(false);
    expect(verifyProof('dialer', 'secret-0123456789', { ...transcript, acceptorNonce: nonceA }, proof)).toBe(
      false,
    );
    expect(verifyProof('dialer', 'secret-0123456789', { ...transcript, dialerId: 'node-3' }, proof)).toBe(
      false,
    );
    expect(verifyProof('dialer', 'secret-0123456789', { ...transcript, clusterName: 'd' }, proof)).toBe(
      false,
    );
    expect(verifyProof('dialer', 'secret-0123456789', transcript, 'garbage')).toBe(false);
  });

  test('hellos from another cluster, another version or this node itself are refused with a reason', () => {
    const own = { clusterName: 'prod', nodeId: 'node-1' };
    const hello = { version: transportProtocolVersion, clusterName: 'prod', nodeId: 'node-2', nonce: nonceA };
    expect(judgeHello(hello, own)).toEqual({ ok: true });
    expect(judgeHello({ ...hello, clusterName: 'staging' }, own)).toEqual({
      ok: false,
      reason:
        'cluster name mismatch: node node-1 is in cluster "prod", node node-2 says "staging": set the same cluster.cluster_name on both',
    });
    expect(judgeHello({ ...hello, version: 99 }, own).ok).toBe(false);
    expect(judgeHello({ ...hello, nodeId: 'node-1' }, own).ok).toBe(false);
    expect(judgeHello({ ...hello, nonce: 'short' }, own).ok).toBe(false);
  });

  test('malformed hellos decode to undefined, never throw', () => {
    expect(decodeHello(new Uint8Array([0xff, 0xfe]))).toBeUndefined();
    expect(decodeHello(encodeJson([1, 2]))).toBeUndefined();
    expect(decodeHello(encodeJson({ clusterName: 'c', nodeId: 'n', nonce: 'x' }))).toBeUndefined();
    expect(decodeHello(encodeJson({ version: 1, clusterName: 'c', nodeId: 'n', nonce: 'x' }))).toEqual({
      version: 1,
      clusterName: 'c',
      nodeId: 'n',
      nonce: 'x',
    });
  });
});

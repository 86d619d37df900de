import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import {
  encodeTransaction,
  TransactionReassembler,
  type WalTransaction,
} from '../../../src/node/transaction-payload.js';

const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((array) => Buffer.from(array));

const transaction: fc.Arbitrary<WalTransaction> = fc.record({
  gtid: fc.record({
    domainId: fc.nat({ max: 0xffffffff }),
    serverId: fc.nat({ max: 0xffffffff }),
    sequenceNumber: fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }),
  }),
  gtidFlags: fc.nat({ max: 0xffff }),
  timestampSeconds: fc.nat({ max: 0xffffffff }),
  binlogFile: fc.string({ maxLength: 30 }),
  binlogPosition: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  formatDescription: bytes(120),
  events: fc.array(bytes(300), { maxLength: 12 }),
});

function feed(reassembler: TransactionReassembler, chunks: readonly Uint8Array[], firstIndex: number) {
  return chunks.map((chunk, i) => {
    const step = reassembler.push(firstIndex + i, chunk);
    if (!step.ok) throw new Error(step.error.message);
    return step.value;
  });
}

describe('WAL transaction payload', () => {
  test.prop([transaction, fc.integer({ min: 7, max: 2000 })])(
    'chunked at any size, reassembled in order, it is the same transaction',
    (original, chunkBytesMax) => {
      const chunks = encodeTransaction(original, chunkBytesMax);
      expect(chunks.every((chunk) => chunk.byteLength <= chunkBytesMax)).toBe(true);
      const steps = feed(new TransactionReassembler(), chunks, 10);
      expect(steps.slice(0, -1).every((step) => step.kind === 'incomplete')).toBe(true);
      const last = steps.at(-1);
      expect(last).toEqual({ kind: 'complete', transaction: original, firstIndex: 10 });
    },
  );

  test.prop([transaction, transaction])(
    'a run cut off by a new first chunk is discarded, and the new run completes',
    (dead, next) => {
      const deadChunks = encodeTransaction(dead, 64);
      fc.pre(deadChunks.length >= 2);
      const reassembler = new TransactionReassembler();
      feed(reassembler, deadChunks.slice(0, -1), 1);
      const nextChunks = encodeTransaction(next, 1 << 20);
      const [step] = feed(reassembler, nextChunks, 100);
      expect(step).toEqual({
        kind: 'discarded',
        fromIndex: 1,
        toIndex: deadChunks.length - 1,
        next: { kind: 'complete', transaction: next, firstIndex: 100 },
      });
    },
  );

  test('a middle chunk without its first is discarded, not joined to anything', () => {
    const chunks = encodeTransaction(
      {
        gtid: { domainId: 0, serverId: 1, sequenceNumber: 5n },
        gtidFlags: 0,
        timestampSeconds: 1,
        binlogFile: 'b.000001',
        binlogPosition: 4,
        formatDescription: Buffer.alloc(10),
        events: [Buffer.alloc(200, 7)],
      },
      50,
    );
    const step = new TransactionReassembler().push(7, chunks[2] as Uint8Array);
    expect(step).toEqual({
      ok: true,
      value: { kind: 'discarded', fromIndex: 7, toIndex: 7, next: { kind: 'incomplete' } },
    });
  });

  test.prop([fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 6 })])(
    'garbage is an error value, never an exception',
    (payloads) => {
      const reassembler = new TransactionReassembler();
      for (const [i, payload] of payloads.entries())
        expect(() => reassembler.push(i + 1, payload)).not.toThrow();
    },
  );
});

import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import type { LogEntry } from '../../../src/wal/entry.js';
import {
  decodeFrame,
  decodeFrameHeader,
  encodeFrame,
  encodeFrameInto,
  FRAME_HEADER_BYTES,
  frameBytesMax,
  verifyFrame,
} from '../../../src/wal/frame.js';
import { binlogLikePayload, seededRandom } from './wal-fixtures.js';

/** Payloads LZ4 can shrink (binlog-like, repeated) and payloads it cannot (random, tiny). */
const payloadArb = fc.oneof(
  fc.uint8Array({ maxLength: 600 }),
  fc
    .tuple(fc.integer({ min: 64, max: 3000 }), fc.integer())
    .map(([bytes, seed]) => binlogLikePayload(bytes, seededRandom(seed))),
  fc
    .tuple(fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 200 }))
    .map(([unit, times]) =>
      Uint8Array.from({ length: unit.length * times }, (_, i) => unit[i % unit.length]!),
    ),
);

const entryArb: fc.Arbitrary<LogEntry> = fc.record({
  index: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  term: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  kind: fc.constantFrom('transaction' as const, 'configuration' as const, 'noop' as const),
  payload: payloadArb,
});

function sameEntry(actual: LogEntry, expected: LogEntry): boolean {
  return (
    actual.index === expected.index &&
    actual.term === expected.term &&
    actual.kind === expected.kind &&
    Buffer.compare(actual.payload, expected.payload) === 0
  );
}

describe('WAL frame codec', () => {
  test.prop([entryArb, fc.boolean(), fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 })])(
    'decode(encode(entry)) is the entry, at any offset and with any bytes after it',
    (entry, compress, before, after) => {
      const frame = encodeFrame(entry, { compress });
      const bytes = Buffer.concat([before, frame, after]);
      const decoded = decodeFrame(bytes, before.length);
      expect(decoded.kind).toBe('frame');
      if (decoded.kind !== 'frame') return;
      expect(sameEntry(decoded.entry, entry)).toBe(true);
      expect(decoded.frameBytes).toBe(frame.length);
      expect(verifyFrame(bytes, before.length)).toMatchObject({ kind: 'header', index: entry.index });
    },
  );

  test.prop([entryArb])('compression is used only when it makes the frame smaller', (entry) => {
    const plain = encodeFrame(entry, { compress: false });
    const packed = encodeFrame(entry, { compress: true });
    expect(plain.length).toBe(FRAME_HEADER_BYTES + entry.payload.length);
    expect(packed.length).toBeLessThanOrEqual(plain.length);
    const decoded = decodeFrame(packed, 0);
    expect(decoded.kind === 'frame' && decoded.compressed).toBe(packed.length < plain.length);
  });

  test.prop([entryArb, fc.boolean(), fc.nat()])(
    'every truncation is incomplete, never a frame',
    (entry, compress, cutSeed) => {
      const frame = encodeFrame(entry, { compress });
      const cut = cutSeed % frame.length;
      const decoded = decodeFrame(frame.subarray(0, cut), 0);
      expect(decoded.kind).not.toBe('frame');
      expect(verifyFrame(frame.subarray(0, cut), 0).kind).not.toBe('header');
    },
  );

  test.prop([entryArb, fc.boolean(), fc.array(fc.nat(), { minLength: 1, maxLength: 8 })])(
    'any bit flips are detected: the damaged frame never decodes, let alone as another entry',
    (entry, compress, flipSeeds) => {
      const frame = encodeFrame(entry, { compress });
      const damaged = Buffer.from(frame);
      const bits = new Set(flipSeeds.map((seed) => seed % (frame.length * 8)));
      for (const bit of bits) damaged[bit >> 3]! ^= 1 << (bit & 7);
      expect(decodeFrame(damaged, 0).kind).not.toBe('frame');
      expect(verifyFrame(damaged, 0).kind).not.toBe('header');
    },
  );

  test('every single-bit flip of a compressed and of a plain frame is detected (exhaustive)', () => {
    const random = seededRandom(7);
    const entries: LogEntry[] = [
      { index: 42, term: 7, kind: 'transaction', payload: binlogLikePayload(400, random) },
      {
        index: 43,
        term: 7,
        kind: 'configuration',
        payload: Uint8Array.from({ length: 90 }, () => random() * 256),
      },
    ];
    for (const entry of entries) {
      const frame = encodeFrame(entry, { compress: true });
      for (let bit = 0; bit < frame.length * 8; bit += 1) {
        const damaged = Buffer.from(frame);
        damaged[bit >> 3]! ^= 1 << (bit & 7);
        const decoded = decodeFrame(damaged, 0);
        if (decoded.kind === 'frame')
          throw new Error(`flip of bit ${bit} decoded as entry ${decoded.entry.index}`);
      }
    }
  });

  test.prop([entryArb, fc.boolean(), fc.nat(), fc.boolean()])(
    'the batch place is recorded and read back; encodeFrameInto writes the same bytes in place',
    (entry, compress, positionSeed, batchEnd) => {
      const place = { batchPosition: positionSeed % entry.index, batchEnd };
      const frame = encodeFrame(entry, { compress }, place);
      expect(verifyFrame(frame, 0)).toMatchObject({ kind: 'header', ...place });
      const decoded = decodeFrame(frame, 0);
      expect(decoded.kind === 'frame' && sameEntry(decoded.entry, entry)).toBe(true);
      const target = Buffer.alloc(7 + frameBytesMax(entry.payload.length));
      const written = encodeFrameInto(target, 7, entry, { compress }, place);
      expect(Buffer.compare(target.subarray(7, 7 + written), frame)).toBe(0);
    },
  );

  test.prop([fc.uint8Array({ minLength: FRAME_HEADER_BYTES, maxLength: 200 })])(
    'random bytes are never a frame',
    (bytes) => {
      expect(decodeFrame(bytes, 0).kind).not.toBe('frame');
      expect(decodeFrameHeader(bytes, 0).kind).not.toBe('header');
    },
  );

  test('entries that break LogEntry invariants are refused at encode time', () => {
    const payload = new Uint8Array(1);
    expect(() => encodeFrame({ index: 0, term: 1, kind: 'noop', payload }, { compress: false })).toThrow(
      /index 0/,
    );
    expect(() => encodeFrame({ index: 1, term: -1, kind: 'noop', payload }, { compress: false })).toThrow(
      /term -1/,
    );
    expect(() => encodeFrame({ index: 1, term: 1.5, kind: 'noop', payload }, { compress: false })).toThrow(
      /term/,
    );
  });
});

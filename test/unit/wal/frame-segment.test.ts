import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import {
  decodeSeal,
  decodeSegmentHeader,
  encodeSeal,
  encodeSegmentHeader,
  type SegmentSeal,
} from '../../../src/wal/frame-segment.js';

const safe = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

const headerArb = fc.record({
  firstIndex: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  prevTerm: safe,
  createdMs: safe,
});

/** Runs with strictly growing starts and terms, and a last index at or after the last start. */
const sealArb: fc.Arbitrary<SegmentSeal> = fc
  .tuple(
    fc.integer({ min: 1, max: 1e12 }),
    fc.integer({ min: 0, max: 1e6 }),
    fc.array(fc.tuple(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 5 })), { maxLength: 20 }),
    fc.integer({ min: 0, max: 1000 }),
  )
  .map(([start, term, steps, extra]) => {
    const runs = [{ startIndex: start, term }];
    for (const [indexStep, termStep] of steps) {
      const last = runs[runs.length - 1]!;
      runs.push({ startIndex: last.startIndex + indexStep, term: last.term + termStep });
    }
    const last = runs[runs.length - 1]!;
    return { runs, lastIndex: last.startIndex + extra, lastTerm: last.term };
  });

describe('segment header and seal codecs', () => {
  test.prop([headerArb])('header round-trips', (header) => {
    const decoded = decodeSegmentHeader(encodeSegmentHeader(header));
    expect(decoded).toEqual({ ok: true, value: header });
  });

  test.prop([headerArb, fc.nat()])('any bit flip in a header is detected', (header, bitSeed) => {
    const bytes = encodeSegmentHeader(header);
    const bit = bitSeed % (bytes.length * 8);
    bytes[bit >> 3]! ^= 1 << (bit & 7);
    expect(decodeSegmentHeader(bytes).ok).toBe(false);
  });

  test.prop([sealArb])('seal round-trips', (seal) => {
    expect(decodeSeal(encodeSeal(seal))).toEqual({ ok: true, value: seal });
  });

  test.prop([sealArb, fc.nat()])('any bit flip or truncation of a seal is detected', (seal, seed) => {
    const bytes = encodeSeal(seal);
    const bit = seed % (bytes.length * 8);
    const flipped = Buffer.from(bytes);
    flipped[bit >> 3]! ^= 1 << (bit & 7);
    expect(decodeSeal(flipped).ok).toBe(false);
    expect(decodeSeal(bytes.subarray(1 + (seed % (bytes.length - 1)))).ok).toBe(false);
  });
});

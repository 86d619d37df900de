import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import {
  decodeFrames,
  encodeFrame,
  type Frame,
  FrameType,
  frameHeaderBytes,
} from '../../../src/transport/frame.js';

const frameArb = fc.record({
  type: fc.constantFrom(...Object.values(FrameType)),
  payload: fc.uint8Array({ maxLength: 300 }),
});

function chunked(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  return chunks;
}

function decodeStream(chunks: readonly Buffer[]): { frames: Frame[]; error?: string } {
  const frames: Frame[] = [];
  let pending: Buffer = Buffer.alloc(0);
  for (const chunk of chunks) {
    const decoded = decodeFrames(Buffer.concat([pending, chunk]));
    if (!decoded.ok) return { frames, error: decoded.error.code };
    frames.push(...decoded.frames);
    pending = decoded.rest;
  }
  return { frames };
}

describe('cluster frame codec', () => {
  test.prop([fc.array(frameArb, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 6 })])(
    'frames split at any points decode to exactly what was encoded',
    (frames, cuts) => {
      const bytes = Buffer.concat(frames.map(encodeFrame));
      const { frames: decoded, error } = decodeStream(chunked(bytes, cuts));
      expect(error).toBeUndefined();
      expect(decoded.map((f) => ({ type: f.type, payload: [...f.payload] }))).toEqual(
        frames.map((f) => ({ type: f.type, payload: [...f.payload] })),
      );
    },
  );

  test.prop([frameArb, fc.nat(), fc.integer({ min: 0, max: 7 })])(
    'a flipped bit is never decoded as a different frame',
    (frame, at, bit) => {
      const bytes = encodeFrame(frame);
      const position = at % bytes.length;
      bytes[position] = (bytes[position] ?? 0) ^ (1 << bit);
      const decoded = decodeFrames(bytes);
      if (decoded.ok) {
        // Only a damaged length can hide the damage, and then the frame is merely incomplete.
        expect(decoded.frames).toEqual([]);
        expect(position).toBeLessThan(frameHeaderBytes);
      } else {
        expect(['BAD_CHECKSUM', 'UNKNOWN_TYPE', 'TOO_LARGE']).toContain(decoded.error.code);
      }
    },
  );

  test('a length beyond the limit is refused before any payload arrives', () => {
    const header = Buffer.alloc(frameHeaderBytes);
    header.writeUInt32LE(0xffffffff, 0);
    header.writeUInt8(FrameType.message, 4);
    const decoded = decodeFrames(header);
    expect(decoded.ok ? 'ok' : decoded.error.code).toBe('TOO_LARGE');
  });
});

import { deflateSync } from 'node:zlib';
import { fc, test as propTest } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import {
  CompressedPacketFramer,
  encodeCompressedPackets,
} from '../../../src/protocol/packet/compressed-packet-framer.js';
import { encodePacket, PacketFramer } from '../../../src/protocol/packet/packet-framer.js';

describe('compressed protocol framing', () => {
  test('small content goes uncompressed, large content deflated; both come back as sent', () => {
    const small = encodePacket(Buffer.from('SELECT 1'), 0).bytes;
    const large = encodePacket(Buffer.alloc(5000, 'a'), 0).bytes;
    for (const content of [small, large]) {
      const wrapped = encodeCompressedPackets(content, 3);
      expect(wrapped.bytes.readUIntLE(4, 3)).toBe(content === small ? 0 : content.length);
      const framer = new CompressedPacketFramer();
      const chunks = framer.push(wrapped.bytes);
      expect(chunks.ok && Buffer.concat(chunks.value.map((chunk) => chunk.bytes)).equals(content)).toBe(true);
      expect(chunks.ok && chunks.value[0]!.sequenceId).toBe(3);
    }
  });

  test('a packet that inflates beyond its declared length is refused', () => {
    const body = deflateSync(Buffer.alloc(1000));
    const header = Buffer.alloc(7);
    header.writeUIntLE(body.length, 0, 3);
    header.writeUIntLE(10, 4, 3);
    const result = new CompressedPacketFramer().push(Buffer.concat([header, body]));
    expect(result.ok === false && result.error.code).toBe('MALFORMED');
  });

  propTest.prop([
    fc.array(fc.uint8Array({ maxLength: 400 }), { minLength: 1, maxLength: 10 }),
    fc.integer({ min: 1, max: 97 }),
  ])('compressed packets split anywhere decode to the same ordinary packets', (payloads, cut) => {
    const stream = Buffer.concat(payloads.map((payload, i) => encodePacket(payload, i & 0xff).bytes));
    const wrapped = encodeCompressedPackets(stream, 0).bytes;
    const outer = new CompressedPacketFramer();
    const inner = new PacketFramer();
    const received: string[] = [];
    for (let offset = 0; offset < wrapped.length; offset += cut) {
      const chunks = outer.push(wrapped.subarray(offset, offset + cut));
      expect(chunks.ok).toBe(true);
      if (!chunks.ok) return;
      for (const chunk of chunks.value) {
        const packets = inner.push(chunk.bytes);
        if (packets.ok) received.push(...packets.value.map((packet) => packet.payload.toString('hex')));
      }
    }
    expect(received).toEqual(payloads.map((payload) => Buffer.from(payload).toString('hex')));
  });

  propTest.prop([fc.uint8Array({ maxLength: 300 })], { numRuns: 1000 })(
    'random bytes give chunks or an error, never a throw',
    (bytes) => {
      expect(typeof new CompressedPacketFramer().push(bytes).ok).toBe('boolean');
    },
  );
});

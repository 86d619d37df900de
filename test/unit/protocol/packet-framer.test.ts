import { fc, test as propTest } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import {
  encodePacket,
  PacketFramer,
  packetChunkBytesMax,
} from '../../../src/protocol/packet/packet-framer.js';

describe('packet framing', () => {
  test('a small payload is one packet with its sequence id', () => {
    const { bytes, nextSequenceId } = encodePacket(Buffer.from('hello'), 7);
    expect(bytes.toString('hex')).toBe('0500000768656c6c6f');
    expect(nextSequenceId).toBe(8);
  });

  test('a payload of 16 MiB - 1 and more is split into chunks and joined back', () => {
    for (const size of [
      packetChunkBytesMax - 1,
      packetChunkBytesMax,
      packetChunkBytesMax + 1,
      2 * packetChunkBytesMax + 5,
    ]) {
      const payload = Buffer.alloc(size, size % 251);
      payload[size - 1] = 0x42;
      const { bytes, nextSequenceId } = encodePacket(payload, 255);
      const chunks = Math.floor(size / packetChunkBytesMax) + 1;
      expect(nextSequenceId).toBe((255 + chunks) & 0xff);
      expect(bytes.length).toBe(size + chunks * 4);
      const framer = new PacketFramer();
      const packets = framer.push(bytes);
      expect(packets.ok).toBe(true);
      if (!packets.ok) return;
      expect(packets.value).toHaveLength(1);
      expect(packets.value[0]!.payload.equals(payload)).toBe(true);
      expect(packets.value[0]!.firstSequenceId).toBe(255);
      expect(packets.value[0]!.sequenceId).toBe((255 + chunks - 1) & 0xff);
    }
  });

  test('taking packets one at a time leaves what follows an SSLRequest for the TLS layer', () => {
    const framer = new PacketFramer();
    const clientHello = Buffer.from('160301020001', 'hex');
    framer.feed(Buffer.concat([encodePacket(Buffer.alloc(32, 1), 1).bytes, clientHello]));
    const first = framer.next();
    expect(first.ok && first.value?.payload.length).toBe(32);
    expect(framer.takeBuffered().equals(clientHello)).toBe(true);
    expect(framer.bufferedBytes).toBe(0);
    expect(framer.next()).toEqual({ ok: true, value: undefined });
  });

  test('a payload beyond packetBytesMax is refused and the framer stays failed', () => {
    const framer = new PacketFramer({ packetBytesMax: 10 });
    const result = framer.push(encodePacket(Buffer.alloc(11), 0).bytes);
    expect(result.ok === false && result.error.code).toBe('TOO_LARGE');
    expect(framer.push(encodePacket(Buffer.alloc(1), 0).bytes).ok).toBe(false);
  });

  propTest.prop([
    fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 20 }),
    fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 50 }),
  ])('any split of the stream into chunks yields the same packets', (payloads, cuts) => {
    let sequence = 0;
    const stream = Buffer.concat(
      payloads.map((payload) => {
        const framed = encodePacket(payload, sequence);
        sequence = framed.nextSequenceId;
        return framed.bytes;
      }),
    );
    const framer = new PacketFramer();
    const received: Buffer[] = [];
    let offset = 0;
    let i = 0;
    while (offset < stream.length) {
      const size = cuts[i % cuts.length]!;
      const result = framer.push(stream.subarray(offset, offset + size));
      expect(result.ok).toBe(true);
      if (result.ok) received.push(...result.value.map((packet) => Buffer.from(packet.payload)));
      offset += size;
      i += 1;
    }
    expect(received.map((payload) => payload.toString('hex'))).toEqual(
      payloads.map((payload) => Buffer.from(payload).toString('hex')),
    );
    expect(framer.bufferedBytes).toBe(0);
  });
});

import { ByteReader } from '../byte-reader.js';
import { ByteWriter } from '../byte-writer.js';
import { type Decoded, decodeSafely } from '../decoded.js';

export const eofHeader = 0xfe;
/** An EOF packet is shorter than 9 bytes; a 0xFE-first packet of 9+ bytes is data. */
export const eofPacketBytesMax = 8;

/** EOF (without CLIENT_DEPRECATE_EOF): ends column definitions and rows. */
export interface EofPacket {
  readonly warnings: number;
  readonly statusFlags: number;
}

export function isEofPacket(payload: Uint8Array): boolean {
  return payload[0] === eofHeader && payload.length <= eofPacketBytesMax;
}

export function decodeEofPacket(payload: Uint8Array): Decoded<EofPacket> {
  return decodeSafely(() => {
    const reader = new ByteReader(payload, 'EOF packet');
    if (!isEofPacket(payload)) reader.fail('not an EOF packet');
    reader.skip(1, 'header');
    if (reader.atEnd) return { warnings: 0, statusFlags: 0 };
    return { warnings: reader.u16('warnings'), statusFlags: reader.u16('status flags') };
  });
}

export function encodeEofPacket(packet: EofPacket): Buffer {
  return new ByteWriter(5).u8(eofHeader).u16(packet.warnings).u16(packet.statusFlags).finish();
}

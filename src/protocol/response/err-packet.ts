import { ByteReader } from '../byte-reader.js';
import { ByteWriter } from '../byte-writer.js';
import { type Decoded, decodeSafely } from '../decoded.js';

export const errHeader = 0xff;

/** ERR. `sqlState` is five characters ('HY000' when the server sent none). */
export interface ErrPacket {
  readonly errorCode: number;
  readonly sqlState: string;
  readonly message: string;
}

export function decodeErrPacket(payload: Uint8Array): Decoded<ErrPacket> {
  return decodeSafely(() => {
    const reader = new ByteReader(payload, 'ERR packet');
    if (reader.u8('header') !== errHeader) reader.fail('not an ERR packet');
    const errorCode = reader.u16('error code');
    let sqlState = 'HY000';
    if (reader.peekU8() === 0x23 /* '#' */ && reader.remaining >= 6) {
      reader.skip(1, 'sql state marker');
      sqlState = reader.string(5, 'sql state');
    }
    return { errorCode, sqlState, message: reader.rest().toString('utf8') };
  });
}

export function encodeErrPacket(packet: ErrPacket): Buffer {
  const sqlState = packet.sqlState.padEnd(5, '0').slice(0, 5);
  return new ByteWriter(16 + packet.message.length)
    .u8(errHeader)
    .u16(packet.errorCode)
    .string('#')
    .string(sqlState)
    .string(packet.message)
    .finish();
}

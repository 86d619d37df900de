import { ByteReader } from '../byte-reader.js';
import { ByteWriter } from '../byte-writer.js';
import { type Decoded, decodeSafely } from '../decoded.js';
import { CommandCode } from './command-code.js';

/** COM_QUERY: one or more SQL statements as bytes (not necessarily valid UTF-8). */
export function encodeComQuery(sql: string | Uint8Array): Buffer {
  const bytes = typeof sql === 'string' ? Buffer.from(sql, 'utf8') : sql;
  return new ByteWriter(bytes.length + 1).u8(CommandCode.query).bytes(bytes).finish();
}

export function decodeComQuery(payload: Uint8Array): Decoded<Buffer> {
  return decodeSafely(() => {
    const reader = new ByteReader(payload, 'COM_QUERY');
    if (reader.u8('command') !== CommandCode.query) reader.fail('not COM_QUERY');
    return reader.rest();
  });
}

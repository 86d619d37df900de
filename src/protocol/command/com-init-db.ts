import { ByteReader } from '../byte-reader.js';
import { ByteWriter } from '../byte-writer.js';
import { type Decoded, decodeSafely } from '../decoded.js';
import { CommandCode } from './command-code.js';

/** COM_INIT_DB: change the default database (what `USE db` does, as a command). */
export function encodeComInitDb(database: string): Buffer {
  return new ByteWriter(database.length + 1).u8(CommandCode.initDb).string(database).finish();
}

export function decodeComInitDb(payload: Uint8Array): Decoded<string> {
  return decodeSafely(() => {
    const reader = new ByteReader(payload, 'COM_INIT_DB');
    if (reader.u8('command') !== CommandCode.initDb) reader.fail('not COM_INIT_DB');
    return reader.rest().toString('utf8');
  });
}

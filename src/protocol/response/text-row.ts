import { ByteReader } from '../byte-reader.js';
import { ByteWriter } from '../byte-writer.js';
import { type Decoded, decodeSafely } from '../decoded.js';

/** A NULL value in a text-protocol row. */
const nullMarker = 0xfb;

/** A text-protocol row: one length-encoded string per column, 0xFB for NULL. Values share memory with the input. */
export function decodeTextRow(payload: Uint8Array, columnCount: number): Decoded<Array<Buffer | null>> {
  return decodeSafely(() => {
    const reader = new ByteReader(payload, 'text row');
    const values: Array<Buffer | null> = [];
    for (let i = 0; i < columnCount; i += 1) {
      if (reader.peekU8() === nullMarker) {
        reader.skip(1, 'NULL');
        values.push(null);
      } else {
        values.push(reader.lenencBytes(`column ${i}`));
      }
    }
    if (!reader.atEnd) reader.fail(`${reader.remaining} bytes after the last of ${columnCount} columns`);
    return values;
  });
}

export function encodeTextRow(values: ReadonlyArray<string | Uint8Array | null>): Buffer {
  const writer = new ByteWriter(64);
  for (const value of values) {
    if (value === null) writer.u8(nullMarker);
    else if (typeof value === 'string') writer.lenencString(value);
    else writer.lenencBytes(value);
  }
  return writer.finish();
}

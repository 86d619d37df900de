import type { ByteReader } from '../byte-reader.js';
import type { ByteWriter } from '../byte-writer.js';

export const INTVAR_LAST_INSERT_ID = 1;
export const INTVAR_INSERT_ID = 2;

/** INTVAR (type 5): LAST_INSERT_ID or INSERT_ID for the next statement-based QUERY event. */
export interface IntvarEvent {
  readonly kind: 'intvar';
  readonly variable: number;
  readonly value: bigint;
}

export function readIntvarBody(reader: ByteReader): IntvarEvent {
  return { kind: 'intvar', variable: reader.u8('type'), value: reader.u64('value') };
}

export function writeIntvarBody(writer: ByteWriter, event: IntvarEvent): void {
  writer.u8(event.variable).u64(event.value);
}

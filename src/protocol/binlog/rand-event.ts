import type { ByteReader } from '../byte-reader.js';
import type { ByteWriter } from '../byte-writer.js';

/** RAND (type 13): the RAND() seeds for the next statement-based QUERY event. */
export interface RandEvent {
  readonly kind: 'rand';
  readonly seed1: bigint;
  readonly seed2: bigint;
}

export function readRandBody(reader: ByteReader): RandEvent {
  return { kind: 'rand', seed1: reader.u64('seed1'), seed2: reader.u64('seed2') };
}

export function writeRandBody(writer: ByteWriter, event: RandEvent): void {
  writer.u64(event.seed1).u64(event.seed2);
}

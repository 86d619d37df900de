import type { ByteReader } from '../byte-reader.js';
import type { ByteWriter } from '../byte-writer.js';

/** XID (type 16): the COMMIT of a transaction on a transactional engine; ends the event group. */
export interface XidEvent {
  readonly kind: 'xid';
  readonly xid: bigint;
}

export function readXidBody(reader: ByteReader): XidEvent {
  return { kind: 'xid', xid: reader.u64('xid') };
}

export function writeXidBody(writer: ByteWriter, event: XidEvent): void {
  writer.u64(event.xid);
}

import type { ByteReader } from '../byte-reader.js';
import type { ByteWriter } from '../byte-writer.js';
import type { Gtid } from '../gtid.js';

/** The count field keeps the number of GTIDs in its low 28 bits and flags in the top 4. */
const countMask = 0x0fffffff;

/**
 * MariaDB GTID_LIST (type 163): at the start of each binlog file, the last GTID of every
 * replication domain written before this file.
 */
export interface GtidListEvent {
  readonly kind: 'gtid_list';
  readonly flags: number;
  readonly gtids: readonly Gtid[];
  /** Bytes after the list, kept so the event re-encodes exactly (MariaDB pads an empty list). */
  readonly trailing: Buffer;
}

export function readGtidListBody(reader: ByteReader): GtidListEvent {
  const countAndFlags = reader.u32('count');
  const count = countAndFlags & countMask;
  // Each GTID takes 16 bytes: a count beyond what the bytes can hold is malformed, and checking
  // it first keeps a corrupt count from driving a long loop.
  if (count * 16 > reader.remaining) reader.fail(`count ${count} does not fit in ${reader.remaining} bytes`);
  const gtids: Gtid[] = [];
  for (let i = 0; i < count; i += 1) {
    const domainId = reader.u32('domain_id');
    const serverId = reader.u32('server_id');
    const sequenceNumber = reader.u64('seq_no');
    gtids.push({ domainId, serverId, sequenceNumber });
  }
  return { kind: 'gtid_list', flags: countAndFlags >>> 28, gtids, trailing: reader.rest() };
}

export function writeGtidListBody(writer: ByteWriter, event: GtidListEvent): void {
  writer.u32(((event.flags << 28) | event.gtids.length) >>> 0);
  for (const gtid of event.gtids) writer.u32(gtid.domainId).u32(gtid.serverId).u64(gtid.sequenceNumber);
  writer.bytes(event.trailing);
}

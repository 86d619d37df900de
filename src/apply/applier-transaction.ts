import type { Gtid } from '../protocol/gtid.js';

/**
 * One captured transaction, as the applier takes it (the WAL carries it as an opaque payload).
 *
 * Contract:
 * - `events` are the transaction's binlog events exactly as the source's binlog stream holds them,
 *   in order, starting with its GTID event and ending with its XID or COMMIT event (or, for a
 *   standalone statement such as DDL, its one QUERY event). TABLE_MAP events are included.
 * - Each event carries the 4-byte CRC32 trailer exactly when `formatDescription`'s checksum
 *   algorithm is CRC32 (the server verifies it again when the events are replayed).
 * - `formatDescription` is the raw FORMAT_DESCRIPTION event of the stream the events came from;
 *   it tells how to read them (post-header lengths, checksum).
 * - `gtid` is the one the GTID event names (domain and sequence number from its body, server id
 *   from its header); the applier checks that they agree.
 */
export interface ApplierTransaction {
  readonly gtid: Gtid;
  readonly events: readonly Uint8Array[];
  readonly formatDescription: Uint8Array;
}

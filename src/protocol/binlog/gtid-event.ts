import type { ByteReader } from '../byte-reader.js';
import type { ByteWriter } from '../byte-writer.js';

/** The event group has no terminating COMMIT/XID event: one statement, e.g. DDL. */
export const FL_STANDALONE = 0x01;
/** The group was part of a group commit; `commitId` is present and shared by the group. */
export const FL_GROUP_COMMIT_ID = 0x02;
/** The group can be rolled back safely (transactional engines only). */
export const FL_TRANSACTIONAL = 0x04;
/** The group may be applied in parallel with others of the same commit id. */
export const FL_ALLOW_PARALLEL = 0x08;
/** The group waited on a row lock of another transaction on the primary. */
export const FL_WAITED = 0x10;
/** The group is DDL. */
export const FL_DDL = 0x20;
/** An XA PREPARE group; `xid` is present. */
export const FL_PREPARED_XA = 0x40;
/** An XA COMMIT/ROLLBACK group; `xid` is present. */
export const FL_COMPLETED_XA = 0x80;

/** flags_extra bits (MariaDB 10.8+). */
export const FL_EXTRA_MULTI_ENGINE = 0x01;
export const FL_START_ALTER = 0x02;
export const FL_COMMIT_ALTER = 0x04;
export const FL_ROLLBACK_ALTER = 0x08;

/** Bytes of the fixed part: seq_no, domain_id, flags2, then commit_id or 6 bytes of padding. */
const gtidFixedBytes = 19;

export interface XaId {
  readonly formatId: number;
  readonly gtrid: Buffer;
  readonly bqual: Buffer;
}

/**
 * MariaDB GTID (type 162): starts every event group. The GTID itself is
 * `${domainId}-${header.serverId}-${sequenceNumber}`: the server id is the event header's.
 */
export interface GtidEvent {
  readonly kind: 'gtid';
  readonly sequenceNumber: bigint;
  readonly domainId: number;
  readonly flags: number;
  /** Present exactly when `flags & FL_GROUP_COMMIT_ID`. */
  readonly commitId?: bigint;
  /** Present exactly when `flags & (FL_PREPARED_XA | FL_COMPLETED_XA)`. */
  readonly xid?: XaId;
  /** MariaDB 10.8+ extra flags; 0 when absent. */
  readonly flagsExtra: number;
  readonly extraEngines?: number;
  /** The sequence number of the START ALTER this COMMIT/ROLLBACK ALTER completes. */
  readonly startAlterSequenceNumber?: bigint;
}

export function readGtidBody(reader: ByteReader): GtidEvent {
  const sequenceNumber = reader.u64('seq_no');
  const domainId = reader.u32('domain_id');
  const flags = reader.u8('flags2');
  let commitId: bigint | undefined;
  if ((flags & FL_GROUP_COMMIT_ID) !== 0) {
    commitId = reader.u64('commit_id');
  } else {
    reader.skip(gtidFixedBytes - 13, 'padding');
  }
  let xid: XaId | undefined;
  if ((flags & (FL_PREPARED_XA | FL_COMPLETED_XA)) !== 0) {
    const formatId = reader.u32('xid format_id');
    const gtridBytes = reader.u8('xid gtrid_length');
    const bqualBytes = reader.u8('xid bqual_length');
    xid = {
      formatId,
      gtrid: reader.bytes(gtridBytes, 'xid gtrid'),
      bqual: reader.bytes(bqualBytes, 'xid bqual'),
    };
  }
  let flagsExtra = 0;
  let extraEngines: number | undefined;
  let startAlterSequenceNumber: bigint | undefined;
  if (!reader.atEnd) {
    flagsExtra = reader.u8('flags_extra');
    if ((flagsExtra & FL_EXTRA_MULTI_ENGINE) !== 0) extraEngines = reader.u8('extra_engines');
    if ((flagsExtra & (FL_COMMIT_ALTER | FL_ROLLBACK_ALTER)) !== 0)
      startAlterSequenceNumber = reader.u64('sa_seq_no');
    // Later servers may append more; they are ignored, as MariaDB's own reader ignores them.
    reader.rest();
  }
  return {
    kind: 'gtid',
    sequenceNumber,
    domainId,
    flags,
    ...(commitId === undefined ? {} : { commitId }),
    ...(xid === undefined ? {} : { xid }),
    flagsExtra,
    ...(extraEngines === undefined ? {} : { extraEngines }),
    ...(startAlterSequenceNumber === undefined ? {} : { startAlterSequenceNumber }),
  };
}

export function writeGtidBody(writer: ByteWriter, event: GtidEvent): void {
  writer.u64(event.sequenceNumber).u32(event.domainId).u8(event.flags);
  if ((event.flags & FL_GROUP_COMMIT_ID) !== 0) writer.u64(event.commitId ?? 0n);
  else writer.zeros(gtidFixedBytes - 13);
  if ((event.flags & (FL_PREPARED_XA | FL_COMPLETED_XA)) !== 0) {
    const xid = event.xid ?? { formatId: 0, gtrid: Buffer.alloc(0), bqual: Buffer.alloc(0) };
    writer.u32(xid.formatId).u8(xid.gtrid.length).u8(xid.bqual.length).bytes(xid.gtrid).bytes(xid.bqual);
  }
  if (event.flagsExtra !== 0) {
    writer.u8(event.flagsExtra);
    if ((event.flagsExtra & FL_EXTRA_MULTI_ENGINE) !== 0) writer.u8(event.extraEngines ?? 0);
    if ((event.flagsExtra & (FL_COMMIT_ALTER | FL_ROLLBACK_ALTER)) !== 0) {
      writer.u64(event.startAlterSequenceNumber ?? 0n);
    }
  }
}

import { ByteReader } from '../byte-reader.js';
import { ByteWriter } from '../byte-writer.js';
import { type Decoded, decodedError, decodeSafely, unreachable } from '../decoded.js';
import {
  type AnnotateRowsEvent,
  readAnnotateRowsBody,
  writeAnnotateRowsBody,
} from './annotate-rows-event.js';
import {
  type BinlogCheckpointEvent,
  readBinlogCheckpointBody,
  writeBinlogCheckpointBody,
} from './binlog-checkpoint-event.js';
import {
  appendChecksum,
  type BinlogChecksumAlgorithm,
  binlogChecksumBytes,
  binlogCrc32,
  verifyAndStripChecksum,
} from './binlog-checksum.js';
import {
  type BinlogEventHeader,
  binlogEventHeaderBytes,
  LOG_EVENT_BINLOG_IN_USE_F,
  readBinlogEventHeader,
  writeBinlogEventHeader,
} from './binlog-event-header.js';
import { BinlogEventType, rowsEventTypeCode, rowsEventTypeInfo } from './binlog-event-type.js';
import {
  type FormatDescriptionEvent,
  formatDescriptionTrailerBytes,
  readFormatDescriptionBody,
  writeFormatDescriptionBody,
} from './format-description-event.js';
import { type GtidEvent, readGtidBody, writeGtidBody } from './gtid-event.js';
import { type GtidListEvent, readGtidListBody, writeGtidListBody } from './gtid-list-event.js';
import { type HeartbeatEvent, readHeartbeatBody, writeHeartbeatBody } from './heartbeat-event.js';
import { type IntvarEvent, readIntvarBody, writeIntvarBody } from './intvar-event.js';
import { type QueryEvent, readQueryBody, writeQueryBody } from './query-event.js';
import { type RandEvent, readRandBody, writeRandBody } from './rand-event.js';
import { type RotateEvent, readRotateBody, writeRotateBody } from './rotate-event.js';
import { type RowsEvent, readRowsBody, writeRowsBody } from './rows-event.js';
import { tableIdWidth } from './table-id.js';
import { readTableMapBody, type TableMapEvent, writeTableMapBody } from './table-map-event.js';
import { readUserVarBody, type UserVarEvent, writeUserVarBody } from './user-var-event.js';
import { readXidBody, writeXidBody, type XidEvent } from './xid-event.js';

/** Any event type this codec does not decode: its body (no header, no checksum) as stored. */
export interface OpaqueEvent {
  readonly kind: 'opaque';
  readonly typeCode: number;
  readonly body: Buffer;
}

export type BinlogEventBody =
  | FormatDescriptionEvent
  | RotateEvent
  | GtidEvent
  | GtidListEvent
  | BinlogCheckpointEvent
  | TableMapEvent
  | RowsEvent
  | QueryEvent
  | XidEvent
  | AnnotateRowsEvent
  | HeartbeatEvent
  | IntvarEvent
  | RandEvent
  | UserVarEvent
  | OpaqueEvent;

export interface BinlogEvent {
  readonly header: BinlogEventHeader;
  readonly body: BinlogEventBody;
}

/**
 * What decoding an event needs besides its bytes: the stream's checksum algorithm and the
 * post-header lengths, both from the FORMAT_DESCRIPTION event. Before that event arrives in a
 * dump stream, the checksum is the one the replica announced (`@master_binlog_checksum`).
 */
export interface BinlogDecodeContext {
  readonly checksum: BinlogChecksumAlgorithm;
  /** Index i is the post-header length of event type i + 1; absent: MariaDB 10.x defaults. */
  readonly postHeaderLengths?: readonly number[];
}

export function binlogDecodeContextFrom(event: FormatDescriptionEvent): BinlogDecodeContext {
  return { checksum: event.checksumAlgorithm, postHeaderLengths: event.postHeaderLengths };
}

function postHeaderBytes(context: BinlogDecodeContext, typeCode: number): number | undefined {
  return context.postHeaderLengths?.[typeCode - 1];
}

/**
 * Decodes one whole event (header, body and, per `context.checksum`, a CRC32 trailer, which is
 * verified). A FORMAT_DESCRIPTION event describes its own checksum and ignores `context`. Byte
 * fields of the result share memory with `bytes`.
 */
export function decodeBinlogEvent(bytes: Uint8Array, context: BinlogDecodeContext): Decoded<BinlogEvent> {
  const headerReader = new ByteReader(bytes, 'binlog event');
  const header = decodeSafely(() => readBinlogEventHeader(headerReader));
  if (!header.ok) return header;
  if (header.value.eventBytes !== bytes.length) {
    return decodedError(
      bytes.length < header.value.eventBytes ? 'TRUNCATED' : 'MALFORMED',
      `binlog event header says ${header.value.eventBytes} bytes, got ${bytes.length}`,
    );
  }
  if (header.value.typeCode === BinlogEventType.formatDescription)
    return decodeFormatDescription(bytes, header.value);
  const stripped = verifyAndStripChecksum(bytes, context.checksum);
  if (!stripped.ok) return stripped;
  const what = `binlog event type ${header.value.typeCode} at log_pos ${header.value.nextPosition}`;
  return decodeSafely(() => {
    const reader = new ByteReader(stripped.value, what, binlogEventHeaderBytes);
    return { header: header.value, body: readBody(reader, header.value.typeCode, context) };
  });
}

function decodeFormatDescription(bytes: Uint8Array, header: BinlogEventHeader): Decoded<BinlogEvent> {
  return decodeSafely(() => {
    const end = bytes.length - binlogChecksumBytes;
    const reader = new ByteReader(
      bytes,
      'FORMAT_DESCRIPTION event',
      binlogEventHeaderBytes,
      Math.max(end, binlogEventHeaderBytes),
    );
    if (end < binlogEventHeaderBytes + formatDescriptionTrailerBytes)
      reader.fail('too short for a v4 FORMAT_DESCRIPTION');
    const body = readFormatDescriptionBody(reader);
    if (body.checksumAlgorithm === 'crc32') {
      const stored = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readUInt32LE(end);
      const computed = formatDescriptionCrc32(bytes.subarray(0, end));
      if (stored !== computed)
        reader.fail(
          `checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)})`,
        );
    }
    return { header, body };
  });
}

/**
 * MariaDB sets LOG_EVENT_BINLOG_IN_USE_F in the FORMAT_DESCRIPTION of the binlog file it is
 * writing, in place, after computing the checksum (and clears it on a clean close). The checksum
 * therefore covers the header with that flag clear.
 */
function formatDescriptionCrc32(bytes: Uint8Array): number {
  const copy = Buffer.from(bytes);
  copy.writeUInt16LE(copy.readUInt16LE(17) & ~LOG_EVENT_BINLOG_IN_USE_F, 17);
  return binlogCrc32(copy);
}

function readBody(reader: ByteReader, typeCode: number, context: BinlogDecodeContext): BinlogEventBody {
  const rows = rowsEventTypeInfo(typeCode);
  if (rows !== undefined) return readRowsBody(reader, rows, tableIdWidth(postHeaderBytes(context, typeCode)));
  switch (typeCode) {
    case BinlogEventType.rotate:
      return readRotateBody(reader);
    case BinlogEventType.mariadbGtid:
      return readGtidBody(reader);
    case BinlogEventType.mariadbGtidList:
      return readGtidListBody(reader);
    case BinlogEventType.binlogCheckpoint:
      return readBinlogCheckpointBody(reader);
    case BinlogEventType.tableMap:
      return readTableMapBody(reader, tableIdWidth(postHeaderBytes(context, typeCode)));
    case BinlogEventType.query:
      return readQueryBody(reader, postHeaderBytes(context, typeCode));
    case BinlogEventType.xid:
      return readXidBody(reader);
    case BinlogEventType.annotateRows:
      return readAnnotateRowsBody(reader);
    case BinlogEventType.heartbeat:
      return readHeartbeatBody(reader);
    case BinlogEventType.intvar:
      return readIntvarBody(reader);
    case BinlogEventType.rand:
      return readRandBody(reader);
    case BinlogEventType.userVar:
      return readUserVarBody(reader);
    default:
      return { kind: 'opaque', typeCode, body: reader.rest() };
  }
}

/** The type code an event body is written with. */
export function binlogEventTypeCodeOf(body: BinlogEventBody): number {
  switch (body.kind) {
    case 'format_description':
      return BinlogEventType.formatDescription;
    case 'rotate':
      return BinlogEventType.rotate;
    case 'gtid':
      return BinlogEventType.mariadbGtid;
    case 'gtid_list':
      return BinlogEventType.mariadbGtidList;
    case 'binlog_checkpoint':
      return BinlogEventType.binlogCheckpoint;
    case 'table_map':
      return BinlogEventType.tableMap;
    case 'rows':
      return rowsEventTypeCode(body);
    case 'query':
      return BinlogEventType.query;
    case 'xid':
      return BinlogEventType.xid;
    case 'annotate_rows':
      return BinlogEventType.annotateRows;
    case 'heartbeat':
      return BinlogEventType.heartbeat;
    case 'intvar':
      return BinlogEventType.intvar;
    case 'rand':
      return BinlogEventType.rand;
    case 'user_var':
      return BinlogEventType.userVar;
    case 'opaque':
      return body.typeCode;
    default:
      return unreachable(body);
  }
}

function writeBody(writer: ByteWriter, body: BinlogEventBody): void {
  switch (body.kind) {
    case 'format_description':
      writeFormatDescriptionBody(writer, body);
      return;
    case 'rotate':
      writeRotateBody(writer, body);
      return;
    case 'gtid':
      writeGtidBody(writer, body);
      return;
    case 'gtid_list':
      writeGtidListBody(writer, body);
      return;
    case 'binlog_checkpoint':
      writeBinlogCheckpointBody(writer, body);
      return;
    case 'table_map':
      writeTableMapBody(writer, body);
      return;
    case 'rows':
      writeRowsBody(writer, body);
      return;
    case 'query':
      writeQueryBody(writer, body);
      return;
    case 'xid':
      writeXidBody(writer, body);
      return;
    case 'annotate_rows':
      writeAnnotateRowsBody(writer, body);
      return;
    case 'heartbeat':
      writeHeartbeatBody(writer, body);
      return;
    case 'intvar':
      writeIntvarBody(writer, body);
      return;
    case 'rand':
      writeRandBody(writer, body);
      return;
    case 'user_var':
      writeUserVarBody(writer, body);
      return;
    case 'opaque':
      writer.bytes(body.body);
      return;
    default:
      unreachable(body);
  }
}

/**
 * Encodes an event: header (type code from the body, `eventBytes` computed), body and, per
 * `checksum`, a CRC32 trailer. A FORMAT_DESCRIPTION event always carries its CRC32 (see below). Table ids are written as 6 bytes (MariaDB 10.x).
 */
export function encodeBinlogEvent(event: BinlogEvent, checksum: BinlogChecksumAlgorithm): Buffer {
  const writer = new ByteWriter(binlogEventHeaderBytes + 64);
  writeBinlogEventHeader(writer, {
    ...event.header,
    typeCode: binlogEventTypeCodeOf(event.body),
    eventBytes: 0,
  });
  writeBody(writer, event.body);
  // MariaDB fills a FORMAT_DESCRIPTION's checksum slot with the real CRC32 even when the
  // binlog's algorithm is 'none', so that event always gets one.
  const algorithm = event.body.kind === 'format_description' ? 'crc32' : checksum;
  writer.patchU32(9, writer.length + (algorithm === 'crc32' ? binlogChecksumBytes : 0));
  const bytes = writer.finish();
  if (event.body.kind !== 'format_description') return appendChecksum(bytes, algorithm);
  const out = Buffer.alloc(bytes.length + binlogChecksumBytes);
  bytes.copy(out);
  out.writeUInt32LE(formatDescriptionCrc32(bytes), bytes.length);
  return out;
}

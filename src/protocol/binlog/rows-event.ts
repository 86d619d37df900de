import type { ByteReader } from '../byte-reader.js';
import type { ByteWriter } from '../byte-writer.js';
import { assert } from '../decoded.js';
import type { RowsEventTypeInfo } from './binlog-event-type.js';
import { readTableId } from './table-id.js';

/** Row-event flag: the last row event of its statement; table maps may be released after it. */
export const ROWS_STMT_END_F = 0x0001;
export const ROWS_NO_FOREIGN_KEY_CHECKS_F = 0x0002;
export const ROWS_RELAXED_UNIQUE_CHECKS_F = 0x0004;
export const ROWS_COMPLETE_ROWS_F = 0x0008;

/**
 * WRITE/UPDATE/DELETE_ROWS, v1 (which MariaDB writes), v2 (MySQL 5.6+) and MariaDB's compressed
 * variants. Decoded up to the row images, which stay raw (`rows`): the applier replays the whole
 * event with `BINLOG '...'`, and full value decoding needs the table map's column metadata.
 * For compressed variants `rows` is the compressed block, as stored.
 */
export interface RowsEvent extends RowsEventTypeInfo {
  readonly kind: 'rows';
  readonly tableId: number;
  readonly flags: number;
  /** v2 only: the extra-data block after its 2-byte length (empty when none). */
  readonly extraData: Buffer;
  readonly columnCount: number;
  readonly columnsPresent: Buffer;
  /** UPDATE only: which columns the after image holds. */
  readonly columnsPresentAfter?: Buffer;
  readonly rows: Buffer;
}

export function readRowsBody(reader: ByteReader, info: RowsEventTypeInfo, tableIdBytes: 4 | 6): RowsEvent {
  const tableId = readTableId(reader, tableIdBytes);
  const flags = reader.u16('flags');
  let extraData: Buffer = Buffer.alloc(0);
  if (info.version === 2) {
    const extraBytes = reader.u16('extra_data_length');
    if (extraBytes < 2) reader.fail(`extra_data_length ${extraBytes} is below its own 2 bytes`);
    extraData = reader.bytes(extraBytes - 2, 'extra_data');
  }
  const columnCount = reader.lenencInt('column_count');
  const bitmapBytes = Math.ceil(columnCount / 8);
  const columnsPresent = reader.bytes(bitmapBytes, 'columns_present');
  const columnsPresentAfter =
    info.rowsKind === 'update' ? reader.bytes(bitmapBytes, 'columns_present_after') : undefined;
  const rows = reader.rest();
  return {
    kind: 'rows',
    ...info,
    tableId,
    flags,
    extraData,
    columnCount,
    columnsPresent,
    ...(columnsPresentAfter === undefined ? {} : { columnsPresentAfter }),
    rows,
  };
}

export function writeRowsBody(writer: ByteWriter, event: RowsEvent): void {
  const bitmapBytes = Math.ceil(event.columnCount / 8);
  assert(event.columnsPresent.length === bitmapBytes, 'columnsPresent length matches columnCount');
  writer.u48(event.tableId).u16(event.flags);
  if (event.version === 2) writer.u16(event.extraData.length + 2).bytes(event.extraData);
  writer.lenencInt(event.columnCount).bytes(event.columnsPresent);
  if (event.rowsKind === 'update') {
    const after = event.columnsPresentAfter ?? event.columnsPresent;
    assert(after.length === bitmapBytes, 'columnsPresentAfter length matches columnCount');
    writer.bytes(after);
  }
  writer.bytes(event.rows);
}

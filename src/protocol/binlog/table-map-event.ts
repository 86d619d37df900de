import type { ByteReader } from '../byte-reader.js';
import type { ByteWriter } from '../byte-writer.js';
import { readTableId } from './table-id.js';

/**
 * TABLE_MAP (type 19): binds a table id to a table and describes its columns for the row events
 * that follow in the same event group. Column metadata and the optional metadata block
 * (`binlog_row_metadata`) stay raw: replaying rows with `BINLOG '...'` needs only the bytes.
 */
export interface TableMapEvent {
  readonly kind: 'table_map';
  readonly tableId: number;
  readonly flags: number;
  readonly schemaName: string;
  readonly tableName: string;
  readonly columnTypes: Buffer;
  readonly columnMetadata: Buffer;
  readonly nullBitmap: Buffer;
  readonly optionalMetadata: Buffer;
}

export function readTableMapBody(reader: ByteReader, tableIdBytes: 4 | 6): TableMapEvent {
  const tableId = readTableId(reader, tableIdBytes);
  const flags = reader.u16('flags');
  const schemaName = reader.string(reader.u8('schema_name_length'), 'schema_name');
  if (reader.u8('schema_name NUL') !== 0) reader.fail('schema_name is not NUL-terminated');
  const tableName = reader.string(reader.u8('table_name_length'), 'table_name');
  if (reader.u8('table_name NUL') !== 0) reader.fail('table_name is not NUL-terminated');
  const columnCount = reader.lenencInt('column_count');
  const columnTypes = reader.bytes(columnCount, 'column_types');
  const columnMetadata = reader.lenencBytes('column_metadata');
  const nullBitmap = reader.bytes(Math.ceil(columnCount / 8), 'null_bitmap');
  const optionalMetadata = reader.rest();
  return {
    kind: 'table_map',
    tableId,
    flags,
    schemaName,
    tableName,
    columnTypes,
    columnMetadata,
    nullBitmap,
    optionalMetadata,
  };
}

export function writeTableMapBody(writer: ByteWriter, event: TableMapEvent): void {
  const schema = Buffer.from(event.schemaName, 'utf8');
  const table = Buffer.from(event.tableName, 'utf8');
  writer
    .u48(event.tableId)
    .u16(event.flags)
    .u8(schema.length)
    .bytes(schema)
    .u8(0)
    .u8(table.length)
    .bytes(table)
    .u8(0)
    .lenencInt(event.columnTypes.length)
    .bytes(event.columnTypes)
    .lenencBytes(event.columnMetadata)
    .bytes(event.nullBitmap)
    .bytes(event.optionalMetadata);
}

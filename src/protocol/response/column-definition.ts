import { ByteReader } from '../byte-reader.js';
import { ByteWriter } from '../byte-writer.js';
import { type Decoded, decodeSafely } from '../decoded.js';

/** Length of the fixed-length fields block of a ColumnDefinition41. */
const fixedFieldsBytes = 0x0c;

/** Column types as the protocol numbers them (the subset WolfScale's own result sets use). */
export const ColumnType = {
  tiny: 0x01,
  long: 0x03,
  longlong: 0x08,
  varString: 0xfd,
  string: 0xfe,
  blob: 0xfc,
} as const;

/**
 * ColumnDefinition41. With MARIADB_CLIENT_EXTENDED_TYPE_INFO negotiated, MariaDB adds a block of
 * extended metadata (e.g. the JSON or UUID data type name) after `originalName`; it is kept raw.
 */
export interface ColumnDefinition {
  readonly catalog: string;
  readonly schema: string;
  readonly table: string;
  readonly originalTable: string;
  readonly name: string;
  readonly originalName: string;
  /** Present exactly when extended type info was negotiated. */
  readonly extendedMetadata?: Buffer;
  readonly characterSet: number;
  readonly columnLength: number;
  readonly type: number;
  readonly flags: number;
  readonly decimals: number;
}

export function decodeColumnDefinition(
  payload: Uint8Array,
  options: { readonly extendedTypeInfo?: boolean } = {},
): Decoded<ColumnDefinition> {
  return decodeSafely(() => {
    const reader = new ByteReader(payload, 'column definition');
    const catalog = reader.lenencString('catalog');
    const schema = reader.lenencString('schema');
    const table = reader.lenencString('table');
    const originalTable = reader.lenencString('org_table');
    const name = reader.lenencString('name');
    const originalName = reader.lenencString('org_name');
    const extendedMetadata =
      options.extendedTypeInfo === true ? reader.lenencBytes('extended metadata') : undefined;
    const fixed = reader.lenencInt('length of fixed fields');
    if (fixed < 10) reader.fail(`fixed fields block of ${fixed} bytes`);
    const characterSet = reader.u16('character set');
    const columnLength = reader.u32('column length');
    const type = reader.u8('type');
    const flags = reader.u16('flags');
    const decimals = reader.u8('decimals');
    return {
      catalog,
      schema,
      table,
      originalTable,
      name,
      originalName,
      ...(extendedMetadata === undefined ? {} : { extendedMetadata }),
      characterSet,
      columnLength,
      type,
      flags,
      decimals,
    };
  });
}

export function encodeColumnDefinition(column: ColumnDefinition): Buffer {
  const writer = new ByteWriter(64)
    .lenencString(column.catalog)
    .lenencString(column.schema)
    .lenencString(column.table)
    .lenencString(column.originalTable)
    .lenencString(column.name)
    .lenencString(column.originalName);
  if (column.extendedMetadata !== undefined) writer.lenencBytes(column.extendedMetadata);
  return writer
    .lenencInt(fixedFieldsBytes)
    .u16(column.characterSet)
    .u32(column.columnLength)
    .u8(column.type)
    .u16(column.flags)
    .u8(column.decimals)
    .zeros(2)
    .finish();
}

/** A VARCHAR utf8mb4 column for result sets WolfScale produces itself. */
export function textColumn(name: string): ColumnDefinition {
  return {
    catalog: 'def',
    schema: '',
    table: '',
    originalTable: '',
    name,
    originalName: name,
    characterSet: 45,
    columnLength: 1024,
    type: ColumnType.varString,
    flags: 0,
    decimals: 0x1f,
  };
}

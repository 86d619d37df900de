/**
 * Binlog event type codes (byte 4 of the event header), MySQL's and MariaDB's. Only the types
 * this codec decodes get a structure; every other type passes through as opaque bytes.
 */
export const BinlogEventType = {
  unknown: 0,
  startV3: 1,
  query: 2,
  stop: 3,
  rotate: 4,
  intvar: 5,
  rand: 13,
  userVar: 14,
  formatDescription: 15,
  xid: 16,
  beginLoadQuery: 17,
  executeLoadQuery: 18,
  tableMap: 19,
  writeRowsV0: 20,
  updateRowsV0: 21,
  deleteRowsV0: 22,
  writeRowsV1: 23,
  updateRowsV1: 24,
  deleteRowsV1: 25,
  incident: 26,
  heartbeat: 27,
  ignorable: 28,
  rowsQuery: 29,
  writeRowsV2: 30,
  updateRowsV2: 31,
  deleteRowsV2: 32,
  mysqlGtid: 33,
  mysqlAnonymousGtid: 34,
  mysqlPreviousGtids: 35,
  heartbeatV2: 41,
  // MariaDB's own types start at 160.
  annotateRows: 160,
  binlogCheckpoint: 161,
  mariadbGtid: 162,
  mariadbGtidList: 163,
  startEncryption: 164,
  queryCompressed: 165,
  writeRowsCompressedV1: 166,
  updateRowsCompressedV1: 167,
  deleteRowsCompressedV1: 168,
  writeRowsCompressed: 169,
  updateRowsCompressed: 170,
  deleteRowsCompressed: 171,
} as const;

export type BinlogEventTypeName = keyof typeof BinlogEventType;

const namesByCode = new Map<number, BinlogEventTypeName>(
  (Object.entries(BinlogEventType) as Array<[BinlogEventTypeName, number]>).map(([name, code]) => [
    code,
    name,
  ]),
);

/** The name of a type code, or `type_<code>` for one this codec does not know. */
export function binlogEventTypeName(code: number): string {
  return namesByCode.get(code) ?? `type_${code}`;
}

/** The row-event types and what their rows are: the kind, version and whether rows are compressed. */
export interface RowsEventTypeInfo {
  readonly rowsKind: 'write' | 'update' | 'delete';
  readonly version: 1 | 2;
  readonly compressed: boolean;
}

export function rowsEventTypeInfo(code: number): RowsEventTypeInfo | undefined {
  switch (code) {
    case BinlogEventType.writeRowsV1:
      return { rowsKind: 'write', version: 1, compressed: false };
    case BinlogEventType.updateRowsV1:
      return { rowsKind: 'update', version: 1, compressed: false };
    case BinlogEventType.deleteRowsV1:
      return { rowsKind: 'delete', version: 1, compressed: false };
    case BinlogEventType.writeRowsV2:
      return { rowsKind: 'write', version: 2, compressed: false };
    case BinlogEventType.updateRowsV2:
      return { rowsKind: 'update', version: 2, compressed: false };
    case BinlogEventType.deleteRowsV2:
      return { rowsKind: 'delete', version: 2, compressed: false };
    case BinlogEventType.writeRowsCompressedV1:
      return { rowsKind: 'write', version: 1, compressed: true };
    case BinlogEventType.updateRowsCompressedV1:
      return { rowsKind: 'update', version: 1, compressed: true };
    case BinlogEventType.deleteRowsCompressedV1:
      return { rowsKind: 'delete', version: 1, compressed: true };
    case BinlogEventType.writeRowsCompressed:
      return { rowsKind: 'write', version: 2, compressed: true };
    case BinlogEventType.updateRowsCompressed:
      return { rowsKind: 'update', version: 2, compressed: true };
    case BinlogEventType.deleteRowsCompressed:
      return { rowsKind: 'delete', version: 2, compressed: true };
    default:
      return undefined;
  }
}

/** The type code of a row event of the given shape. */
export function rowsEventTypeCode(info: RowsEventTypeInfo): number {
  const table = {
    write: [
      [BinlogEventType.writeRowsV1, BinlogEventType.writeRowsCompressedV1],
      [BinlogEventType.writeRowsV2, BinlogEventType.writeRowsCompressed],
    ],
    update: [
      [BinlogEventType.updateRowsV1, BinlogEventType.updateRowsCompressedV1],
      [BinlogEventType.updateRowsV2, BinlogEventType.updateRowsCompressed],
    ],
    delete: [
      [BinlogEventType.deleteRowsV1, BinlogEventType.deleteRowsCompressedV1],
      [BinlogEventType.deleteRowsV2, BinlogEventType.deleteRowsCompressed],
    ],
  } as const;
  return table[info.rowsKind][info.version - 1]![info.compressed ? 1 : 0]!;
}

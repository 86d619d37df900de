import type { ByteReader } from '../byte-reader.js';

/**
 * TABLE_MAP and row events start with a table id of 6 bytes, or 4 on servers whose
 * FORMAT_DESCRIPTION gives these events a 6-byte post-header (MySQL 5.1.x and older).
 */
export function tableIdWidth(postHeaderBytes: number | undefined): 4 | 6 {
  return postHeaderBytes === 6 ? 4 : 6;
}

export function readTableId(reader: ByteReader, width: 4 | 6): number {
  return width === 4 ? reader.u32('table_id') : reader.u48('table_id');
}

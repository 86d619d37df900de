import { ByteReader } from '../byte-reader.js';
import { ByteWriter } from '../byte-writer.js';
import { type Decoded, decodeSafely } from '../decoded.js';
import { CommandCode } from './command-code.js';

/** COM_STMT_PREPARE: the SQL of one statement with `?` placeholders. */
export function encodeComStmtPrepare(sql: string | Uint8Array): Buffer {
  const bytes = typeof sql === 'string' ? Buffer.from(sql, 'utf8') : sql;
  return new ByteWriter(bytes.length + 1).u8(CommandCode.stmtPrepare).bytes(bytes).finish();
}

export function decodeComStmtPrepare(payload: Uint8Array): Decoded<Buffer> {
  return decodeSafely(() => {
    const reader = new ByteReader(payload, 'COM_STMT_PREPARE');
    if (reader.u8('command') !== CommandCode.stmtPrepare) reader.fail('not COM_STMT_PREPARE');
    return reader.rest();
  });
}

/**
 * COM_STMT_PREPARE_OK: the server's statement id and how many parameter and column definitions
 * follow. `metadataFollows` is present with MARIADB_CLIENT_CACHE_METADATA.
 */
export interface StmtPrepareOk {
  readonly statementId: number;
  readonly columnCount: number;
  readonly parameterCount: number;
  readonly warnings: number;
  readonly metadataFollows?: boolean;
}

export function decodeStmtPrepareOk(payload: Uint8Array): Decoded<StmtPrepareOk> {
  return decodeSafely(() => {
    const reader = new ByteReader(payload, 'COM_STMT_PREPARE_OK');
    if (reader.u8('status') !== 0) reader.fail('not COM_STMT_PREPARE_OK');
    const statementId = reader.u32('statement id');
    const columnCount = reader.u16('column count');
    const parameterCount = reader.u16('parameter count');
    reader.skip(1, 'filler');
    const warnings = reader.atEnd ? 0 : reader.u16('warnings');
    const metadataFollows = reader.atEnd ? undefined : reader.u8('metadata follows') !== 0;
    return {
      statementId,
      columnCount,
      parameterCount,
      warnings,
      ...(metadataFollows === undefined ? {} : { metadataFollows }),
    };
  });
}

export function encodeStmtPrepareOk(ok: StmtPrepareOk): Buffer {
  const writer = new ByteWriter(13)
    .u8(0)
    .u32(ok.statementId)
    .u16(ok.columnCount)
    .u16(ok.parameterCount)
    .u8(0)
    .u16(ok.warnings);
  if (ok.metadataFollows !== undefined) writer.u8(ok.metadataFollows ? 1 : 0);
  return writer.finish();
}

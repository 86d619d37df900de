import { ByteReader } from '../byte-reader.js';
import { ByteWriter } from '../byte-writer.js';
import { type Decoded, decodeSafely } from '../decoded.js';
import { CommandCode } from './command-code.js';

export const CursorType = { noCursor: 0, readOnly: 1, forUpdate: 2, scrollable: 4 } as const;

/**
 * COM_STMT_EXECUTE, decoded only as far as routing needs: the statement id (0xFFFFFFFF = the one
 * just prepared, see `lastPreparedStatementId`), cursor flags and iteration count. The parameter
 * block (null bitmap, types, values) stays raw: decoding it needs the parameter count from the
 * prepare, and a proxy forwards it unchanged.
 */
export interface ComStmtExecute {
  readonly statementId: number;
  readonly flags: number;
  readonly iterationCount: number;
  readonly parameters: Buffer;
}

export function decodeComStmtExecute(payload: Uint8Array): Decoded<ComStmtExecute> {
  return decodeSafely(() => {
    const reader = new ByteReader(payload, 'COM_STMT_EXECUTE');
    if (reader.u8('command') !== CommandCode.stmtExecute) reader.fail('not COM_STMT_EXECUTE');
    return {
      statementId: reader.u32('statement id'),
      flags: reader.u8('flags'),
      iterationCount: reader.u32('iteration count'),
      parameters: reader.rest(),
    };
  });
}

export function encodeComStmtExecute(execute: ComStmtExecute): Buffer {
  return new ByteWriter(10 + execute.parameters.length)
    .u8(CommandCode.stmtExecute)
    .u32(execute.statementId)
    .u8(execute.flags)
    .u32(execute.iterationCount)
    .bytes(execute.parameters)
    .finish();
}

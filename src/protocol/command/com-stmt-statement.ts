import { ByteReader } from '../byte-reader.js';
import { ByteWriter } from '../byte-writer.js';
import { type Decoded, decodeSafely } from '../decoded.js';
import { CommandCode } from './command-code.js';

/**
 * The commands that name one prepared statement: COM_STMT_CLOSE (no response), COM_STMT_RESET
 * (OK/ERR) and COM_STMT_SEND_LONG_DATA (no response; a chunk of one parameter's value).
 */
export type StatementCommand =
  | { readonly kind: 'stmt_close'; readonly statementId: number }
  | { readonly kind: 'stmt_reset'; readonly statementId: number }
  | {
      readonly kind: 'stmt_send_long_data';
      readonly statementId: number;
      readonly parameterId: number;
      readonly data: Buffer;
    };

export function encodeStatementCommand(command: StatementCommand): Buffer {
  switch (command.kind) {
    case 'stmt_close':
      return new ByteWriter(5).u8(CommandCode.stmtClose).u32(command.statementId).finish();
    case 'stmt_reset':
      return new ByteWriter(5).u8(CommandCode.stmtReset).u32(command.statementId).finish();
    case 'stmt_send_long_data':
      return new ByteWriter(7 + command.data.length)
        .u8(CommandCode.stmtSendLongData)
        .u32(command.statementId)
        .u16(command.parameterId)
        .bytes(command.data)
        .finish();
  }
}

export function decodeStatementCommand(payload: Uint8Array): Decoded<StatementCommand> {
  return decodeSafely((): StatementCommand => {
    const reader = new ByteReader(payload, 'statement command');
    const code = reader.u8('command');
    const statementId = reader.u32('statement id');
    switch (code) {
      case CommandCode.stmtClose:
        return { kind: 'stmt_close', statementId };
      case CommandCode.stmtReset:
        return { kind: 'stmt_reset', statementId };
      case CommandCode.stmtSendLongData:
        return {
          kind: 'stmt_send_long_data',
          statementId,
          parameterId: reader.u16('parameter id'),
          data: reader.rest(),
        };
      default:
        return reader.fail(`command 0x${code.toString(16)} is not a statement command`);
    }
  });
}

import { ByteReader } from '../byte-reader.js';
import { type Decoded, decodedOk, decodeSafely } from '../decoded.js';
import { type ComChangeUser, decodeComChangeUser } from './com-change-user.js';
import { type ComStmtExecute, decodeComStmtExecute } from './com-stmt-execute.js';
import { decodeStatementCommand } from './com-stmt-statement.js';
import { CommandCode } from './command-code.js';

/**
 * A client command as a server (the proxy) sees it, decoded only as far as routing needs. SQL
 * stays bytes: it need not be valid UTF-8. `unsupported` covers every other command byte: the
 * server must answer it with an ERR, never silence.
 */
export type ClientCommand =
  | { readonly kind: 'query'; readonly sql: Buffer }
  | { readonly kind: 'init_db'; readonly database: string }
  | { readonly kind: 'ping' }
  | { readonly kind: 'quit' }
  | { readonly kind: 'statistics' }
  | { readonly kind: 'reset_connection' }
  | { readonly kind: 'process_kill'; readonly connectionId: number }
  | { readonly kind: 'field_list'; readonly table: string; readonly wildcard: string }
  | { readonly kind: 'set_option'; readonly option: number }
  | { readonly kind: 'stmt_prepare'; readonly sql: Buffer }
  | ({ readonly kind: 'stmt_execute' } & ComStmtExecute)
  | { readonly kind: 'stmt_close'; readonly statementId: number }
  | { readonly kind: 'stmt_reset'; readonly statementId: number }
  | {
      readonly kind: 'stmt_send_long_data';
      readonly statementId: number;
      readonly parameterId: number;
      readonly data: Buffer;
    }
  | ({ readonly kind: 'change_user' } & ComChangeUser)
  | { readonly kind: 'unsupported'; readonly code: number };

/** Decodes one command packet; `capabilities` (negotiated) matter for COM_CHANGE_USER. */
export function decodeClientCommand(payload: Uint8Array, capabilities: number): Decoded<ClientCommand> {
  const code = payload[0];
  if (code === undefined)
    return decodeSafely(() => new ByteReader(payload, 'command').fail('an empty command packet'));
  switch (code) {
    case CommandCode.query:
      return decodedOk({ kind: 'query', sql: afterCode(payload) });
    case CommandCode.initDb:
      return decodedOk({ kind: 'init_db', database: afterCode(payload).toString('utf8') });
    case CommandCode.ping:
      return decodedOk({ kind: 'ping' });
    case CommandCode.quit:
      return decodedOk({ kind: 'quit' });
    case CommandCode.statistics:
      return decodedOk({ kind: 'statistics' });
    case CommandCode.resetConnection:
      return decodedOk({ kind: 'reset_connection' });
    case CommandCode.stmtPrepare:
      return decodedOk({ kind: 'stmt_prepare', sql: afterCode(payload) });
    case CommandCode.processKill:
      return decodeSafely(() => {
        const reader = new ByteReader(payload, 'COM_PROCESS_KILL', 1);
        return { kind: 'process_kill' as const, connectionId: reader.u32('connection id') };
      });
    case CommandCode.fieldList:
      return decodeSafely(() => {
        const reader = new ByteReader(payload, 'COM_FIELD_LIST', 1);
        return {
          kind: 'field_list' as const,
          table: reader.nulString('table'),
          wildcard: reader.rest().toString('utf8'),
        };
      });
    case CommandCode.setOption:
      return decodeSafely(() => {
        const reader = new ByteReader(payload, 'COM_SET_OPTION', 1);
        return { kind: 'set_option' as const, option: reader.u16('option') };
      });
    case CommandCode.stmtExecute: {
      const execute = decodeComStmtExecute(payload);
      return execute.ok ? decodedOk({ kind: 'stmt_execute', ...execute.value }) : execute;
    }
    case CommandCode.stmtClose:
    case CommandCode.stmtReset:
    case CommandCode.stmtSendLongData:
      return decodeStatementCommand(payload);
    case CommandCode.changeUser: {
      const change = decodeComChangeUser(payload, capabilities);
      return change.ok ? decodedOk({ kind: 'change_user', ...change.value }) : change;
    }
    default:
      return decodedOk({ kind: 'unsupported', code });
  }
}

/** The bytes after the command code, without a copy (a module function: no closure per command). */
function afterCode(payload: Uint8Array): Buffer {
  return Buffer.from(payload.buffer, payload.byteOffset + 1, payload.byteLength - 1);
}

import { describe, expect, test } from 'vitest';
import { Capability, wolfscaleClientCapabilities } from '../../../src/protocol/capabilities.js';
import { decodeClientCommand } from '../../../src/protocol/command/client-command.js';
import { decodeComChangeUser, encodeComChangeUser } from '../../../src/protocol/command/com-change-user.js';
import { encodeComInitDb } from '../../../src/protocol/command/com-init-db.js';
import { encodeComQuery } from '../../../src/protocol/command/com-query.js';
import { encodeComStmtExecute } from '../../../src/protocol/command/com-stmt-execute.js';
import {
  decodeStmtPrepareOk,
  encodeComStmtPrepare,
  encodeStmtPrepareOk,
} from '../../../src/protocol/command/com-stmt-prepare.js';
import {
  decodeStatementCommand,
  encodeStatementCommand,
} from '../../../src/protocol/command/com-stmt-statement.js';
import { CommandCode, lastPreparedStatementId } from '../../../src/protocol/command/command-code.js';
import { encodeSimpleCommand } from '../../../src/protocol/command/simple-command.js';

const capabilities = (wolfscaleClientCapabilities | Capability.connectAttrs) >>> 0;

describe('client commands', () => {
  test('each command decodes to its kind', () => {
    const kinds = [
      encodeComQuery('SELECT 1'),
      encodeComInitDb('app'),
      encodeSimpleCommand(CommandCode.ping),
      encodeSimpleCommand(CommandCode.quit),
      encodeSimpleCommand(CommandCode.resetConnection),
      encodeSimpleCommand(CommandCode.statistics),
      encodeComStmtPrepare('SELECT ?'),
      encodeComStmtExecute({
        statementId: lastPreparedStatementId,
        flags: 0,
        iterationCount: 1,
        parameters: Buffer.from('0001', 'hex'),
      }),
      encodeStatementCommand({ kind: 'stmt_close', statementId: 4 }),
      encodeStatementCommand({ kind: 'stmt_reset', statementId: 4 }),
      encodeStatementCommand({
        kind: 'stmt_send_long_data',
        statementId: 4,
        parameterId: 1,
        data: Buffer.from('blob'),
      }),
      Buffer.from([CommandCode.setOption, 1, 0]),
      Buffer.from([CommandCode.processKill, 7, 0, 0, 0]),
      Buffer.from([CommandCode.fieldList, 0x74, 0]),
      Buffer.from([CommandCode.binlogDumpGtid]),
    ].map((payload) => {
      const decoded = decodeClientCommand(payload, capabilities);
      return decoded.ok ? decoded.value.kind : `error: ${decoded.error.message}`;
    });
    expect(kinds).toEqual([
      'query',
      'init_db',
      'ping',
      'quit',
      'reset_connection',
      'statistics',
      'stmt_prepare',
      'stmt_execute',
      'stmt_close',
      'stmt_reset',
      'stmt_send_long_data',
      'set_option',
      'process_kill',
      'field_list',
      'unsupported',
    ]);
    expect(decodeClientCommand(Buffer.alloc(0), capabilities).ok).toBe(false);
  });

  test('COM_CHANGE_USER, statement commands and PREPARE_OK round-trip', () => {
    const change = {
      user: 'app',
      authResponse: Buffer.alloc(20, 7),
      database: 'db',
      characterSet: 45,
      authPluginName: 'mysql_native_password',
      connectAttributes: new Map([['a', 'b']]),
    };
    const decoded = decodeComChangeUser(encodeComChangeUser(change, capabilities), capabilities);
    expect(decoded.ok && decoded.value).toEqual(change);
    const longData = {
      kind: 'stmt_send_long_data' as const,
      statementId: 9,
      parameterId: 2,
      data: Buffer.from('x'),
    };
    const statement = decodeStatementCommand(encodeStatementCommand(longData));
    expect(statement.ok && statement.value).toEqual(longData);
    const prepareOk = { statementId: 3, columnCount: 2, parameterCount: 1, warnings: 0 };
    const ok = decodeStmtPrepareOk(encodeStmtPrepareOk(prepareOk));
    expect(ok.ok && ok.value).toEqual(prepareOk);
  });
});

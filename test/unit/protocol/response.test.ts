import { describe, expect, test } from 'vitest';
import { Capability, ServerStatus } from '../../../src/protocol/capabilities.js';
import {
  decodeBinlogStreamPacket,
  encodeBinlogStreamEvent,
} from '../../../src/protocol/replication/binlog-stream-packet.js';
import {
  decodeComBinlogDump,
  encodeComBinlogDump,
} from '../../../src/protocol/replication/com-binlog-dump.js';
import {
  decodeComRegisterSlave,
  encodeComRegisterSlave,
} from '../../../src/protocol/replication/com-register-slave.js';
import { dumpSessionStatements } from '../../../src/protocol/replication/dump-session-settings.js';
import { decodeSemiSyncReply, encodeSemiSyncReply } from '../../../src/protocol/replication/semi-sync.js';
import { decodeEofPacket, encodeEofPacket } from '../../../src/protocol/response/eof-packet.js';
import { decodeErrPacket, encodeErrPacket } from '../../../src/protocol/response/err-packet.js';
import {
  decodeOkPacket,
  encodeOkPacket,
  type OkPacket,
  okPacket,
} from '../../../src/protocol/response/ok-packet.js';
import {
  type ResponseExpectation,
  ResponseFramer,
  type ResponseFramerOptions,
} from '../../../src/protocol/response/response-framer.js';

const tracking = (Capability.protocol41 | Capability.sessionTrack) >>> 0;

describe('OK / ERR / EOF', () => {
  test('an OK with session-state tracking (last_gtid, schema) round-trips', () => {
    const ok: OkPacket = okPacket(ServerStatus.autocommit | ServerStatus.sessionStateChanged, {
      affectedRows: 3,
      lastInsertId: 70000,
      info: 'Records: 3',
      sessionStateChanges: [
        { kind: 'system_variable', name: 'last_gtid', value: '0-1-42' },
        { kind: 'schema', schema: 'app' },
        { kind: 'state_change', changed: true },
        { kind: 'transaction_state', state: '________' },
      ],
    });
    const decoded = decodeOkPacket(encodeOkPacket(ok, tracking), tracking);
    expect(decoded.ok && decoded.value).toEqual(ok);
  });

  test('an OK without session tracking carries info as the rest of the packet', () => {
    const ok = okPacket(ServerStatus.inTransaction, { info: 'hello' });
    const decoded = decodeOkPacket(encodeOkPacket(ok, Capability.protocol41), Capability.protocol41);
    expect(decoded.ok && decoded.value).toEqual(ok);
  });

  test('ERR and EOF round-trip', () => {
    const err = { errorCode: 1062, sqlState: '23000', message: "Duplicate entry '1' for key 'PRIMARY'" };
    const decodedErr = decodeErrPacket(encodeErrPacket(err));
    expect(decodedErr.ok && decodedErr.value).toEqual(err);
    const eof = { warnings: 2, statusFlags: ServerStatus.moreResultsExist };
    const decodedEof = decodeEofPacket(encodeEofPacket(eof));
    expect(decodedEof.ok && decodedEof.value).toEqual(eof);
  });
});

/** Feeds packets (hex) to a framer and returns the packet kinds and whether each completed the response. */
function frame(
  expectation: ResponseExpectation,
  options: ResponseFramerOptions,
  packets: string[],
): string[] {
  const framer = new ResponseFramer(expectation, options);
  return packets.map((hex) => {
    const step = framer.next(Buffer.from(hex, 'hex'));
    if (!step.ok) return `error:${step.error.message}`;
    return step.value.complete ? `${step.value.packet}!` : step.value.packet;
  });
}

const column = '03646566000000016100' + '0c2d00ff000000fd00001f0000';
const okEnd = 'fe000002000000';
const okEndMore = 'fe00000a000000';
const eof = 'fe00000200';
const eofMore = 'fe00000a00';

describe('response framing', () => {
  test('text result set with DEPRECATE_EOF ends with an OK (0xFE)', () => {
    expect(frame('query', { deprecateEof: true }, ['01', column, '0131', '0132', okEnd])).toEqual([
      'column_count',
      'column_definition',
      'row',
      'row',
      'ok!',
    ]);
  });

  test('text result set without DEPRECATE_EOF has EOF after the columns and after the rows', () => {
    expect(frame('query', { deprecateEof: false }, ['01', column, eof, '0131', eof])).toEqual([
      'column_count',
      'column_definition',
      'eof',
      'row',
      'eof!',
    ]);
  });

  test('multiple results continue while MORE_RESULTS_EXISTS is set', () => {
    expect(
      frame('query', { deprecateEof: true }, [
        '0000000a000000',
        '01',
        column,
        '0131',
        okEndMore,
        '00000002000000',
      ]),
    ).toEqual(['ok', 'column_count', 'column_definition', 'row', 'ok', 'ok!']);
    expect(frame('query', { deprecateEof: false }, ['01', column, eof, eofMore, '00000002000000'])).toEqual([
      'column_count',
      'column_definition',
      'eof',
      'eof',
      'ok!',
    ]);
  });

  test('an ERR ends the response, also in the middle of rows', () => {
    expect(frame('query', { deprecateEof: true }, ['ff2804233432303030'])).toEqual(['err!']);
    expect(frame('query', { deprecateEof: true }, ['01', column, '0131', 'ff2804233432303030'])).toEqual([
      'column_count',
      'column_definition',
      'row',
      'err!',
    ]);
  });

  test('a row that starts with 0xFE but is long is a row, not a terminator (without DEPRECATE_EOF)', () => {
    const longRow = `fe${'00'.repeat(8)}`;
    expect(frame('query', { deprecateEof: false }, ['01', column, eof, longRow, eof])).toEqual([
      'column_count',
      'column_definition',
      'eof',
      'row',
      'eof!',
    ]);
  });

  test('binary result sets from COM_STMT_EXECUTE frame the same way', () => {
    expect(frame('execute', { deprecateEof: true }, ['01', column, '000001', okEnd])).toEqual([
      'column_count',
      'column_definition',
      'row',
      'ok!',
    ]);
  });

  test('COM_STMT_PREPARE: PREPARE_OK, parameter definitions, column definitions', () => {
    const prepareOk = '00' + '01000000' + '0100' + '0200' + '00' + '0000';
    expect(frame('prepare', { deprecateEof: true }, [prepareOk, column, column, column])).toEqual([
      'prepare_ok',
      'parameter_definition',
      'parameter_definition',
      'column_definition!',
    ]);
    expect(frame('prepare', { deprecateEof: false }, [prepareOk, column, column, eof, column, eof])).toEqual([
      'prepare_ok',
      'parameter_definition',
      'parameter_definition',
      'eof',
      'column_definition',
      'eof!',
    ]);
    const noMetadata = '00' + '01000000' + '0000' + '0000' + '00' + '0000';
    expect(frame('prepare', { deprecateEof: true }, [noMetadata])).toEqual(['prepare_ok!']);
  });

  test('a simple command expects OK or ERR', () => {
    expect(frame('ok', { deprecateEof: true }, ['00000002000000'])).toEqual(['ok!']);
    expect(frame('ok', { deprecateEof: true }, ['01'])[0]).toMatch(/^error:/);
  });

  test('LOCAL INFILE requests are reported; the OK after the file ends the response', () => {
    expect(frame('query', { deprecateEof: true }, ['fb2f746d702f78', '00010002000000'])).toEqual([
      'local_infile',
      'ok!',
    ]);
  });
});

describe('replication packets', () => {
  test('COM_REGISTER_SLAVE and COM_BINLOG_DUMP round-trip', () => {
    const register = { serverId: 77, host: 'node-1', user: '', password: '', port: 3306 };
    const decodedRegister = decodeComRegisterSlave(encodeComRegisterSlave(register));
    expect(decodedRegister.ok && decodedRegister.value).toEqual(register);
    const dump = { position: 4, flags: 2, serverId: 77, fileName: '' };
    const decodedDump = decodeComBinlogDump(encodeComBinlogDump(dump));
    expect(decodedDump.ok && decodedDump.value).toEqual(dump);
  });

  test('the semi-sync reply is 0xEF, the position as u64 LE, then the file name', () => {
    const bytes = encodeSemiSyncReply({ position: 1234n, fileName: 'binlog.000002' });
    expect(bytes.subarray(0, 9).toString('hex')).toBe('efd204000000000000');
    expect(bytes.subarray(9).toString()).toBe('binlog.000002');
    const decoded = decodeSemiSyncReply(bytes);
    expect(decoded.ok && decoded.value).toEqual({ position: 1234n, fileName: 'binlog.000002' });
  });

  test('semi-sync event packets carry the need-ack flag', () => {
    const event = Buffer.from('event');
    for (const needsAck of [true, false]) {
      const decoded = decodeBinlogStreamPacket(encodeBinlogStreamEvent(event, { semiSync: true, needsAck }), {
        semiSync: true,
      });
      expect(decoded.ok && decoded.value).toEqual({ kind: 'event', event, needsAck });
    }
    const plain = decodeBinlogStreamPacket(
      encodeBinlogStreamEvent(event, { semiSync: false, needsAck: false }),
      { semiSync: false },
    );
    expect(plain.ok && plain.value).toEqual({ kind: 'event', event, needsAck: false });
    expect(decodeBinlogStreamPacket(Buffer.from('fe00000000', 'hex'), { semiSync: true })).toEqual({
      ok: true,
      value: { kind: 'eof' },
    });
    const error = decodeBinlogStreamPacket(
      encodeErrPacket({ errorCode: 1236, sqlState: 'HY000', message: 'purged' }),
      { semiSync: true },
    );
    expect(error.ok && error.value.kind).toBe('error');
  });

  test('the dump session statements announce GTID capability, checksum, position, heartbeat and semi-sync', () => {
    expect(
      dumpSessionStatements({
        gtidPosition: [{ domainId: 0, serverId: 1, sequenceNumber: 42n }],
        checksum: 'crc32',
        heartbeatPeriodMs: 1500,
        semiSync: true,
      }),
    ).toEqual([
      "SET @master_binlog_checksum = 'CRC32'",
      'SET @mariadb_slave_capability = 4',
      "SET @slave_connect_state = '0-1-42'",
      'SET @slave_gtid_strict_mode = 1',
      'SET @slave_gtid_ignore_duplicates = 0',
      'SET @master_heartbeat_period = 1500000000',
      'SET @rpl_semi_sync_slave = 1',
    ]);
  });
});

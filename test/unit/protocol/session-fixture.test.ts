import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fc, test as propTest } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import { Capability, hasCapability, MariaDbCapability } from '../../../src/protocol/capabilities.js';
import { decodeComChangeUser } from '../../../src/protocol/command/com-change-user.js';
import { decodeComStmtExecute } from '../../../src/protocol/command/com-stmt-execute.js';
import { decodeStmtPrepareOk } from '../../../src/protocol/command/com-stmt-prepare.js';
import { decodeStatementCommand } from '../../../src/protocol/command/com-stmt-statement.js';
import { CommandCode, lastPreparedStatementId } from '../../../src/protocol/command/command-code.js';
import { decodeAuthSwitchRequest } from '../../../src/protocol/handshake/auth-switch.js';
import {
  decodeHandshakeResponse,
  encodeHandshakeResponse,
} from '../../../src/protocol/handshake/handshake-response.js';
import {
  decodeInitialHandshake,
  encodeInitialHandshake,
} from '../../../src/protocol/handshake/initial-handshake.js';
import { decodeBinlogStreamPacket } from '../../../src/protocol/replication/binlog-stream-packet.js';
import { decodeComRegisterSlave } from '../../../src/protocol/replication/com-register-slave.js';
import { decodeSemiSyncReply } from '../../../src/protocol/replication/semi-sync.js';
import {
  decodeColumnDefinition,
  encodeColumnDefinition,
} from '../../../src/protocol/response/column-definition.js';
import { decodeErrPacket } from '../../../src/protocol/response/err-packet.js';
import { decodeOkPacket, encodeOkPacket } from '../../../src/protocol/response/ok-packet.js';
import { type ResponseExpectation, ResponseFramer } from '../../../src/protocol/response/response-framer.js';
import { decodeTextRow } from '../../../src/protocol/response/text-row.js';

interface RecordedPacket {
  readonly from: 'client' | 'server';
  readonly sequenceId: number;
  readonly hex: string;
}

const session: RecordedPacket[] = JSON.parse(
  readFileSync(
    join(import.meta.dirname, '..', '..', 'fixtures', 'protocol', 'session-mariadb-driver.json'),
    'utf8',
  ),
);
const bytes = (packet: RecordedPacket): Buffer => Buffer.from(packet.hex, 'hex');

function expectationOf(command: number): ResponseExpectation | 'none' {
  switch (command) {
    case CommandCode.query:
      return 'query';
    case CommandCode.stmtPrepare:
      return 'prepare';
    case CommandCode.stmtExecute:
      return 'execute';
    case CommandCode.stmtClose:
    case CommandCode.quit:
      return 'none';
    default:
      return 'ok';
  }
}

describe('a session recorded between the mariadb driver and MariaDB 10.11 (fixture)', () => {
  const greeting = decodeInitialHandshake(bytes(session[0]!));
  const response = decodeHandshakeResponse(bytes(session[1]!));
  if (!greeting.ok || !response.ok || response.value.kind !== 'response')
    throw new Error('fixture login does not decode');
  const capabilities = (greeting.value.capabilities & response.value.response.capabilities) >>> 0;
  const extendedTypeInfo =
    (greeting.value.mariadbCapabilities &
      response.value.response.mariadbCapabilities &
      MariaDbCapability.extendedTypeInfo) !==
    0;

  test('the greeting and the handshake response decode and re-encode byte for byte', () => {
    expect(greeting.value.serverVersion).toMatch(/10\.11\.\d+-MariaDB/);
    expect(greeting.value.authPluginData).toHaveLength(20);
    expect(hasCapability(greeting.value.capabilities, Capability.mysql)).toBe(false);
    expect(encodeInitialHandshake(greeting.value).equals(bytes(session[0]!))).toBe(true);
    if (response.value.kind !== 'response') return;
    expect(response.value.response.user).toBe('fixture');
    expect(response.value.response.connectAttributes?.get('_client_name')).toBe('MariaDB connector/Node');
    // The driver writes the attributes' length as a 3-byte length-encoded integer where one byte
    // would do; the encoder writes the minimal form, so compare what the bytes mean.
    const reencoded = decodeHandshakeResponse(encodeHandshakeResponse(response.value.response));
    expect(reencoded.ok && reencoded.value).toEqual(response.value);
  });

  const okPackets: Buffer[] = [];

  test('every response is framed exactly: it completes on its last packet, pipelined commands included', () => {
    const pending: Array<{ command: number; framer: ResponseFramer }> = [];
    const deprecateEof = hasCapability(capabilities, Capability.deprecateEof);
    let responses = 0;
    for (const packet of session.slice(3)) {
      const payload = bytes(packet);
      if (packet.from === 'client') {
        const expectation = expectationOf(payload[0]!);
        if (expectation !== 'none')
          pending.push({ command: payload[0]!, framer: new ResponseFramer(expectation, { deprecateEof }) });
        continue;
      }
      const current = pending[0];
      expect(current, `a server packet ${packet.hex} with no command pending`).toBeDefined();
      if (current === undefined) return;
      const step = current.framer.next(payload);
      expect(step.ok, step.ok ? '' : step.error.message).toBe(true);
      if (step.ok && step.value.packet === 'ok') okPackets.push(payload);
      if (step.ok && step.value.complete) {
        pending.shift();
        responses += 1;
      }
    }
    expect(pending).toEqual([]);
    expect(responses).toBe(
      session.filter((packet) => packet.from === 'client' && expectationOf(bytes(packet)[0]!) !== 'none')
        .length - 1,
    );
  });

  test('OK packets (with session tracking) and column definitions re-encode byte for byte', () => {
    let sawLastGtid = false;
    let sawSchema = false;
    expect(okPackets.length).toBeGreaterThan(5);
    for (const payload of okPackets) {
      const ok = decodeOkPacket(payload, capabilities);
      expect(ok.ok).toBe(true);
      if (!ok.ok) continue;
      sawLastGtid ||= ok.value.sessionStateChanges.some(
        (change) => change.kind === 'system_variable' && change.name === 'last_gtid',
      );
      sawSchema ||= ok.value.sessionStateChanges.some(
        (change) => change.kind === 'schema' && change.schema === 'app',
      );
      expect(encodeOkPacket(ok.value, capabilities).equals(payload), payload.toString('hex')).toBe(true);
    }
    for (const packet of session.slice(2)) {
      const payload = bytes(packet);
      if (packet.from !== 'server') continue;
      if (payload.subarray(0, 4).equals(Buffer.from('03646566', 'hex'))) {
        const column = decodeColumnDefinition(payload, { extendedTypeInfo });
        expect(column.ok && encodeColumnDefinition(column.value).equals(payload)).toBe(true);
      }
    }
    expect(sawLastGtid).toBe(true);
    expect(sawSchema).toBe(true);
  });

  test('the pipelined execute names the statement just prepared; the error is decoded', () => {
    const execute = session.find(
      (packet) => packet.from === 'client' && bytes(packet)[0] === CommandCode.stmtExecute,
    )!;
    const decoded = decodeComStmtExecute(bytes(execute));
    expect(decoded.ok && decoded.value.statementId).toBe(lastPreparedStatementId);
    const error = session.find((packet) => packet.from === 'server' && bytes(packet)[0] === 0xff)!;
    const err = decodeErrPacket(bytes(error));
    expect(err.ok && err.value).toMatchObject({ errorCode: 1146, sqlState: '42S02' });
    const row = session.find((packet) => packet.hex === '01310474657874fb03322e35')!;
    const values = decodeTextRow(bytes(row), 4);
    expect(values.ok && values.value.map((value) => value?.toString() ?? null)).toEqual([
      '1',
      'text',
      null,
      '2.5',
    ]);
  });
});

describe('wire decoders on hostile bytes', () => {
  const decoders: Array<(payload: Uint8Array) => unknown> = [
    decodeInitialHandshake,
    decodeHandshakeResponse,
    (payload) => decodeOkPacket(payload, 0xffffffff),
    (payload) => decodeOkPacket(payload, Capability.protocol41),
    decodeErrPacket,
    decodeColumnDefinition,
    (payload) => decodeTextRow(payload, 3),
    decodeStmtPrepareOk,
    decodeComStmtExecute,
    decodeStatementCommand,
    (payload) => decodeComChangeUser(payload, 0xffffffff),
    decodeAuthSwitchRequest,
    (payload) => decodeBinlogStreamPacket(payload, { semiSync: true }),
    decodeSemiSyncReply,
    decodeComRegisterSlave,
    (payload) => {
      const framer = new ResponseFramer('query', { deprecateEof: false });
      return [framer.next(payload), framer.next(payload), framer.next(payload)];
    },
    (payload) => new ResponseFramer('prepare', { deprecateEof: true }).next(payload),
  ];

  function allReturnValues(payload: Uint8Array): void {
    for (const decode of decoders) {
      const result = decode(payload);
      expect(result).toBeDefined();
    }
  }

  propTest.prop([fc.uint8Array({ maxLength: 200 })], { numRuns: 1500 })(
    'random bytes never make a decoder throw',
    (payload) => {
      allReturnValues(payload);
    },
  );

  propTest.prop(
    [
      fc.integer({ min: 0, max: session.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
      fc.nat(),
    ],
    { numRuns: 1500 },
  )('mutated and truncated real packets never make a decoder throw', (index, mutations, cut) => {
    const payload = Buffer.from(bytes(session[index]!));
    if (payload.length === 0) return;
    for (const [at, value] of mutations) payload[at % payload.length] = value;
    allReturnValues(payload);
    allReturnValues(payload.subarray(0, cut % (payload.length + 1)));
  });
});

import { describe, expect, test } from 'vitest';
import { ServerStatus, wolfscaleClientCapabilities } from '../../../src/protocol/capabilities.js';
import { encodePacket } from '../../../src/protocol/packet/packet-framer.js';
import { encodeColumnDefinition, textColumn } from '../../../src/protocol/response/column-definition.js';
import { encodeErrPacket } from '../../../src/protocol/response/err-packet.js';
import { encodeOkPacket, okEofHeader, okPacket } from '../../../src/protocol/response/ok-packet.js';
import { encodeTextRow } from '../../../src/protocol/response/text-row.js';
import { ResponseScanner } from '../../../src/proxy/response-scanner.js';

const caps = wolfscaleClientCapabilities;

function packets(payloads: readonly Buffer[]): Buffer {
  let sequence = 1;
  const out: Buffer[] = [];
  for (const payload of payloads) {
    const framed = encodePacket(payload, sequence);
    sequence = framed.nextSequenceId;
    out.push(framed.bytes);
  }
  return Buffer.concat(out);
}

function resultSet(rows: readonly (string | Buffer)[], flags: number): Buffer {
  return packets([
    Buffer.from([1]),
    encodeColumnDefinition(textColumn('v')),
    ...rows.map((row) => encodeTextRow([row])),
    encodeOkPacket(okPacket(flags, { header: okEofHeader }), caps),
  ]);
}

/** Scans `bytes` cut at the given offsets; returns where the scanner said the response ended. */
function scanInPieces(scanner: ResponseScanner, bytes: Buffer, cuts: readonly number[]): number {
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    const piece = bytes.subarray(start, cut);
    const result = scanner.scan(piece);
    if (!result.ok) throw new Error(result.error.message);
    if (result.value !== -1) return start + result.value;
    start = cut;
  }
  return -1;
}

describe('ResponseScanner', () => {
  test('finds the end of a result set however the bytes are cut, and its status flags', () => {
    const bytes = resultSet(['a', 'bb', 'ccc'], ServerStatus.autocommit | ServerStatus.inTransaction);
    for (let cut = 1; cut < bytes.length; cut += 1) {
      const scanner = new ResponseScanner(true);
      scanner.begin('query');
      expect(scanInPieces(scanner, bytes, [cut])).toBe(bytes.length);
      expect(scanner.statusFlags).toBe(ServerStatus.autocommit | ServerStatus.inTransaction);
      expect(scanner.okPayloads).toHaveLength(1);
    }
    const scanner = new ResponseScanner(true);
    scanner.begin('query');
    expect(
      scanInPieces(
        scanner,
        bytes,
        Array.from({ length: bytes.length - 1 }, (_, i) => i + 1),
      ),
    ).toBe(bytes.length);
  });

  test('multi-results continue past MORE_RESULTS_EXIST; an ERR ends the response', () => {
    const bytes = Buffer.concat([
      resultSet(['1'], ServerStatus.autocommit | ServerStatus.moreResultsExist),
      encodePacket(encodeErrPacket({ errorCode: 1146, sqlState: '42S02', message: 'no table' }), 5).bytes,
    ]);
    const scanner = new ResponseScanner(true);
    scanner.begin('query');
    expect(scanInPieces(scanner, bytes, [7, 30])).toBe(bytes.length);
    expect(scanner.errPayload?.readUInt16LE(1)).toBe(1146);
  });

  test('a row larger than 16 MiB is followed by its length alone', () => {
    const big = Buffer.alloc(17 * 1024 * 1024, 0x61);
    const bytes = resultSet([big, 'small'], ServerStatus.autocommit);
    const scanner = new ResponseScanner(true);
    scanner.begin('query');
    const cuts = Array.from({ length: Math.floor(bytes.length / 65536) }, (_, i) => (i + 1) * 65536);
    expect(scanInPieces(scanner, bytes, cuts)).toBe(bytes.length);
    expect(scanner.statusFlags).toBe(ServerStatus.autocommit);
  });

  test('a LOCAL INFILE request stops the scan until the file was sent', () => {
    const request = encodePacket(Buffer.concat([Buffer.from([0xfb]), Buffer.from('/tmp/x.csv')]), 1).bytes;
    const ok = encodePacket(
      encodeOkPacket(okPacket(ServerStatus.autocommit, { affectedRows: 3 }), caps),
      3,
    ).bytes;
    const scanner = new ResponseScanner(true);
    scanner.begin('query');
    const first = scanner.scan(request);
    expect(first).toEqual({ ok: true, value: request.length });
    expect(scanner.localInfile).toBe(true);
    scanner.localInfile = false;
    expect(scanner.scan(ok)).toEqual({ ok: true, value: ok.length });
  });

  test('bytes while no command waits, or garbage, are errors, never a throw', () => {
    const scanner = new ResponseScanner(true);
    expect(scanner.scan(Buffer.from([1, 0, 0, 1, 0])).ok).toBe(false);
    scanner.begin('ok');
    expect(scanner.scan(Buffer.from([3, 0, 0, 1, 0x42, 0x42, 0x42])).ok).toBe(false);
  });
});

describe('ResponseScanner on prepare responses', () => {
  test('an INSERT prepared with parameters and no columns ends after its last parameter (DEPRECATE_EOF)', () => {
    const prepareOk = Buffer.alloc(12);
    prepareOk.writeUInt32LE(7, 1);
    prepareOk.writeUInt16LE(0, 5); // columns
    prepareOk.writeUInt16LE(2, 7); // parameters
    const bytes = packets([
      prepareOk,
      encodeColumnDefinition(textColumn('?')),
      encodeColumnDefinition(textColumn('?')),
    ]);
    const scanner = new ResponseScanner(true);
    scanner.begin('prepare');
    expect(scanner.scan(bytes)).toEqual({ ok: true, value: bytes.length });
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fc, test as propTest } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import {
  type BinlogDecodeContext,
  type BinlogEvent,
  binlogDecodeContextFrom,
  decodeBinlogEvent,
  encodeBinlogEvent,
} from '../../../src/protocol/binlog/binlog-event.js';
import { splitBinlogFile } from '../../../src/protocol/binlog/binlog-file.js';
import {
  FL_DDL,
  FL_GROUP_COMMIT_ID,
  FL_STANDALONE,
  FL_TRANSACTIONAL,
  type GtidEvent,
} from '../../../src/protocol/binlog/gtid-event.js';
import { querySessionContext } from '../../../src/protocol/binlog/query-status-variables.js';
import { formatGtid } from '../../../src/protocol/gtid.js';

const fixtures = join(import.meta.dirname, '..', '..', 'fixtures', 'protocol');

function loadEvents(name: string): Buffer[] {
  const split = splitBinlogFile(readFileSync(join(fixtures, name)));
  if (!split.ok) throw new Error(split.error.message);
  return split.value;
}

/** Decodes a whole file the way a reader must: the FORMAT_DESCRIPTION sets the context. */
function decodeAll(events: readonly Buffer[]): BinlogEvent[] {
  let context: BinlogDecodeContext = { checksum: 'none' };
  return events.map((bytes, i) => {
    const decoded = decodeBinlogEvent(bytes, context);
    if (!decoded.ok) throw new Error(`event ${i}: ${decoded.error.message}`);
    if (decoded.value.body.kind === 'format_description')
      context = binlogDecodeContextFrom(decoded.value.body);
    return decoded.value;
  });
}

describe('binlog events from MariaDB 10.11 (fixture binlog-crc32.bin)', () => {
  const events = loadEvents('binlog-crc32.bin');
  const decoded = decodeAll(events);

  test('every event decodes, with its CRC32 verified, into the expected kinds', () => {
    const kinds = new Set(decoded.map((event) => event.body.kind));
    for (const kind of [
      'format_description',
      'gtid_list',
      'binlog_checkpoint',
      'gtid',
      'query',
      'annotate_rows',
      'table_map',
      'rows',
      'xid',
      'intvar',
      'user_var',
      'rand',
      'rotate',
    ]) {
      expect(kinds, kind).toContain(kind);
    }
    expect(decoded.some((event) => event.body.kind === 'opaque')).toBe(false);
    const first = decoded[0]!.body;
    expect(first.kind === 'format_description' && first.checksumAlgorithm).toBe('crc32');
    expect(first.kind === 'format_description' && first.serverVersion).toMatch(/^10\.11\./);
  });

  test('GTIDs come in order, DDL is standalone, DML is transactional', () => {
    const gtids = decoded.flatMap((event) =>
      event.body.kind === 'gtid' ? [{ event: event.body, serverId: event.header.serverId }] : [],
    );
    expect(
      gtids.map(({ event, serverId }) =>
        formatGtid({ domainId: event.domainId, serverId, sequenceNumber: event.sequenceNumber }),
      ),
    ).toEqual(Array.from({ length: gtids.length }, (_, i) => `0-1-${i + 1}`));
    const createDatabase = gtids[0]!.event;
    expect(createDatabase.flags & FL_STANDALONE).toBe(FL_STANDALONE);
    expect(createDatabase.flags & FL_DDL).toBe(FL_DDL);
    const insert = gtids[2]!.event;
    expect(insert.flags & FL_TRANSACTIONAL).toBe(FL_TRANSACTIONAL);
    expect(insert.flags & FL_STANDALONE).toBe(0);
  });

  test('QUERY status variables decode into the session context', () => {
    const queries = decoded.flatMap((event) => (event.body.kind === 'query' ? [event.body] : []));
    const createTable = queries.find((query) => query.query.toString().startsWith('CREATE TABLE app.t '))!;
    const context = querySessionContext(createTable.statusVariables);
    expect(context.sqlMode).toBeTypeOf('bigint');
    expect(context.flags2).toBeTypeOf('number');
    expect(context.characterSetClient).toBeGreaterThan(0);
    expect(context.ddlXid).toBeTypeOf('bigint');
    // MariaDB writes auto-increment, time zone and locale only when they differ or are used.
    expect(context.autoIncrementIncrement).toBeUndefined();
    const timestampTable = queries.find((query) => query.query.toString().startsWith('CREATE TABLE app.tz'))!;
    const tzContext = querySessionContext(timestampTable.statusVariables);
    expect(tzContext.timeZone).toBe('+02:00');
    expect(tzContext.autoIncrementIncrement).toBe(2);
    expect(tzContext.lcTimeNamesCode).toBeGreaterThan(0);
    const grant = queries.find((query) => query.query.toString().startsWith('GRANT'))!;
    expect(querySessionContext(grant.statusVariables).invoker).toEqual({ user: 'root', host: '127.0.0.1' });
  });

  test('row events carry table id, column bitmaps and raw rows; table maps name their table', () => {
    const maps = decoded.flatMap((event) => (event.body.kind === 'table_map' ? [event.body] : []));
    expect(maps.map((map) => `${map.schemaName}.${map.tableName}`)).toContain('app.t');
    const rows = decoded.flatMap((event) => (event.body.kind === 'rows' ? [event.body] : []));
    expect(new Set(rows.map((row) => row.rowsKind))).toEqual(new Set(['write', 'update', 'delete']));
    for (const row of rows) {
      expect(row.version).toBe(1);
      expect(maps.some((map) => map.tableId === row.tableId)).toBe(true);
      expect(row.rows.length).toBeGreaterThan(0);
    }
    const update = rows.find((row) => row.rowsKind === 'update')!;
    expect(update.columnsPresentAfter?.length).toBe(update.columnsPresent.length);
    // The 70 000-byte MEDIUMTEXT row stays one event with its bytes intact.
    expect(rows.some((row) => row.rows.includes(Buffer.alloc(1000, 'x')))).toBe(true);
  });

  test('decode then encode gives back every event byte for byte', () => {
    for (const [i, event] of decoded.entries()) {
      expect(encodeBinlogEvent(event, 'crc32').equals(events[i]!), `event ${i} (${event.body.kind})`).toBe(
        true,
      );
    }
  });

  test('a flipped byte is caught by the checksum', () => {
    const gtidIndex = decoded.findIndex((event) => event.body.kind === 'gtid');
    const corrupt = Buffer.from(events[gtidIndex]!);
    corrupt[25] = (corrupt[25]! + 1) & 0xff;
    const result = decodeBinlogEvent(corrupt, { checksum: 'crc32' });
    expect(result.ok === false && result.error.code).toBe('CHECKSUM_MISMATCH');
  });
});

describe('binlog events without checksums (fixture binlog-none.bin)', () => {
  test('decode with checksum none and round-trip', () => {
    const events = loadEvents('binlog-none.bin');
    const decoded = decodeAll(events);
    const first = decoded[0]!.body;
    expect(first.kind === 'format_description' && first.checksumAlgorithm).toBe('none');
    const gtidList = decoded.find((event) => event.body.kind === 'gtid_list')!.body;
    expect(gtidList.kind === 'gtid_list' && gtidList.gtids.length).toBe(1);
    for (const [i, event] of decoded.entries())
      expect(encodeBinlogEvent(event, 'none').equals(events[i]!)).toBe(true);
  });
});

describe('synthetic events', () => {
  const header = {
    timestampSeconds: 1,
    typeCode: 0,
    serverId: 7,
    eventBytes: 0,
    nextPosition: 100,
    flags: 0,
  };

  propTest.prop([
    fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }),
    fc.integer({ min: 0, max: 0xffffffff }),
    fc.integer({ min: 0, max: 0x3f }),
    fc.bigInt({ min: 0n, max: 0xffffffffffffffffn }),
  ])('GTID events with any flags and commit id round-trip', (sequenceNumber, domainId, flags, commitId) => {
    const body: GtidEvent = {
      kind: 'gtid',
      sequenceNumber,
      domainId,
      flags,
      ...((flags & FL_GROUP_COMMIT_ID) !== 0 ? { commitId } : {}),
      flagsExtra: 0,
    };
    const bytes = encodeBinlogEvent({ header, body }, 'crc32');
    const decoded = decodeBinlogEvent(bytes, { checksum: 'crc32' });
    expect(decoded.ok && decoded.value.body).toEqual(body);
  });

  test('a QUERY event with every status variable round-trips', () => {
    const event: BinlogEvent = {
      header,
      body: {
        kind: 'query',
        threadId: 5,
        executionSeconds: 0,
        errorCode: 0,
        database: 'app',
        query: Buffer.from('CREATE TABLE t (id INT)'),
        statusVariables: [
          { kind: 'flags2', flags2: 0x4000 },
          { kind: 'sql_mode', sqlMode: 0x1234n },
          { kind: 'catalog', catalog: 'std' },
          { kind: 'auto_increment', increment: 2, offset: 1 },
          { kind: 'charset', characterSetClient: 33, collationConnection: 33, collationServer: 8 },
          { kind: 'time_zone', timeZone: 'Europe/Paris' },
          { kind: 'catalog_nz', catalog: 'std' },
          { kind: 'lc_time_names', lcTimeNamesCode: 3 },
          { kind: 'charset_database', collationDatabase: 45 },
          { kind: 'table_map_for_update', tableMapForUpdate: 3n },
          { kind: 'master_data_written', originalEventBytes: 99 },
          { kind: 'invoker', user: 'root', host: 'localhost' },
          { kind: 'updated_db_names', databases: ['a', 'b'] },
          { kind: 'updated_db_names', databases: 'over_max' },
          { kind: 'microseconds', microseconds: 123456 },
          { kind: 'commit_ts' },
          { kind: 'explicit_defaults_for_timestamp', enabled: 1 },
          { kind: 'ddl_logged_with_xid', xid: 77n },
          { kind: 'default_collation_for_utf8mb4', collation: 255 },
          { kind: 'sql_require_primary_key', enabled: 0 },
          { kind: 'default_table_encryption', enabled: 0 },
          { kind: 'hrnow', microseconds: 654321 },
          { kind: 'xid', xid: 88n },
        ],
      },
    };
    const bytes = encodeBinlogEvent(event, 'crc32');
    const decoded = decodeBinlogEvent(bytes, { checksum: 'crc32' });
    expect(decoded.ok && decoded.value.body).toEqual(event.body);
    expect(decoded.ok && decoded.value.header.eventBytes).toBe(bytes.length);
  });

  test('an unknown status variable code stops decoding with an error that names it', () => {
    const event: BinlogEvent = {
      header,
      body: {
        kind: 'query',
        threadId: 1,
        executionSeconds: 0,
        errorCode: 0,
        database: '',
        query: Buffer.from('X'),
        statusVariables: [],
      },
    };
    const bytes = encodeBinlogEvent(event, 'none');
    // Splice in a status block holding only code 99.
    const patched = Buffer.concat([
      bytes.subarray(0, 19 + 11),
      Buffer.from([1, 0, 99]),
      bytes.subarray(19 + 13),
    ]);
    patched.writeUInt32LE(patched.length, 9);
    const decoded = decodeBinlogEvent(patched, { checksum: 'none' });
    expect(decoded.ok).toBe(false);
    expect(decoded.ok === false && decoded.error.message).toMatch(/unknown status variable code 99/);
  });

  test('v2 row events with extra data round-trip', () => {
    const event: BinlogEvent = {
      header,
      body: {
        kind: 'rows',
        rowsKind: 'update',
        version: 2,
        compressed: false,
        tableId: 0x123456789a,
        flags: 1,
        extraData: Buffer.from([1, 2, 3]),
        columnCount: 9,
        columnsPresent: Buffer.from([0xff, 0x01]),
        columnsPresentAfter: Buffer.from([0xfe, 0x01]),
        rows: Buffer.from('rowbytes'),
      },
    };
    const decoded = decodeBinlogEvent(encodeBinlogEvent(event, 'crc32'), { checksum: 'crc32' });
    expect(decoded.ok && decoded.value.body).toEqual(event.body);
  });
});

describe('decoders on hostile bytes', () => {
  const events = loadEvents('binlog-crc32.bin');
  const contexts: BinlogDecodeContext[] = [{ checksum: 'crc32' }, { checksum: 'none' }];

  propTest.prop([fc.uint8Array({ maxLength: 300 }), fc.constantFrom(...contexts)], { numRuns: 2000 })(
    'random bytes give a value or an error, never a throw',
    (bytes, context) => {
      const result = decodeBinlogEvent(bytes, context);
      expect(typeof result.ok).toBe('boolean');
    },
  );

  propTest.prop(
    [
      fc.integer({ min: 0, max: events.length - 1 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      fc.constantFrom(...contexts),
    ],
    { numRuns: 3000 },
  )(
    'mutated real events (checksum ignored) give a value or an error, never a throw',
    (index, mutations, context) => {
      const bytes = Buffer.from(events[index]!);
      for (const [at, value] of mutations) bytes[at % bytes.length] = value;
      // Keep the size field consistent half the time so the body decoders get exercised.
      if (mutations.length % 2 === 0) bytes.writeUInt32LE(bytes.length, 9);
      const result = decodeBinlogEvent(bytes, { checksum: 'none' });
      expect(typeof result.ok).toBe('boolean');
      expect(typeof decodeBinlogEvent(bytes, context).ok).toBe('boolean');
    },
  );
});

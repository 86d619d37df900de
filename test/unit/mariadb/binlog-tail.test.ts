import { describe, expect, test } from 'vitest';
import { formatBinlogState, groupFileEvents } from '../../../src/mariadb/binlog-tail.js';

// SHOW BINLOG EVENTS rows as MariaDB 10.11.19 prints them (captured by hand).
const rows = [
  [4, 'Format_desc', 256, 'Server ver: 10.11.19-MariaDB-log, Binlog ver: 4'],
  [256, 'Gtid_list', 285, '[0-1-3,0-2-7]'],
  [285, 'Binlog_checkpoint', 325, 'binlog.000002'],
  [325, 'Gtid', 367, 'GTID 0-1-8'],
  [367, 'Query', 452, 'use `app`; CREATE TABLE app.t (id INT PRIMARY KEY)'],
  [452, 'Gtid', 494, 'BEGIN GTID 0-1-9'],
  [494, 'Annotate_rows', 539, 'INSERT INTO app.t VALUES (1)'],
  [539, 'Table_map', 585, 'table_id: 18 (app.t)'],
  [585, 'Write_rows_v1', 625, 'table_id: 18 flags: STMT_END_F'],
  [625, 'Xid', 656, 'COMMIT /* xid=10 */'],
  [656, 'Gtid', 698, 'BEGIN GTID 0-1-10'],
  [698, 'Table_map', 744, 'table_id: 19 (app.m)'],
  [744, 'Write_rows_v1', 784, 'table_id: 19 flags: STMT_END_F'],
  [784, 'Query', 850, 'COMMIT'],
].map(([pos, type, end, info]) => ({
  pos: pos as number,
  type: type as string,
  end: end as number,
  info: info as string,
}));

describe('binlog groups from SHOW BINLOG EVENTS', () => {
  test('DDL, transactional and non-transactional groups, the start state, the tables', () => {
    const { startState, groups } = groupFileEvents('binlog.000002', rows);
    expect(formatBinlogState(startState)).toBe('0-1-3,0-2-7');
    expect(
      groups.map((g) => [
        `${g.gtid.domainId}-${g.gtid.serverId}-${g.gtid.sequenceNumber}`,
        g.kind,
        g.position,
        g.endPosition,
        g.tables,
      ]),
    ).toEqual([
      ['0-1-8', 'ddl', 325, 452, []],
      ['0-1-9', 'transactional', 452, 656, ['app.t']],
      ['0-1-10', 'non-transactional', 656, 850, ['app.m']],
    ]);
    expect(groups[0]?.statements[0]).toMatch(/CREATE TABLE/);
  });

  test('the state lists the highest sequence number of a domain last', () => {
    expect(
      formatBinlogState([
        { domainId: 0, serverId: 2, sequenceNumber: 9n },
        { domainId: 0, serverId: 1, sequenceNumber: 5n },
        { domainId: 1, serverId: 1, sequenceNumber: 1n },
      ]),
    ).toBe('0-1-5,0-2-9,1-1-1');
  });
});

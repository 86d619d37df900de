import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { ApplierTransaction } from '../../../src/apply/applier-transaction.js';
import { groupTransactions } from '../../../src/apply/binlog-file-transactions.js';
import {
  binlogStatements,
  committedCondition,
  committedWait,
  guardStatement,
  planQueries,
  planTransaction,
  previousStatementSucceeded,
  type TransactionPlan,
} from '../../../src/apply/transaction-plan.js';
import {
  binlogDecodeContextFrom,
  decodeBinlogEvent,
  splitBinlogFile,
} from '../../../src/protocol/binlog/index.js';
import { formatGtid } from '../../../src/protocol/gtid.js';

/** A MariaDB 10.11 binlog captured by the codec's fixtures: DDL, rows, MyISAM, statement-based, users, views. */
const fixture = join(import.meta.dirname, '..', '..', 'fixtures', 'protocol', 'binlog-crc32.bin');
const events = splitBinlogFile(readFileSync(fixture));
if (!events.ok) throw new Error(events.error.message);
const transactions = groupTransactions(events.value, 'fixture');
const formatDescription = decodeBinlogEvent(events.value[0]!, { checksum: 'none' });
if (!formatDescription.ok || formatDescription.value.body.kind !== 'format_description')
  throw new Error('no FDE');
const context = binlogDecodeContextFrom(formatDescription.value.body);
const options = { context, statementBytesMax: 16 * 1024 * 1024 };

function byGtid(text: string): ApplierTransaction {
  const found = transactions.find((tx) => formatGtid(tx.gtid) === text);
  if (found === undefined) throw new Error(`no ${text} in the fixture`);
  return found;
}

function plan(text: string): TransactionPlan {
  const planned = planTransaction(byGtid(text), options);
  if (!planned.ok) throw new Error(planned.error.message);
  return planned.value;
}

describe('planning a captured transaction', () => {
  test("a row transaction is BEGIN, one BINLOG with all its statements' row events, COMMIT", () => {
    const rows = plan('0-1-6');
    expect(rows.standalone).toBe(false);
    expect(rows.statements.map((s) => s.sql.slice(0, 8))).toEqual(['BEGIN', "BINLOG '", 'COMMIT']);
    expect(rows.rowStatements).toBe(3);
    // Three source statements in one BINLOG: a failure in the third keeps the first two in the
    // transaction, so its COMMIT must be checked.
    const queries = planQueries(rows, undefined);
    expect(queries).toEqual([
      `${guardStatement(rows)};BEGIN;${rows.statements[1]!.sql}`,
      `${previousStatementSucceeded};COMMIT`,
    ]);
    expect(guardStatement(rows)).toContain(
      '@@session.gtid_domain_id=0, @@session.server_id=1, @@session.gtid_seq_no=6,',
    );
  });

  test('row events split into several BINLOG statements only at statement ends, when the packet bound requires', () => {
    const tx = byGtid('0-1-6');
    const one = plan('0-1-6').statements[1]!.sql.length;
    const split = planTransaction(tx, { context, statementBytesMax: Math.floor(one / 2) + 200 });
    if (!split.ok) throw new Error(split.error.message);
    const binlogs = split.value.statements.filter((s) => s.sql.startsWith('BINLOG'));
    expect(binlogs.length).toBeGreaterThan(1);
    // Each statement's TABLE_MAP travels with its rows: every BINLOG payload starts with a TABLE_MAP (type 19).
    for (const binlog of binlogs) {
      const payload = Buffer.from(/'(.*)'/.exec(binlog.sql)![1]!, 'base64');
      expect(payload[4]).toBe(19);
    }
    const queries = planQueries(split.value, undefined);
    expect(queries.at(-1)).toBe(`${previousStatementSucceeded};COMMIT`);
  });

  test('one source statement of transactional rows is one query: the guard, then the BINLOG statement under autocommit', () => {
    const single = plan('0-1-3');
    expect(single.transactional).toBe(true);
    expect(single.rowStatements).toBe(1);
    expect(planQueries(single, undefined)).toEqual([
      `${guardStatement(single)};${single.statements[1]!.sql}`,
    ]);
    // Non-transactional (MyISAM): explicit BEGIN and a checked COMMIT.
    const myisam = plan('0-1-9');
    expect(myisam.transactional).toBe(false);
    expect(planQueries(myisam, undefined).at(-1)).toBe(`${previousStatementSucceeded};COMMIT`);
  });

  test('under parallel apply: own lock and waits first, then the guard checks what they waited for; the COMMIT waits for the previous one and releases the lock after it', () => {
    const single = plan('0-1-3');
    const previous = { domainId: 0, serverId: 1, sequenceNumber: 2n };
    const before = { domainId: 0, serverId: 1, sequenceNumber: 1n };
    const queries = planQueries(single, undefined, { locks: true, bodyAfter: before, commitAfter: previous });
    // A locking transaction is never the one-query autocommit form: its lock is released after COMMIT.
    expect(queries).toEqual([
      [
        `SET @@session.sql_mode=IF(@@error_count=0 AND GET_LOCK('wolfscale-apply:0-1-3', 0)=1 AND ${committedWait(before)}, @@session.sql_mode, 'WOLFSCALE_PREVIOUS_TRANSACTION_NOT_COMMITTED')`,
        guardStatement(single, [committedCondition(before)]),
        'BEGIN',
        single.statements[1]!.sql,
      ].join(';'),
      [
        `SET @@session.sql_mode=IF(@@error_count=0 AND ${committedWait(previous)}, @@session.sql_mode, 'WOLFSCALE_PREVIOUS_STATEMENT_FAILED')`,
        `SET @@session.sql_mode=IF(@@error_count=0 AND ${committedCondition(previous)}, @@session.sql_mode, 'WOLFSCALE_PREVIOUS_STATEMENT_FAILED')`,
        'COMMIT',
        "DO RELEASE_LOCK('wolfscale-apply:0-1-3')",
      ].join(';'),
    ]);
    expect(committedWait(previous)).toBe(
      "GET_LOCK('wolfscale-apply:0-1-2', 86400)=1 AND RELEASE_LOCK('wolfscale-apply:0-1-2')=1",
    );
    // Not locking, but waiting for a commit on another session: the autocommit form stays.
    expect(planQueries(single, undefined, { locks: false, bodyAfter: before })).toHaveLength(1);
  });

  test('the format description goes first when the session has not seen it', () => {
    const queries = planQueries(plan('0-1-3'), "BINLOG 'fde'");
    expect(queries[0]).toBe(`${previousStatementSucceeded};BINLOG 'fde'`);
    expect(queries[1]).toBe(`${guardStatement(plan('0-1-3'))};${plan('0-1-3').statements[1]!.sql}`);
  });

  test('DDL is standalone: session context, USE, the statement as logged, alone at the end of its query', () => {
    const ddl = plan('0-1-2');
    expect(ddl.standalone).toBe(true);
    const [context, statement] = ddl.statements.slice(-2);
    expect(context?.sql).toMatch(
      /^SET @@session\.pseudo_thread_id=\d+, TIMESTAMP=\d+(\.\d{6})?, @@session\.foreign_key_checks=1, /,
    );
    expect(context?.sql).toContain('@@session.sql_mode=');
    expect(context?.sql).toContain('@@session.character_set_client=');
    expect(statement).toEqual({ sql: expect.stringMatching(/^CREATE TABLE app\.t/), endsQuery: true });
    const queries = planQueries(ddl, undefined);
    expect(queries.at(-1)?.endsWith(statement!.sql)).toBe(true);
  });

  test('CREATE DATABASE is not preceded by USE of the database it creates', () => {
    expect(plan('0-1-1').statements.some((s) => s.sql.startsWith('USE'))).toBe(false);
  });

  test('a non-transactional group ends with the logged COMMIT', () => {
    expect(plan('0-1-9').statements.at(-1)).toEqual({ sql: 'COMMIT', endsQuery: false });
  });

  test('statement-based INSERT_ID and LAST_INSERT_ID are set before the statement', () => {
    const sqls = plan('0-1-11').statements.map((s) => s.sql);
    expect(sqls.some((sql) => sql.startsWith('SET LAST_INSERT_ID='))).toBe(true);
    expect(sqls.some((sql) => sql.startsWith('SET INSERT_ID='))).toBe(true);
  });

  test('what cannot be replayed faithfully is refused with a reason naming the GTID', () => {
    const userVar = planTransaction(byGtid('0-1-10'), options);
    expect(userVar).toMatchObject({ ok: false, error: { code: 'UNSUPPORTED_EVENT' } });
    if (!userVar.ok) expect(userVar.error.message).toContain('0-1-10');
  });

  test('a transaction whose GTID disagrees with its GTID event, or that never ends, is malformed', () => {
    const tx = byGtid('0-1-3');
    expect(planTransaction({ ...tx, gtid: { ...tx.gtid, sequenceNumber: 99n } }, options)).toMatchObject({
      ok: false,
      error: { code: 'MALFORMED_TRANSACTION' },
    });
    expect(planTransaction({ ...tx, events: tx.events.slice(0, -1) }, options)).toMatchObject({
      ok: false,
      error: { code: 'MALFORMED_TRANSACTION' },
    });
  });

  test('every other transaction of the fixture plans', () => {
    const failed = transactions
      .filter((tx) => formatGtid(tx.gtid) !== '0-1-10')
      .map((tx) => planTransaction(tx, options))
      .filter((planned) => !planned.ok);
    expect(failed).toEqual([]);
  });

  test('a row group larger than the statement bound is sent as two fragments that join to the same payload', () => {
    const payload = [Buffer.alloc(3000, 7)];
    const whole = binlogStatements(payload, 10_000);
    expect(whole).toHaveLength(1);
    const fragments = binlogStatements(payload, 3000);
    expect(fragments?.map((s) => s.sql.slice(0, 24))).toEqual([
      "SET @binlog_fragment_0='",
      "SET @binlog_fragment_1='",
      'BINLOG @binlog_fragment_',
    ]);
    const joined = fragments!
      .slice(0, 2)
      .map((s) => /'(.*)'/.exec(s.sql)?.[1])
      .join('');
    expect(`BINLOG '${joined}'`).toBe(whole![0]!.sql);
    expect(binlogStatements(payload, 1000)).toBeUndefined();
  });
});

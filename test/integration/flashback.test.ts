import { mkdtemp, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Connection } from 'mariadb';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { findBinlogTail } from '../../src/mariadb/binlog-tail.js';
import {
  applyWithoutBinlog,
  atomicFlashback,
  countFlashbackRows,
  flashbackSql,
  type LocalServer,
  undoCommitted,
} from '../../src/mariadb/flashback.js';
import type { NodeApplyLoop } from '../../src/node/apply-loop.js';
import { AtomicJsonFile } from '../../src/node/atomic-json-file.js';
import type { ReplicatedLog } from '../../src/node/replicated-log.js';
import { Rewind } from '../../src/node/rewind.js';
import type { MariaDbServer, MariaDbSet } from '../../src/testing/mariadb-harness.js';
import { startMariaDb } from '../support/mariadb.js';

interface Fixture {
  readonly set: MariaDbSet;
  readonly connection: Connection;
  readonly server: LocalServer;
}

/** One MariaDB for a describe block, with a root connection; `setup` runs once it is up. */
function serverPerSuite(setup?: (connection: Connection) => Promise<void>): Fixture {
  const fixture = {} as { set: MariaDbSet; connection: Connection; server: LocalServer };
  beforeAll(async () => {
    fixture.set = await startMariaDb(1);
    const first = fixture.set.servers[0];
    if (first === undefined) throw new Error('no server');
    fixture.server = first.connectOptions();
    fixture.connection = await first.connect();
    await setup?.(fixture.connection);
  });
  afterAll(async () => {
    await fixture.connection?.end();
    await fixture.set?.destroy();
  });
  return fixture;
}

const tableRows = async (connection: Connection): Promise<unknown[]> =>
  (await connection.query('SELECT id, v FROM app.t ORDER BY id')) as unknown[];
const gtidBinlogPos = async (connection: Connection): Promise<string> =>
  ((await connection.query('SELECT @@GLOBAL.gtid_binlog_pos AS p')) as Array<{ p: string }>)[0]?.p ?? '';

/**
 * The rewind's undo after a crash (docs/RELIABILITY.md "Failures found" 13): a node killed while
 * undoing could not tell how much of the undo had committed and stopped in NEEDS_MIGRATION. The
 * undo is now one transaction that inserts a marker: all or nothing, and decidable.
 */
describe('the atomic, marked undo of a binlog tail', () => {
  const db = serverPerSuite();
  const rows = () => tableRows(db.connection);
  const binlogPos = () => gtidBinlogPos(db.connection);

  test('a failed undo changes nothing and leaves no marker; the real one undoes every group and is marked', async () => {
    await db.connection.query('CREATE DATABASE app');
    await db.connection.query('CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(40)) ENGINE=InnoDB');
    await db.connection.query("INSERT INTO app.t VALUES (1, 'one'), (2, 'two'), (5, 'COMMIT')");
    const before = await rows();
    const committedPos = await binlogPos();
    const committedSeq = Number(committedPos.split('-')[2]);
    // The tail: three groups, one of them with several statements and a value that reads COMMIT.
    await db.connection.query("UPDATE app.t SET v = 'uno' WHERE id = 1");
    await db.connection.query("INSERT INTO app.t VALUES (3, 'COMMIT\n/*!*/;')");
    await db.connection.beginTransaction();
    await db.connection.query('DELETE FROM app.t WHERE id = 2');
    await db.connection.query("INSERT INTO app.t VALUES (4, 'four')");
    await db.connection.query("UPDATE app.t SET v = 'START TRANSACTION' WHERE id = 5");
    await db.connection.commit();
    const tailRows = await rows();
    const tailPos = await binlogPos();

    const tail = await findBinlogTail(db.connection, (gtid) => Number(gtid.sequenceNumber) <= committedSeq);
    expect(tail.groups.map((g) => g.kind)).toEqual(['transactional', 'transactional', 'transactional']);
    const flashback = await flashbackSql(db.server, tail);
    expect(countFlashbackRows(flashback).get('app.t')).toBe(5);
    const script = atomicFlashback(flashback, 'marker-1');
    expect(script.match(/^START TRANSACTION\/\*!\*\/;$/gm)).toHaveLength(1);

    // The undo dies before its COMMIT (as when its node or MariaDB is killed): nothing of it stays.
    const broken = script.replace(
      /^INSERT INTO mysql\.wolfscale_rewind .*$/m,
      'SELECT no_such_function()/*!*/;',
    );
    expect(broken).not.toBe(script);
    await expect(applyWithoutBinlog(db.server, broken)).rejects.toThrow(/no_such_function|does not exist/);
    expect(await rows()).toEqual(tailRows);
    expect(await undoCommitted(db.connection, 'marker-1')).toBe(false);

    await applyWithoutBinlog(db.server, script);
    expect(await rows()).toEqual(before);
    expect(await undoCommitted(db.connection, 'marker-1')).toBe(true);
    expect(await undoCommitted(db.connection, 'marker-2')).toBe(false);
    // Not binlogged: the binlog still ends with the tail (the rewind resets it next).
    expect(await binlogPos()).toBe(tailPos);
  });

  test('the check waits for an undo session that is still running before it looks for the marker', async () => {
    const first = db.set.servers[0];
    if (first === undefined) throw new Error('no server');
    const undoSession = await first.connect();
    try {
      await undoSession.query("DO GET_LOCK('wolfscale_rewind', 10)");
      let answered = false;
      const answer = undoCommitted(db.connection, 'marker-3').then((value) => {
        answered = true;
        return value;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(answered).toBe(false);
      await undoSession.query("INSERT INTO mysql.wolfscale_rewind VALUES ('marker-3', NOW(6))");
      await undoSession.query("DO RELEASE_LOCK('wolfscale_rewind')");
      expect(await answer).toBe(true);
    } finally {
      await undoSession.end();
    }
  });

  test('output not in the expected form is refused with what to do', () => {
    expect(() => atomicFlashback('DELIMITER /*!*/;\nDELIMITER ;\n', 'm')).toThrow(
      /not supported for rewinds/,
    );
    expect(() => atomicFlashback('', "m'; DROP")).toThrow(/invalid rewind marker id/);
  });
});

/**
 * A restart that finds the journal `undoing`: the marker decides. The committed log is one no-op
 * of the current term (nothing of the tail is committed); the baseline names what was there before.
 */
describe('a rewind interrupted while undoing, at restart', () => {
  let dataDir: string;
  const db = serverPerSuite(async (connection) => {
    await connection.query('CREATE DATABASE app');
    await connection.query('CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(40)) ENGINE=InnoDB');
    // A follower's MariaDB: the check waits for read_only=ON (root still writes, as the node does).
    await connection.query('SET GLOBAL read_only = ON');
  });
  const rows = () => tableRows(db.connection);
  const binlogPos = () => gtidBinlogPos(db.connection);

  /** Rows before the tail, the tail, and its journal as the rewind writes it before undoing. */
  async function interruptedRewind(markerId: string, undoCommittedBeforeCrash: boolean) {
    dataDir = await mkdtemp(join(tmpdir(), 'wolfscale-rewind-'));
    await db.connection.query('DELETE FROM app.t');
    await db.connection.query("INSERT INTO app.t VALUES (1, 'one'), (2, 'two')");
    const before = await rows();
    const committedPos = await binlogPos();
    await new AtomicJsonFile(join(dataDir, 'rewind-baseline.json'), 'baseline').save({ state: committedPos });
    await db.connection.query("UPDATE app.t SET v = 'uno' WHERE id = 1");
    await db.connection.query("INSERT INTO app.t VALUES (3, 'three')");
    const committedSeq = Number(committedPos.split('-')[2]);
    const tail = await findBinlogTail(db.connection, (gtid) => Number(gtid.sequenceNumber) <= committedSeq);
    await new AtomicJsonFile(join(dataDir, 'rewind.json'), 'journal').save({
      phase: 'undoing',
      markerId,
      discarded: tail.groups.map((g) => ({ gtid: `0-1-${g.gtid.sequenceNumber}`, tables: ['app.t'] })),
      stateBefore: committedPos,
      rowsByTable: { 'app.t': 2 },
      at: new Date().toISOString(),
    });
    if (undoCommittedBeforeCrash)
      await applyWithoutBinlog(db.server, atomicFlashback(await flashbackSql(db.server, tail), markerId));
    return { before, committedPos };
  }

  async function restartRewind(): Promise<Rewind> {
    const noop = { term: 7, index: 1, kind: 'noop', payload: new Uint8Array() };
    const checked: number[] = [];
    const log = {
      firstIndex: () => 1,
      commitIndex: 1,
      status: () => ({ checkEpoch: 3, leaderId: 'node-2', term: 7, lastLogId: { index: 1, term: 7 } }),
      read: async (from: number) => (from <= 1 ? [noop] : []),
      localStateChecked: (epoch: number) => checked.push(epoch),
    } as unknown as ReplicatedLog;
    const applyLoop = {
      pauseWhile: async (work: (signal: AbortSignal) => Promise<void>) =>
        await work(new AbortController().signal),
    } as unknown as NodeApplyLoop;
    const rewind = new Rewind({
      log,
      applyLoop,
      sql: db.connection,
      server: db.server,
      dataDir,
      logger: pino({ level: process.env['LOG_LEVEL'] ?? 'silent' }),
      steppedDown: () => true,
    });
    rewind.start();
    for (let i = 0; i < 600 && (rewind.view.state === 'waiting' || rewind.view.state === 'rewinding'); i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(checked).toEqual([3]);
    return rewind;
  }

  test('the undo had committed: the rewind finishes (binlog reset), it is not undone twice', async () => {
    const { before, committedPos } = await interruptedRewind('committed-1', true);
    expect(await rows()).toEqual(before);
    const rewind = await restartRewind();
    expect(rewind.view.state).toBe('rewound');
    expect(await rows()).toEqual(before);
    expect(await binlogPos()).toBe(committedPos);
    const journal = await new AtomicJsonFile<{ phase: string }>(
      join(dataDir, 'rewind.json'),
      'journal',
    ).load();
    expect(journal?.phase).toBe('done');
    await rm(dataDir, { recursive: true, force: true });
  });

  test('the undo had not committed: the tail is found again and undone', async () => {
    const { before, committedPos } = await interruptedRewind('not-committed-1', false);
    expect(await rows()).not.toEqual(before);
    const rewind = await restartRewind();
    expect(rewind.view.state).toBe('rewound');
    expect(rewind.needsMigration).toBe(false);
    expect(await rows()).toEqual(before);
    expect(await binlogPos()).toBe(committedPos);
    await rm(dataDir, { recursive: true, force: true });
  });
});

/**
 * Kills `server`, cuts its current binlog file at the offset `at` picks from the file's events
 * (as a kill in the middle of MariaDB's writes leaves it), and starts it again. Ends
 * `connection`; returns the file's name.
 */
async function cutBinlog(
  server: MariaDbServer,
  connection: Connection,
  at: (events: ReadonlyArray<{ Pos: number; Event_type: string }>) => number,
): Promise<string> {
  const [status] = (await connection.query('SHOW MASTER STATUS')) as Array<{ File: string }>;
  const file = status!.File;
  const events = (await connection.query(`SHOW BINLOG EVENTS IN '${file}'`)) as Array<{
    Pos: number;
    Event_type: string;
  }>;
  await connection.end();
  await server.kill();
  await truncate(join(server.dataDir, file), at(events));
  await server.start();
  return file;
}

/**
 * Regression (chaos, 5 nodes, 900 s, seed 32, 2026-12-04): a leader's MariaDB killed in the
 * middle of writing an event left its binlog file ending inside it. MariaDB starts anyway (the
 * cut transaction rolled back, its GTID not counted), but SHOW BINLOG EVENTS over that file fails
 * with 1220 "Wrong offset or I/O error"; the rewind check failed on every retry and the node never
 * applied again. The tear is made here directly: the file cut inside the last transaction's events.
 */
describe('a binlog file that ends inside an event', () => {
  let set: MariaDbSet;
  beforeAll(async () => {
    set = await startMariaDb(1, { durable: true });
  });
  afterAll(async () => {
    await set?.destroy();
  });

  test('a file cut between two events of a transaction: that transaction is not part of the tail', async () => {
    const server = set.servers[0]!;
    const connection = await server.connect();
    await connection.query('CREATE DATABASE cut');
    await connection.query('CREATE TABLE cut.t (id INT PRIMARY KEY) ENGINE=InnoDB');
    await connection.query('CREATE TABLE cut.u (id INT PRIMARY KEY) ENGINE=InnoDB');
    const committedSeq = Number((await gtidBinlogPos(connection)).split('-')[2]);
    await connection.query('INSERT INTO cut.t VALUES (1)');
    // The transaction the cut file loses. (Its row may or may not be in InnoDB after the restart:
    // it committed before the file was cut, which a real crash cannot do. cut.t is what counts.)
    await connection.query('INSERT INTO cut.u VALUES (1)');
    // The file ends right before the last transaction's XID event: every event whole.
    await cutBinlog(server, connection, (events) =>
      Number(events.filter((e) => e.Event_type === 'Xid').at(-1)!.Pos),
    );
    const again = await server.connect();
    try {
      expect(await again.query('SELECT id FROM cut.t ORDER BY id')).toEqual([{ id: 1 }]);
      const tail = await findBinlogTail(again, (gtid) => Number(gtid.sequenceNumber) <= committedSeq);
      expect(tail.torn).toBeUndefined();
      expect(tail.groups.map((g) => g.kind)).toEqual(['transactional']);
    } finally {
      await again.end();
    }
  });

  test('the tail is read up to the tear, the cut transaction left out; the undo stops at the tail', async () => {
    const server = set.servers[0]!;
    const connection = await server.connect();
    await connection.query('CREATE DATABASE app');
    await connection.query('CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(40)) ENGINE=InnoDB');
    await connection.query('CREATE TABLE app.u (id INT PRIMARY KEY) ENGINE=InnoDB');
    for (const id of [1, 2, 3]) await connection.query('INSERT INTO app.t VALUES (?, ?)', [id, `v${id}`]);
    const committedSeq = Number((await gtidBinlogPos(connection)).split('-')[2]);
    for (const id of [4, 5]) await connection.query('INSERT INTO app.t VALUES (?, ?)', [id, `v${id}`]);
    // The transaction the tear cuts. (Its row may or may not be in InnoDB after the restart: it
    // committed before the file was cut, which a real crash cannot do. app.t is what counts.)
    await connection.query('INSERT INTO app.u VALUES (1)');
    // Cut 10 bytes into the last row event: the insert into app.u is torn.
    const file = await cutBinlog(
      server,
      connection,
      (events) => Number(events.filter((e) => /^Write_rows/.test(e.Event_type)).at(-1)!.Pos) + 10,
    );

    const again = await server.connect();
    try {
      await expect(again.query(`SHOW BINLOG EVENTS IN '${file}'`)).rejects.toMatchObject({ errno: 1220 });
      expect((await tableRows(again)).map((row) => (row as { id: number }).id)).toEqual([1, 2, 3, 4, 5]);
      const tail = await findBinlogTail(again, (gtid) => Number(gtid.sequenceNumber) <= committedSeq);
      expect(tail.torn).toMatchObject({ file });
      expect(tail.groups.map((g) => g.kind)).toEqual(['transactional', 'transactional']);
      expect(tail.files).toEqual([file]);
      const options = server.connectOptions();
      const flashback = await flashbackSql(options, tail);
      expect(countFlashbackRows(flashback).get('app.t')).toBe(2);
      await applyWithoutBinlog(options, atomicFlashback(flashback, 'torn-1'));
      expect((await tableRows(again)).map((row) => (row as { id: number }).id)).toEqual([1, 2, 3]);
    } finally {
      await again.end();
    }
  });
});

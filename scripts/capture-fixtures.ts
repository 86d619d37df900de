/**
 * Regenerates the MariaDB fixtures under test/fixtures/protocol/ from a throwaway MariaDB 10.11:
 *   npx tsx scripts/capture-fixtures.ts
 * - binlog-crc32.bin / binlog-none.bin: binlog files written by a workload that touches every
 *   event type the codec decodes (row events, DDL, statement-based INTVAR/RAND/USER_VAR, MyISAM).
 * - session-*.json: the packets of client sessions (handshake, queries, result sets, prepared
 *   statements, errors) recorded by a relay between the `mariadb` driver and the server.
 * - dump-stream-semisync.json: what a semi-sync primary sends a capture after COM_BINLOG_DUMP
 *   (0xEF indicators, need-ack flags, artificial ROTATE and FORMAT_DESCRIPTION, events).
 * The output is deterministic in shape, not in bytes (timestamps, server ids): tests assert
 * structure and round-trips, never exact timestamps.
 */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import * as mariadb from 'mariadb';
import { pino } from 'pino';
import { BinlogCapture } from '../src/capture/binlog-capture.js';
import { parseGtidPosition } from '../src/protocol/gtid.js';
import { PacketFramer } from '../src/protocol/packet/packet-framer.js';
import { MariaDbSet } from '../src/testing/mariadb-harness.js';

const fixturesDir = join(import.meta.dirname, '..', 'test', 'fixtures', 'protocol');

const workload = [
  'CREATE DATABASE app',
  'CREATE TABLE app.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64), n DOUBLE, created DATETIME(6))',
  "INSERT INTO app.t (v, n, created) VALUES ('héllo', 1.5, NOW(6)), ('b', 2, NOW(6))",
  "UPDATE app.t SET v = 'updated' WHERE id = 1",
  'DELETE FROM app.t WHERE id = 2',
  'BEGIN',
  "INSERT INTO app.t (v) VALUES ('tx-1')",
  "INSERT INTO app.t (v) VALUES ('tx-2')",
  "UPDATE app.t SET n = 42 WHERE v LIKE 'tx-%'",
  'COMMIT',
  "SET time_zone = '+02:00'",
  'ALTER TABLE app.t ADD COLUMN extra INT NULL',
  'CREATE TABLE app.m (id INT PRIMARY KEY, v INT) ENGINE=MyISAM',
  'INSERT INTO app.m VALUES (1, 1)',
  // Statement-based on purpose: only then does MariaDB log INTVAR, RAND and USER_VAR events.
  'SET SESSION binlog_format = STATEMENT',
  'SET @wolf = 7',
  'INSERT INTO app.t (v, n) VALUES (@wolf, RAND())',
  'INSERT INTO app.t (v) VALUES (LAST_INSERT_ID())',
  'SET SESSION binlog_format = ROW',
  "CREATE USER 'fixture'@'%' IDENTIFIED BY 'secret'",
  "GRANT SELECT ON app.* TO 'fixture'@'%'",
  'CREATE VIEW app.v AS SELECT 1 AS one',
  "SET SESSION auto_increment_increment = 2, lc_time_names = 'fr_FR'",
  "CREATE TABLE app.tz (id INT PRIMARY KEY, ts TIMESTAMP NOT NULL DEFAULT '2020-01-01 00:00:00')",
  'INSERT INTO app.tz (id) VALUES (1)',
  'SET SESSION auto_increment_increment = 1',
  'CREATE TABLE app.big (id INT PRIMARY KEY, b MEDIUMTEXT)',
  "INSERT INTO app.big VALUES (1, REPEAT('x', 70000))",
  'DROP TABLE app.m',
];

interface RecordedPacket {
  readonly from: 'client' | 'server';
  readonly sequenceId: number;
  readonly hex: string;
}

/** A TCP relay that records every packet in both directions, per connection. */
async function startRecordingRelay(
  targetPort: number,
  sessions: RecordedPacket[][],
): Promise<{ server: Server; port: number }> {
  const server = createServer((client) => {
    const packets: RecordedPacket[] = [];
    sessions.push(packets);
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    const record = (from: 'client' | 'server') => {
      const framer = new PacketFramer();
      return (chunk: Buffer) => {
        const framed = framer.push(chunk);
        if (framed.ok)
          for (const packet of framed.value)
            packets.push({ from, sequenceId: packet.sequenceId, hex: packet.payload.toString('hex') });
      };
    };
    client.on('data', record('client'));
    upstream.on('data', record('server'));
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address !== null ? address.port : 0 };
}

async function recordSessions(serverPort: number): Promise<void> {
  const sessions: RecordedPacket[][] = [];
  const relay = await startRecordingRelay(serverPort, sessions);
  try {
    const connection = await mariadb.createConnection({
      host: '127.0.0.1',
      port: relay.port,
      user: 'fixture',
      password: 'secret',
      multipleStatements: true,
    });
    await connection.query('SET SESSION session_track_system_variables = "last_gtid"');
    await connection.query("SELECT 1 AS one, 'text' AS t, NULL AS n, 2.5 AS d");
    await connection.query('SELECT 1; SELECT 2');
    await connection.query('CREATE TABLE app.fx (id INT PRIMARY KEY, v VARCHAR(10))');
    await connection.query("INSERT INTO app.fx VALUES (1, 'a'), (2, 'b')");
    await connection.query('USE app');
    await connection.execute('SELECT id, v FROM app.fx WHERE id >= ?', [1]);
    await connection.query('SELECT * FROM app.missing').catch(() => undefined);
    await connection.ping();
    await connection.end();
  } finally {
    relay.server.close();
  }
  await writeFile(
    join(fixturesDir, 'session-mariadb-driver.json'),
    `${JSON.stringify(sessions[0], null, 1)}\n`,
  );
}

/** Records the packets a semi-sync primary sends a capture while a small workload runs. */
async function recordDumpStream(serverPort: number, run: (sql: string) => Promise<void>): Promise<void> {
  const sessions: RecordedPacket[][] = [];
  const relay = await startRecordingRelay(serverPort, sessions);
  const probe = await mariadb.createConnection({
    host: '127.0.0.1',
    port: serverPort,
    user: 'root',
    password: '',
  });
  const [row] = (await probe.query('SELECT @@gtid_binlog_pos AS pos')) as Array<{ pos: string }>;
  await probe.end();
  const startAfter = parseGtidPosition(row?.pos ?? '');
  if (!startAfter.ok) throw new Error(startAfter.error.message);
  const capture = new BinlogCapture({
    host: '127.0.0.1',
    port: relay.port,
    user: 'root',
    password: '',
    replicaServerId: 500,
    startAfter: startAfter.value,
    logger: pino({ level: 'silent' }),
  });
  await capture.start();
  const statements = [
    'CREATE TABLE app.s (id INT PRIMARY KEY, v INT)',
    'INSERT INTO app.s VALUES (1, 1), (2, 2)',
    'UPDATE app.s SET v = v + 1',
    'DELETE FROM app.s WHERE id = 1',
  ];
  try {
    for (const sql of statements) {
      const done = run(sql);
      capture.acknowledge(await capture.next());
      await done;
    }
  } finally {
    await capture.stop();
    relay.server.close();
  }
  const packets = sessions[0] ?? [];
  const dumpAt = packets.findIndex((packet) => packet.from === 'client' && packet.hex.startsWith('12'));
  const stream = packets.slice(dumpAt + 1);
  await writeFile(join(fixturesDir, 'dump-stream-semisync.json'), `${JSON.stringify(stream, null, 1)}\n`);
}

async function main(): Promise<void> {
  await mkdir(fixturesDir, { recursive: true });
  const set = await MariaDbSet.start({
    count: 1,
    extraArgs: [
      '--rpl-semi-sync-master-enabled=ON',
      '--rpl-semi-sync-master-wait-point=AFTER_SYNC',
      '--rpl-semi-sync-master-timeout=600000',
      '--rpl-semi-sync-master-wait-no-slave=OFF',
    ],
  });
  try {
    const server = set.servers[0]!;
    const connection = await server.connect();
    try {
      for (const sql of workload) await connection.query(sql);
      await connection.query('FLUSH BINARY LOGS');
      await connection.query("INSERT INTO app.t (v) VALUES ('after flush')");
      await connection.query('SET GLOBAL binlog_checksum = NONE');
      await connection.query("INSERT INTO app.t (v) VALUES ('no checksum')");
      await connection.query('DELETE FROM app.t WHERE id = 1');
      await connection.query('FLUSH BINARY LOGS');
      await connection.query("GRANT ALL ON app.* TO 'fixture'@'%'");
    } finally {
      await connection.end();
    }
    await recordSessions(server.port);
    // The dump stream fixture is taken with checksums on, as production runs.
    await server.query('SET GLOBAL binlog_checksum = CRC32');
    await recordDumpStream(server.port, async (sql) => {
      await server.query(sql);
    });
    await copyFile(join(server.dataDir, 'binlog.000001'), join(fixturesDir, 'binlog-crc32.bin'));
    await copyFile(join(server.dataDir, 'binlog.000003'), join(fixturesDir, 'binlog-none.bin'));
  } finally {
    await set.destroy();
  }
}

await main();

/**
 * Regenerates the MariaDB fixtures under test/fixtures/protocol/ from a throwaway MariaDB 10.11:
 *   npx tsx scripts/capture-fixtures.ts
 * - binlog-crc32.bin / binlog-none.bin: binlog files written by a workload that touches every
 *   event type the codec decodes (row events, DDL, statement-based INTVAR/RAND/USER_VAR, MyISAM).
 * The output is deterministic in shape, not in bytes (timestamps, server ids): tests assert
 * structure and round-trips, never exact timestamps.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
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

async function main(): Promise<void> {
  await mkdir(fixturesDir, { recursive: true });
  const set = await MariaDbSet.start({ count: 1 });
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
    } finally {
      await connection.end();
    }
    await copyFile(join(server.dataDir, 'binlog.000001'), join(fixturesDir, 'binlog-crc32.bin'));
    await copyFile(join(server.dataDir, 'binlog.000003'), join(fixturesDir, 'binlog-none.bin'));
  } finally {
    await set.destroy();
  }
}

await main();

import { fc, test as propTest } from '@fast-check/vitest';
import { describe, expect, test } from 'vitest';
import { classify, type PinReason, type Route } from '../../../src/proxy/classify.js';

type Case = readonly [sql: string, route: Route, pin?: PinReason];

/** Real-world statements: what an application, an ORM, a dump or a DBA sends to a proxy. */
const cases: readonly Case[] = [
  // plain reads
  ['SELECT 1', 'read'],
  ['select * from users where id = 5', 'read'],
  ['SELECT id, name FROM app.users WHERE email = ? LIMIT 1', 'read'],
  ['SELECT COUNT(*) FROM orders', 'read'],
  ['SELECT a.id, b.total FROM a JOIN b ON a.id = b.a_id WHERE b.total > 10 ORDER BY b.total DESC', 'read'],
  ['SELECT * FROM t LEFT JOIN u USING (id)', 'read'],
  ['SELECT DISTINCT country FROM customers', 'read'],
  ['SELECT name FROM t WHERE id IN (SELECT id FROM u)', 'read'],
  ['SELECT EXISTS (SELECT 1 FROM t WHERE x = 1)', 'read'],
  ['SELECT NOW(), UUID(), RAND()', 'read'],
  ['SELECT CONCAT(first, " ", last) AS name FROM people', 'read'],
  ['SELECT JSON_EXTRACT(doc, "$.a") FROM docs', 'read'],
  ['SELECT * FROM JSON_TABLE(\'[1,2]\', "$[*]" COLUMNS (x INT PATH "$")) AS jt', 'read'],
  ['SELECT id, ROW_NUMBER() OVER (PARTITION BY g ORDER BY id) FROM t', 'read'],
  ['SELECT SUM(x) OVER w FROM t WINDOW w AS (ORDER BY id)', 'read'],
  ['SELECT CAST(x AS CHAR), CONVERT(y, SIGNED) FROM t', 'read'],
  ['SELECT IF(a > 1, "big", "small"), IFNULL(b, 0), COALESCE(c, d) FROM t', 'read'],
  ['SELECT DATE_FORMAT(created, "%Y-%m") m, COUNT(*) FROM t GROUP BY m HAVING COUNT(*) > 1', 'read'],
  ['SELECT * FROM t FORCE INDEX (idx_a) WHERE a = 1', 'read'],
  ['SELECT * FROM t USE INDEX (PRIMARY)', 'read'],
  ['SELECT * FROM t PARTITION (p0)', 'read'],
  ['SELECT * FROM t FOR SYSTEM_TIME AS OF TIMESTAMP "2024-01-01 00:00:00"', 'read'],
  ['SELECT ST_AsText(ST_GeomFromText("POINT(1 1)"))', 'read'],
  ['SELECT @@version, @@session.sql_mode', 'read'],
  ['SELECT @my_var', 'read'],
  ['SELECT SLEEP(0)', 'read'],
  ['(SELECT a FROM t1) UNION (SELECT a FROM t2)', 'read'],
  ['SELECT a FROM t1 UNION ALL SELECT a FROM t2 EXCEPT SELECT a FROM t3', 'read'],
  ['SELECT `select`, `update` FROM `from`', 'read'],
  ['SELECT "DELETE FROM t" AS s', 'read'],
  ["SELECT 'x; DROP TABLE t; --' FROM dual", 'read'],
  ["SELECT 'it''s FOR UPDATE'", 'read'],
  ['SELECT "a\\"b; DELETE" FROM t', 'read'],
  ['SELECT 1 -- FOR UPDATE', 'read'],
  ['SELECT 1 # DELETE FROM t', 'read'],
  ['SELECT /* DELETE FROM t */ 1', 'read'],
  ['SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM t', 'read'],
  ['/* ApplicationName=DBeaver */ SELECT * FROM t', 'read'],
  ['-- comment\nSELECT 1', 'read'],
  ['SELECT 1-1', 'read'],
  ['SELECT 1--1', 'read'],
  ['VALUES (1, 2), (3, 4)', 'read'],
  ['TABLE t', 'read'],
  ['WITH c AS (SELECT 1 AS x) SELECT x FROM c', 'read'],
  ['WITH RECURSIVE r (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT * FROM r', 'read'],
  ['WITH a AS (SELECT 1), b AS (SELECT 2) SELECT * FROM a, b', 'read'],
  ['SHOW TABLES', 'read'],
  ['SHOW DATABASES', 'read'],
  ['SHOW CREATE TABLE t', 'read'],
  ['SHOW FULL PROCESSLIST', 'read'],
  ['SHOW VARIABLES LIKE "max_connections"', 'read'],
  ['SHOW MASTER STATUS', 'read'],
  ['SHOW SLAVE STATUS', 'read'],
  ['SHOW GRANTS FOR CURRENT_USER()', 'read'],
  ['SHOW INDEX FROM t', 'read'],
  ['SHOW WARNINGS', 'read'],
  ['SHOW ENGINE INNODB STATUS', 'read'],
  ['DESCRIBE t', 'read'],
  ['DESC t', 'read'],
  ['EXPLAIN SELECT * FROM t', 'read'],
  ['EXPLAIN FORMAT=JSON SELECT * FROM t', 'read'],
  ['EXPLAIN UPDATE t SET a = 1', 'read'],
  ['EXPLAIN EXTENDED SELECT 1', 'read'],
  ['HELP "SELECT"', 'read'],
  ['CHECKSUM TABLE t', 'read'],
  ['ANALYZE SELECT * FROM t', 'read'],
  ['select\n  *\nfrom\n  t', 'read'],
  ['SeLeCt 1', 'read'],
  ['SELECT 1;', 'read'],
  ['SELECT 1; SELECT 2', 'read'],
  ['', 'read'],
  // writes: DML
  ['INSERT INTO t (a) VALUES (1)', 'leader'],
  ['insert into t values (1), (2)', 'leader'],
  ['INSERT INTO t SELECT * FROM u', 'leader'],
  ['INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = a + 1', 'leader'],
  ['INSERT IGNORE INTO t VALUES (1)', 'leader'],
  ['INSERT INTO t VALUES (1) RETURNING id', 'leader'],
  ['REPLACE INTO t VALUES (1)', 'leader'],
  ['UPDATE t SET a = 1 WHERE id = 2', 'leader'],
  ['UPDATE t1 JOIN t2 ON t1.id = t2.id SET t1.a = t2.b', 'leader'],
  ['DELETE FROM t WHERE id = 1', 'leader'],
  ['DELETE t1 FROM t1 JOIN t2 USING (id)', 'leader'],
  ['DELETE FROM t WHERE id = 1 RETURNING *', 'leader'],
  ['LOAD DATA LOCAL INFILE "/tmp/x.csv" INTO TABLE t', 'leader'],
  ['LOAD XML INFILE "x.xml" INTO TABLE t', 'leader'],
  ['WITH c AS (SELECT id FROM t) DELETE FROM u WHERE id IN (SELECT id FROM c)', 'leader'],
  ['WITH c AS (SELECT 1) UPDATE t SET a = 1', 'leader'],
  ['WITH c AS (SELECT 1) INSERT INTO t SELECT * FROM c', 'leader'],
  ['CALL do_things(1, 2)', 'leader'],
  ['CALL app.refresh()', 'leader'],
  // writes: DDL and administration
  ['CREATE TABLE t (id INT PRIMARY KEY)', 'leader'],
  ['CREATE TABLE IF NOT EXISTS t (a INT)', 'leader'],
  ['CREATE OR REPLACE TABLE t (a INT)', 'leader'],
  ['CREATE DATABASE app', 'leader'],
  ['CREATE INDEX i ON t (a)', 'leader'],
  ['CREATE VIEW v AS SELECT * FROM t', 'leader'],
  ['CREATE USER "u"@"%" IDENTIFIED BY "pw"', 'leader'],
  ['CREATE SEQUENCE s START WITH 1', 'leader'],
  ['CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END', 'leader'],
  ['CREATE FUNCTION f() RETURNS INT RETURN 1', 'leader'],
  ['CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1', 'leader'],
  ['CREATE EVENT e ON SCHEDULE EVERY 1 HOUR DO DELETE FROM t', 'leader'],
  ['ALTER TABLE t ADD COLUMN b INT', 'leader'],
  ['ALTER USER u IDENTIFIED BY "x"', 'leader'],
  ['DROP TABLE t', 'leader'],
  ['DROP TABLE IF EXISTS t1, t2', 'leader'],
  ['DROP DATABASE app', 'leader'],
  ['RENAME TABLE a TO b', 'leader'],
  ['TRUNCATE TABLE t', 'leader'],
  ['TRUNCATE t', 'leader'],
  ['GRANT SELECT ON app.* TO "u"@"%"', 'leader'],
  ['REVOKE ALL ON *.* FROM u', 'leader'],
  ['OPTIMIZE TABLE t', 'leader'],
  ['ANALYZE TABLE t', 'leader'],
  ['ANALYZE UPDATE t SET a = 1', 'leader'],
  ['REPAIR TABLE t', 'leader'],
  ['CHECK TABLE t', 'leader'],
  ['FLUSH PRIVILEGES', 'leader'],
  ['FLUSH TABLES WITH READ LOCK', 'leader'],
  ['PURGE BINARY LOGS BEFORE NOW()', 'leader'],
  ['RESET MASTER', 'leader'],
  ['CHANGE MASTER TO MASTER_HOST = "x"', 'leader'],
  ['KILL 42', 'leader'],
  ['KILL QUERY 42', 'leader'],
  ['INSTALL SONAME "auth_ed25519"', 'leader'],
  ['SHUTDOWN', 'leader'],
  ['BINLOG "AAAA"', 'leader'],
  ['START SLAVE', 'leader'],
  ['STOP SLAVE', 'leader'],
  ['BACKUP STAGE START', 'leader'],
  ['SIGNAL SQLSTATE "45000"', 'leader'],
  ['BEGIN NOT ATOMIC SELECT 1; END', 'leader'],
  ['UNLOCK TABLES', 'leader'],
  // executable comments are code
  ['/*!40101 SET NAMES utf8mb4 */', 'session'],
  ['/*!40000 ALTER TABLE `t` DISABLE KEYS */', 'leader'],
  ['/*!50001 DROP VIEW IF EXISTS `v`*/', 'leader'],
  ['/*M!100100 DELETE FROM t */', 'leader'],
  ['SELECT 1 /*! FOR UPDATE */', 'leader'],
  ['/*!80000 SELECT 1 */', 'read'],
  ['SELECT /*!DELETE*/ 1', 'read'],
  // locking and connection-bound reads
  ['SELECT * FROM t WHERE id = 1 FOR UPDATE', 'leader'],
  ['SELECT * FROM t FOR UPDATE NOWAIT', 'leader'],
  ['SELECT * FROM t FOR UPDATE SKIP LOCKED', 'leader'],
  ['SELECT * FROM t FOR SHARE', 'leader'],
  ['SELECT * FROM t LOCK IN SHARE MODE', 'leader'],
  ['SELECT * FROM t INTO OUTFILE "/tmp/t.csv"', 'leader'],
  ['SELECT a INTO DUMPFILE "/tmp/x" FROM t', 'leader'],
  ['SELECT NEXT VALUE FOR s', 'leader', 'sequence'],
  ['SELECT NEXTVAL(s)', 'leader', 'sequence'],
  ['SELECT SETVAL(s, 100)', 'leader', 'sequence'],
  ['SELECT LASTVAL(s)', 'leader', 'sequence'],
  ['SELECT PREVIOUS VALUE FOR s', 'leader', 'sequence'],
  ['SELECT GET_LOCK("job", 10)', 'leader', 'named-lock'],
  ['SELECT RELEASE_LOCK("job")', 'leader', 'named-lock'],
  ['SELECT IS_FREE_LOCK("job")', 'leader', 'named-lock'],
  ['SELECT LAST_INSERT_ID()', 'leader', 'last-insert-id'],
  ['SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 10', 'leader', 'found-rows'],
  ['SELECT FOUND_ROWS()', 'leader', 'found-rows'],
  ['SELECT ROW_COUNT()', 'leader', 'connection-state'],
  ['SELECT CONNECTION_ID()', 'leader', 'connection-state'],
  ['SELECT MASTER_GTID_WAIT("0-1-100", 5)', 'leader', 'connection-state'],
  ['SELECT @total := SUM(x) FROM t', 'leader', 'user-variable'],
  ['SELECT a INTO @a FROM t LIMIT 1', 'leader', 'user-variable'],
  ['SELECT my_stored_function(1)', 'leader'],
  ['SELECT a, my_stored_function(1) AS x FROM t', 'leader'],
  ['WITH c (x) AS (SELECT my_stored_function(1)) SELECT x FROM c', 'leader'],
  ['SELECT app.audit_and_return(1)', 'leader'],
  ['SELECT `weird name`(1)', 'leader'],
  ['DO SLEEP(1)', 'leader'],
  ['DO GET_LOCK("x", 1)', 'leader', 'named-lock'],
  ['DO RELEASE_ALL_LOCKS()', 'leader', 'named-lock'],
  // transactions
  ['BEGIN', 'leader', 'transaction'],
  ['BEGIN WORK', 'leader', 'transaction'],
  ['START TRANSACTION', 'leader', 'transaction'],
  ['START TRANSACTION READ ONLY', 'leader', 'transaction'],
  ['START TRANSACTION WITH CONSISTENT SNAPSHOT', 'leader', 'transaction'],
  ['COMMIT', 'leader'],
  ['COMMIT WORK', 'leader'],
  ['ROLLBACK', 'leader'],
  ['ROLLBACK TO SAVEPOINT s1', 'leader'],
  ['SAVEPOINT s1', 'leader'],
  ['RELEASE SAVEPOINT s1', 'leader'],
  ['XA START "x"', 'leader', 'xa'],
  ['XA END "x"', 'leader', 'xa'],
  ['XA PREPARE "x"', 'leader', 'xa'],
  ['XA COMMIT "x"', 'leader', 'xa'],
  ['XA RECOVER', 'leader', 'xa'],
  ['BEGIN; UPDATE t SET a = 1; COMMIT', 'leader', 'transaction'],
  // session state
  ['SET NAMES utf8mb4', 'session'],
  ['SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci', 'session'],
  ['SET CHARACTER SET utf8', 'session'],
  ['SET character_set_results = NULL', 'session'],
  ['SET SESSION sql_mode = "STRICT_ALL_TABLES"', 'session'],
  ['SET @@session.time_zone = "+00:00"', 'session'],
  ['SET time_zone = "+00:00", sql_mode = ""', 'session'],
  ['SET @a = 1', 'session'],
  ['SET @a = 1, @b = "x"', 'session'],
  ['SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', 'session'],
  ['SET TRANSACTION READ ONLY', 'session'],
  ['SET autocommit = 1', 'session'],
  ['SET autocommit=1', 'session'],
  ['SET autocommit = ON', 'session'],
  ['SET ROLE analyst', 'session'],
  ['SET @@SESSION.AUTOCOMMIT = 1', 'session'],
  ['USE app', 'session'],
  ['use `my-db`', 'session'],
  ['SET autocommit = 0', 'leader', 'autocommit-off'],
  ['SET autocommit=OFF', 'leader', 'autocommit-off'],
  ['SET @@autocommit = 0', 'leader', 'autocommit-off'],
  ['SET @n = (SELECT COUNT(*) FROM t)', 'leader', 'user-variable'],
  ['SET @id = LAST_INSERT_ID()', 'leader', 'last-insert-id'],
  ['SET GLOBAL max_connections = 500', 'leader'],
  ['SET @@GLOBAL.read_only = 1', 'leader'],
  ['SET PASSWORD FOR u = PASSWORD("x")', 'leader'],
  ['SET DEFAULT ROLE analyst FOR u', 'leader'],
  ['SET STATEMENT max_statement_time = 1 FOR SELECT * FROM t', 'read'],
  ['SET STATEMENT max_statement_time = 1 FOR UPDATE t SET a = 1', 'leader'],
  ['SET NAMES utf8mb4; SELECT 1', 'leader', 'connection-state'],
  // statements bound to the connection
  ['LOCK TABLES t WRITE', 'leader', 'table-lock'],
  ['LOCK TABLE t READ', 'leader', 'table-lock'],
  ['HANDLER t OPEN', 'leader', 'handler'],
  ['HANDLER t READ FIRST', 'leader', 'handler'],
  ['PREPARE s FROM "SELECT 1"', 'leader', 'sql-prepared-statement'],
  ['EXECUTE s USING @a', 'leader', 'sql-prepared-statement'],
  ['DEALLOCATE PREPARE s', 'leader', 'sql-prepared-statement'],
  ['DROP PREPARE s', 'leader', 'sql-prepared-statement'],
  ['CREATE TEMPORARY TABLE tmp (a INT)', 'leader', 'temporary-table'],
  ['CREATE OR REPLACE TEMPORARY TABLE tmp (a INT)', 'leader', 'temporary-table'],
  ['DROP TEMPORARY TABLE tmp', 'leader', 'temporary-table'],
  ['GET DIAGNOSTICS @n = NUMBER', 'leader', 'connection-state'],
  // multi-statements: the worst decides
  ['SELECT 1; DELETE FROM t', 'leader'],
  ['SELECT 1; SELECT * FROM t FOR UPDATE', 'leader'],
  // unknown: the leader, to be safe
  ['FROBNICATE everything', 'leader'],
  ['42', 'leader'],
];

describe('statement classifier', () => {
  test('has at least 150 real-world statements in its table', () => {
    expect(cases.length).toBeGreaterThanOrEqual(150);
  });

  test.each(cases.map(([sql, route, pin]) => ({ sql, route, pin })))('$sql', ({ sql, route, pin }) => {
    const result = classify(sql);
    expect({ route: result.route, pin: result.pin }).toEqual({ route, pin });
    expect(result.reason).not.toBe('');
  });

  test('USE reports the database as written', () => {
    expect(classify('USE MyApp').statements[0]?.useDatabase).toBe('MyApp');
    expect(classify('use `we``ird`').statements[0]?.useDatabase).toBe('we`ird');
  });
});

const filler = fc.constantFrom(
  ' ',
  '\n',
  '\t',
  '  /* c */ ',
  ' /* ; DELETE FROM x; */ ',
  ' -- x\n',
  ' # y\n',
  '/*+ hint */',
);

describe('statement classifier properties', () => {
  propTest.prop([
    fc.constantFrom(
      ...cases.filter(([sql]) => !sql.includes('--') && !sql.includes('#') && !sql.includes('/*')),
    ),
    fc.array(filler, { minLength: 1, maxLength: 8 }),
  ])('comments and white space between tokens never change the decision', ([sql, route, pin], fillers) => {
    // Insert fillers at token boundaries (spaces), never inside literals or identifiers.
    const parts = sql.split(/(?<=^[^'"`]*(?:(?:'[^']*'|"[^"]*"|`[^`]*`)[^'"`]*)*) /);
    const rebuilt = parts
      .map((part, i) => (i === 0 ? part : `${fillers[i % fillers.length] ?? ' '}${part}`))
      .join('');
    const result = classify(rebuilt);
    expect({ route: result.route, pin: result.pin }).toEqual({ route, pin });
  });

  propTest.prop([fc.string(), fc.constantFrom("'", '"')])(
    'anything inside a string literal is data, never code',
    (content, quote) => {
      const escaped = content.replaceAll('\\', '\\\\').replaceAll(quote, quote + quote);
      for (const dangerous of ['', '; DELETE FROM t', ' FOR UPDATE', ' -- ', ' */ DROP TABLE t; /*!']) {
        const literal = `${quote}${escaped}${dangerous.replaceAll(quote, quote + quote)}${quote}`;
        expect(classify(`SELECT ${literal} FROM t`).route).toBe('read');
      }
    },
  );

  propTest.prop([fc.string({ maxLength: 200 })])('never throws on arbitrary input', (sql) => {
    const result = classify(sql);
    expect(['read', 'session', 'leader']).toContain(result.route);
  });
});

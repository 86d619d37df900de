import { describe, expect, test } from 'vitest';
import { isAccountStatement, quoteStatement } from '../../../src/apply/account-statement.js';

describe('account statements (applied again when they are the target’s last transaction)', () => {
  test.each([
    "CREATE USER app@'%' IDENTIFIED BY 'x'",
    "create or replace user app@'%'",
    'CREATE ROLE reader',
    "ALTER USER app@'%' ACCOUNT LOCK",
    "DROP USER IF EXISTS app@'%'",
    'DROP ROLE reader',
    "RENAME USER a@'%' TO b@'%'",
    "GRANT SELECT ON app.* TO app@'%'",
    "REVOKE ALL PRIVILEGES, GRANT OPTION FROM app@'%'",
    "SET PASSWORD FOR app@'%' = PASSWORD('x')",
    "SET DEFAULT ROLE reader FOR app@'%'",
    "/* a comment */ GRANT SELECT ON *.* TO app@'%'",
    "-- note\nGRANT SELECT ON *.* TO app@'%'",
  ])('%s', (sql) => {
    expect(isAccountStatement(sql)).toBe(true);
  });

  test.each([
    'CREATE TABLE users (id INT)',
    'CREATE DATABASE grants',
    'ALTER TABLE user ADD COLUMN x INT',
    "INSERT INTO grants VALUES ('GRANT')",
    'DROP TABLE user',
    'SET @password = 1',
    'SET NAMES utf8mb4',
  ])('not: %s', (sql) => {
    expect(isAccountStatement(sql)).toBe(false);
  });
});

describe('statements quoted in logs and errors', () => {
  test('passwords are masked', () => {
    expect(quoteStatement("CREATE USER a@'%' IDENTIFIED BY 'se''cret' REQUIRE NONE")).toBe(
      "CREATE USER a@'%' IDENTIFIED BY '…' REQUIRE NONE",
    );
    expect(quoteStatement("GRANT ALL ON *.* TO a@'%' IDENTIFIED BY PASSWORD '*ABC'")).toBe(
      "GRANT ALL ON *.* TO a@'%' IDENTIFIED BY PASSWORD '…'",
    );
    expect(
      quoteStatement(
        "CREATE USER e@'%' IDENTIFIED VIA ed25519 USING PASSWORD('pw'), b@'%' IDENTIFIED BY 'q'",
      ),
    ).toBe("CREATE USER e@'%' IDENTIFIED VIA ed25519 USING PASSWORD('…'), b@'%' IDENTIFIED BY '…'");
    expect(quoteStatement("INSERT INTO t VALUES ('IDENTIFIED')")).toBe("INSERT INTO t VALUES ('IDENTIFIED')");
  });

  test('long statements are shortened', () => {
    const quoted = quoteStatement(`INSERT INTO t VALUES ('${'x'.repeat(5000)}')`);
    expect(quoted.length).toBeLessThan(1100);
    expect(quoted).toMatch(/… \(5025 bytes\)$/);
  });
});

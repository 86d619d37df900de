import { describe, expect, test } from 'vitest';
import { buildWrite, quoteTable } from '../../../src/http/write-sql.js';

describe('structured writes to SQL', () => {
  test('insert binds every value and quotes every identifier', () => {
    expect(
      buildWrite({ kind: 'insert', table: 'app.users', values: { id: 1, name: "O'Brien; DROP TABLE x" } }),
    ).toEqual({
      ok: true,
      value: {
        sql: 'INSERT INTO `app`.`users` (`id`, `name`) VALUES (?, ?)',
        values: [1, "O'Brien; DROP TABLE x"],
      },
    });
  });

  test('update and delete use NULL-safe key equality and refuse an empty key', () => {
    expect(
      buildWrite({ kind: 'update', table: 't', set: { a: null }, where_key: { id: 7, k: null } }),
    ).toEqual({
      ok: true,
      value: { sql: 'UPDATE `t` SET `a` = ? WHERE `id` <=> ? AND `k` <=> ?', values: [null, 7, null] },
    });
    expect(buildWrite({ kind: 'delete', table: 't', where_key: { id: 7 } })).toEqual({
      ok: true,
      value: { sql: 'DELETE FROM `t` WHERE `id` <=> ?', values: [7] },
    });
    const refused = buildWrite({ kind: 'delete', table: 't', where_key: {} });
    expect(refused.ok ? '' : refused.error.message).toContain('whole-table writes are refused');
  });

  test('upsert updates the named columns, or all of them', () => {
    expect(
      buildWrite({ kind: 'upsert', table: 't', values: { id: 1, n: 2 }, update_columns: ['n'] }),
    ).toEqual({
      ok: true,
      value: {
        sql: 'INSERT INTO `t` (`id`, `n`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `n` = VALUES(`n`)',
        values: [1, 2],
      },
    });
    const all = buildWrite({ kind: 'upsert', table: 't', values: { id: 1 } });
    expect(all.ok && all.value.sql).toContain('UPDATE `id` = VALUES(`id`)');
  });

  test('identifiers that could carry SQL are refused with what to use instead', () => {
    for (const table of ['t`; DROP TABLE x; --', 'a.b.c', '', 'x y']) {
      const result = buildWrite({ kind: 'insert', table, values: { a: 1 } });
      expect(result.ok ? '' : result.error.code).toBe('BAD_REQUEST');
    }
    const column = buildWrite({ kind: 'insert', table: 't', values: { 'a`b': 1 } });
    expect(column.ok ? '' : column.error.message).toContain('"a`b" is not a valid column name');
    expect(quoteTable('db.t')).toBe('`db`.`t`');
  });
});

import type { WolfError } from '../errors/error-codes.js';

/**
 * Turns the HTTP API's structured writes (`/write/insert|update|delete|upsert`, the original
 * WolfScale's JSON shapes) into one parameterised statement. Pure.
 *
 * Identifiers are checked against a conservative pattern and backquoted; values never enter the
 * SQL text, they are bound as parameters. An `update` or `delete` needs a non-empty `where_key`:
 * the API refuses to touch a whole table by accident.
 */
export type SqlValue = string | number | boolean | null;

export interface InsertRequest {
  readonly table: string;
  readonly values: Readonly<Record<string, SqlValue>>;
}
export interface UpdateRequest {
  readonly table: string;
  readonly set: Readonly<Record<string, SqlValue>>;
  readonly where_key: Readonly<Record<string, SqlValue>>;
}
export interface DeleteRequest {
  readonly table: string;
  readonly where_key: Readonly<Record<string, SqlValue>>;
}
export interface UpsertRequest {
  readonly table: string;
  readonly values: Readonly<Record<string, SqlValue>>;
  readonly update_columns?: readonly string[];
}

export type WriteRequest =
  | ({ readonly kind: 'insert' } & InsertRequest)
  | ({ readonly kind: 'update' } & UpdateRequest)
  | ({ readonly kind: 'delete' } & DeleteRequest)
  | ({ readonly kind: 'upsert' } & UpsertRequest);

export interface Statement {
  readonly sql: string;
  readonly values: readonly SqlValue[];
}

const identifierRe = /^[A-Za-z0-9_$]{1,64}$/;
const columnsMax = 4096;

function badRequest(message: string): { readonly ok: false; readonly error: WolfError } {
  return { ok: false, error: { code: 'BAD_REQUEST', message } };
}

/** "db.table" or "table" → "`db`.`table`"; undefined when a part is not a plain identifier. */
export function quoteTable(table: string): string | undefined {
  const parts = table.split('.');
  if (parts.length > 2 || !parts.every((part) => identifierRe.test(part))) return undefined;
  return parts.map((part) => `\`${part}\``).join('.');
}

function quoteColumns(columns: readonly string[]): string[] | string {
  if (columns.length > columnsMax) return `at most ${columnsMax} columns`;
  const bad = columns.find((column) => !identifierRe.test(column));
  return bad === undefined ? columns.map((column) => `\`${column}\``) : `"${bad}" is not a valid column name`;
}

const identifierHelp =
  'use letters, digits, "_" and "$" (at most 64), and "database.table" for another database';

export function buildWrite(
  request: WriteRequest,
): { readonly ok: true; readonly value: Statement } | { readonly ok: false; readonly error: WolfError } {
  const table = quoteTable(request.table);
  if (table === undefined)
    return badRequest(`"${request.table}" is not a valid table name: ${identifierHelp}`);
  switch (request.kind) {
    case 'insert':
    case 'upsert': {
      const names = Object.keys(request.values);
      if (names.length === 0) return badRequest('values is empty: give at least one column');
      const columns = quoteColumns(names);
      if (typeof columns === 'string') return badRequest(`values: ${columns}: ${identifierHelp}`);
      let sql = `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`;
      if (request.kind === 'upsert') {
        const updates = quoteColumns(request.update_columns ?? names);
        if (typeof updates === 'string') return badRequest(`update_columns: ${updates}: ${identifierHelp}`);
        if (updates.length === 0)
          return badRequest('update_columns is empty: name the columns to update on a duplicate key');
        sql += ` ON DUPLICATE KEY UPDATE ${updates.map((column) => `${column} = VALUES(${column})`).join(', ')}`;
      }
      return { ok: true, value: { sql, values: Object.values(request.values) } };
    }
    case 'update': {
      const setNames = Object.keys(request.set);
      if (setNames.length === 0) return badRequest('set is empty: give at least one column to change');
      const set = quoteColumns(setNames);
      if (typeof set === 'string') return badRequest(`set: ${set}: ${identifierHelp}`);
      const where = whereClause(request.where_key);
      if (!where.ok) return where;
      return {
        ok: true,
        value: {
          sql: `UPDATE ${table} SET ${set.map((column) => `${column} = ?`).join(', ')} WHERE ${where.value.sql}`,
          values: [...Object.values(request.set), ...where.value.values],
        },
      };
    }
    case 'delete': {
      const where = whereClause(request.where_key);
      if (!where.ok) return where;
      return {
        ok: true,
        value: { sql: `DELETE FROM ${table} WHERE ${where.value.sql}`, values: where.value.values },
      };
    }
    default:
      return unreachable(request);
  }
}

function whereClause(
  whereKey: Readonly<Record<string, SqlValue>>,
): { readonly ok: true; readonly value: Statement } | { readonly ok: false; readonly error: WolfError } {
  const names = Object.keys(whereKey);
  if (names.length === 0) {
    return badRequest(
      'where_key is empty: name the key columns of the rows to change (whole-table writes are refused)',
    );
  }
  const columns = quoteColumns(names);
  if (typeof columns === 'string') return badRequest(`where_key: ${columns}: ${identifierHelp}`);
  // `<=>` is NULL-safe equality: a NULL key matches a NULL column instead of nothing.
  return {
    ok: true,
    value: { sql: columns.map((column) => `${column} <=> ?`).join(' AND '), values: Object.values(whereKey) },
  };
}

function unreachable(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}

/**
 * The one thing src/mariadb needs from a database handle: run a statement and return its rows.
 * A `mariadb` driver Connection or Pool satisfies it; tests may pass anything that does.
 */
export interface SqlRunner {
  query(sql: string, values?: readonly unknown[]): Promise<unknown>;
}

/** Rows of a SELECT as plain records; throws when the driver returned something else. */
export async function selectRows(
  runner: SqlRunner,
  sql: string,
): Promise<readonly Record<string, unknown>[]> {
  const rows = await runner.query(sql);
  if (!Array.isArray(rows)) throw new Error(`expected rows from: ${sql}`);
  return rows as Record<string, unknown>[];
}

/** The single row of a SELECT; throws when there is not exactly one. */
export async function selectOne(runner: SqlRunner, sql: string): Promise<Record<string, unknown>> {
  const rows = await selectRows(runner, sql);
  const [row] = rows;
  if (rows.length !== 1 || row === undefined)
    throw new Error(`expected one row from: ${sql}, got ${rows.length}`);
  return row;
}

/** A system variable's value as text, whatever type the driver chose (number, bigint, string). */
export function variableText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  throw new Error(`unexpected system variable value of type ${typeof value}`);
}

/** ON/OFF, 1/0, TRUE/FALSE as a boolean. */
export function variableFlag(value: unknown): boolean {
  const text = variableText(value).toUpperCase();
  return text === '1' || text === 'ON' || text === 'TRUE' || text === 'YES';
}

import type { Connection } from 'mariadb';

/**
 * Compares two MariaDB servers the way the apply acceptance demands: the same tables, the same
 * `CHECKSUM TABLE ... EXTENDED` for every one, the same `SHOW CREATE TABLE`, the same triggers,
 * routines and accounts, and the same `@@gtid_binlog_pos`. Reports exactly what differs.
 *
 * Covered: every base table outside the server's own schemas, plus the mysql tables that
 * replicated statements change (accounts, grants, routines). Not covered: mysql's statistics and
 * replication-state tables (innodb_*_stats, gtid_slave_pos), which each server keeps for itself.
 */
export interface Comparison {
  readonly equal: boolean;
  /** One line per difference, e.g. "ws_a.t: CHECKSUM 123 vs 456". */
  readonly differences: readonly string[];
  /** How many tables were compared. */
  readonly tables: number;
}

const systemSchemas = new Set(['information_schema', 'performance_schema', 'sys', 'mysql']);
const replicatedMysqlTables = [
  'global_priv',
  'db',
  'tables_priv',
  'columns_priv',
  'procs_priv',
  'proc',
  'roles_mapping',
];

interface Snapshot {
  readonly tables: ReadonlyMap<string, { readonly checksum: string; readonly create: string }>;
  readonly triggers: ReadonlyMap<string, string>;
  readonly gtidBinlogPos: string;
}

/**
 * SHOW CREATE TABLE without its `AUTO_INCREMENT=N` table option. Row events carry the values, not
 * the counter: a source that inserted with auto_increment_increment=3 has a counter two ahead of
 * any replica's, MariaDB's own replicas included (checked: `mariadb-binlog | mariadb` gives the
 * same difference). Harmless: InnoDB's counter is always above the largest value in the column.
 */
function withoutAutoIncrementCounter(create: string): string {
  return create.replace(/ AUTO_INCREMENT=\d+/, '');
}

function quote(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
}

async function snapshot(connection: Connection): Promise<Snapshot> {
  const rows = (await connection.query(
    "SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY 1, 2",
  )) as Array<{ s: string; t: string }>;
  const names = rows
    .filter(
      (row) => !systemSchemas.has(row.s) || (row.s === 'mysql' && replicatedMysqlTables.includes(row.t)),
    )
    .map((row) => ({ schema: row.s, table: row.t }));
  const tables = new Map<string, { checksum: string; create: string }>();
  for (const { schema, table } of names) {
    const full = `${quote(schema)}.${quote(table)}`;
    const [sum] = (await connection.query(`CHECKSUM TABLE ${full} EXTENDED`)) as Array<{ Checksum: unknown }>;
    const [create] = (await connection.query(`SHOW CREATE TABLE ${full}`)) as Array<Record<string, unknown>>;
    tables.set(`${schema}.${table}`, {
      checksum: String(sum?.Checksum),
      create: withoutAutoIncrementCounter(String(create?.['Create Table'])),
    });
  }
  const triggerRows = (await connection.query(
    'SELECT TRIGGER_SCHEMA AS s, TRIGGER_NAME AS n, ACTION_STATEMENT AS a, SQL_MODE AS m, DEFINER AS d, ' +
      'CHARACTER_SET_CLIENT AS c, COLLATION_CONNECTION AS cc, DATABASE_COLLATION AS dc, CREATED AS created ' +
      'FROM information_schema.TRIGGERS ORDER BY 1, 2',
  )) as Array<Record<string, unknown>>;
  const triggers = new Map(triggerRows.map((row) => [`${row['s']}.${row['n']}`, JSON.stringify(row)]));
  const [gtid] = (await connection.query('SELECT @@GLOBAL.gtid_binlog_pos AS pos')) as Array<{ pos: string }>;
  return { tables, triggers, gtidBinlogPos: gtid?.pos ?? '' };
}

/** Compares `source` with `target`; never throws on a difference, only on I/O failure. */
export async function compareServers(source: Connection, target: Connection): Promise<Comparison> {
  const [a, b] = await Promise.all([snapshot(source), snapshot(target)]);
  const differences: string[] = [];
  for (const [name, left] of a.tables) {
    const right = b.tables.get(name);
    if (right === undefined) {
      differences.push(`${name}: missing on the target`);
      continue;
    }
    if (left.checksum !== right.checksum)
      differences.push(`${name}: CHECKSUM ${left.checksum} vs ${right.checksum}`);
    if (left.create !== right.create) {
      differences.push(
        `${name}: SHOW CREATE TABLE differs:\n  source: ${left.create}\n  target: ${right.create}`,
      );
    }
  }
  for (const name of b.tables.keys()) {
    if (!a.tables.has(name)) differences.push(`${name}: only on the target`);
  }
  for (const [name, left] of a.triggers) {
    const right = b.triggers.get(name);
    if (right !== left) differences.push(`trigger ${name}: ${left} vs ${right ?? 'missing'}`);
  }
  for (const name of b.triggers.keys()) {
    if (!a.triggers.has(name)) differences.push(`trigger ${name}: only on the target`);
  }
  if (a.gtidBinlogPos !== b.gtidBinlogPos) {
    differences.push(`@@gtid_binlog_pos: ${a.gtidBinlogPos} vs ${b.gtidBinlogPos}`);
  }
  return { equal: differences.length === 0, differences, tables: a.tables.size };
}

import type { Connection } from 'mariadb';

/**
 * A seeded, reproducible workload for a source MariaDB: every column type, tables with and
 * without primary keys, a row over 16 MiB, a 100,000-row transaction, multi-table transactions,
 * DDL of every kind, users and grants, a trigger, a stored procedure, NOW()/RAND()/UUID(),
 * AUTO_INCREMENT and LAST_INSERT_ID(), temporary tables, session settings that change how DDL is
 * read (sql_mode, character set, time zone), and several databases.
 *
 * Reproducible: the same seed and options give the same statements in the same order (run
 * `workloadStatements` to see them). Values chosen by the server (NOW(), UUID(), RAND()) differ
 * between runs, which is the point: the target must get the source's values, not its own.
 * With `concurrency > 1` the random phase runs on several connections at once, so the binlog has
 * group commits (shared commit ids); the statements are the same, their commit order is not.
 */
export interface WorkloadOptions {
  readonly seed: number;
  /** Random single- and multi-table transactions in the main phase. */
  readonly operations: number;
  /** Size of the one big row; over 16 MiB by default, so its binlog event spans packets. */
  readonly bigRowBytes?: number;
  /** Rows in the one big transaction. */
  readonly bulkRows?: number;
  /** Connections for the random phase; 1 = fully deterministic commit order. */
  readonly concurrency?: number;
}

export const workloadDatabases = ['ws_a', 'ws_b', 'ws-c', 'ws_d'] as const;

const bigRowBytesDefault = 16 * 1024 * 1024 + 4096;
const bulkRowsDefault = 100_000;

/** One unit the workload runs: a statement, or several in one transaction. */
export type WorkloadStep =
  | { readonly kind: 'statement'; readonly sql: string; readonly values?: readonly unknown[] }
  | { readonly kind: 'transaction'; readonly statements: readonly string[] };

/** A small, fast PRNG (mulberry32): reproducible from a 32-bit seed. */
export class Prng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [min, max], inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }
  chance(probability: number): boolean {
    return this.next() < probability;
  }
  bytes(length: number): Buffer {
    const out = Buffer.alloc(Math.ceil(length / 4) * 4);
    for (let i = 0; i < out.length; i += 4) out.writeUInt32LE((this.next() * 4294967296) >>> 0, i);
    return out.subarray(0, length);
  }
}

/** Every column type the workload covers, with a generator of SQL literals for it. */
interface ColumnSpec {
  readonly name: string;
  readonly type: string;
  readonly literal: (prng: Prng) => string;
}

const utf8Samples = [
  'plain',
  'héllo wörld',
  '日本語のテキスト',
  'emoji 😀🎉🧪',
  "quote ' and \\ backslash",
  '',
];

function hex(bytes: Buffer): string {
  return bytes.length === 0 ? "''" : `X'${bytes.toString('hex')}'`;
}

function utf8Literal(text: string): string {
  return text === '' ? "_utf8mb4''" : `_utf8mb4 X'${Buffer.from(text, 'utf8').toString('hex')}'`;
}

function intLiteral(prng: Prng, bits: number, unsigned: boolean): string {
  const edge = prng.int(0, 3);
  const max = (1n << BigInt(unsigned ? bits : bits - 1)) - 1n;
  const min = unsigned ? 0n : -(1n << BigInt(bits - 1));
  if (edge === 0) return String(max);
  if (edge === 1) return String(min);
  const span = max - min;
  const r = (BigInt(Math.floor(prng.next() * 2 ** 32)) << 32n) | BigInt(Math.floor(prng.next() * 2 ** 32));
  return String(min + (r % (span + 1n)));
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

const columns: readonly ColumnSpec[] = [
  ...(
    [
      ['tinyint', 8],
      ['smallint', 16],
      ['mediumint', 24],
      ['int', 32],
      ['bigint', 64],
    ] as const
  ).flatMap(([type, bits]) => [
    { name: `c_${type}`, type: type.toUpperCase(), literal: (p: Prng) => intLiteral(p, bits, false) },
    {
      name: `c_${type}_u`,
      type: `${type.toUpperCase()} UNSIGNED`,
      literal: (p: Prng) => intLiteral(p, bits, true),
    },
  ]),
  {
    name: 'c_decimal',
    type: 'DECIMAL(38,10)',
    literal: (p) =>
      `${p.chance(0.5) ? '-' : ''}${p.int(0, 999_999_999)}${p.int(0, 999_999_999)}.${p.int(0, 9_999_999)}`,
  },
  { name: 'c_float', type: 'FLOAT', literal: (p) => String(Math.fround((p.next() - 0.5) * 1e6)) },
  { name: 'c_double', type: 'DOUBLE', literal: (p) => String((p.next() - 0.5) * 1e300) },
  { name: 'c_bit', type: 'BIT(13)', literal: (p) => `b'${p.int(0, 8191).toString(2)}'` },
  {
    name: 'c_date',
    type: 'DATE',
    literal: (p) => `'${p.int(1000, 9999)}-${pad2(p.int(1, 12))}-${pad2(p.int(1, 28))}'`,
  },
  {
    name: 'c_time',
    type: 'TIME(6)',
    literal: (p) =>
      `'${p.chance(0.3) ? '-' : ''}${p.int(0, 838)}:${pad2(p.int(0, 59))}:${pad2(p.int(0, 59))}.${p.int(0, 999_999)}'`,
  },
  {
    name: 'c_datetime',
    type: 'DATETIME(6)',
    literal: (p) =>
      `'${p.int(1000, 9999)}-${pad2(p.int(1, 12))}-${pad2(p.int(1, 28))} ${pad2(p.int(0, 23))}:${pad2(p.int(0, 59))}:${pad2(p.int(0, 59))}.${String(p.int(0, 999_999)).padStart(6, '0')}'`,
  },
  {
    name: 'c_timestamp',
    type: 'TIMESTAMP(6) NULL',
    literal: (p) =>
      `'${p.int(1971, 2037)}-${pad2(p.int(1, 12))}-${pad2(p.int(1, 28))} ${pad2(p.int(0, 23))}:${pad2(p.int(0, 59))}:${pad2(p.int(0, 59))}.${String(p.int(0, 999_999)).padStart(6, '0')}'`,
  },
  { name: 'c_year', type: 'YEAR', literal: (p) => String(p.int(1901, 2155)) },
  {
    name: 'c_char',
    type: 'CHAR(30) CHARACTER SET utf8mb4',
    literal: (p) => utf8Literal(p.pick(utf8Samples)),
  },
  {
    name: 'c_varchar',
    type: 'VARCHAR(300) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci',
    literal: (p) => utf8Literal(p.pick(utf8Samples).repeat(p.int(1, 5))),
  },
  {
    name: 'c_latin1',
    type: 'VARCHAR(40) CHARACTER SET latin1',
    literal: (p) => p.pick(["'abc'", "'Ünïcödé'", "''"]),
  },
  {
    name: 'c_text',
    type: 'TEXT CHARACTER SET utf8mb4',
    literal: (p) => utf8Literal(p.pick(utf8Samples).repeat(p.int(0, 200))),
  },
  { name: 'c_blob', type: 'BLOB', literal: (p) => hex(p.bytes(p.int(0, 3000))) },
  { name: 'c_binary', type: 'BINARY(8)', literal: (p) => hex(p.bytes(p.int(1, 8))) },
  { name: 'c_varbinary', type: 'VARBINARY(64)', literal: (p) => hex(p.bytes(p.int(0, 64))) },
  {
    name: 'c_enum',
    type: "ENUM('red','green','blue','ünï')",
    literal: (p) => p.pick(["'red'", "'green'", "'blue'", "'ünï'"]),
  },
  {
    name: 'c_set',
    type: "SET('a','b','c','d')",
    literal: (p) => p.pick(["''", "'a'", "'a,c'", "'b,c,d'", "'a,b,c,d'"]),
  },
  {
    name: 'c_json',
    type: 'JSON',
    literal: (p) =>
      `'${JSON.stringify({ n: p.int(-1000, 1000), s: p.pick(['x', 'ÿ', '😀']), a: [p.next(), null, true] })}'`,
  },
  {
    name: 'c_geometry',
    type: 'GEOMETRY',
    literal: (p) =>
      p.pick([
        `ST_GeomFromText('POINT(${p.int(-180, 180)} ${p.int(-90, 90)})')`,
        `ST_GeomFromText('LINESTRING(0 0, ${p.int(1, 9)} ${p.int(1, 9)}, 10 10)')`,
        `ST_GeomFromText('POLYGON((0 0, 10 0, 10 10, 0 10, 0 0))')`,
      ]),
  },
];

const columnDefinitions = columns.map((c) => `\`${c.name}\` ${c.type}`).join(', ');

function rowValues(prng: Prng): { names: string; values: string } {
  const chosen = columns.map((c) => (prng.chance(0.15) ? 'NULL' : c.literal(prng)));
  return { names: columns.map((c) => `\`${c.name}\``).join(', '), values: chosen.join(', ') };
}

function setupSteps(): WorkloadStep[] {
  const s = (sql: string): WorkloadStep => ({ kind: 'statement', sql });
  return [
    s('CREATE DATABASE ws_a'),
    s('CREATE DATABASE ws_b CHARACTER SET latin1 COLLATE latin1_swedish_ci'),
    s('CREATE DATABASE `ws-c` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin'),
    s(
      `CREATE TABLE ws_a.all_types (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, ${columnDefinitions}) ENGINE=InnoDB`,
    ),
    s(`CREATE TABLE ws_a.nopk_types (${columnDefinitions}) ENGINE=InnoDB`),
    s(
      'CREATE TABLE ws_a.audit (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(40), at DATETIME(6), r DOUBLE)',
    ),
    s('CREATE TABLE ws_a.big (id INT PRIMARY KEY, payload LONGBLOB)'),
    s('CREATE TABLE ws_a.bulk (id INT PRIMARY KEY, r DOUBLE, u CHAR(36), note VARCHAR(64))'),
    // The trigger's rows reach the target as row events; the target must not fire it again.
    s(
      "CREATE TRIGGER ws_a.all_types_ai AFTER INSERT ON ws_a.all_types FOR EACH ROW INSERT INTO ws_a.audit (what, at, r) VALUES (CONCAT('insert ', NEW.id), NOW(6), RAND())",
    ),
    s(
      'CREATE TABLE ws_b.orders (id INT AUTO_INCREMENT PRIMARY KEY, uuid CHAR(36), created DATETIME(6), amount DECIMAL(12,2), note VARCHAR(50))',
    ),
    s(
      'CREATE TABLE ws_b.order_lines (order_id INT NOT NULL, line INT NOT NULL, qty INT, PRIMARY KEY (order_id, line))',
    ),
    s(
      'CREATE PROCEDURE ws_b.place_order(IN line_count INT) BEGIN DECLARE i INT DEFAULT 0; ' +
        "INSERT INTO ws_b.orders (uuid, created, amount, note) VALUES (UUID(), NOW(6), ROUND(RAND() * 1000, 2), _latin1 X'e9'); " +
        'WHILE i < line_count DO INSERT INTO ws_b.order_lines VALUES (LAST_INSERT_ID(), i, FLOOR(RAND() * 100)); SET i = i + 1; END WHILE; END',
    ),
    s(
      'CREATE TABLE `ws-c`.kv (k VARCHAR(64) PRIMARY KEY, v JSON, touched TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6))',
    ),
    s("CREATE USER 'ws_app'@'%' IDENTIFIED BY 'app-secret'"),
    s("GRANT SELECT, INSERT, UPDATE ON ws_a.* TO 'ws_app'@'%'"),
    s("CREATE USER 'ws_reader'@'localhost' IDENTIFIED BY 'reader-secret'"),
    s("GRANT SELECT ON `ws-c`.* TO 'ws_reader'@'localhost'"),
  ];
}

function randomStep(prng: Prng, op: number): WorkloadStep {
  const s = (sql: string): WorkloadStep => ({ kind: 'statement', sql });
  const tx = (...statements: string[]): WorkloadStep => ({ kind: 'transaction', statements });
  const choice = prng.int(0, 11);
  switch (choice) {
    case 0:
    case 1: {
      const row = rowValues(prng);
      return s(`INSERT INTO ws_a.all_types (${row.names}) VALUES (${row.values})`);
    }
    case 2: {
      const column = prng.pick(columns);
      return s(
        `UPDATE ws_a.all_types SET \`${column.name}\` = ${prng.chance(0.2) ? 'NULL' : column.literal(prng)} WHERE id % 7 = ${prng.int(0, 6)}`,
      );
    }
    case 3:
      return s(`DELETE FROM ws_a.all_types WHERE id % 13 = ${prng.int(0, 12)} LIMIT 2`);
    case 4: {
      // No primary key: duplicates on purpose, so row lookup by full image must pick one of equals.
      const row = rowValues(prng);
      return tx(
        `INSERT INTO ws_a.nopk_types (${row.names}) VALUES (${row.values}), (${row.values})`,
        `UPDATE ws_a.nopk_types SET c_int = ${intLiteral(prng, 32, false)} WHERE c_tinyint IS NULL OR c_tinyint < 0 LIMIT 1`,
      );
    }
    case 5:
      return s(`DELETE FROM ws_a.nopk_types WHERE c_smallint > ${intLiteral(prng, 16, false)} LIMIT 1`);
    case 6:
      // Multi-table, multi-database, with a procedure, UUID(), NOW(), RAND() and LAST_INSERT_ID().
      return tx(
        `CALL ws_b.place_order(${prng.int(1, 5)})`,
        `INSERT INTO \`ws-c\`.kv (k, v) VALUES ('k${prng.int(0, 50)}', JSON_OBJECT('order', LAST_INSERT_ID(), 'r', RAND())) ON DUPLICATE KEY UPDATE v = JSON_SET(v, '$.again', UUID())`,
        `UPDATE ws_a.all_types SET c_datetime = NOW(6), c_double = RAND() WHERE id = ${prng.int(1, op + 1)}`,
      );
    case 7:
      return s(`INSERT INTO ws_a.audit (what, at, r) VALUES (UUID(), NOW(6), RAND(${prng.int(0, 1000)}))`);
    case 8:
      // A temporary table feeding a real one: only the real rows reach the binlog.
      return tx(
        `CREATE TEMPORARY TABLE ws_a.tmp_${op} (x INT, y VARCHAR(40))`,
        `INSERT INTO ws_a.tmp_${op} VALUES (${prng.int(0, 100)}, 'tmp'), (${prng.int(0, 100)}, UUID())`,
        `INSERT INTO ws_a.audit (what, at, r) SELECT CONCAT(y, x), NOW(6), x FROM ws_a.tmp_${op}`,
        `DROP TEMPORARY TABLE ws_a.tmp_${op}`,
      );
    case 9:
      return tx(
        `SET SESSION auto_increment_increment = ${prng.int(1, 4)}, auto_increment_offset = 1`,
        `INSERT INTO ws_b.orders (uuid, created, amount, note) VALUES (UUID(), NOW(6), ${prng.int(0, 99999) / 100}, 'aii')`,
        'SET SESSION auto_increment_increment = 1',
      );
    case 10:
      return tx(
        `SET time_zone = '${prng.pick(['+00:00', '+05:30', '-08:00'])}'`,
        `INSERT INTO \`ws-c\`.kv (k, v, touched) VALUES ('tz${op}', '{}', NOW(6)) ON DUPLICATE KEY UPDATE touched = NOW(6)`,
        "SET time_zone = 'SYSTEM'",
      );
    default:
      return s(
        `UPDATE ws_b.order_lines SET qty = qty + ${prng.int(1, 9)} WHERE order_id % 5 = ${prng.int(0, 4)}`,
      );
  }
}

function ddlSteps(): WorkloadStep[] {
  const s = (sql: string): WorkloadStep => ({ kind: 'statement', sql });
  return [
    s(
      "ALTER TABLE ws_a.all_types ADD COLUMN c_added VARCHAR(20) DEFAULT 'dflt' AFTER c_int, ADD INDEX (c_int)",
    ),
    s('CREATE TABLE ws_a.to_rename (id INT PRIMARY KEY, v INT)'),
    s('INSERT INTO ws_a.to_rename VALUES (1, 1), (2, 2)'),
    s('RENAME TABLE ws_a.to_rename TO ws_b.renamed'),
    s('CREATE TABLE ws_a.to_drop (id INT PRIMARY KEY)'),
    s('INSERT INTO ws_a.to_drop VALUES (1)'),
    s('DROP TABLE ws_a.to_drop'),
    s('CREATE TABLE ws_a.to_truncate (id INT AUTO_INCREMENT PRIMARY KEY, v INT)'),
    s('INSERT INTO ws_a.to_truncate (v) VALUES (1), (2), (3)'),
    s('TRUNCATE TABLE ws_a.to_truncate'),
    s('INSERT INTO ws_a.to_truncate (v) VALUES (4)'),
    s('CREATE DATABASE ws_d'),
    // DDL whose meaning depends on the session: sql_mode (ANSI_QUOTES), character set of the
    // client (a latin1 literal in a default), and the current database (no qualifier).
    { kind: 'statement', sql: "SET SESSION sql_mode = 'ANSI_QUOTES,STRICT_TRANS_TABLES'" },
    s('CREATE TABLE ws_d."quoted table" ("the id" INT PRIMARY KEY, "v" VARCHAR(10))'),
    { kind: 'statement', sql: 'SET SESSION sql_mode = DEFAULT' },
    { kind: 'statement', sql: 'SET NAMES latin1' },
    s(
      "CREATE TABLE ws_d.latin (id INT PRIMARY KEY, v VARCHAR(10) CHARACTER SET utf8mb4 DEFAULT 'caf\u00e9')",
    ),
    { kind: 'statement', sql: 'SET NAMES utf8mb4' },
    s('INSERT INTO ws_d.latin (id) VALUES (1)'),
    { kind: 'statement', sql: 'USE ws_d' },
    s('CREATE TABLE unqualified (id INT PRIMARY KEY, created DATETIME(6) DEFAULT NOW(6), u CHAR(36))'),
    s('INSERT INTO unqualified (id, u) VALUES (1, UUID())'),
    s("ALTER USER 'ws_app'@'%' IDENTIFIED BY 'app-secret-2'"),
    s("REVOKE UPDATE ON ws_a.* FROM 'ws_app'@'%'"),
  ];
}

/** The whole workload as a list of steps, in the order `runWorkload` runs them (one connection). */
export function workloadStatements(options: WorkloadOptions): WorkloadStep[] {
  const prng = new Prng(options.seed);
  const random = Array.from({ length: options.operations }, (_, op) => randomStep(prng, op));
  const half = Math.floor(random.length / 2);
  return [...setupSteps(), ...random.slice(0, half), ...ddlSteps(), ...random.slice(half)];
}

/**
 * Runs the workload on the source: setup, half the random steps, the big row and the big
 * transaction, the DDL, the other half. Returns the number of steps run.
 */
export async function runWorkload(
  connect: () => Promise<Connection>,
  options: WorkloadOptions,
): Promise<{ readonly steps: number }> {
  const prng = new Prng(options.seed ^ 0x5eed);
  const steps = workloadStatements(options);
  const setupCount = setupSteps().length;
  const half = setupCount + Math.floor(options.operations / 2);
  const ddlCount = ddlSteps().length;
  const main = await connect();
  try {
    await runSteps([main], steps.slice(0, setupCount));
    await runConcurrently(connect, steps.slice(setupCount, half), options.concurrency ?? 1);
    await runBig(main, prng, options);
    await runSteps([main], steps.slice(half, half + ddlCount));
    await main.query('USE ws_a');
    await runConcurrently(connect, steps.slice(half + ddlCount), options.concurrency ?? 1);
  } finally {
    await main.end();
  }
  return { steps: steps.length + 2 };
}

async function runBig(connection: Connection, prng: Prng, options: WorkloadOptions): Promise<void> {
  const bigRowBytes = options.bigRowBytes ?? bigRowBytesDefault;
  const bulkRows = options.bulkRows ?? bulkRowsDefault;
  if (bigRowBytes > 0) {
    await connection.query(`INSERT INTO ws_a.big VALUES (1, X'${prng.bytes(bigRowBytes).toString('hex')}')`);
  }
  if (bulkRows > 0) {
    await connection.query(
      `INSERT INTO ws_a.bulk SELECT seq, RAND(${prng.int(0, 1000)}), UUID(), CONCAT('row ', seq) FROM ws_a.seq_1_to_${bulkRows}`,
    );
  }
}

async function runConcurrently(
  connect: () => Promise<Connection>,
  steps: readonly WorkloadStep[],
  concurrency: number,
): Promise<void> {
  const connections = await Promise.all(Array.from({ length: Math.max(1, concurrency) }, () => connect()));
  try {
    // Round-robin: connection i runs steps i, i + n, i + 2n, ... in order.
    await Promise.all(
      connections.map((connection, i) =>
        runSteps(
          [connection],
          steps.filter((_, index) => index % connections.length === i),
        ),
      ),
    );
  } finally {
    await Promise.all(connections.map((connection) => connection.end()));
  }
}

async function runSteps(connections: readonly Connection[], steps: readonly WorkloadStep[]): Promise<void> {
  const [connection] = connections;
  if (connection === undefined) throw new Error('no connection');
  for (const step of steps) await runStep(connection, step);
}

/** Deadlocks between the workload's own connections are retried: they are not what is tested. */
const deadlockRetriesMax = 20;
const retryableErrnos = new Set([1213, 1205]);

async function runStep(connection: Connection, step: WorkloadStep): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      if (step.kind === 'statement') {
        await connection.query(step.sql, step.values);
        return;
      }
      await connection.query('BEGIN');
      for (const sql of step.statements) await connection.query(sql);
      await connection.query('COMMIT');
      return;
    } catch (error) {
      const errno = (error as { errno?: number }).errno;
      if (errno === undefined || !retryableErrnos.has(errno) || attempt >= deadlockRetriesMax) throw error;
      await connection.query('ROLLBACK');
    }
  }
}

import {
  builtinFunctions,
  connectionFunctions,
  notFunctions,
  type PinReasonName,
} from './classify-functions.js';
import { type Token, tokenize } from './classify-lexer.js';

/**
 * Where a statement may run. Pure: SQL text in, a decision with its reason out.
 *
 * - `read`: provably read-only; may run on a caught-up follower.
 * - `session`: changes only this connection's state (`SET NAMES`, `SET @v = 1`, `USE db`); the
 *   proxy runs it where the session is and replays it on every backend the session later uses.
 * - `leader`: everything else — writes, transactions, locking reads, anything not provably
 *   read-only (a SELECT calling a function that may be a stored function), anything unknown.
 *
 * `pin` names why the session must stay on the leader from now on (a transaction, a temporary
 * table, a named lock, …). In a multi-statement text the worst statement decides.
 */
export type Route = 'read' | 'session' | 'leader';
export type PinReason = PinReasonName;

export interface StatementClassification {
  readonly route: Route;
  readonly verb: string;
  readonly reason: string;
  readonly pin?: PinReason;
  /** For `USE db`: the database the session switches to. */
  readonly useDatabase?: string;
}

export interface Classification {
  readonly route: Route;
  readonly reason: string;
  readonly pin?: PinReason;
  readonly statements: readonly StatementClassification[];
}

const writeVerbs = new Set(
  `INSERT UPDATE DELETE REPLACE ALTER RENAME TRUNCATE LOAD GRANT REVOKE OPTIMIZE REPAIR CHECK FLUSH
PURGE RESET CHANGE KILL INSTALL UNINSTALL SHUTDOWN BINLOG CACHE SIGNAL RESIGNAL STOP BACKUP CALL UNLOCK`
    .split(/\s+/)
    .filter((verb) => verb !== ''),
);

const readVerbs = new Set(['SHOW', 'DESCRIBE', 'DESC', 'HELP', 'CHECKSUM']);

function read(verb: string, reason: string): StatementClassification {
  return { route: 'read', verb, reason };
}

function leader(verb: string, reason: string, pin?: PinReason): StatementClassification {
  return pin === undefined ? { route: 'leader', verb, reason } : { route: 'leader', verb, reason, pin };
}

function wordAt(tokens: readonly Token[], index: number): string | undefined {
  const token = tokens[index];
  return token?.kind === 'word' ? token.text : undefined;
}

function isPunct(token: Token | undefined, text: string): boolean {
  return token?.kind === 'punct' && token.text === text;
}

/**
 * Scans an expression-bearing statement (SELECT, VALUES, DO, SET) for what makes it more than a
 * plain read: locking clauses, INTO, user-variable assignment, sequences, connection functions,
 * and calls to functions that are not built in.
 */
function scanExpressions(verb: string, tokens: readonly Token[]): StatementClassification | undefined {
  let pinned: StatementClassification | undefined;
  const columnLists = cteColumnLists(tokens);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as Token;
    if (token.kind === 'punct' && token.text === ':=') {
      pinned ??= leader(verb, 'assigns a user variable inside a query', 'user-variable');
      continue;
    }
    if (token.kind !== 'word') continue;
    const word = token.text;
    const next = wordAt(tokens, i + 1);
    if (word === 'FOR' && (next === 'UPDATE' || next === 'SHARE')) {
      return leader(verb, `SELECT … FOR ${next} takes row locks`);
    }
    if (word === 'LOCK' && next === 'IN' && wordAt(tokens, i + 2) === 'SHARE') {
      return leader(verb, 'SELECT … LOCK IN SHARE MODE takes row locks');
    }
    if (word === 'INTO') {
      if (next === 'OUTFILE' || next === 'DUMPFILE')
        return leader(verb, `SELECT … INTO ${next} writes a file`);
      if (tokens[i + 1]?.kind === 'variable') {
        pinned ??= leader(verb, 'SELECT … INTO @variable sets session state from a query', 'user-variable');
      } else {
        return leader(verb, 'SELECT … INTO a target that is not a user variable');
      }
      continue;
    }
    if ((word === 'NEXT' || word === 'PREVIOUS') && next === 'VALUE' && wordAt(tokens, i + 2) === 'FOR') {
      return leader(verb, `${word} VALUE FOR reads or advances a sequence`, 'sequence');
    }
    if (word === 'SQL_CALC_FOUND_ROWS') {
      pinned ??= leader(
        verb,
        'SQL_CALC_FOUND_ROWS is read back with FOUND_ROWS() on the same connection',
        'found-rows',
      );
      continue;
    }
    if (!isPunct(tokens[i + 1], '(')) continue;
    if (columnLists.has(i + 1)) continue;
    const qualified = isPunct(tokens[i - 1], '.');
    if (qualified)
      return leader(
        verb,
        `calls ${word.toLowerCase()}() in another schema, which may be a stored function that writes`,
      );
    const connection = connectionFunctions.get(word);
    if (connection !== undefined) {
      if (connection.write) return leader(verb, `${word.toLowerCase()}() changes a sequence`, connection.pin);
      pinned ??= leader(verb, `${word.toLowerCase()}() depends on this connection`, connection.pin);
      continue;
    }
    if (builtinFunctions.has(word) || notFunctions.has(word)) continue;
    return leader(
      verb,
      `calls ${word.toLowerCase()}(), which is not built in and may be a stored function that writes`,
    );
  }
  // A backquoted name followed by "(" is a call too: never a built-in spelled that way by accident.
  for (let i = 0; i < tokens.length - 1; i++) {
    const token = tokens[i] as Token;
    if (token.kind === 'quoted' && isPunct(tokens[i + 1], '(') && !isPunct(tokens[i - 1], '.')) {
      const previous = wordAt(tokens, i - 1);
      if (previous === 'FROM' || previous === 'JOIN' || previous === 'INTO' || previous === 'TABLE') continue;
      return leader(verb, `calls \`${token.text}\`(), which may be a stored function that writes`);
    }
  }
  return pinned;
}

/**
 * Positions of the "(" that open CTE column lists — `WITH name (a, b) AS (…)` — which are not
 * calls. Only at depth 0 of a statement that starts with WITH, before its main verb.
 */
function cteColumnLists(tokens: readonly Token[]): ReadonlySet<number> {
  const opens = new Set<number>();
  if (wordAt(tokens, 0) !== 'WITH') return opens;
  let depth = 0;
  for (let i = 1; i < tokens.length; i++) {
    if (isPunct(tokens[i], '(')) {
      if (depth === 0 && tokens[i - 1]?.kind !== 'punct' && wordAt(tokens, i - 1) !== 'AS') {
        let inner = 0;
        for (let j = i; j < tokens.length; j++) {
          if (isPunct(tokens[j], '(')) inner++;
          else if (isPunct(tokens[j], ')') && --inner === 0) {
            if (wordAt(tokens, j + 1) === 'AS') opens.add(i);
            break;
          }
        }
      }
      depth++;
    } else if (isPunct(tokens[i], ')')) depth--;
    else if (
      depth === 0 &&
      ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'REPLACE', 'VALUES', 'TABLE'].includes(wordAt(tokens, i) ?? '')
    ) {
      break;
    }
  }
  return opens;
}

function classifySelect(verb: string, tokens: readonly Token[]): StatementClassification {
  return scanExpressions(verb, tokens) ?? read(verb, `${verb} without locks, writes or unknown functions`);
}

/** The main verb of `WITH … AS (…) [, …] VERB`: the first verb at depth 0 after a closing parenthesis. */
function withMainVerb(tokens: readonly Token[]): string | undefined {
  let depth = 0;
  let sawClose = false;
  for (const token of tokens) {
    if (token.kind === 'punct' && token.text === '(') depth++;
    else if (token.kind === 'punct' && token.text === ')') {
      depth--;
      if (depth === 0) sawClose = true;
    } else if (token.kind === 'word' && depth === 0 && sawClose) {
      if (['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'REPLACE', 'VALUES', 'TABLE'].includes(token.text))
        return token.text;
    }
  }
  return undefined;
}

function classifySet(tokens: readonly Token[]): StatementClassification {
  const first = wordAt(tokens, 1);
  const second = tokens[1];
  if (first === 'GLOBAL' || (second?.kind === 'variable' && second.text.startsWith('@@GLOBAL.'))) {
    return leader('SET', 'SET GLOBAL changes a server-wide setting (on the leader only; not replicated)');
  }
  if (first === 'PASSWORD' || (first === 'DEFAULT' && wordAt(tokens, 2) === 'ROLE')) {
    return leader('SET', `SET ${first} changes an account`);
  }
  if (first === 'STATEMENT') {
    let depth = 0;
    for (let i = 2; i < tokens.length; i++) {
      const token = tokens[i] as Token;
      if (isPunct(token, '(')) depth++;
      else if (isPunct(token, ')')) depth--;
      else if (depth === 0 && token.kind === 'word' && token.text === 'FOR') {
        return classifyStatement(tokens.slice(i + 1));
      }
    }
    return leader('SET', 'SET STATEMENT without FOR');
  }
  if (tokens.some((token) => token.kind === 'word' && token.text === 'SELECT')) {
    return leader('SET', 'SET from a query: the value depends on where it runs', 'user-variable');
  }
  const expressions = scanExpressions('SET', tokens.slice(1));
  if (expressions !== undefined) return expressions;
  for (let i = 1; i < tokens.length - 2; i++) {
    const token = tokens[i] as Token;
    const isAutocommit =
      (token.kind === 'word' && token.text === 'AUTOCOMMIT') ||
      (token.kind === 'variable' && /^@@(SESSION\.|LOCAL\.)?AUTOCOMMIT$/.test(token.text));
    if (isAutocommit && isPunct(tokens[i + 1], '=')) {
      const value = tokens[i + 2];
      const off =
        (value?.kind === 'number' && Number(value.text) === 0) ||
        (value?.kind === 'word' && (value.text === 'OFF' || value.text === 'FALSE'));
      if (off) {
        return leader('SET', 'autocommit=0 opens a transaction at the next statement', 'autocommit-off');
      }
    }
  }
  return {
    route: 'session',
    verb: 'SET',
    reason: 'session state: replayed on every backend the session uses',
  };
}

function classifyStatement(tokens: readonly Token[]): StatementClassification {
  let start = 0;
  while (isPunct(tokens[start], '(')) start++;
  const verb = wordAt(tokens, start);
  if (verb === undefined)
    return leader('?', 'not a statement the classifier knows: sent to the leader to be safe');
  const next = wordAt(tokens, start + 1);
  switch (verb) {
    case 'SELECT':
    case 'VALUES':
    case 'TABLE':
      return classifySelect(verb, tokens);
    case 'WITH': {
      const main = withMainVerb(tokens);
      if (main === 'SELECT' || main === 'VALUES' || main === 'TABLE') return classifySelect('WITH', tokens);
      return leader('WITH', main === undefined ? 'WITH without a main statement' : `WITH … ${main} writes`);
    }
    case 'EXPLAIN':
      if (next === 'ANALYZE') return classifyStatement(tokens.slice(start + 2));
      return read('EXPLAIN', 'EXPLAIN does not run the statement');
    case 'ANALYZE':
      if (next === 'TABLE' || next === 'NO_WRITE_TO_BINLOG' || next === 'LOCAL')
        return leader('ANALYZE', 'ANALYZE TABLE');
      return classifyStatement(tokens.slice(start + 1));
    case 'SET':
      return classifySet(tokens.slice(start));
    case 'USE': {
      const target = tokens[start + 1];
      const database =
        target?.kind === 'word' ? target.raw : target?.kind === 'quoted' ? target.text : undefined;
      if (database === undefined) return leader('USE', 'USE without a database name');
      return { route: 'session', verb: 'USE', reason: 'changes the default database', useDatabase: database };
    }
    case 'BEGIN':
      if (next === 'NOT') return leader('BEGIN', 'a compound statement (BEGIN NOT ATOMIC)');
      return leader('BEGIN', 'starts a transaction', 'transaction');
    case 'START':
      if (next === 'TRANSACTION') return leader('START TRANSACTION', 'starts a transaction', 'transaction');
      return leader('START', `START ${next ?? ''} is administration`.trim());
    case 'COMMIT':
    case 'ROLLBACK':
    case 'SAVEPOINT':
    case 'RELEASE':
      return leader(verb, 'transaction control');
    case 'XA':
      return leader('XA', 'XA transaction', 'xa');
    case 'DO':
      return scanExpressions('DO', tokens) ?? leader('DO', 'DO runs expressions for their side effects');
    case 'LOCK':
      return leader('LOCK', 'LOCK TABLES', 'table-lock');
    case 'HANDLER':
      return leader('HANDLER', 'HANDLER keeps a cursor on this connection', 'handler');
    case 'PREPARE':
    case 'EXECUTE':
    case 'DEALLOCATE':
      return leader(verb, 'SQL-level prepared statement', 'sql-prepared-statement');
    case 'CREATE':
    case 'DROP': {
      const words = tokens
        .slice(start + 1, start + 4)
        .map((token) => (token.kind === 'word' ? token.text : ''));
      if (words.includes('TEMPORARY')) return leader(verb, `${verb} TEMPORARY TABLE`, 'temporary-table');
      if (verb === 'DROP' && next === 'PREPARE') {
        return leader('DROP PREPARE', 'SQL-level prepared statement', 'sql-prepared-statement');
      }
      return leader(verb, `${verb} is DDL`);
    }
    case 'GET':
      return leader(
        'GET',
        'GET DIAGNOSTICS reads the previous statement on this connection',
        'connection-state',
      );
    default:
      if (readVerbs.has(verb)) return read(verb, `${verb} reads`);
      if (writeVerbs.has(verb)) return leader(verb, `${verb} writes`);
      return leader(verb, `${verb} is not a statement the classifier knows: sent to the leader to be safe`);
  }
}

const routeRank: Readonly<Record<Route, number>> = { read: 0, session: 1, leader: 2 };

export function classify(sql: string): Classification {
  const { statements: tokenLists, truncated } = tokenize(sql);
  if (truncated) {
    return { route: 'leader', reason: 'statement too long to classify: sent to the leader', statements: [] };
  }
  if (tokenLists.length === 0) return { route: 'read', reason: 'empty statement', statements: [] };
  const statements = tokenLists.map(classifyStatement);
  let worst = statements[0] as StatementClassification;
  for (const statement of statements) {
    if (routeRank[statement.route] > routeRank[worst.route]) worst = statement;
  }
  const pin = statements.find((statement) => statement.pin !== undefined)?.pin;
  // Session changes mixed with other statements in one packet: run it all on the leader, and stay
  // there, so the state is where the session continues.
  if (
    statements.length > 1 &&
    statements.some((statement) => statement.route === 'session') &&
    worst.route !== 'leader'
  ) {
    return {
      route: 'leader',
      reason: 'session state changed inside a multi-statement packet',
      pin: 'connection-state',
      statements,
    };
  }
  return pin === undefined
    ? { route: worst.route, reason: worst.reason, statements }
    : { route: worst.route, reason: worst.reason, pin, statements };
}

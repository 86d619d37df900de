import * as mariadb from 'mariadb';
import type { Logger } from 'pino';
import {
  type BinlogDecodeContext,
  binlogDecodeContextFrom,
  decodeBinlogEvent,
} from '../protocol/binlog/index.js';
import { formatGtid } from '../protocol/gtid.js';
import type { ApplierTransaction } from './applier-transaction.js';
import { withoutInUseFlag } from './format-description.js';
import { planTransaction } from './transaction-plan.js';

/**
 * A replicated account statement (CREATE/ALTER/DROP/RENAME USER or ROLE, GRANT, REVOKE, SET
 * PASSWORD, SET DEFAULT ROLE) can be in a target's binlog without its effect after a crash: the
 * privilege tables are Aria, not committed with the binlog. Measured on MariaDB 10.11.19 (a
 * server killed with SIGKILL during a loop of CREATE USER / GRANT, 12 rounds): once, a CREATE
 * USER whose GTID was in `@@gtid_binlog_pos` after the restart was missing from
 * `mysql.global_priv`. Whatever resumes applying skips that GTID, so the target would lack it for
 * good. Both appliers (the client-session `Applier` and the node's `ReplicaApplyLoop`) therefore
 * run the target's last transaction once more when it is such a statement: without binlogging,
 * on a connection of its own, with its logged session context. Every such statement is
 * idempotent once "already done" errors are ignored; failing otherwise is logged, and applying
 * goes on (the transaction is in the target's binlog either way).
 */
export interface AccountStatementRedo {
  readonly gtid: string;
  /** Session context first, the account statement last. */
  readonly statements: readonly string[];
}

/** The statements that redo `transaction` when it is one account statement; undefined otherwise. */
export function accountStatementRedo(
  transaction: ApplierTransaction,
  context: BinlogDecodeContext,
  statementBytesMax: number,
): AccountStatementRedo | undefined {
  const planned = planTransaction(transaction, { context, statementBytesMax });
  if (!planned.ok || !planned.value.standalone) return undefined;
  const logged = planned.value.statements.at(-1)?.sql;
  if (logged === undefined || !isAccountStatement(logged)) return undefined;
  return {
    gtid: formatGtid(transaction.gtid),
    statements: planned.value.statements.map((statement) => statement.sql),
  };
}

export async function reassertAccountStatement(
  redo: AccountStatementRedo,
  connect: () => Promise<mariadb.Connection>,
  logger: Logger,
): Promise<void> {
  const logged = redo.statements.at(-1) ?? '';
  let connection: mariadb.Connection | undefined;
  try {
    connection = await connect();
    await connection.query('SET @@session.sql_log_bin=0');
    for (const sql of redo.statements) await connection.query(sql);
    logger.info(
      { gtid: redo.gtid, statement: quoteStatement(logged) },
      "re-applied the target's last account statement (idempotent; its effect can be missing after a crash; not binlogged again)",
    );
  } catch (error) {
    const errno = (error as Error & { readonly errno?: number }).errno;
    if (errno !== undefined && alreadyDoneErrnos.has(errno)) {
      logger.info({ gtid: redo.gtid, errno }, "the target's last account statement had taken effect");
    } else {
      logger.warn(
        { gtid: redo.gtid, statement: quoteStatement(logged), error: (error as Error).message },
        "could not re-check the target's last account statement; if the target crashed, compare its accounts (SHOW GRANTS) with the leader's",
      );
    }
  } finally {
    await connection?.end().catch(() => connection?.destroy());
  }
}

/** The decode context a transaction's format description gives, or why it cannot be read. */
export function formatDescriptionContext(
  formatDescription: Uint8Array,
): { ok: true; value: BinlogDecodeContext } | { ok: false; reason: string } {
  const decoded = decodeBinlogEvent(withoutInUseFlag(formatDescription), { checksum: 'none' });
  if (!decoded.ok || decoded.value.body.kind !== 'format_description')
    return { ok: false, reason: decoded.ok ? `a ${decoded.value.body.kind} event` : decoded.error.message };
  return { ok: true, value: binlogDecodeContextFrom(decoded.value.body) };
}

/**
 * For the node's `ReplicaApplyLoop`: runs `transaction` once more on the local MariaDB when it is
 * an account statement (its own connection, one byte per character as the applier's sessions).
 */
export function accountStatementReasserter(
  target: { readonly host: string; readonly port: number; readonly user: string; readonly password: string },
  logger: Logger,
): (transaction: ApplierTransaction) => Promise<void> {
  return async (transaction) => {
    const context = formatDescriptionContext(transaction.formatDescription);
    if (!context.ok) return;
    const redo = accountStatementRedo(transaction, context.value, reassertStatementBytesMax);
    if (redo === undefined) return;
    await reassertAccountStatement(
      redo,
      async () => {
        const connection = await mariadb.createConnection({
          ...target,
          charset: 'binary',
          connectTimeout: 10_000,
        });
        connection.on('error', () => undefined);
        return connection;
      },
      logger,
    );
  };
}

/** Account statements are short; a longer one is not planned for a re-run. */
const reassertStatementBytesMax = 1024 * 1024;

/**
 * Errors an account statement gives when its effect is already there: 1396 "Operation CREATE
 * USER/DROP USER/… failed" (the account exists, or is gone), 1141/1147/1403 "There is no such
 * grant defined" (a REVOKE already done).
 */
const alreadyDoneErrnos: ReadonlySet<number> = new Set([1396, 1141, 1147, 1403]);

/** A logged statement that changes accounts, roles or privileges (comments before it allowed). */
export function isAccountStatement(sql: string): boolean {
  const text = sql.replace(/^(\s|\/\*[\s\S]*?\*\/|#[^\n]*\n|--\s[^\n]*\n)*/, '');
  return /^(CREATE\s+(OR\s+REPLACE\s+)?(USER|ROLE)|(ALTER|DROP|RENAME)\s+(USER|ROLE)|GRANT|REVOKE|SET\s+(PASSWORD|DEFAULT\s+ROLE))\b/i.test(
    text,
  );
}

const statementQuoteBytesMax = 1000;

/** A statement for a log line or an error: shortened, and with the passwords it names masked. */
export function quoteStatement(sql: string): string {
  const masked = sql.replace(
    /(IDENTIFIED\s+(?:BY|(?:VIA|WITH)\s+\w+\s+(?:USING|AS|BY))\s+(?:PASSWORD\s*(?:\(\s*)?)?)'(?:[^'\\]|\\.|'')*'/gi,
    "$1'…'",
  );
  return masked.length <= statementQuoteBytesMax
    ? masked
    : `${masked.slice(0, statementQuoteBytesMax)}… (${masked.length} bytes)`;
}

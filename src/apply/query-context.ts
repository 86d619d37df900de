import type { BinlogEventHeader, QueryEvent } from '../protocol/binlog/index.js';
import { querySessionContext } from '../protocol/binlog/index.js';

/**
 * Bits of a QUERY event's Q_FLAGS2 status variable (MariaDB sql_priv.h). Only these are written
 * to the binlog; each is one session variable the statement ran with.
 */
export const OPTION_AUTO_IS_NULL = 1 << 14;
export const OPTION_NO_CHECK_CONSTRAINT_CHECKS = 1 << 15;
export const OPTION_NO_FOREIGN_KEY_CHECKS = 1 << 26;
export const OPTION_RELAXED_UNIQUE_CHECKS = 1 << 27;

/**
 * The SET statement that recreates the session a QUERY event's statement ran in on the source,
 * as `mariadb-binlog` output does: thread id (temporary tables are per pseudo thread), the
 * statement's start time (with microseconds when logged), foreign-key, unique and check-
 * constraint checks, sql_auto_is_null, sql_mode, auto-increment settings, character set and
 * collations (numeric ids, which the server accepts), lc_time_names, the database collation and
 * the time zone when the statement used one.
 *
 * Deliberately not recreated: `autocommit` (the applier's session always runs with autocommit=1
 * and explicit BEGIN/COMMIT; a statement logged on its own commits on its own either way) and
 * Q_INVOKER (the definer of CURRENT_USER in account statements; a client session cannot set it,
 * which `mariadb-binlog` shares).
 *
 * Returns a binary string (one char per byte; all ASCII here).
 */
export function querySessionStatement(event: QueryEvent, header: BinlogEventHeader): string {
  const context = querySessionContext(event.statusVariables);
  const assignments: string[] = [
    `@@session.pseudo_thread_id=${event.threadId}`,
    `TIMESTAMP=${timestampLiteral(header.timestampSeconds, context.microseconds)}`,
  ];
  if (context.flags2 !== undefined) {
    const flags2 = context.flags2;
    assignments.push(
      `@@session.foreign_key_checks=${flags2 & OPTION_NO_FOREIGN_KEY_CHECKS ? 0 : 1}`,
      `@@session.sql_auto_is_null=${flags2 & OPTION_AUTO_IS_NULL ? 1 : 0}`,
      `@@session.unique_checks=${flags2 & OPTION_RELAXED_UNIQUE_CHECKS ? 0 : 1}`,
      `@@session.check_constraint_checks=${flags2 & OPTION_NO_CHECK_CONSTRAINT_CHECKS ? 0 : 1}`,
    );
  }
  if (context.sqlMode !== undefined) assignments.push(`@@session.sql_mode=${context.sqlMode}`);
  if (context.autoIncrementIncrement !== undefined && context.autoIncrementOffset !== undefined) {
    assignments.push(
      `@@session.auto_increment_increment=${context.autoIncrementIncrement}`,
      `@@session.auto_increment_offset=${context.autoIncrementOffset}`,
    );
  }
  if (context.characterSetClient !== undefined) {
    assignments.push(
      `@@session.character_set_client=${context.characterSetClient}`,
      `@@session.collation_connection=${context.collationConnection}`,
      `@@session.collation_server=${context.collationServer}`,
    );
  }
  if (context.lcTimeNamesCode !== undefined)
    assignments.push(`@@session.lc_time_names=${context.lcTimeNamesCode}`);
  assignments.push(`@@session.collation_database=${context.collationDatabase ?? 'DEFAULT'}`);
  if (context.timeZone !== undefined)
    assignments.push(`@@session.time_zone=${stringLiteral(context.timeZone)}`);
  return `SET ${assignments.join(', ')}`;
}

/** `secs` or `secs.micros`: SET TIMESTAMP accepts a fractional value (MariaDB 10.x). */
export function timestampLiteral(seconds: number, microseconds: number | undefined): string {
  return microseconds === undefined ? String(seconds) : `${seconds}.${String(microseconds).padStart(6, '0')}`;
}

/** A quoted SQL string for ASCII-safe text (time zone names, identifiers' bytes use other paths). */
export function stringLiteral(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

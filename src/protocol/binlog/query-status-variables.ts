import type { ByteReader } from '../byte-reader.js';
import type { ByteWriter } from '../byte-writer.js';
import { unreachable } from '../decoded.js';

/** Status variable codes of a QUERY event (MySQL's, and MariaDB's from 128). */
export const QueryStatusCode = {
  flags2: 0,
  sqlMode: 1,
  catalog: 2,
  autoIncrement: 3,
  charset: 4,
  timeZone: 5,
  catalogNz: 6,
  lcTimeNames: 7,
  charsetDatabase: 8,
  tableMapForUpdate: 9,
  masterDataWritten: 10,
  invoker: 11,
  updatedDbNames: 12,
  microseconds: 13,
  commitTs: 14,
  explicitDefaultsForTimestamp: 16,
  ddlLoggedWithXid: 17,
  defaultCollationForUtf8mb4: 18,
  sqlRequirePrimaryKey: 19,
  defaultTableEncryption: 20,
  hrnow: 128,
  xid: 129,
} as const;

/** Q_UPDATED_DB_NAMES count meaning "more databases than the event lists; none are listed". */
const updatedDbNamesOverMax = 254;

/**
 * One status variable: the session context a statement ran in. Kept as an ordered list so an
 * event re-encodes to its exact bytes.
 */
export type QueryStatusVariable =
  /** Q_FLAGS2_CODE: OPTION_AUTO_IS_NULL, OPTION_NOT_AUTOCOMMIT, OPTION_NO_FOREIGN_KEY_CHECKS, OPTION_RELAXED_UNIQUE_CHECKS. */
  | { readonly kind: 'flags2'; readonly flags2: number }
  | { readonly kind: 'sql_mode'; readonly sqlMode: bigint }
  /** Q_CATALOG_CODE (MySQL 5.0.0–5.0.3): NUL-terminated after its length. */
  | { readonly kind: 'catalog'; readonly catalog: string }
  | { readonly kind: 'auto_increment'; readonly increment: number; readonly offset: number }
  /** Q_CHARSET_CODE: character_set_client, collation_connection, collation_server (collation ids). */
  | {
      readonly kind: 'charset';
      readonly characterSetClient: number;
      readonly collationConnection: number;
      readonly collationServer: number;
    }
  | { readonly kind: 'time_zone'; readonly timeZone: string }
  | { readonly kind: 'catalog_nz'; readonly catalog: string }
  | { readonly kind: 'lc_time_names'; readonly lcTimeNamesCode: number }
  | { readonly kind: 'charset_database'; readonly collationDatabase: number }
  | { readonly kind: 'table_map_for_update'; readonly tableMapForUpdate: bigint }
  | { readonly kind: 'master_data_written'; readonly originalEventBytes: number }
  /** Q_INVOKER: the definer of a routine/view/trigger statement, as `user`@`host`. */
  | { readonly kind: 'invoker'; readonly user: string; readonly host: string }
  /** Q_UPDATED_DB_NAMES: 'over_max' when the statement touched more databases than are listed. */
  | { readonly kind: 'updated_db_names'; readonly databases: readonly string[] | 'over_max' }
  /** Q_MICROSECONDS (MySQL): the microsecond part of the statement's start time. */
  | { readonly kind: 'microseconds'; readonly microseconds: number }
  /** Q_COMMIT_TS: reserved by MySQL and never written with a value; it carries no bytes. */
  | { readonly kind: 'commit_ts' }
  | { readonly kind: 'explicit_defaults_for_timestamp'; readonly enabled: number }
  | { readonly kind: 'ddl_logged_with_xid'; readonly xid: bigint }
  | { readonly kind: 'default_collation_for_utf8mb4'; readonly collation: number }
  | { readonly kind: 'sql_require_primary_key'; readonly enabled: number }
  | { readonly kind: 'default_table_encryption'; readonly enabled: number }
  /** Q_HRNOW (MariaDB): the microsecond part of the statement's start time. */
  | { readonly kind: 'hrnow'; readonly microseconds: number }
  /** Q_XID (MariaDB): the xid of a DDL statement, for crash recovery. */
  | { readonly kind: 'xid'; readonly xid: bigint };

/**
 * Reads status variables until the reader ends. An unknown code stops decoding with an error:
 * its length is unknown, so nothing after it can be read reliably.
 */
export function readQueryStatusVariables(reader: ByteReader): QueryStatusVariable[] {
  const variables: QueryStatusVariable[] = [];
  while (!reader.atEnd) variables.push(readOne(reader));
  return variables;
}

function shortString(reader: ByteReader, field: string): string {
  return reader.string(reader.u8(`${field} length`), field);
}

function readOne(reader: ByteReader): QueryStatusVariable {
  const code = reader.u8('status variable code');
  switch (code) {
    case QueryStatusCode.flags2:
      return { kind: 'flags2', flags2: reader.u32('Q_FLAGS2_CODE') };
    case QueryStatusCode.sqlMode:
      return { kind: 'sql_mode', sqlMode: reader.u64('Q_SQL_MODE_CODE') };
    case QueryStatusCode.catalog: {
      const catalog = shortString(reader, 'Q_CATALOG_CODE');
      if (reader.u8('Q_CATALOG_CODE NUL') !== 0) reader.fail('Q_CATALOG_CODE is not NUL-terminated');
      return { kind: 'catalog', catalog };
    }
    case QueryStatusCode.autoIncrement:
      return {
        kind: 'auto_increment',
        increment: reader.u16('auto_increment_increment'),
        offset: reader.u16('auto_increment_offset'),
      };
    case QueryStatusCode.charset:
      return {
        kind: 'charset',
        characterSetClient: reader.u16('character_set_client'),
        collationConnection: reader.u16('collation_connection'),
        collationServer: reader.u16('collation_server'),
      };
    case QueryStatusCode.timeZone:
      return { kind: 'time_zone', timeZone: shortString(reader, 'Q_TIME_ZONE_CODE') };
    case QueryStatusCode.catalogNz:
      return { kind: 'catalog_nz', catalog: shortString(reader, 'Q_CATALOG_NZ_CODE') };
    case QueryStatusCode.lcTimeNames:
      return { kind: 'lc_time_names', lcTimeNamesCode: reader.u16('Q_LC_TIME_NAMES_CODE') };
    case QueryStatusCode.charsetDatabase:
      return { kind: 'charset_database', collationDatabase: reader.u16('Q_CHARSET_DATABASE_CODE') };
    case QueryStatusCode.tableMapForUpdate:
      return { kind: 'table_map_for_update', tableMapForUpdate: reader.u64('Q_TABLE_MAP_FOR_UPDATE_CODE') };
    case QueryStatusCode.masterDataWritten:
      return { kind: 'master_data_written', originalEventBytes: reader.u32('Q_MASTER_DATA_WRITTEN_CODE') };
    case QueryStatusCode.invoker:
      return {
        kind: 'invoker',
        user: shortString(reader, 'invoker user'),
        host: shortString(reader, 'invoker host'),
      };
    case QueryStatusCode.updatedDbNames:
      return readUpdatedDbNames(reader);
    case QueryStatusCode.microseconds:
      return { kind: 'microseconds', microseconds: reader.u24('Q_MICROSECONDS') };
    case QueryStatusCode.commitTs:
      return { kind: 'commit_ts' };
    case QueryStatusCode.explicitDefaultsForTimestamp:
      return {
        kind: 'explicit_defaults_for_timestamp',
        enabled: reader.u8('Q_EXPLICIT_DEFAULTS_FOR_TIMESTAMP'),
      };
    case QueryStatusCode.ddlLoggedWithXid:
      return { kind: 'ddl_logged_with_xid', xid: reader.u64('Q_DDL_LOGGED_WITH_XID') };
    case QueryStatusCode.defaultCollationForUtf8mb4:
      return {
        kind: 'default_collation_for_utf8mb4',
        collation: reader.u16('Q_DEFAULT_COLLATION_FOR_UTF8MB4'),
      };
    case QueryStatusCode.sqlRequirePrimaryKey:
      return { kind: 'sql_require_primary_key', enabled: reader.u8('Q_SQL_REQUIRE_PRIMARY_KEY') };
    case QueryStatusCode.defaultTableEncryption:
      return { kind: 'default_table_encryption', enabled: reader.u8('Q_DEFAULT_TABLE_ENCRYPTION') };
    case QueryStatusCode.hrnow:
      return { kind: 'hrnow', microseconds: reader.u24('Q_HRNOW') };
    case QueryStatusCode.xid:
      return { kind: 'xid', xid: reader.u64('Q_XID') };
    default:
      return reader.fail(
        `unknown status variable code ${code} at offset ${reader.offset - 1}; its length is unknown, so the event cannot be decoded`,
      );
  }
}

function readUpdatedDbNames(reader: ByteReader): QueryStatusVariable {
  const count = reader.u8('Q_UPDATED_DB_NAMES count');
  if (count === updatedDbNamesOverMax) return { kind: 'updated_db_names', databases: 'over_max' };
  const databases: string[] = [];
  for (let i = 0; i < count; i += 1) databases.push(reader.nulString('updated database name'));
  return { kind: 'updated_db_names', databases };
}

function writeShortString(writer: ByteWriter, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  writer.u8(bytes.length).bytes(bytes);
}

export function writeQueryStatusVariables(
  writer: ByteWriter,
  variables: readonly QueryStatusVariable[],
): void {
  for (const variable of variables) writeOne(writer, variable);
}

function writeOne(writer: ByteWriter, variable: QueryStatusVariable): void {
  switch (variable.kind) {
    case 'flags2':
      writer.u8(QueryStatusCode.flags2).u32(variable.flags2);
      return;
    case 'sql_mode':
      writer.u8(QueryStatusCode.sqlMode).u64(variable.sqlMode);
      return;
    case 'catalog':
      writer.u8(QueryStatusCode.catalog);
      writeShortString(writer, variable.catalog);
      writer.u8(0);
      return;
    case 'auto_increment':
      writer.u8(QueryStatusCode.autoIncrement).u16(variable.increment).u16(variable.offset);
      return;
    case 'charset':
      writer
        .u8(QueryStatusCode.charset)
        .u16(variable.characterSetClient)
        .u16(variable.collationConnection)
        .u16(variable.collationServer);
      return;
    case 'time_zone':
      writer.u8(QueryStatusCode.timeZone);
      writeShortString(writer, variable.timeZone);
      return;
    case 'catalog_nz':
      writer.u8(QueryStatusCode.catalogNz);
      writeShortString(writer, variable.catalog);
      return;
    case 'lc_time_names':
      writer.u8(QueryStatusCode.lcTimeNames).u16(variable.lcTimeNamesCode);
      return;
    case 'charset_database':
      writer.u8(QueryStatusCode.charsetDatabase).u16(variable.collationDatabase);
      return;
    case 'table_map_for_update':
      writer.u8(QueryStatusCode.tableMapForUpdate).u64(variable.tableMapForUpdate);
      return;
    case 'master_data_written':
      writer.u8(QueryStatusCode.masterDataWritten).u32(variable.originalEventBytes);
      return;
    case 'invoker':
      writer.u8(QueryStatusCode.invoker);
      writeShortString(writer, variable.user);
      writeShortString(writer, variable.host);
      return;
    case 'updated_db_names':
      writer.u8(QueryStatusCode.updatedDbNames);
      if (variable.databases === 'over_max') writer.u8(updatedDbNamesOverMax);
      else {
        writer.u8(variable.databases.length);
        for (const name of variable.databases) writer.nulString(name);
      }
      return;
    case 'microseconds':
      writer.u8(QueryStatusCode.microseconds).u24(variable.microseconds);
      return;
    case 'commit_ts':
      writer.u8(QueryStatusCode.commitTs);
      return;
    case 'explicit_defaults_for_timestamp':
      writer.u8(QueryStatusCode.explicitDefaultsForTimestamp).u8(variable.enabled);
      return;
    case 'ddl_logged_with_xid':
      writer.u8(QueryStatusCode.ddlLoggedWithXid).u64(variable.xid);
      return;
    case 'default_collation_for_utf8mb4':
      writer.u8(QueryStatusCode.defaultCollationForUtf8mb4).u16(variable.collation);
      return;
    case 'sql_require_primary_key':
      writer.u8(QueryStatusCode.sqlRequirePrimaryKey).u8(variable.enabled);
      return;
    case 'default_table_encryption':
      writer.u8(QueryStatusCode.defaultTableEncryption).u8(variable.enabled);
      return;
    case 'hrnow':
      writer.u8(QueryStatusCode.hrnow).u24(variable.microseconds);
      return;
    case 'xid':
      writer.u8(QueryStatusCode.xid).u64(variable.xid);
      return;
    default:
      unreachable(variable);
  }
}

/**
 * The session context of a QUERY event as one object, for the applier: each field is present when
 * the event carries it. Later occurrences of a code win (MariaDB writes each at most once).
 */
export interface QuerySessionContext {
  flags2?: number;
  sqlMode?: bigint;
  catalog?: string;
  autoIncrementIncrement?: number;
  autoIncrementOffset?: number;
  characterSetClient?: number;
  collationConnection?: number;
  collationServer?: number;
  timeZone?: string;
  lcTimeNamesCode?: number;
  collationDatabase?: number;
  tableMapForUpdate?: bigint;
  invoker?: { readonly user: string; readonly host: string };
  updatedDatabases?: readonly string[] | 'over_max';
  microseconds?: number;
  explicitDefaultsForTimestamp?: number;
  ddlXid?: bigint;
  defaultCollationForUtf8mb4?: number;
  sqlRequirePrimaryKey?: number;
  defaultTableEncryption?: number;
}

export function querySessionContext(variables: readonly QueryStatusVariable[]): QuerySessionContext {
  const context: QuerySessionContext = {};
  for (const variable of variables) applyToContext(context, variable);
  return context;
}

function applyToContext(context: QuerySessionContext, variable: QueryStatusVariable): void {
  switch (variable.kind) {
    case 'flags2':
      context.flags2 = variable.flags2;
      return;
    case 'sql_mode':
      context.sqlMode = variable.sqlMode;
      return;
    case 'catalog':
    case 'catalog_nz':
      context.catalog = variable.catalog;
      return;
    case 'auto_increment':
      context.autoIncrementIncrement = variable.increment;
      context.autoIncrementOffset = variable.offset;
      return;
    case 'charset':
      context.characterSetClient = variable.characterSetClient;
      context.collationConnection = variable.collationConnection;
      context.collationServer = variable.collationServer;
      return;
    case 'time_zone':
      context.timeZone = variable.timeZone;
      return;
    case 'lc_time_names':
      context.lcTimeNamesCode = variable.lcTimeNamesCode;
      return;
    case 'charset_database':
      context.collationDatabase = variable.collationDatabase;
      return;
    case 'table_map_for_update':
      context.tableMapForUpdate = variable.tableMapForUpdate;
      return;
    case 'master_data_written':
    case 'commit_ts':
      return;
    case 'invoker':
      context.invoker = { user: variable.user, host: variable.host };
      return;
    case 'updated_db_names':
      context.updatedDatabases = variable.databases;
      return;
    case 'microseconds':
    case 'hrnow':
      context.microseconds = variable.microseconds;
      return;
    case 'explicit_defaults_for_timestamp':
      context.explicitDefaultsForTimestamp = variable.enabled;
      return;
    case 'ddl_logged_with_xid':
    case 'xid':
      context.ddlXid = variable.xid;
      return;
    case 'default_collation_for_utf8mb4':
      context.defaultCollationForUtf8mb4 = variable.collation;
      return;
    case 'sql_require_primary_key':
      context.sqlRequirePrimaryKey = variable.enabled;
      return;
    case 'default_table_encryption':
      context.defaultTableEncryption = variable.enabled;
      return;
    default:
      unreachable(variable);
  }
}

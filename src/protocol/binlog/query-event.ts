import { ByteReader } from '../byte-reader.js';
import { ByteWriter } from '../byte-writer.js';
import {
  type QueryStatusVariable,
  readQueryStatusVariables,
  writeQueryStatusVariables,
} from './query-status-variables.js';

/** The QUERY post-header: thread id, exec time, db length, error code, status-variables length. */
export const queryPostHeaderBytes = 13;

/**
 * QUERY (type 2): a statement logged as text. Under binlog_format=ROW that is DDL, account
 * management, `BEGIN` of a row-event group and `COMMIT` of non-transactional groups.
 * `query` is the statement's exact bytes (it may hold binary literals that are not UTF-8).
 */
export interface QueryEvent {
  readonly kind: 'query';
  readonly threadId: number;
  readonly executionSeconds: number;
  readonly errorCode: number;
  readonly statusVariables: readonly QueryStatusVariable[];
  /** The session's default database, '' for none. */
  readonly database: string;
  readonly query: Buffer;
}

export function readQueryBody(reader: ByteReader, postHeaderBytes = queryPostHeaderBytes): QueryEvent {
  if (postHeaderBytes < queryPostHeaderBytes)
    reader.fail(`post-header of ${postHeaderBytes} bytes is too short`);
  const threadId = reader.u32('thread_id');
  const executionSeconds = reader.u32('exec_time');
  const databaseBytes = reader.u8('db_len');
  const errorCode = reader.u16('error_code');
  const statusBytes = reader.u16('status_vars_len');
  // A longer post-header (a newer server) is skipped: its fields are not known here.
  reader.skip(postHeaderBytes - queryPostHeaderBytes, 'post-header extension');
  const statusBlock = reader.bytes(statusBytes, 'status_vars');
  const statusVariables = readQueryStatusVariables(new ByteReader(statusBlock, 'QUERY status variables'));
  const database = reader.string(databaseBytes, 'db');
  if (reader.u8('db NUL') !== 0) reader.fail('the default database is not NUL-terminated');
  const query = reader.rest();
  return { kind: 'query', threadId, executionSeconds, errorCode, statusVariables, database, query };
}

export function writeQueryBody(writer: ByteWriter, event: QueryEvent): void {
  const status = new ByteWriter(64);
  writeQueryStatusVariables(status, event.statusVariables);
  const statusBytes = status.finish();
  const database = Buffer.from(event.database, 'utf8');
  writer
    .u32(event.threadId)
    .u32(event.executionSeconds)
    .u8(database.length)
    .u16(event.errorCode)
    .u16(statusBytes.length)
    .bytes(statusBytes)
    .bytes(database)
    .u8(0)
    .bytes(event.query);
}

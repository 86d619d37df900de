/** Command bytes: the first byte of every client packet after the handshake. */
export const CommandCode = {
  sleep: 0x00,
  quit: 0x01,
  initDb: 0x02,
  query: 0x03,
  fieldList: 0x04,
  createDb: 0x05,
  dropDb: 0x06,
  refresh: 0x07,
  shutdown: 0x08,
  statistics: 0x09,
  processInfo: 0x0a,
  connect: 0x0b,
  processKill: 0x0c,
  debug: 0x0d,
  ping: 0x0e,
  time: 0x0f,
  delayedInsert: 0x10,
  changeUser: 0x11,
  binlogDump: 0x12,
  tableDump: 0x13,
  connectOut: 0x14,
  registerSlave: 0x15,
  stmtPrepare: 0x16,
  stmtExecute: 0x17,
  stmtSendLongData: 0x18,
  stmtClose: 0x19,
  stmtReset: 0x1a,
  setOption: 0x1b,
  stmtFetch: 0x1c,
  daemon: 0x1d,
  binlogDumpGtid: 0x1e,
  resetConnection: 0x1f,
  /** MariaDB: COM_STMT_BULK_EXECUTE. */
  stmtBulkExecute: 0xfa,
} as const;

/**
 * The statement id MariaDB clients send in COM_STMT_EXECUTE right after a pipelined
 * COM_STMT_PREPARE: "the statement just prepared on this connection".
 */
export const lastPreparedStatementId = 0xffffffff;

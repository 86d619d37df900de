/**
 * Errors of the capture. `CaptureConfigError` means retrying cannot help: the source or the
 * account must change, and the message says how. Anything else (a dropped connection, a restart)
 * is transient: the capture reconnects.
 */
export class CaptureConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaptureConfigError';
  }
}

/** An ERR packet from the server, with its code and SQLSTATE. */
export class MysqlServerError extends Error {
  readonly errorCode: number;
  readonly sqlState: string;
  constructor(errorCode: number, sqlState: string, message: string) {
    super(`${message} (error ${errorCode}, SQLSTATE ${sqlState})`);
    this.name = 'MysqlServerError';
    this.errorCode = errorCode;
    this.sqlState = sqlState;
  }
}

/** Server error codes the capture treats as configuration problems rather than transient failures. */
export const fatalServerErrorCodes = new Set([
  1045, // ER_ACCESS_DENIED_ERROR
  1227, // ER_SPECIFIC_ACCESS_DENIED_ERROR (missing REPLICATION SLAVE / BINLOG MONITOR)
  1236, // ER_MASTER_FATAL_ERROR_READING_BINLOG (GTID purged, or ahead of the source)
  1698, // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
]);

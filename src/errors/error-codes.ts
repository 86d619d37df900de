/**
 * The one catalogue of WolfScale's own error codes. Each maps to the HTTP status the API answers
 * with and to the MySQL errno/SQLSTATE the proxy sends in an ERR packet, so an application sees
 * the same failure the same way on either interface. Errors from MariaDB itself are passed through
 * unchanged and are not in this table.
 */
export interface ErrorCodeSpec {
  readonly httpStatus: number;
  readonly mysqlErrno: number;
  readonly sqlState: string;
  /** What the code means, for the API reference. */
  readonly meaning: string;
}

export const errorCodes = {
  BAD_REQUEST: {
    httpStatus: 400,
    mysqlErrno: 1064,
    sqlState: '42000',
    meaning: 'the request is malformed or fails validation',
  },
  UNAUTHORIZED: {
    httpStatus: 401,
    mysqlErrno: 1045,
    sqlState: '28000',
    meaning: 'missing or wrong credentials (API token)',
  },
  NOT_FOUND: { httpStatus: 404, mysqlErrno: 1105, sqlState: 'HY000', meaning: 'no such resource' },
  NODE_NOT_FOUND: { httpStatus: 404, mysqlErrno: 1105, sqlState: 'HY000', meaning: 'no node with that id' },
  CONFIRMATION_REQUIRED: {
    httpStatus: 409,
    mysqlErrno: 1105,
    sqlState: 'HY000',
    meaning: 'a destructive operation needs its confirmation token',
  },
  DATABASE_ERROR: {
    httpStatus: 422,
    mysqlErrno: 1105,
    sqlState: 'HY000',
    meaning: "MariaDB refused the statement; the response carries MariaDB's own errno, SQLSTATE and message",
  },
  NO_LEADER: {
    httpStatus: 503,
    mysqlErrno: 1290,
    sqlState: 'HY000',
    meaning: 'no leader was elected within the wait; writes are refused, reads go on',
  },
  NOT_LEADER: {
    httpStatus: 503,
    mysqlErrno: 1290,
    sqlState: 'HY000',
    meaning: 'this node does not lead and could not forward to the leader',
  },
  QUORUM_LOST: {
    httpStatus: 503,
    mysqlErrno: 1290,
    sqlState: 'HY000',
    meaning: 'the leader cannot reach a majority; writes wait or fail, nothing is acknowledged',
  },
  DATABASE_UNAVAILABLE: {
    httpStatus: 503,
    mysqlErrno: 1927,
    sqlState: '70100',
    meaning: "this node's MariaDB does not answer",
  },
  FORWARD_FAILED: {
    httpStatus: 502,
    mysqlErrno: 1927,
    sqlState: '70100',
    meaning: 'the leader could not be reached to forward the request',
  },
  OUTCOME_UNKNOWN: {
    httpStatus: 504,
    mysqlErrno: 1927,
    sqlState: '70100',
    meaning: 'the connection to the leader failed after the write was sent: it may or may not have committed',
  },
  TOO_MANY_CONNECTIONS: {
    httpStatus: 503,
    mysqlErrno: 1040,
    sqlState: '08004',
    meaning: 'the proxy is at proxy.max_connections',
  },
  PACKET_TOO_LARGE: {
    httpStatus: 413,
    mysqlErrno: 1153,
    sqlState: '08S01',
    meaning: 'a packet or request body is larger than allowed',
  },
  INTERNAL: {
    httpStatus: 500,
    mysqlErrno: 1105,
    sqlState: 'HY000',
    meaning: 'a bug in WolfScale: please report it',
  },
} as const satisfies Record<string, ErrorCodeSpec>;

export type ErrorCode = keyof typeof errorCodes;

/** An expected failure, as a value: a stable code and a message that says what to do. */
export interface WolfError {
  readonly code: ErrorCode;
  readonly message: string;
  /** For NOT_LEADER / NO_LEADER: the leader's id and API URL when known. */
  readonly leader?: { readonly id: string; readonly apiUrl?: string };
  /** For DATABASE_ERROR: MariaDB's own error. */
  readonly database?: { readonly errno: number; readonly sqlState: string; readonly message: string };
}

export type Result<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: WolfError };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T = never>(
  code: ErrorCode,
  message: string,
  extra: Omit<WolfError, 'code' | 'message'> = {},
): Result<T> {
  return { ok: false, error: { code, message, ...extra } };
}

/**
 * Capability flags of the handshake. Values are unsigned 32-bit; combine with `|` and normalise
 * with `>>> 0` (JavaScript bit operations are signed).
 */
export const Capability = {
  /** MySQL: CLIENT_LONG_PASSWORD. MariaDB servers clear it to say "extended capabilities follow". */
  mysql: 1,
  foundRows: 2,
  longFlag: 4,
  connectWithDb: 8,
  noSchema: 16,
  compress: 32,
  odbc: 64,
  localFiles: 128,
  ignoreSpace: 256,
  protocol41: 512,
  interactive: 1024,
  ssl: 2048,
  ignoreSigpipe: 4096,
  transactions: 8192,
  reserved: 16384,
  secureConnection: 32768,
  multiStatements: 1 << 16,
  multiResults: 1 << 17,
  psMultiResults: 1 << 18,
  pluginAuth: 1 << 19,
  connectAttrs: 1 << 20,
  pluginAuthLenencClientData: 1 << 21,
  canHandleExpiredPasswords: 1 << 22,
  sessionTrack: 1 << 23,
  deprecateEof: 1 << 24,
  sslVerifyServerCert: 2 ** 30,
  rememberOptions: 2 ** 31,
} as const;

/** MariaDB extended capabilities: the upper 32 bits, sent in the handshake's reserved bytes. */
export const MariaDbCapability = {
  progress: 1,
  comMulti: 2,
  stmtBulkOperations: 4,
  extendedTypeInfo: 8,
  cacheMetadata: 16,
} as const;

export function hasCapability(flags: number, capability: number): boolean {
  return (flags & capability) >>> 0 !== 0;
}

/** Server status flags in OK and EOF packets. */
export const ServerStatus = {
  inTransaction: 0x0001,
  autocommit: 0x0002,
  moreResultsExist: 0x0008,
  noGoodIndexUsed: 0x0010,
  noIndexUsed: 0x0020,
  cursorExists: 0x0040,
  lastRowSent: 0x0080,
  databaseDropped: 0x0100,
  noBackslashEscapes: 0x0200,
  metadataChanged: 0x0400,
  queryWasSlow: 0x0800,
  psOutParams: 0x1000,
  inTransactionReadonly: 0x2000,
  sessionStateChanged: 0x4000,
} as const;

/**
 * What a WolfScale client asks for: protocol 4.1 with plugin auth, multi-results, transactions
 * and session tracking; DEPRECATE_EOF so result sets end in OK packets.
 */
export const wolfscaleClientCapabilities =
  (Capability.mysql |
    Capability.longFlag |
    Capability.protocol41 |
    Capability.transactions |
    Capability.secureConnection |
    Capability.multiResults |
    Capability.psMultiResults |
    Capability.pluginAuth |
    Capability.pluginAuthLenencClientData |
    Capability.connectAttrs |
    Capability.sessionTrack |
    Capability.deprecateEof) >>>
  0;

/** Collation utf8mb4_general_ci: the handshake's one-byte character set. */
export const collationUtf8mb4GeneralCi = 45;

/**
 * What every decoder in src/protocol returns: a value, or an error that says what was wrong with
 * the bytes. Decoders never throw on bad input; a throw from src/protocol is a bug.
 */
export type ProtocolErrorCode =
  /** The bytes end before the structure does: more bytes may make it decodable. */
  | 'TRUNCATED'
  /** The bytes contradict the format (bad length, bad magic, impossible value). */
  | 'MALFORMED'
  /** A binlog event's CRC32 does not match its bytes. */
  | 'CHECKSUM_MISMATCH'
  /** Well-formed, but something this codec deliberately does not handle. */
  | 'UNSUPPORTED'
  /** The peer answered with an ERR packet (the ERR is attached where it matters). */
  | 'REFUSED'
  /** A bound of ours (named `...Max`) was exceeded. */
  | 'TOO_LARGE';

export interface ProtocolError {
  readonly code: ProtocolErrorCode;
  readonly message: string;
}

export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: ProtocolError };

export function decodedOk<T>(value: T): Decoded<T> {
  return { ok: true, value };
}

export function decodedError<T = never>(code: ProtocolErrorCode, message: string): Decoded<T> {
  return { ok: false, error: { code, message } };
}

/**
 * Thrown inside decoders by ByteReader when the input is bad, and turned into a Decoded error by
 * `decodeSafely`. It never escapes src/protocol.
 */
export class ProtocolDecodeError extends Error {
  readonly code: ProtocolErrorCode;
  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'ProtocolDecodeError';
  }
}

/**
 * Runs a decoder written in straight-line style (ByteReader throws on bad input) and returns its
 * outcome as a value. Only ProtocolDecodeError is caught: anything else is a bug and propagates.
 */
export function decodeSafely<T>(decode: () => T): Decoded<T> {
  try {
    return { ok: true, value: decode() };
  } catch (error) {
    if (error instanceof ProtocolDecodeError)
      return { ok: false, error: { code: error.code, message: error.message } };
    throw error;
  }
}

/** For exhaustive switches: the compiler proves this is never reached. */
export function unreachable(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}

/** An invariant of ours (not of the input) that must hold; stays on in production. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

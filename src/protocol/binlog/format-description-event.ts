import type { ByteReader } from '../byte-reader.js';
import type { ByteWriter } from '../byte-writer.js';
import {
  type BinlogChecksumAlgorithm,
  checksumAlgorithmCode,
  checksumAlgorithmFromCode,
} from './binlog-checksum.js';
import { binlogEventHeaderBytes } from './binlog-event-header.js';

/** Bytes of the server version field, NUL-padded. */
const serverVersionBytes = 50;
/** The checksum algorithm byte plus the 4-byte checksum slot every checksum-aware FDE carries. */
const checksumTrailerBytes = 5;

/**
 * FORMAT_DESCRIPTION (type 15): the first event of every binlog file and of every dump stream.
 * It says how to read the rest: the length of each event type's post-header and the checksum
 * algorithm. Since MySQL 5.6.1 / MariaDB 5.3 it always ends with the algorithm byte and a 4-byte
 * checksum slot (zero when the algorithm is 'none'), whatever the binlog's checksum setting.
 */
export interface FormatDescriptionEvent {
  readonly kind: 'format_description';
  readonly binlogVersion: number;
  readonly serverVersion: string;
  readonly createTimestampSeconds: number;
  readonly headerBytes: number;
  /** Index i is the post-header length of event type i + 1. */
  readonly postHeaderLengths: readonly number[];
  readonly checksumAlgorithm: BinlogChecksumAlgorithm;
}

/** Reads the body of an FDE whose reader ends before the 4-byte checksum slot. */
export function readFormatDescriptionBody(reader: ByteReader): FormatDescriptionEvent {
  const binlogVersion = reader.u16('binlog_version');
  const serverVersionRaw = reader.bytes(serverVersionBytes, 'server_version');
  const nul = serverVersionRaw.indexOf(0);
  const serverVersion = serverVersionRaw.subarray(0, nul < 0 ? serverVersionBytes : nul).toString('latin1');
  const createTimestampSeconds = reader.u32('create_timestamp');
  const headerBytes = reader.u8('header_length');
  if (headerBytes !== binlogEventHeaderBytes) {
    reader.fail(`header_length ${headerBytes} is not ${binlogEventHeaderBytes}; only binlog v4 is supported`);
  }
  if (reader.remaining < 1) reader.fail('no checksum algorithm byte');
  const postHeaderLengths = [...reader.bytes(reader.remaining - 1, 'post_header_lengths')];
  const algorithmCode = reader.u8('checksum_alg');
  const checksumAlgorithm = checksumAlgorithmFromCode(algorithmCode);
  if (checksumAlgorithm === undefined) reader.fail(`unknown checksum algorithm ${algorithmCode}`);
  return {
    kind: 'format_description',
    binlogVersion,
    serverVersion,
    createTimestampSeconds,
    headerBytes,
    postHeaderLengths,
    checksumAlgorithm,
  };
}

/** Writes the body up to and including the algorithm byte; the caller appends the checksum slot. */
export function writeFormatDescriptionBody(writer: ByteWriter, event: FormatDescriptionEvent): void {
  const version = Buffer.alloc(serverVersionBytes);
  version.write(event.serverVersion.slice(0, serverVersionBytes), 'latin1');
  writer
    .u16(event.binlogVersion)
    .bytes(version)
    .u32(event.createTimestampSeconds)
    .u8(event.headerBytes)
    .bytes(Uint8Array.from(event.postHeaderLengths))
    .u8(checksumAlgorithmCode(event.checksumAlgorithm));
}

export const formatDescriptionTrailerBytes = checksumTrailerBytes;

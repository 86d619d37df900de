import { ByteReader } from '../byte-reader.js';
import { ServerStatus } from '../capabilities.js';
import { type Decoded, decodedError, decodedOk, decodeSafely, unreachable } from '../decoded.js';
import { packetChunkBytesMax } from '../packet/packet-framer.js';
import { eofHeader, isEofPacket } from './eof-packet.js';
import { errHeader } from './err-packet.js';

/** What the command that is being answered expects. */
export type ResponseExpectation =
  /** COM_QUERY: OK, ERR, LOCAL INFILE request or a text result set; repeated while MORE_RESULTS. */
  | 'query'
  /** COM_STMT_EXECUTE: like 'query' with binary rows (and a cursor possibly left open). */
  | 'execute'
  /** COM_STMT_PREPARE: PREPARE_OK, parameter definitions, column definitions. */
  | 'prepare'
  /** COM_FIELD_LIST: column definitions ending in EOF (or ERR). */
  | 'field_list'
  /** COM_PING, COM_INIT_DB, COM_RESET_CONNECTION, COM_STMT_RESET, COM_SET_OPTION...: OK or ERR. */
  | 'ok';

export type ResponsePacketKind =
  | 'ok'
  | 'err'
  | 'eof'
  | 'local_infile'
  | 'column_count'
  | 'column_definition'
  | 'parameter_definition'
  | 'prepare_ok'
  | 'row';

export interface ResponseStep {
  readonly packet: ResponsePacketKind;
  /** Status flags of an OK/EOF packet; undefined for other packets. */
  readonly statusFlags?: number;
  /** True when this packet ends the whole response (all result sets). */
  readonly complete: boolean;
}

export interface ResponseFramerOptions {
  /** CLIENT_DEPRECATE_EOF negotiated: no EOF after column definitions, OK (0xFE) ends rows. */
  readonly deprecateEof: boolean;
  /** MARIADB_CLIENT_CACHE_METADATA negotiated: column counts carry a "metadata follows" byte. */
  readonly cacheMetadata?: boolean;
}

type State =
  | { readonly at: 'first' }
  | { readonly at: 'parameters'; readonly remaining: number; readonly columns: number }
  | { readonly at: 'parameters_eof'; readonly columns: number }
  | { readonly at: 'columns'; readonly remaining: number; readonly rowsFollow: boolean }
  | { readonly at: 'columns_eof'; readonly rowsFollow: boolean }
  | { readonly at: 'rows' }
  | { readonly at: 'done' };

/**
 * Finds where a response ends, packet by packet, without decoding rows: what a proxy needs to
 * relay a response untouched and know when the backend is free, and what a client needs to know
 * when to stop reading. Feed it the payload of each logical packet of one response in order.
 */
export class ResponseFramer {
  readonly #expectation: ResponseExpectation;
  readonly #options: ResponseFramerOptions;
  #state: State;

  constructor(expectation: ResponseExpectation, options: ResponseFramerOptions) {
    this.#expectation = expectation;
    this.#options = options;
    this.#state =
      expectation === 'field_list'
        ? { at: 'columns', remaining: Number.POSITIVE_INFINITY, rowsFollow: false }
        : { at: 'first' };
  }

  get complete(): boolean {
    return this.#state.at === 'done';
  }

  next(payload: Uint8Array): Decoded<ResponseStep> {
    const state = this.#state;
    if (payload.length === 0) return decodedError('MALFORMED', 'an empty packet inside a response');
    if (payload[0] === errHeader && state.at !== 'rows') return decodedOk(this.#finish('err'));
    switch (state.at) {
      case 'first':
        return this.#first(payload);
      case 'parameters':
        this.#state =
          state.remaining > 1
            ? { ...state, remaining: state.remaining - 1 }
            : this.#afterParameters(state.columns);
        // With DEPRECATE_EOF and no columns, the last parameter definition ends the response.
        return decodedOk({ packet: 'parameter_definition', complete: this.complete });
      case 'parameters_eof':
        if (!isEofPacket(payload))
          return decodedError('MALFORMED', 'expected EOF after parameter definitions');
        this.#state = this.#columnsOrDone(state.columns, false);
        return decodedOk({ packet: 'eof', statusFlags: statusOfEof(payload), complete: this.complete });
      case 'columns':
        return this.#column(payload, state);
      case 'columns_eof': {
        if (!isEofPacket(payload)) return decodedError('MALFORMED', 'expected EOF after column definitions');
        const statusFlags = statusOfEof(payload);
        const cursorOpened = (statusFlags & ServerStatus.cursorExists) !== 0;
        this.#state = state.rowsFollow && !cursorOpened ? { at: 'rows' } : { at: 'done' };
        return decodedOk({ packet: 'eof', statusFlags, complete: this.complete });
      }
      case 'rows':
        return this.#row(payload);
      case 'done':
        return decodedError('MALFORMED', 'a packet after the response was complete');
      default:
        return unreachable(state);
    }
  }

  #finish(packet: ResponsePacketKind, statusFlags?: number): ResponseStep {
    const more = statusFlags !== undefined && (statusFlags & ServerStatus.moreResultsExist) !== 0;
    this.#state = more ? { at: 'first' } : { at: 'done' };
    return { packet, ...(statusFlags === undefined ? {} : { statusFlags }), complete: !more };
  }

  #first(payload: Uint8Array): Decoded<ResponseStep> {
    const header = payload[0]!;
    if (this.#expectation === 'prepare') return this.#prepareOk(payload);
    if (
      header === 0x00 ||
      (header === eofHeader && this.#options.deprecateEof && payload.length < packetChunkBytesMax)
    ) {
      const status = statusOfOk(payload);
      if (!status.ok) return status;
      return decodedOk(this.#finish('ok', status.value));
    }
    if (this.#expectation === 'ok')
      return decodedError('MALFORMED', `expected OK or ERR, got a packet starting 0x${header.toString(16)}`);
    if (header === 0xfb) {
      // LOCAL INFILE request: the client sends the file, then the server answers with OK/ERR.
      return decodedOk({ packet: 'local_infile', complete: false });
    }
    return decodeSafely(() => {
      const reader = new ByteReader(payload, 'column count');
      const columns = reader.lenencInt('column count');
      if (columns === 0) reader.fail('a result set with no columns');
      const metadataFollows =
        this.#options.cacheMetadata === true && !reader.atEnd ? reader.u8('metadata follows') !== 0 : true;
      this.#state = metadataFollows
        ? { at: 'columns', remaining: columns, rowsFollow: true }
        : this.#rowsAfterColumns(true);
      return { packet: 'column_count' as const, complete: false };
    });
  }

  #prepareOk(payload: Uint8Array): Decoded<ResponseStep> {
    return decodeSafely(() => {
      const reader = new ByteReader(payload, 'COM_STMT_PREPARE_OK');
      if (reader.u8('status') !== 0) reader.fail('expected COM_STMT_PREPARE_OK or ERR');
      reader.skip(4, 'statement id');
      const columns = reader.u16('column count');
      const parameters = reader.u16('parameter count');
      this.#state =
        parameters > 0
          ? { at: 'parameters', remaining: parameters, columns }
          : this.#columnsOrDone(columns, false);
      return { packet: 'prepare_ok' as const, complete: this.complete };
    });
  }

  #afterParameters(columns: number): State {
    return this.#options.deprecateEof
      ? this.#columnsOrDone(columns, false)
      : { at: 'parameters_eof', columns };
  }

  #columnsOrDone(columns: number, rowsFollow: boolean): State {
    return columns > 0 ? { at: 'columns', remaining: columns, rowsFollow } : { at: 'done' };
  }

  #rowsAfterColumns(rowsFollow: boolean): State {
    if (!this.#options.deprecateEof) return { at: 'columns_eof', rowsFollow };
    return rowsFollow ? { at: 'rows' } : { at: 'done' };
  }

  #column(payload: Uint8Array, state: State & { at: 'columns' }): Decoded<ResponseStep> {
    if (this.#expectation === 'field_list' && (isEofPacket(payload) || payload[0] === errHeader)) {
      if (payload[0] === errHeader) return decodedOk(this.#finish('err'));
      this.#state = { at: 'done' };
      return decodedOk({ packet: 'eof', statusFlags: statusOfEof(payload), complete: true });
    }
    this.#state =
      state.remaining > 1
        ? { ...state, remaining: state.remaining - 1 }
        : this.#rowsAfterColumns(state.rowsFollow);
    return decodedOk({ packet: 'column_definition', complete: this.complete });
  }

  #row(payload: Uint8Array): Decoded<ResponseStep> {
    const header = payload[0]!;
    if (header === errHeader) return decodedOk(this.#finish('err'));
    if (header === eofHeader) {
      if (this.#options.deprecateEof && payload.length < packetChunkBytesMax) {
        const status = statusOfOk(payload);
        if (!status.ok) return status;
        return decodedOk(this.#finish('ok', status.value));
      }
      if (!this.#options.deprecateEof && isEofPacket(payload))
        return decodedOk(this.#finish('eof', statusOfEof(payload)));
    }
    return decodedOk({ packet: 'row', complete: false });
  }
}

function statusOfEof(payload: Uint8Array): number {
  return payload.length >= 5 ? payload[3]! | (payload[4]! << 8) : 0;
}

/** Status flags of an OK packet: after the header and two length-encoded integers. */
function statusOfOk(payload: Uint8Array): Decoded<number> {
  return decodeSafely(() => {
    const reader = new ByteReader(payload, 'OK packet');
    reader.skip(1, 'header');
    reader.lenencInt('affected rows');
    reader.lenencInt('last insert id');
    return reader.u16('status flags');
  });
}

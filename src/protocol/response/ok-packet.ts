import { ByteReader } from '../byte-reader.js';
import { ByteWriter } from '../byte-writer.js';
import { Capability, hasCapability, ServerStatus } from '../capabilities.js';
import { type Decoded, decodeSafely, unreachable } from '../decoded.js';

export const okHeader = 0x00;
/** With CLIENT_DEPRECATE_EOF a result set ends in an OK packet that starts with 0xFE. */
export const okEofHeader = 0xfe;

/** Session-state change types (CLIENT_SESSION_TRACK). */
export const SessionTrackType = {
  systemVariables: 0,
  schema: 1,
  stateChange: 2,
  gtids: 3,
  transactionCharacteristics: 4,
  transactionState: 5,
} as const;

/**
 * One session-state change reported in an OK packet. `system_variable` is how MariaDB reports
 * `last_gtid` (with `session_track_system_variables=last_gtid`); `schema` is a `USE`.
 */
export type SessionStateChange =
  | { readonly kind: 'system_variable'; readonly name: string; readonly value: string }
  | { readonly kind: 'schema'; readonly schema: string }
  | { readonly kind: 'state_change'; readonly changed: boolean }
  | { readonly kind: 'gtids'; readonly data: Buffer }
  | { readonly kind: 'transaction_characteristics'; readonly characteristics: string }
  | { readonly kind: 'transaction_state'; readonly state: string }
  | { readonly kind: 'other'; readonly type: number; readonly data: Buffer };

export interface OkPacket {
  /** 0x00, or 0xFE when it ends a result set under CLIENT_DEPRECATE_EOF. */
  readonly header: number;
  readonly affectedRows: number;
  readonly lastInsertId: number;
  readonly statusFlags: number;
  readonly warnings: number;
  readonly info: string;
  readonly sessionStateChanges: readonly SessionStateChange[];
}

/** Decodes an OK packet; `capabilities` are the negotiated ones (PROTOCOL_41, SESSION_TRACK matter). */
export function decodeOkPacket(payload: Uint8Array, capabilities: number): Decoded<OkPacket> {
  return decodeSafely(() => {
    const reader = new ByteReader(payload, 'OK packet');
    const header = reader.u8('header');
    if (header !== okHeader && header !== okEofHeader)
      reader.fail(`header 0x${header.toString(16)} is not OK`);
    const affectedRows = reader.lenencInt('affected rows');
    const lastInsertId = reader.lenencInt('last insert id');
    let statusFlags = 0;
    let warnings = 0;
    if (hasCapability(capabilities, Capability.protocol41)) {
      statusFlags = reader.u16('status flags');
      warnings = reader.u16('warnings');
    }
    let info = '';
    const sessionStateChanges: SessionStateChange[] = [];
    if (hasCapability(capabilities, Capability.sessionTrack)) {
      if (!reader.atEnd) info = reader.lenencString('info');
      if ((statusFlags & ServerStatus.sessionStateChanged) !== 0 && !reader.atEnd) {
        const block = new ByteReader(reader.lenencBytes('session state'), 'session state');
        while (!block.atEnd) sessionStateChanges.push(readSessionStateChange(block));
      }
    } else {
      info = reader.rest().toString('utf8');
    }
    return { header, affectedRows, lastInsertId, statusFlags, warnings, info, sessionStateChanges };
  });
}

function readSessionStateChange(block: ByteReader): SessionStateChange {
  const type = block.u8('session state type');
  const data = new ByteReader(block.lenencBytes('session state data'), 'session state data');
  switch (type) {
    case SessionTrackType.systemVariables:
      return { kind: 'system_variable', name: data.lenencString('name'), value: data.lenencString('value') };
    case SessionTrackType.schema:
      return { kind: 'schema', schema: data.lenencString('schema') };
    case SessionTrackType.stateChange:
      return { kind: 'state_change', changed: data.lenencString('state') === '1' };
    case SessionTrackType.gtids:
      return { kind: 'gtids', data: data.rest() };
    case SessionTrackType.transactionCharacteristics:
      return { kind: 'transaction_characteristics', characteristics: data.lenencString('characteristics') };
    case SessionTrackType.transactionState:
      return { kind: 'transaction_state', state: data.lenencString('state') };
    default:
      return { kind: 'other', type, data: data.rest() };
  }
}

function writeSessionStateChange(writer: ByteWriter, change: SessionStateChange): void {
  const data = new ByteWriter(64);
  let type: number;
  switch (change.kind) {
    case 'system_variable':
      type = SessionTrackType.systemVariables;
      data.lenencString(change.name).lenencString(change.value);
      break;
    case 'schema':
      type = SessionTrackType.schema;
      data.lenencString(change.schema);
      break;
    case 'state_change':
      type = SessionTrackType.stateChange;
      data.lenencString(change.changed ? '1' : '0');
      break;
    case 'gtids':
      type = SessionTrackType.gtids;
      data.bytes(change.data);
      break;
    case 'transaction_characteristics':
      type = SessionTrackType.transactionCharacteristics;
      data.lenencString(change.characteristics);
      break;
    case 'transaction_state':
      type = SessionTrackType.transactionState;
      data.lenencString(change.state);
      break;
    case 'other':
      type = change.type;
      data.bytes(change.data);
      break;
    default:
      unreachable(change);
  }
  writer.u8(type).lenencBytes(data.finish());
}

export function encodeOkPacket(packet: OkPacket, capabilities: number): Buffer {
  const writer = new ByteWriter(32);
  writer.u8(packet.header).lenencInt(packet.affectedRows).lenencInt(packet.lastInsertId);
  if (hasCapability(capabilities, Capability.protocol41)) writer.u16(packet.statusFlags).u16(packet.warnings);
  if (hasCapability(capabilities, Capability.sessionTrack)) {
    const hasState = (packet.statusFlags & ServerStatus.sessionStateChanged) !== 0;
    if (packet.info !== '' || hasState) writer.lenencString(packet.info);
    if (hasState) {
      const block = new ByteWriter(64);
      for (const change of packet.sessionStateChanges) writeSessionStateChange(block, change);
      writer.lenencBytes(block.finish());
    }
  } else {
    writer.string(packet.info);
  }
  return writer.finish();
}

/** A plain OK with the given status flags (e.g. autocommit). */
export function okPacket(statusFlags: number, fields: Partial<OkPacket> = {}): OkPacket {
  return {
    header: okHeader,
    affectedRows: 0,
    lastInsertId: 0,
    statusFlags,
    warnings: 0,
    info: '',
    sessionStateChanges: [],
    ...fields,
  };
}

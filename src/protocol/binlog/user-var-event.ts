import type { ByteReader } from '../byte-reader.js';
import type { ByteWriter } from '../byte-writer.js';

/** Item_result codes MariaDB writes as a user variable's type. */
export const USER_VAR_STRING = 0;
export const USER_VAR_REAL = 1;
export const USER_VAR_INT = 2;
export const USER_VAR_DECIMAL = 4;

/** USER_VAR flag: an INT value is unsigned. */
export const USER_VAR_UNSIGNED_F = 0x01;

export interface UserVarValue {
  readonly type: number;
  readonly charset: number;
  /** The value as MariaDB stores it: little-endian for INT/REAL, packed for DECIMAL, bytes for STRING. */
  readonly value: Buffer;
  /** Absent on old servers. */
  readonly flags?: number;
}

/** USER_VAR (type 14): a user variable a statement-based QUERY event reads; `value` null for NULL. */
export interface UserVarEvent {
  readonly kind: 'user_var';
  readonly name: string;
  readonly value: UserVarValue | null;
}

export function readUserVarBody(reader: ByteReader): UserVarEvent {
  const nameLength = reader.u32('name_length');
  const name = reader.string(nameLength, 'name');
  const isNull = reader.u8('is_null');
  if (isNull !== 0) return { kind: 'user_var', name, value: null };
  const type = reader.u8('type');
  const charset = reader.u32('charset');
  const valueLength = reader.u32('value_length');
  const value = reader.bytes(valueLength, 'value');
  const flags = reader.atEnd ? undefined : reader.u8('flags');
  return {
    kind: 'user_var',
    name,
    value: { type, charset, value, ...(flags === undefined ? {} : { flags }) },
  };
}

export function writeUserVarBody(writer: ByteWriter, event: UserVarEvent): void {
  const name = Buffer.from(event.name, 'utf8');
  writer.u32(name.length).bytes(name);
  if (event.value === null) {
    writer.u8(1);
    return;
  }
  writer
    .u8(0)
    .u8(event.value.type)
    .u32(event.value.charset)
    .u32(event.value.value.length)
    .bytes(event.value.value);
  if (event.value.flags !== undefined) writer.u8(event.value.flags);
}

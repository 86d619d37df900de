import { ByteReader } from '../byte-reader.js';
import { ByteWriter } from '../byte-writer.js';
import { type Decoded, decodeSafely } from '../decoded.js';

/** First byte of an AuthSwitchRequest (the same as EOF's: tell them apart by the exchange state). */
export const authSwitchHeader = 0xfe;
/** First byte of AuthMoreData. */
export const authMoreDataHeader = 0x01;

/**
 * The server asks the client to authenticate with another plugin, with plugin data (for
 * mysql_native_password the 20-byte scramble and a NUL, for client_ed25519 a 32-byte nonce).
 */
export interface AuthSwitchRequest {
  readonly pluginName: string;
  readonly pluginData: Buffer;
}

export function decodeAuthSwitchRequest(payload: Uint8Array): Decoded<AuthSwitchRequest> {
  return decodeSafely(() => {
    const reader = new ByteReader(payload, 'auth switch request');
    if (reader.u8('header') !== authSwitchHeader) reader.fail('not an auth switch request');
    const pluginName = reader.nulString('plugin name');
    // The data is the plugin's, as sent: mysql_native_password's is its 20-byte scramble plus a
    // NUL, client_ed25519's exactly its 32-byte nonce (stripping a "trailing NUL" would break it).
    return { pluginName, pluginData: reader.rest() };
  });
}

export function encodeAuthSwitchRequest(request: AuthSwitchRequest): Buffer {
  return new ByteWriter(64)
    .u8(authSwitchHeader)
    .nulString(request.pluginName)
    .bytes(request.pluginData)
    .finish();
}

/** AuthMoreData: plugin-specific data in the middle of an exchange. */
export function decodeAuthMoreData(payload: Uint8Array): Decoded<Buffer> {
  return decodeSafely(() => {
    const reader = new ByteReader(payload, 'auth more data');
    if (reader.u8('header') !== authMoreDataHeader) reader.fail('not an auth-more-data packet');
    return reader.rest();
  });
}

export function encodeAuthMoreData(data: Uint8Array): Buffer {
  return new ByteWriter(data.length + 1).u8(authMoreDataHeader).bytes(data).finish();
}

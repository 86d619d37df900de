import type { ProtocolError } from '../decoded.js';
import {
  cachingSha2PasswordPlugin,
  cachingSha2Refusal,
  sha256PasswordPlugin,
} from './caching-sha2-password.js';
import { clientEd25519Plugin, signEd25519 } from './client-ed25519.js';
import { mysqlNativePasswordPlugin, nativePasswordToken } from './mysql-native-password.js';

/**
 * The client's answer to a plugin's challenge, for the plugins WolfScale speaks. An unknown or
 * refused plugin is an error value that says what to change.
 */
export function clientAuthResponse(
  pluginName: string,
  challenge: Uint8Array,
  credentials: { readonly user: string; readonly password: string },
): { readonly ok: true; readonly response: Buffer } | { readonly ok: false; readonly error: ProtocolError } {
  switch (pluginName) {
    case mysqlNativePasswordPlugin:
      return { ok: true, response: nativePasswordToken(credentials.password, challenge.subarray(0, 20)) };
    case clientEd25519Plugin:
      return { ok: true, response: signEd25519(credentials.password, challenge) };
    case cachingSha2PasswordPlugin:
    case sha256PasswordPlugin:
      return { ok: false, error: cachingSha2Refusal(credentials.user, pluginName) };
    default:
      return {
        ok: false,
        error: {
          code: 'UNSUPPORTED',
          message: `the server asks for the auth plugin ${pluginName}, which WolfScale does not speak; use an account with mysql_native_password or ed25519`,
        },
      };
  }
}

import type { ProtocolError } from '../decoded.js';

export const cachingSha2PasswordPlugin = 'caching_sha2_password';
export const sha256PasswordPlugin = 'sha256_password';

/**
 * caching_sha2_password (MySQL 8's default) is recognised and refused: MariaDB does not use it,
 * and WolfScale fronts MariaDB. The error says how to change the account.
 */
export function cachingSha2Refusal(user: string, pluginName: string): ProtocolError {
  return {
    code: 'UNSUPPORTED',
    message:
      `the account '${user}' authenticates with ${pluginName}, which WolfScale does not support yet; ` +
      `change it to mysql_native_password or ed25519, e.g. ALTER USER '${user}'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('...')`,
  };
}

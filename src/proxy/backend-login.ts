import { clientEd25519Plugin, signEd25519 } from '../protocol/auth/client-ed25519.js';
import {
  mysqlNativePasswordPlugin,
  nativePasswordStage1,
  nativePasswordTokenFromStage1,
} from '../protocol/auth/mysql-native-password.js';
import { Capability, hasCapability } from '../protocol/capabilities.js';
import { authSwitchHeader, decodeAuthSwitchRequest } from '../protocol/handshake/auth-switch.js';
import { encodeHandshakeResponse } from '../protocol/handshake/handshake-response.js';
import { decodeInitialHandshake, type InitialHandshake } from '../protocol/handshake/initial-handshake.js';
import type { Packet } from '../protocol/packet/packet-framer.js';
import { decodeErrPacket, type ErrPacket, errHeader } from '../protocol/response/err-packet.js';
import { okHeader } from '../protocol/response/ok-packet.js';

/**
 * How the proxy proves an identity to a backend: SHA1(password) recovered from a client's
 * mysql_native_password login (no password needed), or a password (the node's admin account).
 */
export type BackendCredentials =
  | { readonly user: string; readonly stage1: Buffer | undefined }
  | { readonly user: string; readonly password: string };

export interface BackendLoginOptions {
  readonly credentials: BackendCredentials;
  readonly database: string | undefined;
  /** Capabilities wanted (the client's, so that responses can be relayed as they are). */
  readonly capabilities: number;
  readonly characterSet: number;
  readonly connectAttributes: ReadonlyMap<string, string>;
}

export type BackendLoginAction =
  | { readonly kind: 'send'; readonly payload: Buffer; readonly sequenceId: number }
  | {
      readonly kind: 'done';
      readonly handshake: InitialHandshake;
      /** Negotiated: what the backend will frame its responses by. */
      readonly capabilities: number;
    }
  | { readonly kind: 'failed'; readonly message: string; readonly serverError?: ErrPacket };

/**
 * The client side of a login to a backend (MariaDB or another node's proxy), pure: feed each
 * packet the backend sends. Answers mysql_native_password from stage1, client_ed25519 only with
 * a password.
 */
export class BackendLogin {
  readonly #options: BackendLoginOptions;
  #handshake: InitialHandshake | undefined;
  #capabilities = 0;

  constructor(options: BackendLoginOptions) {
    this.#options = options;
  }

  #answer(plugin: string, challenge: Buffer): Buffer | string {
    const credentials = this.#options.credentials;
    if (plugin === mysqlNativePasswordPlugin) {
      const stage1 =
        'password' in credentials
          ? credentials.password === ''
            ? undefined
            : nativePasswordStage1(credentials.password)
          : credentials.stage1;
      return stage1 === undefined
        ? Buffer.alloc(0)
        : nativePasswordTokenFromStage1(stage1, challenge.subarray(0, 20));
    }
    if (plugin === clientEd25519Plugin && 'password' in credentials)
      return signEd25519(credentials.password, challenge);
    return `the backend asks user '${credentials.user}' for the auth plugin ${plugin}, which the proxy cannot answer for this account; use mysql_native_password`;
  }

  onPacket(packet: Packet): BackendLoginAction[] {
    const payload = packet.payload;
    const next = (packet.sequenceId + 1) & 0xff;
    if (this.#handshake === undefined) {
      if (payload[0] === errHeader) return [this.#serverError(payload)];
      const decoded = decodeInitialHandshake(payload);
      if (!decoded.ok) return [{ kind: 'failed', message: `bad greeting: ${decoded.error.message}` }];
      const handshake = decoded.value;
      this.#handshake = handshake;
      const serverIsMariaDb = !hasCapability(handshake.capabilities, Capability.mysql);
      let wanted = this.#options.capabilities & ~Capability.ssl & ~Capability.compress;
      wanted |= Capability.protocol41 | Capability.secureConnection | Capability.pluginAuth;
      wanted |= Capability.pluginAuthLenencClientData | Capability.connectAttrs;
      if (serverIsMariaDb) wanted &= ~Capability.mysql;
      this.#capabilities = (wanted & handshake.capabilities) >>> 0;
      const plugin =
        handshake.authPluginName === clientEd25519Plugin && 'password' in this.#options.credentials
          ? clientEd25519Plugin
          : mysqlNativePasswordPlugin;
      const answer = this.#answer(plugin, handshake.authPluginData);
      if (typeof answer === 'string') return [{ kind: 'failed', message: answer }];
      const response = encodeHandshakeResponse({
        capabilities: this.#capabilities,
        mariadbCapabilities: 0,
        maxPacketBytes: 0x40000000,
        characterSet: this.#options.characterSet,
        user: this.#options.credentials.user,
        authResponse: answer,
        ...(this.#options.database === undefined || this.#options.database === ''
          ? {}
          : { database: this.#options.database }),
        authPluginName: plugin,
        connectAttributes: this.#options.connectAttributes,
      });
      if (this.#options.database !== undefined && this.#options.database !== '')
        this.#capabilities = (this.#capabilities | Capability.connectWithDb) >>> 0;
      return [{ kind: 'send', payload: response, sequenceId: next }];
    }
    if (payload[0] === okHeader)
      return [{ kind: 'done', handshake: this.#handshake, capabilities: this.#capabilities }];
    if (payload[0] === errHeader) return [this.#serverError(payload)];
    if (payload[0] === authSwitchHeader) {
      const request = decodeAuthSwitchRequest(payload);
      if (!request.ok) return [{ kind: 'failed', message: `bad auth switch: ${request.error.message}` }];
      const answer = this.#answer(request.value.pluginName, request.value.pluginData);
      if (typeof answer === 'string') return [{ kind: 'failed', message: answer }];
      return [{ kind: 'send', payload: answer, sequenceId: next }];
    }
    return [
      {
        kind: 'failed',
        message: `unexpected packet 0x${(payload[0] ?? 0).toString(16)} during the backend login`,
      },
    ];
  }

  #serverError(payload: Buffer): BackendLoginAction {
    const err = decodeErrPacket(payload);
    if (!err.ok) return { kind: 'failed', message: 'the backend refused the login with a malformed ERR' };
    return {
      kind: 'failed',
      message: `the backend refused the login: ${err.value.errorCode} (${err.value.sqlState}) ${err.value.message}`,
      serverError: err.value,
    };
  }
}

import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { type SecureContext, TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { type ErrorCode, errorCodes } from '../errors/error-codes.js';
import { Capability, hasCapability, ServerStatus } from '../protocol/capabilities.js';
import { type ClientCommand, decodeClientCommand } from '../protocol/command/client-command.js';
import { encodeComQuery } from '../protocol/command/com-query.js';
import { encodeComStmtPrepare } from '../protocol/command/com-stmt-prepare.js';
import { CommandCode, lastPreparedStatementId } from '../protocol/command/command-code.js';
import { decodeHandshakeResponse } from '../protocol/handshake/handshake-response.js';
import {
  type AuthenticatedSession,
  ServerLogin,
  type ServerLoginAction,
} from '../protocol/handshake/server-login.js';
import {
  encodePacket,
  type Packet,
  PacketFramer,
  packetChunkBytesMax,
} from '../protocol/packet/packet-framer.js';
import { encodeErrPacket } from '../protocol/response/err-packet.js';
import { decodeOkPacket, encodeOkPacket, okPacket } from '../protocol/response/ok-packet.js';
import type { ResponseExpectation } from '../protocol/response/response-framer.js';
import type { AccountCache } from './accounts.js';
import {
  Backend,
  BackendConnectError,
  BackendLost,
  type BackendTarget,
  type ResponseOutcome,
} from './backend.js';
import type { BackendCredentials } from './backend-login.js';
import { type Classification, classify } from './classify.js';
import { classifiedBytesMax } from './classify-lexer.js';
import {
  afterResponse,
  type BackendName,
  type ClusterView,
  initialRouting,
  type RouteDecision,
  route,
  type SessionRouting,
} from './route.js';

/** Connect attribute a proxy sets when it forwards a session to the leader's proxy. */
export const forwardedAttribute = '_wolfscale_forwarded';

/** What the proxy needs to know of the node it runs in (a read-only view). */
export interface ProxyClusterSource {
  view(): ClusterView;
  /** The leader's proxy when another node leads; undefined while there is none (or it is unknown). */
  leaderProxy(): { readonly id: string; readonly host: string; readonly port: number } | undefined;
}

export interface ProxyContext {
  readonly maxLagMs: number;
  readonly failoverWaitMs: number;
  readonly idleTimeoutMs: number;
  readonly tlsRequired: boolean;
  readonly secureContext: SecureContext | undefined;
  /** This node's MariaDB. */
  readonly local: { readonly host: string; readonly port: number };
  /** The node's admin account: backend logins of ed25519 users, account lookups. */
  readonly admin: { readonly user: string; readonly password: string };
  readonly accounts: AccountCache;
  readonly cluster: ProxyClusterSource;
  readonly logger: Logger;
  serverVersion(): string;
  /** The version the local MariaDB greeted a backend connection with (it may change on a restart). */
  localServerVersion(version: string): void;
  nextConnectionId(): number;
  onClosed(session: ProxySession): void;
  /** The open session with this connection id (KILL). */
  session(connectionId: number): ProxySession | undefined;
  /** Runs `KILL QUERY thread` on the local MariaDB as the node's admin account. */
  killLocalQuery(threadId: number): Promise<void>;
}

/** A client packet above this closes the client (1153). */
export const clientPacketBytesMax = 64 * 1024 * 1024;
/** A client whose login is not complete by then is closed. */
const loginTimeoutMs = 10_000;
const backendConnectTimeoutMs = 5000;
/** SET statements recorded for replay; beyond this the session stays on the leader. */
const recordedSetsMax = 256;
/** Unprocessed client bytes while a command runs before the client socket is paused. */
const pendingClientBytesMax = 1024 * 1024;
const leaderPollMs = 25;

/** What the proxy offers clients: the codec's requirements (libraries.md §4.4). */
export const proxyCapabilities =
  (Capability.longFlag |
    Capability.foundRows |
    Capability.connectWithDb |
    Capability.localFiles |
    Capability.ignoreSpace |
    Capability.protocol41 |
    Capability.interactive |
    Capability.ignoreSigpipe |
    Capability.transactions |
    Capability.secureConnection |
    Capability.multiStatements |
    Capability.multiResults |
    Capability.psMultiResults |
    Capability.pluginAuth |
    Capability.connectAttrs |
    Capability.pluginAuthLenencClientData |
    Capability.canHandleExpiredPasswords |
    Capability.sessionTrack |
    Capability.deprecateEof) >>>
  0;

interface PreparedStatement {
  readonly sql: Buffer;
  readonly classification: Pick<Classification, 'route' | 'reason' | 'pin'>;
  readonly parameterCount: number;
  /** Backend statement id on each backend it is prepared on. */
  readonly on: Map<Backend, number>;
  /** Backends that were sent the parameter types. */
  readonly typesSent: Set<Backend>;
  /** The parameter types of the last execute that bound them. */
  types: Buffer | undefined;
  /** Where it last ran; long data pins the next execute there. */
  home: Backend | undefined;
  longData: boolean;
}

class SyncFailed extends Error {
  readonly errPayload: Buffer;
  constructor(errPayload: Buffer) {
    super('replaying session state failed');
    this.errPayload = errPayload;
  }
}

/** Streams the bytes a framer read past an SSLRequest into TLS first, then the socket's. */
function replaying(socket: Socket, early: Buffer): Duplex {
  const duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end();
      callback();
    },
  });
  duplex.push(early);
  socket.on('data', (chunk: Buffer) => duplex.push(chunk));
  socket.on('end', () => duplex.push(null));
  socket.on('close', () => duplex.destroy());
  return duplex;
}

function errBytes(code: ErrorCode, message: string, sequenceId: number): Buffer {
  const spec = errorCodes[code];
  return encodePacket(
    encodeErrPacket({ errorCode: spec.mysqlErrno, sqlState: spec.sqlState, message }),
    sequenceId,
  ).bytes;
}

/**
 * One client connection: login with the client's own account, then one command at a time,
 * routed (route.ts) to the local MariaDB or the leader's proxy, with the session's state kept the
 * same on every backend it uses. See DESIGN.md "Sessions".
 */
export class ProxySession {
  readonly connectionId: number;
  readonly #ctx: ProxyContext;
  readonly #raw: Socket;
  #socket: Socket | TLSSocket;
  readonly #clientHost: string;
  readonly #framer = new PacketFramer({ packetBytesMax: clientPacketBytesMax });
  readonly #login: ServerLogin;
  #phase: 'login' | 'commands' | 'change_user' | 'closed' = 'login';
  #loginTimer: NodeJS.Timeout | undefined;
  #pumping = false;
  /** The last chunk fed into an empty framer: forwarded as is when it is exactly one packet. */
  #rawChunk: Buffer | undefined;
  #capabilities = 0;
  #credentials: BackendCredentials = { user: '', stage1: undefined };
  #characterSet = 45;
  #connectAttributes: ReadonlyMap<string, string> = new Map();
  #database: string | undefined;
  #sets: Buffer[] = [];
  #routing: SessionRouting = initialRouting;
  #local: Backend | undefined;
  #leader: Backend | undefined;
  #leaderId: string | undefined;
  /** The backend holding the session's open transaction (the last status flags said IN_TRANS). */
  #txBackend: Backend | undefined;
  #statements = new Map<number, PreparedStatement>();
  /** Idle detection (`closeIfIdle`): client reads so far, and what the last sweep saw. */
  #reads = 0;
  #readsSeen = 0;
  #idleSinceMs = 0;
  #nextStatementId = 1;
  #lastPrepared: number | undefined;
  #infile: Backend | undefined;
  #waitingDrain = false;
  readonly #traced: boolean;
  readonly #debug: boolean;
  /** The account the client logged in as. */
  #user = '';

  constructor(ctx: ProxyContext, socket: Socket) {
    this.#ctx = ctx;
    this.#raw = socket;
    this.#socket = socket;
    this.connectionId = ctx.nextConnectionId();
    this.#clientHost = socket.remoteAddress ?? '';
    this.#traced = ctx.logger.isLevelEnabled('trace');
    this.#debug = ctx.logger.isLevelEnabled('debug');
    socket.setNoDelay(true);
    this.#login = new ServerLogin({
      serverVersion: ctx.serverVersion(),
      connectionId: this.connectionId,
      capabilities: proxyCapabilities,
      mariadbCapabilities: 0,
      tlsAvailable: ctx.secureContext !== undefined,
      tlsRequired: ctx.tlsRequired && ctx.secureContext !== undefined,
      randomBytes: (count) => randomBytes(count),
      lookupAccount: (user) => ctx.accounts.lookup(user, this.#clientHost),
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => this.close('client socket error'));
    socket.on('close', () => this.close('client closed'));
    socket.on('drain', () => this.#drained());
    this.#loginTimer = setTimeout(() => this.close('login timeout'), loginTimeoutMs);
    for (const action of this.#login.start())
      if (action.kind === 'send') this.#send(action.payload, action.sequenceId);
  }

  /** Refuses a client beyond max_connections with MariaDB's own error, then closes it. */
  static refuse(socket: Socket, message: string): void {
    socket.on('error', () => socket.destroy());
    socket.end(errBytes('TOO_MANY_CONNECTIONS', message, 0));
  }

  /**
   * Closes the client. A backend with a command in flight (a COMMIT waiting for its quorum) is
   * closed only once its response is complete, unless `force` (the proxy stops); the session
   * counts as open (`onClosed`) until then.
   */
  close(reason: string, force = false): void {
    const backends = [this.#local, this.#leader].filter((backend) => backend !== undefined);
    if (this.#phase === 'closed') {
      if (force) for (const backend of backends) backend.close(reason);
      return;
    }
    this.#phase = 'closed';
    clearTimeout(this.#loginTimer);
    this.#ctx.logger.debug({ connectionId: this.connectionId, reason }, 'proxy client closed');
    const lingering: Promise<void>[] = [];
    for (const backend of backends) {
      if (force || backend === this.#infile || !backend.busy) backend.close('the client left');
      else {
        backend.closeAfterResponse('the client left; its last command has its answer');
        lingering.push(backend.whenClosed);
      }
    }
    this.#socket.destroy();
    this.#raw.destroy();
    if (lingering.length === 0) this.#ctx.onClosed(this);
    else void Promise.all(lingering).then(() => this.#ctx.onClosed(this));
  }

  /**
   * Called by the server's idle sweep (`proxy.idle_timeout_s`): closes a logged-in session that
   * sent nothing and ran no command for `idleTimeoutMs`. A counter and a sweep instead of a
   * socket timeout: a socket's timeout is re-armed on every read and write, a cost per packet.
   */
  closeIfIdle(nowMs: number, idleTimeoutMs: number): void {
    if (this.#phase === 'login' || this.#phase === 'closed') return;
    if (this.#reads !== this.#readsSeen || this.#pumping) {
      this.#readsSeen = this.#reads;
      this.#idleSinceMs = nowMs;
      return;
    }
    if (nowMs - this.#idleSinceMs >= idleTimeoutMs) this.close('idle timeout');
  }

  // ---- client bytes --------------------------------------------------------------------------

  #onData(chunk: Buffer): void {
    if (this.#phase === 'closed') return;
    this.#reads += 1;
    this.#rawChunk = this.#framer.bufferedBytes === 0 ? chunk : undefined;
    this.#framer.feed(chunk);
    if (this.#infile !== undefined) {
      this.#drainInfile();
      return;
    }
    if (this.#pumping && this.#framer.bufferedBytes > pendingClientBytesMax) this.#socket.pause();
    void this.#pump();
  }

  #send(payload: Buffer, sequenceId: number): void {
    this.#write(encodePacket(payload, sequenceId).bytes);
  }

  #write(bytes: Buffer): boolean {
    if (this.#phase === 'closed') return true;
    return this.#socket.write(bytes);
  }

  #sendError(code: ErrorCode, message: string, sequenceId = 1): void {
    this.#write(errBytes(code, message, sequenceId));
  }

  /** Closes the client after an ERR (a protocol violation or hostile input). */
  #fatal(code: ErrorCode, message: string, sequenceId: number): void {
    this.#ctx.logger.info({ connectionId: this.connectionId, reason: message }, 'proxy client dropped');
    if (this.#phase !== 'closed') this.#socket.end(errBytes(code, message, sequenceId));
    this.close(message);
  }

  #drained(): void {
    if (!this.#waitingDrain) return;
    this.#waitingDrain = false;
    this.#local?.resume();
    this.#leader?.resume();
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#phase !== 'closed' && this.#infile === undefined) {
        const rawChunk = this.#rawChunk;
        this.#rawChunk = undefined;
        const next = this.#framer.next();
        if (!next.ok) {
          const tooLarge = next.error.code === 'TOO_LARGE';
          this.#fatal(
            tooLarge ? 'PACKET_TOO_LARGE' : 'BAD_REQUEST',
            tooLarge
              ? `Got a packet bigger than the proxy's limit of ${clientPacketBytesMax} bytes`
              : `malformed packet: ${next.error.message}`,
            0,
          );
          return;
        }
        const packet = next.value;
        if (packet === undefined) break;
        const raw =
          rawChunk !== undefined &&
          rawChunk.length === packet.payload.length + 4 &&
          this.#framer.bufferedBytes === 0
            ? rawChunk
            : undefined;
        if (this.#phase === 'login') await this.#loginPacket(packet);
        else if (this.#phase === 'change_user') this.#loginActions(this.#login.onPacket(packet), true);
        else await this.#command(packet, raw);
      }
    } catch (error) {
      this.#ctx.logger.error({ err: error, connectionId: this.connectionId }, 'proxy session failed');
      this.#fatal('INTERNAL', `the proxy failed on this connection: ${(error as Error).message}`, 1);
    } finally {
      this.#pumping = false;
      if (this.#phase !== 'closed') this.#socket.resume();
    }
  }

  // ---- login ---------------------------------------------------------------------------------

  async #loginPacket(packet: Packet): Promise<void> {
    const decoded = decodeHandshakeResponse(packet.payload);
    if (decoded.ok && decoded.value.kind === 'response') {
      try {
        await this.#ctx.accounts.prepare(decoded.value.response.user, Date.now());
      } catch (error) {
        this.#fatal(
          'DATABASE_UNAVAILABLE',
          `the proxy cannot read accounts from the local MariaDB (${(error as Error).message}); try again once it is up`,
          (packet.sequenceId + 1) & 0xff,
        );
        return;
      }
    }
    this.#loginActions(this.#login.onPacket(packet), false);
  }

  #loginActions(actions: readonly ServerLoginAction[], changingUser: boolean): void {
    for (const action of actions) {
      switch (action.kind) {
        case 'send':
          this.#send(action.payload, action.sequenceId);
          if (changingUser) this.#phase = 'change_user';
          break;
        case 'start_tls':
          this.#startTls();
          break;
        case 'authenticated':
          this.#authenticated(action.session, changingUser);
          break;
        case 'rejected':
          this.#ctx.logger.info(
            { connectionId: this.connectionId, client: this.#clientHost, reason: action.reason },
            'proxy login refused',
          );
          this.#socket.end();
          this.close(action.reason);
          return;
      }
    }
  }

  #startTls(): void {
    const early = this.#framer.takeBuffered();
    this.#raw.removeAllListeners('data');
    const secure = new TLSSocket(early.length === 0 ? this.#raw : (replaying(this.#raw, early) as Socket), {
      isServer: true,
      ...(this.#ctx.secureContext === undefined ? {} : { secureContext: this.#ctx.secureContext }),
    });
    secure.on('data', (chunk: Buffer) => this.#onData(chunk));
    secure.on('error', () => this.close('TLS error'));
    secure.on('close', () => this.close('client closed'));
    secure.on('drain', () => this.#drained());
    this.#socket = secure;
  }

  #authenticated(session: AuthenticatedSession, changedUser: boolean): void {
    clearTimeout(this.#loginTimer);
    this.#phase = 'commands';
    if (!changedUser) this.#capabilities = session.capabilities;
    this.#user = session.user;
    const plugin = session.response.authPluginName;
    this.#credentials =
      session.stage1 !== undefined || plugin !== 'client_ed25519'
        ? { user: session.user, stage1: session.stage1 }
        : { user: this.#ctx.admin.user, password: this.#ctx.admin.password };
    if (this.#ctx.accounts.lookup(session.user, this.#clientHost)?.plugin === 'client_ed25519')
      this.#credentials = { user: this.#ctx.admin.user, password: this.#ctx.admin.password };
    if (session.response.characterSet !== 0) this.#characterSet = session.response.characterSet;
    this.#connectAttributes =
      session.response.connectAttributes ?? new Map([['program_name', 'wolfscale-proxy']]);
    this.#resetState();
    this.#database = session.database === '' ? undefined : session.database;
    this.#ctx.logger.debug({ connectionId: this.connectionId, user: session.user }, 'proxy client logged in');
  }

  /** Forgets everything tied to the backend connections (a new user, a reset). */
  #resetState(): void {
    this.#local?.close('session reset');
    this.#leader?.close('session reset');
    this.#local = undefined;
    this.#leader = undefined;
    this.#txBackend = undefined;
    this.#sets = [];
    this.#statements.clear();
    this.#lastPrepared = undefined;
    // A session forwarded by another node's proxy stays leader-bound (SessionRouting.leaderBound).
    this.#routing = {
      ...initialRouting,
      written: this.#routing.written,
      leaderBound: this.#connectAttributes.get(forwardedAttribute) === '1',
    };
  }

  // ---- commands ------------------------------------------------------------------------------

  async #command(packet: Packet, raw: Buffer | undefined): Promise<void> {
    const decoded = decodeClientCommand(packet.payload, this.#capabilities);
    const reply = (packet.sequenceId + 1) & 0xff;
    if (!decoded.ok) {
      this.#fatal('BAD_REQUEST', `malformed command packet: ${decoded.error.message}`, reply);
      return;
    }
    const command = decoded.value;
    if (this.#traced)
      this.#ctx.logger.trace({ connectionId: this.connectionId, command: command.kind }, 'proxy command');
    switch (command.kind) {
      case 'quit':
        this.close('COM_QUIT');
        return;
      case 'ping':
        this.#send(encodeOkPacket(okPacket(this.#statusFlags()), this.#capabilities), reply);
        return;
      case 'query': {
        // KILL of a connection id: the client knows the proxy's ids, not MariaDB's.
        const first = command.sql[firstNonSpace(command.sql)];
        if (first === 0x4b || first === 0x6b) {
          const kill = killStatement(command.sql);
          if (kill !== undefined) {
            await this.#kill(kill, reply);
            return;
          }
        }
        const classification: Pick<Classification, 'route' | 'reason' | 'pin' | 'statements'> =
          command.sql.length > classifiedBytesMax
            ? { route: 'leader', reason: 'longer than 1 MiB: not classified', statements: [] }
            : classify(command.sql.toString('utf8'));
        // The callbacks are arguments, not properties of an options object: under tsx (keepNames)
        // a named closure costs an Object.defineProperty each time it is created.
        await this.#run(
          classification,
          'query',
          () => raw ?? encodePacket(packet.payload, packet.firstSequenceId).bytes,
          (backend) => {
            if (classification.route === 'session') {
              const use = classification.statements.find((s) => s.useDatabase !== undefined)?.useDatabase;
              if (use !== undefined) {
                this.#database = use;
                backend.database = use;
              }
              if (classification.statements.some((s) => s.useDatabase === undefined)) {
                this.#sets.push(Buffer.from(command.sql));
                if (backend.setsApplied === this.#sets.length - 1) backend.setsApplied = this.#sets.length;
                if (this.#sets.length > recordedSetsMax && this.#routing.pin === undefined)
                  this.#routing = { ...this.#routing, pin: 'connection-state' };
              }
            }
          },
        );
        return;
      }
      case 'init_db':
        await this.#run(
          { route: 'session', reason: 'COM_INIT_DB' },
          'ok',
          () => raw ?? encodePacket(packet.payload, packet.firstSequenceId).bytes,
          (backend) => {
            this.#database = command.database;
            backend.database = command.database;
          },
        );
        return;
      case 'field_list':
        await this.#run(
          { route: 'read', reason: 'COM_FIELD_LIST' },
          'field_list',
          () => raw ?? encodePacket(packet.payload, packet.firstSequenceId).bytes,
        );
        return;
      case 'stmt_prepare':
        await this.#prepare(command.sql, reply);
        return;
      case 'stmt_execute':
        await this.#execute(packet, command, reply);
        return;
      case 'stmt_close': {
        const statement = this.#statements.get(command.statementId);
        if (statement === undefined) return;
        this.#statements.delete(command.statementId);
        for (const [backend, id] of statement.on) {
          const close = Buffer.alloc(5);
          close[0] = CommandCode.stmtClose;
          close.writeUInt32LE(id, 1);
          backend.send(encodePacket(close, 0).bytes);
        }
        return;
      }
      case 'stmt_send_long_data': {
        const id = this.#resolveStatementId(command.statementId);
        const statement = id === undefined ? undefined : this.#statements.get(id);
        const backend = statement?.home ?? statement?.on.keys().next().value;
        if (statement === undefined || backend === undefined || backend.closed) return;
        const payload = Buffer.from(packet.payload);
        payload.writeUInt32LE(statement.on.get(backend) ?? 0, 1);
        statement.home = backend;
        statement.longData = true;
        backend.send(encodePacket(payload, packet.firstSequenceId).bytes);
        return;
      }
      case 'stmt_reset': {
        const statement = this.#statements.get(command.statementId);
        const backend = statement?.home;
        if (statement === undefined) {
          this.#send(
            encodeErrPacket({
              errorCode: 1243,
              sqlState: 'HY000',
              message: `Unknown prepared statement handler (${command.statementId}) given to mysqld_stmt_reset`,
            }),
            reply,
          );
          return;
        }
        statement.longData = false;
        if (backend === undefined || backend.closed) {
          this.#send(encodeOkPacket(okPacket(this.#statusFlags()), this.#capabilities), reply);
          return;
        }
        const payload = Buffer.from(packet.payload);
        payload.writeUInt32LE(statement.on.get(backend) ?? 0, 1);
        await this.#relayOn(backend, encodePacket(payload, packet.firstSequenceId).bytes, 'ok', reply);
        return;
      }
      case 'reset_connection':
        // Reopening the backend connections resets them; the database stays, as in MariaDB.
        this.#resetState();
        this.#send(encodeOkPacket(okPacket(ServerStatus.autocommit), this.#capabilities), reply);
        return;
      case 'change_user':
        try {
          await this.#ctx.accounts.prepare(command.user, Date.now());
        } catch (error) {
          this.#sendError('DATABASE_UNAVAILABLE', `cannot read accounts: ${(error as Error).message}`, reply);
          return;
        }
        this.#loginActions(this.#login.changeUser(command, this.#capabilities), true);
        return;
      case 'statistics':
        this.#send(
          Buffer.from(
            `WolfScale proxy: connection ${this.connectionId}; ask the MariaDB server for its statistics`,
          ),
          reply,
        );
        return;
      case 'set_option':
      case 'process_kill':
      case 'unsupported':
        this.#sendError(
          'BAD_REQUEST',
          `the WolfScale proxy does not support command ${describeCommand(command)}; ${command.kind === 'set_option' ? 'set multi-statements in the connection options instead' : command.kind === 'process_kill' ? 'run KILL on the MariaDB server itself' : 'connect to MariaDB directly for it'}`,
          reply,
        );
        return;
      default:
        this.#sendError('BAD_REQUEST', 'unknown command', reply);
    }
  }

  get user(): string {
    return this.#user;
  }

  /**
   * Drops the client when a command of it runs on the local MariaDB, without closing that
   * backend: the client never sees the command's answer, and the backend stays until MariaDB
   * answers or its session is killed. A stepping-down node does this before it ends the client
   * sessions of its MariaDB: killing the leader of a binlog group commit lets the rest of the
   * group commit, and their OKs, no quorum behind them, must not reach a client
   * (docs/RELIABILITY.md "Failures found" 10). True when the client was dropped.
   */
  sever(reason: string): boolean {
    if (this.#phase === 'closed' || this.#local?.busy !== true) return false;
    this.#ctx.logger.info({ connectionId: this.connectionId, reason }, 'proxy client dropped mid-command');
    this.close(reason);
    return true;
  }

  /** The local MariaDB thread running this session's command, when one runs there. */
  get busyLocalThread(): number | undefined {
    const local = this.#local;
    return local?.busy && local !== this.#leader ? local.threadId : undefined;
  }

  get busy(): boolean {
    return (this.#local?.busy ?? false) || (this.#leader?.busy ?? false);
  }

  /**
   * `KILL [CONNECTION | QUERY] id` of a session of this proxy (the ids clients see, e.g. the
   * mariadb connector's destroy()): sent on, it would reach an unrelated MariaDB thread. Only
   * the same account's sessions, as MariaDB allows a user without CONNECTION ADMIN.
   */
  async #kill(kill: { readonly query: boolean; readonly id: number }, reply: number): Promise<void> {
    const target = this.#ctx.session(kill.id);
    if (target === undefined) {
      this.#send(
        encodeErrPacket({ errorCode: 1094, sqlState: 'HY000', message: `Unknown thread id: ${kill.id}` }),
        reply,
      );
      return;
    }
    if (target.user !== this.#user) {
      this.#send(
        encodeErrPacket({
          errorCode: 1095,
          sqlState: 'HY000',
          message: `You are not owner of thread ${kill.id} (through the WolfScale proxy only the same account's connections; run KILL on the MariaDB server for others)`,
        }),
        reply,
      );
      return;
    }
    if (!kill.query) {
      // Its command in flight still gets its answer from the backend (close keeps it until then).
      target.close(`KILL from connection ${this.connectionId}`);
    } else if (target.busy) {
      const thread = target.busyLocalThread;
      if (thread === undefined) {
        this.#sendError(
          'BAD_REQUEST',
          `connection ${kill.id}'s statement runs on the leader through its proxy: KILL QUERY cannot reach it from here; use KILL CONNECTION ${kill.id}, or KILL QUERY on the leader's MariaDB`,
          reply,
        );
        return;
      }
      try {
        await this.#ctx.killLocalQuery(thread);
      } catch (error) {
        this.#sendError('DATABASE_UNAVAILABLE', `KILL QUERY failed: ${(error as Error).message}`, reply);
        return;
      }
    }
    this.#send(encodeOkPacket(okPacket(this.#statusFlags()), this.#capabilities), reply);
  }

  #statusFlags(): number {
    return (
      (this.#routing.autocommit ? ServerStatus.autocommit : 0) |
      (this.#routing.inTransaction ? ServerStatus.inTransaction : 0)
    );
  }

  #resolveStatementId(id: number): number | undefined {
    return id === lastPreparedStatementId ? this.#lastPrepared : id;
  }

  // ---- routing and relaying ------------------------------------------------------------------

  /**
   * Routes one command and relays its response: picks the backend, brings its session state up
   * to date, sends, relays; retries an autocommit read once when the backend fails before any byte
   * reached the client; never answers a write whose result is unknown with anything but an ERR.
   */
  async #run(
    classification: Pick<Classification, 'route' | 'reason' | 'pin'>,
    expectation: ResponseExpectation,
    produce: (backend: Backend) => Buffer | Promise<Buffer | undefined>,
    onSuccess?: (backend: Backend, outcome: ResponseOutcome) => void,
    forceBackend?: Backend,
  ): Promise<void> {
    let failedLocal = false;
    for (let attempt = 0; ; attempt += 1) {
      const retryable =
        classification.route === 'read' && this.#routing.autocommit && !this.#routing.inTransaction;
      let backend: Backend | undefined;
      let name: BackendName;
      if (forceBackend !== undefined && !forceBackend.closed) {
        backend = forceBackend;
        name = backend === this.#leader ? 'leader' : 'local';
      } else {
        const decision: RouteDecision = this.#route(classification);
        if (this.#debug)
          this.#ctx.logger.debug(
            { connectionId: this.connectionId, backend: decision.backend, reason: decision.reason },
            'proxy route',
          );
        // A read whose local backend just failed runs again on the leader.
        name = attempt > 0 && failedLocal ? 'leader' : decision.backend;
        backend = this.#connected(name) ?? (await this.#acquire(name, classification.route === 'read'));
        if (backend === undefined) return;
        if (backend === this.#local) name = 'local';
      }
      if (this.#routing.inTransaction && this.#txBackend !== backend) {
        // The connection holding the transaction is gone (or the leader moved): MariaDB rolled
        // the transaction back; running the statement elsewhere would break its atomicity.
        const lost = this.#txBackend;
        if (lost !== undefined) this.#forget(lost);
        this.#routing = { ...this.#routing, inTransaction: false };
        this.#txBackend = undefined;
        this.#sendError(
          'OUTCOME_UNKNOWN',
          `the connection to ${lost?.target.label ?? 'the server'} that held this session's transaction was lost: the transaction was rolled back and this statement was not run; start the transaction again`,
        );
        return;
      }
      try {
        if (this.#needsSync(backend)) await this.#sync(backend);
        const produced = produce(backend);
        const bytes = produced instanceof Promise ? await produced : produced;
        if (bytes === undefined) return;
        const outcome = await backend.request(
          bytes,
          expectation,
          (chunk) => this.#relay(chunk, backend),
          () => {
            this.#infile = backend;
            this.#drainInfile();
          },
        );
        this.#infile = undefined;
        this.#absorb(backend, name, classification, outcome);
        if (outcome.errPayload === undefined) onSuccess?.(backend, outcome);
        return;
      } catch (error) {
        this.#infile = undefined;
        if (error instanceof SyncFailed) {
          this.#write(encodePacket(error.errPayload, 1).bytes);
          return;
        }
        if (!(error instanceof BackendLost)) throw error;
        this.#forget(backend);
        if (error.relayed) {
          this.close(`backend lost mid-response: ${error.message}`);
          return;
        }
        if (retryable && attempt === 0) {
          failedLocal = name === 'local' && !this.#ctx.cluster.view().localIsLeader;
          this.#ctx.logger.info(
            { connectionId: this.connectionId, reason: error.message },
            'proxy read retried',
          );
          continue;
        }
        if (this.#routing.inTransaction) this.#routing = { ...this.#routing, inTransaction: false };
        this.#txBackend = undefined;
        this.#sendError(
          'OUTCOME_UNKNOWN',
          `the connection to ${backend.target.label} was lost before the statement's result arrived (${error.message}): it may or may not have been applied; check before retrying`,
        );
        return;
      }
    }
  }

  #relay(chunk: Buffer, backend: Backend): void {
    if (!this.#write(chunk) && !this.#waitingDrain) {
      this.#waitingDrain = true;
      backend.pause();
    }
  }

  /** Relays one command's response from a given backend (no routing, no retry). */
  async #relayOn(
    backend: Backend,
    bytes: Buffer,
    expectation: ResponseExpectation,
    reply: number,
  ): Promise<void> {
    try {
      const outcome = await backend.request(bytes, expectation, (chunk) => this.#relay(chunk, backend));
      if (outcome.statusFlags !== undefined)
        this.#routing = afterResponse(this.#routing, {
          backend: backend === this.#leader ? 'leader' : 'local',
          pin: undefined,
          succeeded: true,
          statusFlags: outcome.statusFlags,
          lastGtids: [],
        });
      this.#txBackend = this.#routing.inTransaction ? backend : undefined;
    } catch (error) {
      if (!(error instanceof BackendLost)) throw error;
      this.#forget(backend);
      if (error.relayed) this.close(error.message);
      else
        this.#sendError('DATABASE_UNAVAILABLE', `the connection to ${backend.target.label} was lost`, reply);
    }
  }

  #absorb(
    backend: Backend,
    name: BackendName,
    classification: Pick<Classification, 'route' | 'reason' | 'pin'>,
    outcome: ResponseOutcome,
  ): void {
    const lastGtids: string[] = [];
    for (const payload of outcome.okPayloads) {
      if (!okHasSessionState(payload)) continue;
      const ok = decodeOkPacket(payload, backend.capabilities);
      if (!ok.ok) continue;
      for (const change of ok.value.sessionStateChanges) {
        if (change.kind === 'system_variable' && change.name === 'last_gtid') lastGtids.push(change.value);
        else if (change.kind === 'schema') {
          this.#database = change.schema;
          backend.database = change.schema;
        }
      }
    }
    const succeeded = outcome.errPayload === undefined;
    // Without session tracking no GTID comes back: after a write, reads stay on the leader.
    const untracked =
      succeeded &&
      name === 'leader' &&
      classification.route === 'leader' &&
      !hasCapability(backend.capabilities, Capability.sessionTrack);
    this.#routing = afterResponse(this.#routing, {
      backend: name,
      pin: untracked ? 'connection-state' : classification.pin,
      succeeded,
      statusFlags: outcome.statusFlags,
      lastGtids,
    });
    this.#txBackend = this.#routing.inTransaction ? backend : undefined;
  }

  #forget(backend: Backend): void {
    backend.close('dropped');
    if (this.#local === backend) this.#local = undefined;
    if (this.#leader === backend) {
      this.#leader = undefined;
      this.#leaderId = undefined;
    }
    for (const statement of this.#statements.values()) {
      statement.on.delete(backend);
      statement.typesSent.delete(backend);
      if (statement.home === backend) statement.home = undefined;
    }
  }

  #drainInfile(): void {
    for (;;) {
      const backend = this.#infile;
      if (backend === undefined) return;
      const next = this.#framer.next();
      if (!next.ok) {
        this.#fatal('PACKET_TOO_LARGE', `LOCAL INFILE data: ${next.error.message}`, 0);
        return;
      }
      if (next.value === undefined) return;
      backend.send(encodePacket(next.value.payload, next.value.firstSequenceId).bytes);
      if (next.value.payload.length === 0) this.#infile = undefined;
    }
  }

  #needsSync(backend: Backend): boolean {
    return (
      (this.#database !== undefined && backend.database !== this.#database) ||
      backend.setsApplied < this.#sets.length
    );
  }

  /** Brings a backend's session state up to the session's: database, then the SET statements it missed. */
  async #sync(backend: Backend): Promise<void> {
    if (this.#database !== undefined && backend.database !== this.#database) {
      const payload = Buffer.concat([Buffer.from([CommandCode.initDb]), Buffer.from(this.#database, 'utf8')]);
      const outcome = await backend.request(encodePacket(payload, 0).bytes, 'ok', undefined);
      if (outcome.errPayload !== undefined) throw new SyncFailed(outcome.errPayload);
      backend.database = this.#database;
    }
    while (backend.setsApplied < this.#sets.length) {
      const sql = this.#sets[backend.setsApplied] as Buffer;
      const outcome = await backend.request(encodePacket(encodeComQuery(sql), 0).bytes, 'query', undefined);
      if (outcome.errPayload !== undefined) throw new SyncFailed(outcome.errPayload);
      backend.setsApplied += 1;
    }
  }

  #route(classification: Pick<Classification, 'route' | 'reason' | 'pin'>): RouteDecision {
    return route(this.#routing, classification, this.#ctx.cluster.view(), this.#ctx.maxLagMs);
  }

  /**
   * The open connection `#acquire` would return at once, without a promise (the hot path), or
   * undefined when `#acquire` has work to do.
   */
  #connected(wanted: BackendName): Backend | undefined {
    if (this.#phase === 'closed') return undefined;
    if (wanted === 'local' || this.#ctx.cluster.view().localIsLeader)
      return this.#local !== undefined && !this.#local.closed ? this.#local : undefined;
    const leader = this.#leader;
    if (leader === undefined || leader.closed) return undefined;
    return this.#ctx.cluster.leaderProxy()?.id === this.#leaderId ? leader : undefined;
  }

  /** The backend connection for a route; undefined when it cannot be had (the client got an ERR). */
  async #acquire(wanted: BackendName, readFallback = false): Promise<Backend | undefined> {
    const deadline = Date.now() + this.#ctx.failoverWaitMs;
    let name = wanted;
    for (;;) {
      if (this.#phase === 'closed') return undefined;
      const view = this.#ctx.cluster.view();
      if (name === 'local' || view.localIsLeader) {
        if (this.#local !== undefined && !this.#local.closed) return this.#local;
        const target = {
          host: this.#ctx.local.host,
          port: this.#ctx.local.port,
          label: `the local MariaDB ${this.#ctx.local.host}:${this.#ctx.local.port}`,
        };
        // A read the local MariaDB cannot take (down before the health probe noticed) goes to the leader.
        const fallback = name === 'local' && readFallback && !view.localIsLeader;
        const backend = await this.#connect(target, name === 'leader' ? deadline : undefined, fallback);
        if (backend === 'retry') {
          await new Promise((resolve) => setTimeout(resolve, leaderPollMs));
          continue;
        }
        if (backend === 'failed') {
          name = 'leader';
          continue;
        }
        if (backend !== undefined) {
          this.#local = backend;
          this.#ctx.localServerVersion(backend.serverVersion);
        }
        return backend;
      }
      const leader = this.#ctx.cluster.leaderProxy();
      if (leader !== undefined) {
        if (this.#leader !== undefined && !this.#leader.closed && this.#leaderId === leader.id)
          return this.#leader;
        if (this.#leader !== undefined && !this.#leader.closed) {
          if (this.#routing.inTransaction) {
            this.#forget(this.#leader);
            this.#routing = { ...this.#routing, inTransaction: false };
            this.#sendError(
              'OUTCOME_UNKNOWN',
              `the leader changed to ${leader.id} during this transaction: it was not committed; start it again`,
            );
            return undefined;
          }
          this.#forget(this.#leader);
        }
        const target = {
          host: leader.host,
          port: leader.port,
          label: `the leader ${leader.id}'s proxy ${leader.host}:${leader.port}`,
        };
        const backend = await this.#connect(target, deadline, false, true);
        if (backend !== 'retry' && backend !== 'failed') {
          if (backend !== undefined) {
            this.#leader = backend;
            this.#leaderId = leader.id;
          }
          return backend;
        }
      }
      if (Date.now() >= deadline) {
        this.#sendError(
          'NO_LEADER',
          `no leader was elected within proxy.failover_wait_ms (${this.#ctx.failoverWaitMs} ms); the statement was not run: retry`,
        );
        return undefined;
      }
      await new Promise((resolve) => setTimeout(resolve, leaderPollMs));
    }
  }

  /**
   * A logged-in backend connection; 'retry' when it cannot be reached before `retryUntil`;
   * 'failed' when it cannot be reached and `quiet`; undefined when the client got an ERR.
   */
  async #connect(
    target: BackendTarget,
    retryUntil: number | undefined,
    quiet = false,
    toLeaderProxy = false,
  ): Promise<Backend | 'retry' | 'failed' | undefined> {
    try {
      const backend = await Backend.connect(
        target,
        {
          credentials: this.#credentials,
          database: this.#database,
          capabilities: this.#capabilities,
          characterSet: this.#characterSet,
          connectAttributes: toLeaderProxy
            ? new Map([...this.#connectAttributes, [forwardedAttribute, '1']])
            : this.#connectAttributes,
        },
        {
          timeoutMs: backendConnectTimeoutMs,
          trackGtid: hasCapability(this.#capabilities, Capability.sessionTrack),
        },
      );
      backend.database = this.#database;
      return backend;
    } catch (error) {
      if (!(error instanceof BackendConnectError)) throw error;
      if (error.serverError !== undefined) {
        // The backend's own refusal (access denied for this database, too many connections...).
        this.#write(encodePacket(encodeErrPacket(error.serverError), 1).bytes);
        return undefined;
      }
      if (retryUntil !== undefined && Date.now() < retryUntil) return 'retry';
      if (quiet) return 'failed';
      this.#sendError('DATABASE_UNAVAILABLE', `${error.message}; the statement was not run: retry`);
      return undefined;
    }
  }

  // ---- prepared statements -------------------------------------------------------------------

  async #prepare(sql: Buffer, reply: number): Promise<void> {
    const full = sql.length > classifiedBytesMax ? undefined : classify(sql.toString('utf8'));
    const classification: Pick<Classification, 'route' | 'reason' | 'pin'> =
      full === undefined || full.route === 'session'
        ? {
            route: 'leader',
            reason: full === undefined ? 'longer than 1 MiB' : 'a prepared session statement',
          }
        : { route: full.route, reason: full.reason, ...(full.pin === undefined ? {} : { pin: full.pin }) };
    const clientId = this.#nextStatementId;
    const decision = this.#route(classification);
    const backend = await this.#acquire(decision.backend);
    if (backend === undefined) return;
    try {
      await this.#sync(backend);
      const prepared = await this.#prepareOn(backend, sql);
      if (prepared.kind === 'err') {
        this.#write(encodePacket(prepared.errPayload, reply).bytes);
        return;
      }
      this.#nextStatementId = clientId >= 0x7fffffff ? 1 : clientId + 1;
      const statement: PreparedStatement = {
        sql: Buffer.from(sql),
        classification,
        parameterCount: prepared.parameterCount,
        on: new Map([[backend, prepared.statementId]]),
        typesSent: new Set(),
        types: undefined,
        home: backend,
        longData: false,
      };
      this.#statements.set(clientId, statement);
      this.#lastPrepared = clientId;
      // The response as the backend sent it, with the client's statement id.
      const bytes = Buffer.concat(prepared.collected);
      bytes.writeUInt32LE(clientId, 5);
      this.#write(bytes);
    } catch (error) {
      if (error instanceof SyncFailed) {
        this.#write(encodePacket(error.errPayload, reply).bytes);
        return;
      }
      if (!(error instanceof BackendLost)) throw error;
      this.#forget(backend);
      this.#sendError(
        'DATABASE_UNAVAILABLE',
        `the connection to ${backend.target.label} was lost during a prepare: retry`,
        reply,
      );
    }
  }

  async #prepareOn(
    backend: Backend,
    sql: Buffer,
  ): Promise<
    | { kind: 'ok'; statementId: number; parameterCount: number; collected: readonly Buffer[] }
    | { kind: 'err'; errPayload: Buffer }
  > {
    const outcome = await backend.request(
      encodePacket(encodeComStmtPrepare(sql), 0).bytes,
      'prepare',
      undefined,
    );
    if (outcome.errPayload !== undefined) return { kind: 'err', errPayload: outcome.errPayload };
    const first =
      outcome.collected.length === 1 ? (outcome.collected[0] as Buffer) : Buffer.concat(outcome.collected);
    // header (4) + status (1) + statement id (4) + columns (2) + parameters (2)
    return {
      kind: 'ok',
      statementId: first.readUInt32LE(5),
      parameterCount: first.readUInt16LE(11),
      collected: [first],
    };
  }

  async #execute(
    packet: Packet,
    command: ClientCommand & { kind: 'stmt_execute' },
    reply: number,
  ): Promise<void> {
    const clientId = this.#resolveStatementId(command.statementId);
    const statement = clientId === undefined ? undefined : this.#statements.get(clientId);
    if (statement === undefined) {
      this.#send(
        encodeErrPacket({
          errorCode: 1243,
          sqlState: 'HY000',
          message: `Unknown prepared statement handler (${command.statementId}) given to mysqld_stmt_execute`,
        }),
        reply,
      );
      return;
    }
    const bitmapBytes = (statement.parameterCount + 7) >> 3;
    const boundAt = 10 + bitmapBytes;
    if (statement.parameterCount > 0 && packet.payload[boundAt] === 1) {
      statement.types = Buffer.from(
        packet.payload.subarray(boundAt + 1, boundAt + 1 + 2 * statement.parameterCount),
      );
    }
    await this.#run(
      statement.classification,
      'execute',
      (backend) => this.#executeBytes(backend, statement, packet, reply),
      undefined,
      statement.longData ? statement.home : undefined,
    );
  }

  /**
   * A statement's COM_STMT_EXECUTE for a backend: at once when it is prepared there (the hot
   * path, no promise), else after preparing it there (undefined when that failed: the client got
   * the ERR).
   */
  #executeBytes(
    backend: Backend,
    statement: PreparedStatement,
    packet: Packet,
    reply: number,
  ): Buffer | Promise<Buffer | undefined> {
    const backendId = statement.on.get(backend);
    if (backendId !== undefined) return this.#executePacket(backend, statement, packet, backendId);
    return this.#prepareOn(backend, statement.sql).then((prepared) => {
      if (prepared.kind === 'err') {
        this.#write(encodePacket(prepared.errPayload, reply).bytes);
        return undefined;
      }
      statement.on.set(backend, prepared.statementId);
      return this.#executePacket(backend, statement, packet, prepared.statementId);
    });
  }

  #executePacket(backend: Backend, statement: PreparedStatement, packet: Packet, backendId: number): Buffer {
    statement.home = backend;
    statement.longData = false;
    const boundAt = 10 + ((statement.parameterCount + 7) >> 3);
    if (statement.parameterCount > 0 && packet.payload.length > boundAt) {
      if (packet.payload[boundAt] === 1) statement.typesSent.add(backend);
      else if (!statement.typesSent.has(backend) && statement.types !== undefined) {
        // This backend never got the parameter types (the statement moved here): send them.
        const payload = Buffer.concat([
          packet.payload.subarray(0, boundAt),
          Buffer.from([1]),
          statement.types,
          packet.payload.subarray(boundAt + 1),
        ]);
        payload.writeUInt32LE(backendId, 1);
        statement.typesSent.add(backend);
        return encodePacket(payload, packet.firstSequenceId).bytes;
      }
    }
    return reframedWithStatementId(packet, backendId);
  }
}

/**
 * A COM_STMT_EXECUTE packet framed again with the backend's statement id in place of the
 * client's: one copy, header and payload together (the payload is below 16 MiB here: an execute
 * that large arrives as several packets and goes through encodePacket).
 */
function reframedWithStatementId(packet: Packet, statementId: number): Buffer {
  const { payload } = packet;
  if (payload.length >= packetChunkBytesMax) {
    const copy = Buffer.from(payload);
    copy.writeUInt32LE(statementId, 1);
    return encodePacket(copy, packet.firstSequenceId).bytes;
  }
  const framed = Buffer.allocUnsafe(payload.length + 4);
  framed.writeUIntLE(payload.length, 0, 3);
  framed[3] = packet.firstSequenceId;
  framed.set(payload, 4);
  framed.writeUInt32LE(statementId, 5);
  return framed;
}

function firstNonSpace(sql: Buffer): number {
  let at = 0;
  while (at < sql.length && (sql[at] === 0x20 || sql[at] === 0x0a || sql[at] === 0x0d || sql[at] === 0x09))
    at += 1;
  return at;
}

const killPattern = /^\s*KILL\s+(?:(?:HARD|SOFT)\s+)?(CONNECTION\s+|QUERY\s+)?(\d{1,10})\s*;?\s*$/i;

/** `KILL [HARD|SOFT] [CONNECTION|QUERY] <number>`; undefined for any other statement. */
export function killStatement(sql: Buffer): { readonly query: boolean; readonly id: number } | undefined {
  if (sql.length > 100) return undefined;
  const match = killPattern.exec(sql.toString('utf8'));
  if (match === null) return undefined;
  return { query: (match[1] ?? '').toUpperCase().startsWith('QUERY'), id: Number(match[2]) };
}

/** Whether an OK packet's status flags announce session-state changes (cheap pre-check). */
function okHasSessionState(payload: Buffer): boolean {
  let at = 1;
  for (let field = 0; field < 2; field += 1) {
    const first = payload[at];
    if (first === undefined) return false;
    at += first < 0xfb ? 1 : first === 0xfc ? 3 : first === 0xfd ? 4 : 9;
  }
  const flags = (payload[at] ?? 0) | ((payload[at + 1] ?? 0) << 8);
  return (flags & ServerStatus.sessionStateChanged) !== 0;
}

function describeCommand(command: ClientCommand): string {
  return command.kind === 'unsupported'
    ? `0x${command.code.toString(16).padStart(2, '0')}`
    : command.kind.toUpperCase();
}

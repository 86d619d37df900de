import { connect, type Socket } from 'node:net';
import { Capability, hasCapability } from '../protocol/capabilities.js';
import { encodeComQuery } from '../protocol/command/com-query.js';
import { encodePacket, PacketFramer } from '../protocol/packet/packet-framer.js';
import type { ErrPacket } from '../protocol/response/err-packet.js';
import type { ResponseExpectation } from '../protocol/response/response-framer.js';
import { BackendLogin, type BackendLoginOptions } from './backend-login.js';
import { ResponseScanner } from './response-scanner.js';

export interface BackendTarget {
  readonly host: string;
  readonly port: number;
  /** For messages: "the local MariaDB 127.0.0.1:3306", "the leader node-1's proxy 10.0.0.1:8007". */
  readonly label: string;
}

/** The connection to a backend failed; `relayed` says whether part of the response reached the client. */
export class BackendLost extends Error {
  readonly relayed: boolean;
  constructor(message: string, relayed: boolean) {
    super(message);
    this.name = 'BackendLost';
    this.relayed = relayed;
  }
}

/** The backend refused the login (its ERR is passed to the client) or could not be reached. */
export class BackendConnectError extends Error {
  readonly serverError: ErrPacket | undefined;
  constructor(message: string, serverError?: ErrPacket) {
    super(message);
    this.name = 'BackendConnectError';
    this.serverError = serverError;
  }
}

export interface ResponseOutcome {
  /** Last OK/EOF status flags; undefined when the response ended in ERR. */
  readonly statusFlags: number | undefined;
  readonly okPayloads: readonly Buffer[];
  readonly errPayload: Buffer | undefined;
  /** The response's bytes, when it was collected rather than relayed. */
  readonly collected: readonly Buffer[];
}

interface Pending {
  readonly sink: ((chunk: Buffer) => void) | undefined;
  readonly onLocalInfile: (() => void) | undefined;
  readonly collected: Buffer[];
  relayed: boolean;
  resolve(outcome: ResponseOutcome): void;
  reject(error: Error): void;
}

/**
 * Every backend socket reads into this one buffer (`onread`): its callback runs synchronously
 * right after each read and copies the bytes out (`copyOut`) before the next read can reuse it.
 * A profile of the proxy under sysbench showed the per-read ArrayBuffer allocation and the
 * Readable stream's bookkeeping among its largest user-space costs.
 */
const sharedReadBuffer = Buffer.allocUnsafe(64 * 1024);

/** The first `bytes` of a read buffer as a Buffer of their own (small ones from Node's pool). */
function copyOut(buffer: Uint8Array, bytes: number): Buffer {
  const chunk = Buffer.allocUnsafe(bytes);
  chunk.set(buffer.subarray(0, bytes));
  return chunk;
}

const sessionTrackSql = "SET session_track_system_variables = 'last_gtid'";

/**
 * One connection to a backend: this node's MariaDB, or the leader node's proxy. Logs in with
 * `BackendLogin`, then runs one command at a time: the response is relayed chunk by chunk to a
 * sink (or collected) while `ResponseScanner` finds its end. Owns its socket.
 */
export class Backend {
  readonly target: BackendTarget;
  readonly capabilities: number;
  readonly serverVersion: string;
  /** The backend's id for this connection (MariaDB's thread id, or the leader proxy's connection id). */
  readonly threadId: number;
  readonly #socket: Socket;
  readonly #scanner: ResponseScanner;
  #pending: Pending | undefined;
  #closed = false;
  #closeReason = 'closed';
  /** Set by `closeAfterResponse`: close once the pending response is complete. */
  #closeWhenDone: string | undefined;
  #whenClosed: () => void = () => {};
  /** Resolves once the connection is closed. */
  readonly whenClosed: Promise<void>;
  /** The database this connection is in, as far as the proxy knows. */
  database: string | undefined;
  /** How many of the session's recorded SET statements this connection has run. */
  setsApplied = 0;

  private constructor(
    target: BackendTarget,
    socket: Socket,
    capabilities: number,
    serverVersion: string,
    threadId: number,
  ) {
    this.target = target;
    this.threadId = threadId;
    this.#socket = socket;
    this.capabilities = capabilities;
    this.serverVersion = serverVersion;
    this.#scanner = new ResponseScanner(hasCapability(capabilities, Capability.deprecateEof));
    this.whenClosed = new Promise((resolve) => {
      this.#whenClosed = resolve;
    });
    socket.on('close', () =>
      this.#lost(
        this.#closeReason === 'closed' ? `${target.label} closed the connection` : this.#closeReason,
      ),
    );
    socket.on('error', (error) => {
      this.#closeReason = `${target.label}: ${error.message}`;
    });
  }

  /** Connects and logs in; `trackGtid` then turns on last_gtid session tracking. */
  static connect(
    target: BackendTarget,
    login: BackendLoginOptions,
    options: { readonly timeoutMs: number; readonly trackGtid: boolean },
  ): Promise<Backend> {
    return new Promise<Backend>((resolve, reject) => {
      let onBytes: (chunk: Buffer) => void = () => {};
      const socket = connect({
        host: target.host,
        port: target.port,
        noDelay: true,
        onread: {
          buffer: sharedReadBuffer,
          callback: (bytes: number, buffer: Uint8Array): boolean => {
            onBytes(copyOut(buffer, bytes));
            return true;
          },
        },
      });
      const framer = new PacketFramer({ packetBytesMax: 1024 * 1024 });
      const state = new BackendLogin(login);
      let settled = false;
      const fail = (message: string, serverError?: ErrPacket): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(new BackendConnectError(message, serverError));
      };
      const timer = setTimeout(
        () => fail(`${target.label} did not complete a login within ${options.timeoutMs} ms`),
        options.timeoutMs,
      );
      socket.on('error', (error) => fail(`cannot reach ${target.label}: ${error.message}`));
      socket.on('close', () => fail(`${target.label} closed the connection during the login`));
      const onData = (chunk: Buffer): void => {
        const packets = framer.push(chunk);
        if (!packets.ok) {
          fail(`${target.label} sent a malformed login packet: ${packets.error.message}`);
          return;
        }
        for (const packet of packets.value) {
          for (const action of state.onPacket(packet)) {
            if (action.kind === 'send') socket.write(encodePacket(action.payload, action.sequenceId).bytes);
            else if (action.kind === 'failed') {
              fail(`${target.label}: ${action.message}`, action.serverError);
              return;
            } else {
              settled = true;
              clearTimeout(timer);
              socket.removeAllListeners('error');
              socket.removeAllListeners('close');
              const backend = new Backend(
                target,
                socket,
                action.capabilities,
                action.handshake.serverVersion,
                action.handshake.connectionId,
              );
              onBytes = (chunk) => backend.#onData(chunk);
              if (!options.trackGtid) {
                resolve(backend);
                return;
              }
              backend
                .request(encodePacket(encodeComQuery(sessionTrackSql), 0).bytes, 'query', undefined)
                .then((outcome) => {
                  if (outcome.errPayload !== undefined) {
                    backend.close();
                    reject(new BackendConnectError(`${target.label} refused ${sessionTrackSql}`));
                  } else resolve(backend);
                }, reject);
              return;
            }
          }
        }
      };
      onBytes = onData;
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  get busy(): boolean {
    return this.#pending !== undefined;
  }

  /**
   * Sends one command (its framed bytes) and follows the response: relayed to `sink` chunk by
   * chunk, or collected when `sink` is undefined. Rejects with BackendLost when the connection
   * fails first.
   */
  request(
    bytes: Buffer,
    expectation: ResponseExpectation,
    sink: ((chunk: Buffer) => void) | undefined,
    onLocalInfile?: () => void,
  ): Promise<ResponseOutcome> {
    if (this.#closed)
      return Promise.reject(new BackendLost(`${this.target.label}: ${this.#closeReason}`, false));
    if (this.#pending !== undefined) throw new Error('a backend runs one command at a time');
    return new Promise<ResponseOutcome>((resolve, reject) => {
      this.#pending = { sink, onLocalInfile, collected: [], relayed: false, resolve, reject };
      this.#scanner.begin(expectation);
      this.#socket.write(bytes);
    });
  }

  /** Sends bytes that get no response (COM_STMT_CLOSE, SEND_LONG_DATA, LOCAL INFILE data). */
  send(bytes: Buffer): void {
    if (!this.#closed) this.#socket.write(bytes);
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  close(reason = 'closed'): void {
    if (this.#closed) return;
    this.#closeReason = reason;
    this.#socket.destroy();
  }

  /**
   * Closes once the command in flight has its whole response (now when none is): a client that
   * leaves during a COMMIT must not end the backend session before the COMMIT's answer, or
   * MariaDB would release a commit still waiting for its quorum (DESIGN.md "Failover").
   */
  closeAfterResponse(reason: string): void {
    if (this.#pending === undefined) {
      this.close(reason);
      return;
    }
    this.#closeWhenDone = reason;
    this.#socket.resume();
  }

  #onData(chunk: Buffer): void {
    const pending = this.#pending;
    if (pending === undefined) {
      this.#closeReason = `${this.target.label} sent bytes no command asked for`;
      this.#socket.destroy();
      return;
    }
    const scanned = this.#scanner.scan(chunk);
    if (!scanned.ok) {
      this.#closeReason = `${this.target.label} sent a response the proxy cannot follow: ${scanned.error.message}`;
      this.#socket.destroy();
      return;
    }
    const end = scanned.value;
    const part = end === -1 || end === chunk.length ? chunk : chunk.subarray(0, end);
    if (pending.sink === undefined) pending.collected.push(part);
    else {
      pending.relayed = true;
      pending.sink(part);
    }
    if (end === -1) return;
    if (end !== chunk.length) {
      this.#closeReason = `${this.target.label} sent bytes past the end of a response`;
      this.#socket.destroy();
      return;
    }
    if (this.#scanner.localInfile) {
      this.#scanner.localInfile = false;
      pending.onLocalInfile?.();
      return;
    }
    this.#pending = undefined;
    if (this.#closeWhenDone !== undefined) this.close(this.#closeWhenDone);
    pending.resolve({
      statusFlags: this.#scanner.errPayload === undefined ? this.#scanner.statusFlags : undefined,
      okPayloads: this.#scanner.okPayloads,
      errPayload: this.#scanner.errPayload,
      collected: pending.collected,
    });
  }

  #lost(reason: string): void {
    this.#closed = true;
    this.#whenClosed();
    this.#closeReason = reason;
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(new BackendLost(reason, pending.relayed));
  }
}

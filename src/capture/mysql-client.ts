import { connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { Logger } from 'pino';
import { Capability, hasCapability } from '../protocol/capabilities.js';
import { encodeComQuery } from '../protocol/command/com-query.js';
import { ClientLogin, type ClientLoginAction, type LoginResult } from '../protocol/handshake/client-login.js';
import { encodePacket, type Packet, PacketFramer } from '../protocol/packet/packet-framer.js';
import { decodeColumnDefinition } from '../protocol/response/column-definition.js';
import { decodeErrPacket, errHeader } from '../protocol/response/err-packet.js';
import { decodeOkPacket, type OkPacket } from '../protocol/response/ok-packet.js';
import { ResponseFramer } from '../protocol/response/response-framer.js';
import { decodeTextRow } from '../protocol/response/text-row.js';
import { MysqlServerError } from './capture-errors.js';

export interface MysqlClientOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** TLS options (CA, servername...); undefined for plaintext. */
  readonly tls?: ConnectionOptions;
  readonly connectTimeoutMs: number;
  readonly logger: Logger;
}

export type QueryResult =
  | { readonly kind: 'ok'; readonly ok: OkPacket }
  | {
      readonly kind: 'rows';
      readonly columns: readonly string[];
      readonly rows: ReadonlyArray<ReadonlyArray<string | null>>;
    };

/** Bound on rows a capture admin query may return: they are all one-row status queries. */
const queryRowsMax = 10_000;

/**
 * A minimal MySQL-protocol client on node:net/node:tls for the capture's own connection: login
 * (with TLS upgrade), text queries, raw commands, and a streaming mode where every packet goes to
 * a handler (the binlog dump). Not a general driver: admin queries elsewhere use `mariadb`.
 */
export class MysqlClient {
  #socket: Socket | TLSSocket;
  /** The TCP socket; under TLS every byte still passes it, so idle timeouts live here. */
  readonly #raw: Socket;
  readonly #framer = new PacketFramer();
  readonly #queue: Packet[] = [];
  #waiter: { resolve: (packet: Packet) => void; reject: (error: Error) => void } | undefined;
  #closedError: Error | undefined;
  #streamHandler: ((packet: Packet) => void) | undefined;
  readonly #backlog: Packet[] = [];
  #paused = false;
  readonly #closeListeners: Array<(error: Error) => void> = [];
  #login: LoginResult | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    this.#raw = socket;
    this.#attach(socket);
  }

  get login(): LoginResult {
    if (this.#login === undefined) throw new Error('not logged in');
    return this.#login;
  }

  get socket(): Socket | TLSSocket {
    return this.#socket;
  }

  /** Connects and logs in; rejects with an Error that names the server and what failed. */
  static async connect(options: MysqlClientOptions): Promise<MysqlClient> {
    const socket = await openSocket(options);
    const client = new MysqlClient(socket);
    // A server that accepts the connection and then stalls must not hang the login or set-up.
    client.setIdleTimeout(
      options.connectTimeoutMs,
      `MariaDB at ${options.host}:${options.port} stopped answering`,
    );
    try {
      await client.#runLogin(options);
    } catch (error) {
      client.close();
      throw error;
    }
    return client;
  }

  #attach(socket: Socket | TLSSocket): void {
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (error) => this.#onClose(error));
    socket.on('close', () => this.#onClose(new Error('connection closed by the server')));
  }

  #onData(chunk: Buffer): void {
    const packets = this.#framer.push(chunk);
    if (!packets.ok) {
      this.#socket.destroy(new Error(`broken packet stream: ${packets.error.message}`));
      return;
    }
    for (const packet of packets.value) {
      if (this.#streamHandler !== undefined) {
        this.#backlog.push(packet);
      } else if (this.#waiter !== undefined) {
        const waiter = this.#waiter;
        this.#waiter = undefined;
        waiter.resolve(packet);
      } else {
        this.#queue.push(packet);
      }
    }
    this.#drainBacklog();
  }

  /**
   * Delivers streamed packets until paused. A pause takes effect between packets: the rest of
   * the chunk waits here (at most one socket chunk), so the handler's consumer is never
   * flooded past the point where it asked to pause.
   */
  #drainBacklog(): void {
    const handler = this.#streamHandler;
    if (handler === undefined) return;
    while (!this.#paused && this.#closedError === undefined) {
      const packet = this.#backlog.shift();
      if (packet === undefined) return;
      handler(packet);
    }
  }

  #onClose(error: Error): void {
    if (this.#closedError !== undefined) return;
    this.#closedError = error;
    this.#waiter?.reject(error);
    this.#waiter = undefined;
    for (const listener of this.#closeListeners) listener(error);
  }

  /** Called once when the connection ends, with the reason. */
  onClose(listener: (error: Error) => void): void {
    if (this.#closedError !== undefined) listener(this.#closedError);
    else this.#closeListeners.push(listener);
  }

  async #nextPacket(): Promise<Packet> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return queued;
    if (this.#closedError !== undefined) throw this.#closedError;
    return await new Promise<Packet>((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  #write(payload: Buffer, sequenceId: number): void {
    this.#socket.write(encodePacket(payload, sequenceId).bytes);
  }

  async #runLogin(options: MysqlClientOptions): Promise<void> {
    const login = new ClientLogin({
      user: options.user,
      password: options.password,
      tls: options.tls !== undefined,
    });
    let actions: ClientLoginAction[] = login.onPacket(await this.#nextPacket());
    for (;;) {
      let next: ClientLoginAction[] | undefined;
      for (const action of actions) {
        switch (action.kind) {
          case 'send':
            this.#write(action.payload, action.sequenceId & 0xff);
            break;
          case 'start_tls':
            await this.#upgradeToTls(options);
            next = login.afterTls();
            break;
          case 'done':
            this.#login = action.result;
            return;
          case 'failed':
            throw new Error(
              `login to MariaDB at ${options.host}:${options.port} as '${options.user}' failed: ${action.error.message}`,
            );
        }
      }
      actions = next ?? login.onPacket(await this.#nextPacket());
    }
  }

  async #upgradeToTls(options: MysqlClientOptions): Promise<void> {
    const raw = this.#socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('error');
    raw.removeAllListeners('close');
    const secure = tlsConnect({ ...options.tls, socket: raw });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', (error) =>
        reject(
          new Error(`TLS handshake with MariaDB at ${options.host}:${options.port} failed: ${error.message}`),
        ),
      );
    });
    this.#socket = secure;
    this.#attach(secure);
  }

  /**
   * Drops the connection when nothing arrives or leaves for `timeoutMs` (0 disables), with
   * `reason` as the close error.
   */
  setIdleTimeout(timeoutMs: number, reason: string): void {
    this.#raw.setTimeout(0);
    this.#raw.removeAllListeners('timeout');
    if (timeoutMs > 0)
      this.#raw.setTimeout(timeoutMs, () =>
        this.#socket.destroy(new Error(`${reason} (idle for ${timeoutMs} ms)`)),
      );
  }

  /** Sends a command (a new exchange: sequence id 0). */
  sendCommand(payload: Buffer): void {
    this.#write(payload, 0);
  }

  /** Sends a packet with the given sequence id, e.g. the semi-sync reply (id 0). */
  sendPacket(payload: Buffer, sequenceId: number): void {
    this.#write(payload, sequenceId);
  }

  /** Reads the single OK/ERR answer of a command; ERR rejects with MysqlServerError. */
  async readOk(): Promise<OkPacket> {
    const packet = await this.#nextPacket();
    if (packet.payload[0] === errHeader) throw serverError(packet.payload);
    const ok = decodeOkPacket(packet.payload, this.login.capabilities);
    if (!ok.ok) throw new Error(`expected OK: ${ok.error.message}`);
    return ok.value;
  }

  /** Runs one text-protocol statement and collects its (single) result. */
  async query(sql: string): Promise<QueryResult> {
    this.sendCommand(encodeComQuery(sql));
    const framer = new ResponseFramer('query', {
      deprecateEof: hasCapability(this.login.capabilities, Capability.deprecateEof),
    });
    const columns: string[] = [];
    const rows: Array<Array<string | null>> = [];
    let result: QueryResult | undefined;
    let error: MysqlServerError | undefined;
    while (!framer.complete) {
      const packet = await this.#nextPacket();
      const step = framer.next(packet.payload);
      if (!step.ok) throw new Error(`bad response to "${sql}": ${step.error.message}`);
      switch (step.value.packet) {
        case 'err':
          error = serverError(packet.payload);
          break;
        case 'ok':
          if (result === undefined && columns.length === 0) {
            const ok = decodeOkPacket(packet.payload, this.login.capabilities);
            if (ok.ok) result = { kind: 'ok', ok: ok.value };
          }
          break;
        case 'column_definition': {
          const column = decodeColumnDefinition(packet.payload);
          if (!column.ok) throw new Error(`bad column in the result of "${sql}": ${column.error.message}`);
          columns.push(column.value.name);
          break;
        }
        case 'row': {
          const row = decodeTextRow(packet.payload, columns.length);
          if (!row.ok) throw new Error(`bad row in the result of "${sql}": ${row.error.message}`);
          if (rows.length >= queryRowsMax)
            throw new Error(`"${sql}" returned more than ${queryRowsMax} rows`);
          rows.push(row.value.map((value) => (value === null ? null : value.toString('utf8'))));
          break;
        }
        case 'local_infile':
          throw new Error(`"${sql}" asked for LOCAL INFILE, which the capture never sends`);
        default:
          break;
      }
    }
    if (error !== undefined) throw error;
    return columns.length > 0 ? { kind: 'rows', columns, rows } : (result ?? { kind: 'rows', columns, rows });
  }

  /** Runs a query expected to return one row; returns it as a column → value record. */
  async queryRow(sql: string): Promise<Record<string, string | null>> {
    const result = await this.query(sql);
    if (result.kind !== 'rows' || result.rows.length !== 1)
      throw new Error(`"${sql}" did not return exactly one row`);
    const row = result.rows[0]!;
    return Object.fromEntries(result.columns.map((name, i) => [name, row[i] ?? null]));
  }

  /** From now on every packet goes to `handler` (packets already queued first). */
  stream(handler: (packet: Packet) => void): void {
    this.#streamHandler = handler;
    this.#backlog.push(...this.#queue.splice(0));
    this.#drainBacklog();
  }

  /** Stops delivering streamed packets (after the current one) and reading from the socket. */
  pause(): void {
    this.#paused = true;
    this.#socket.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#drainBacklog();
    if (!this.#paused) this.#socket.resume();
  }

  close(): void {
    this.#socket.destroy();
  }
}

function serverError(payload: Buffer): MysqlServerError {
  const err = decodeErrPacket(payload);
  if (!err.ok) return new MysqlServerError(0, 'HY000', `unreadable error packet: ${err.error.message}`);
  return new MysqlServerError(err.value.errorCode, err.value.sqlState, err.value.message);
}

async function openSocket(options: MysqlClientOptions): Promise<Socket> {
  return await new Promise<Socket>((resolve, reject) => {
    const socket = netConnect({ host: options.host, port: options.port });
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `connecting to MariaDB at ${options.host}:${options.port} timed out after ${options.connectTimeoutMs} ms`,
        ),
      );
    }, options.connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot connect to MariaDB at ${options.host}:${options.port}: ${error.message}`));
    });
  });
}

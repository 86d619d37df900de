import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import type { Logger } from 'pino';
import { decodeFrames, encodeFrame, type Frame, FrameType } from './frame.js';
import {
  type Challenge,
  computeProof,
  decodeHello,
  decodeJson,
  encodeJson,
  judgeHello,
  nonceBytes,
  type Transcript,
  transportProtocolVersion,
  verifyProof,
} from './handshake.js';

/**
 * Node-to-node connections. Each node dials every peer and sends only on the connection it
 * dialed; it receives on the connections its peers dialed. One direction per connection means no
 * tie-breaking when two nodes dial each other at once, and a reply simply goes out on the
 * replier's own connection.
 *
 * Messages are opaque bytes to this layer. Delivery is best effort, in order per connection: a
 * message sent while the connection is down, or while its send buffer is full, is dropped and
 * `send` says so. The consensus engine retries what matters.
 */

export interface TransportTls {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** When given, peers' certificates must be signed by it; without it TLS only encrypts. */
  readonly ca?: string | Buffer;
}

export interface TransportOptions {
  readonly nodeId: string;
  readonly clusterName: string;
  readonly secret: string;
  readonly listenHost: string;
  /** 0 picks a free port; read it back from `port`. */
  readonly listenPort: number;
  /** "host:port" or "id@host:port"; with an id, the peer must prove it is that node. */
  readonly peers: readonly string[];
  readonly logger: Logger;
  readonly tls?: TransportTls;
  /** Bytes buffered per outbound connection before `send` starts dropping. Default 64 MiB. */
  readonly sendBufferBytesMax?: number;
  readonly handshakeTimeoutMs?: number;
  readonly reconnectDelayMsMin?: number;
  readonly reconnectDelayMsMax?: number;
  /**
   * Small facts this node tells every peer when a connection opens, e.g. its API URL and proxy
   * address (at most 16 keys, 512 characters each). Read a peer's with `peerMeta`.
   */
  readonly meta?: Readonly<Record<string, string>>;
}

export type PeerState = 'connecting' | 'connected' | 'backoff' | 'refused';

export interface PeerStatus {
  readonly address: string;
  /** The id the peer proved, or the one configured with "id@". */
  readonly nodeId?: string;
  readonly state: PeerState;
  readonly lastError?: string;
}

type MessageHandler = (from: string, payload: Uint8Array) => void;

const defaultSendBufferBytesMax = 64 * 1024 * 1024;
const defaultHandshakeTimeoutMs = 5000;

/** Reads frames from a socket; calls `onFrame` for each, or `onError` once the stream is unusable. */
function readFrames(
  socket: Socket,
  onFrame: (frame: Frame) => void,
  onError: (message: string) => void,
): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    const decoded = decodeFrames(pending);
    if (!decoded.ok) {
      onError(decoded.error.message);
      socket.destroy();
      return;
    }
    pending = decoded.rest;
    for (const frame of decoded.frames) {
      if (socket.destroyed) return;
      onFrame(frame);
    }
  });
}

const metaKeysMax = 16;
const metaValueCharsMax = 512;

function decodeMeta(payload: Uint8Array): Readonly<Record<string, string>> | undefined {
  let value: unknown;
  try {
    value = (JSON.parse(Buffer.from(payload).toString('utf8')) as { meta?: unknown }).meta;
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const entries = Object.entries(value).filter(
    (entry): entry is [string, string] =>
      typeof entry[1] === 'string' && entry[1].length <= metaValueCharsMax,
  );
  return Object.fromEntries(entries.slice(0, metaKeysMax));
}

function splitPeer(peer: string): { readonly address: string; readonly nodeId?: string } {
  const at = peer.lastIndexOf('@');
  return at < 0 ? { address: peer } : { address: peer.slice(at + 1), nodeId: peer.slice(0, at) };
}

function hostAndPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(address.slice(colon + 1)) };
}

class OutboundPeer {
  readonly address: string;
  readonly configuredId: string | undefined;
  nodeId: string | undefined;
  state: PeerState = 'connecting';
  lastError: string | undefined;
  socket: Socket | undefined;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #transport: Transport;

  constructor(transport: Transport, peer: string) {
    const { address, nodeId } = splitPeer(peer);
    this.address = address;
    this.configuredId = nodeId;
    this.nodeId = nodeId;
    this.#transport = transport;
  }

  start(): void {
    if (this.#closed) return;
    this.state = 'connecting';
    const socket = this.#transport.dial(this.address);
    this.socket = socket;
    const dialerNonce = randomBytes(nonceBytes).toString('base64');
    const { nodeId, clusterName, secret } = this.#transport.identity;
    let authenticated = false;
    const timeout = setTimeout(
      () => this.#fail(socket, 'authentication timed out'),
      this.#transport.handshakeTimeoutMs,
    );
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 5000);
    // A TLS socket may only speak once its handshake is done; a plain one once connected.
    socket.once(this.#transport.usesTls ? 'secureConnect' : 'connect', () => {
      socket.write(
        encodeFrame({
          type: FrameType.hello,
          payload: encodeJson({ version: transportProtocolVersion, clusterName, nodeId, nonce: dialerNonce }),
        }),
      );
    });
    readFrames(
      socket,
      (frame) => {
        if (authenticated) return; // the acceptor sends nothing after welcome
        if (frame.type === FrameType.reject) {
          const reason = decodeJson(frame.payload, ['reason'])?.reason ?? 'no reason given';
          this.#refuse(socket, `refused by the node at ${this.address}: ${reason}`);
          return;
        }
        if (frame.type === FrameType.challenge) {
          const challenge = decodeJson(frame.payload, ['nodeId', 'nonce', 'proof']) as Challenge | undefined;
          if (challenge === undefined) return this.#fail(socket, 'malformed challenge');
          if (this.configuredId !== undefined && challenge.nodeId !== this.configuredId) {
            return this.#refuse(
              socket,
              `the node at ${this.address} is ${challenge.nodeId}, but cluster.peers says ${this.configuredId}: fix cluster.peers`,
            );
          }
          const transcript: Transcript = {
            clusterName,
            dialerId: nodeId,
            acceptorId: challenge.nodeId,
            dialerNonce,
            acceptorNonce: challenge.nonce,
          };
          if (!verifyProof('acceptor', secret, transcript, challenge.proof)) {
            return this.#refuse(
              socket,
              `the node at ${this.address} (${challenge.nodeId}) could not prove the cluster secret: cluster.secret differs between ${nodeId} and ${challenge.nodeId}; set the same secret on both`,
            );
          }
          this.nodeId = challenge.nodeId;
          this.#transport.rememberMeta(challenge.nodeId, frame.payload);
          socket.write(
            encodeFrame({
              type: FrameType.proof,
              payload: encodeJson({
                proof: computeProof('dialer', secret, transcript),
                meta: this.#transport.ownMeta,
              }),
            }),
          );
          return;
        }
        if (frame.type === FrameType.welcome && this.nodeId !== undefined) {
          authenticated = true;
          clearTimeout(timeout);
          this.#attempt = 0;
          this.state = 'connected';
          this.lastError = undefined;
          this.#transport.peerConnected(this.nodeId, this);
          return;
        }
        this.#fail(socket, `unexpected frame type ${frame.type} during authentication`);
      },
      (message) => this.#fail(socket, message),
    );
    socket.on('error', (error) => {
      this.lastError = error.message;
    });
    socket.on('close', () => {
      clearTimeout(timeout);
      if (this.socket === socket) this.socket = undefined;
      if (authenticated && this.nodeId !== undefined) this.#transport.peerDisconnected(this.nodeId, this);
      this.#scheduleReconnect();
    });
  }

  #fail(socket: Socket, message: string): void {
    this.lastError = message;
    this.#transport.logger.warn({ peer: this.address, reason: message }, 'cluster connection failed');
    socket.destroy();
  }

  /** A refusal for a reason that retrying will not fix soon: log it loudly, retry slowly. */
  #refuse(socket: Socket, message: string): void {
    this.lastError = message;
    this.state = 'refused';
    this.#transport.logger.error({ peer: this.address, reason: message }, 'cluster connection refused');
    this.#attempt = Math.max(this.#attempt, 10);
    socket.destroy();
  }

  #scheduleReconnect(): void {
    if (this.#closed) return;
    if (this.state !== 'refused') this.state = 'backoff';
    const { reconnectDelayMsMin, reconnectDelayMsMax } = this.#transport;
    const ceiling = Math.min(reconnectDelayMsMax, reconnectDelayMsMin * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    // Jitter keeps a restarted cluster's nodes from reconnecting in lockstep.
    const delayMs = ceiling / 2 + (ceiling / 2) * Math.random();
    this.#timer = setTimeout(() => this.start(), delayMs);
  }

  /**
   * The peer just proved itself on an inbound connection, so it is up: a connection waiting out
   * its backoff dials now, with the backoff reset. Without this a leader could not send to a
   * restarted follower for up to `reconnectDelayMsMax` (chaos, 3 nodes, seed 31: 4.3 s during which
   * the other follower died, and no quorum until it came back).
   */
  retryNow(): boolean {
    if (this.#closed || this.state !== 'backoff') return false;
    clearTimeout(this.#timer);
    this.#attempt = 0;
    this.start();
    return true;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.socket?.destroy();
  }
}

export class Transport {
  readonly identity: { readonly nodeId: string; readonly clusterName: string; readonly secret: string };
  readonly logger: Logger;
  readonly handshakeTimeoutMs: number;
  readonly reconnectDelayMsMin: number;
  readonly reconnectDelayMsMax: number;
  readonly #options: TransportOptions;
  readonly #server: Server;
  readonly #outbound = new Map<string, OutboundPeer>();
  /** Authenticated outbound connection per peer node id. */
  readonly #connected = new Map<string, OutboundPeer>();
  /** Authenticated inbound connection per peer node id (receive only). */
  readonly #inbound = new Map<string, Socket>();
  readonly #messageHandlers: MessageHandler[] = [];
  readonly #peerMeta = new Map<string, Readonly<Record<string, string>>>();
  #port = 0;

  private constructor(options: TransportOptions) {
    this.#options = options;
    this.identity = { nodeId: options.nodeId, clusterName: options.clusterName, secret: options.secret };
    this.logger = options.logger;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? defaultHandshakeTimeoutMs;
    this.reconnectDelayMsMin = options.reconnectDelayMsMin ?? 100;
    this.reconnectDelayMsMax = options.reconnectDelayMsMax ?? 5000;
    const onSocket = (socket: Socket): void => this.#accept(socket);
    this.#server = options.tls
      ? createTlsServer(
          {
            cert: options.tls.cert,
            key: options.tls.key,
            ...(options.tls.ca === undefined
              ? {}
              : { ca: options.tls.ca, requestCert: true, rejectUnauthorized: true }),
          },
          onSocket,
        )
      : createServer(onSocket);
  }

  /** Listens, then dials every peer; resolves once listening. */
  static async start(options: TransportOptions): Promise<Transport> {
    const transport = new Transport(options);
    await new Promise<void>((resolve, reject) => {
      transport.#server.once('error', reject);
      transport.#server.listen(options.listenPort, options.listenHost, () => {
        transport.#server.off('error', reject);
        resolve();
      });
    });
    const address = transport.#server.address();
    transport.#port = typeof address === 'object' && address !== null ? address.port : options.listenPort;
    for (const peer of options.peers) transport.addPeer(peer);
    return transport;
  }

  get port(): number {
    return this.#port;
  }

  get usesTls(): boolean {
    return this.#options.tls !== undefined;
  }

  /** @internal What this node tells its peers. */
  get ownMeta(): Readonly<Record<string, string>> {
    return this.#options.meta ?? {};
  }

  /** What `nodeId` told this node when a connection (either direction) last authenticated. */
  peerMeta(nodeId: string): Readonly<Record<string, string>> | undefined {
    return this.#peerMeta.get(nodeId);
  }

  /**
   * @internal Keeps the `meta` of an authenticated peer's handshake frame. Only called after the
   * frame's sender proved the secret (or, for a challenge, alongside the proof being checked).
   */
  rememberMeta(nodeId: string, payload: Uint8Array): void {
    const meta = decodeMeta(payload);
    if (meta !== undefined) this.#peerMeta.set(nodeId, meta);
  }

  onMessage(handler: MessageHandler): void {
    this.#messageHandlers.push(handler);
  }

  /**
   * Queues one message to `nodeId`. Returns false, and drops the message, when there is no
   * authenticated connection to it or its send buffer is full.
   */
  send(nodeId: string, payload: Uint8Array): boolean {
    const peer = this.#connected.get(nodeId);
    const socket = peer?.socket;
    if (socket === undefined || socket.destroyed) return false;
    const bufferBytesMax = this.#options.sendBufferBytesMax ?? defaultSendBufferBytesMax;
    if (socket.writableLength + payload.byteLength > bufferBytesMax) return false;
    socket.write(encodeFrame({ type: FrameType.message, payload }));
    return true;
  }

  connectedPeers(): string[] {
    return [...this.#connected.keys()].sort();
  }

  peerStatuses(): PeerStatus[] {
    return [...this.#outbound.values()].map((peer) => ({
      address: peer.address,
      ...(peer.nodeId === undefined ? {} : { nodeId: peer.nodeId }),
      state: peer.state,
      ...(peer.lastError === undefined ? {} : { lastError: peer.lastError }),
    }));
  }

  /** Starts dialing a peer ("host:port" or "id@host:port"); a no-op when already dialing it. */
  addPeer(peer: string): void {
    const { address } = splitPeer(peer);
    if (this.#outbound.has(address)) return;
    const outbound = new OutboundPeer(this, peer);
    this.#outbound.set(address, outbound);
    outbound.start();
  }

  removePeer(address: string): void {
    const peer = this.#outbound.get(address);
    if (peer === undefined) return;
    this.#outbound.delete(address);
    peer.close();
    if (peer.nodeId !== undefined && this.#connected.get(peer.nodeId) === peer)
      this.#connected.delete(peer.nodeId);
  }

  async close(): Promise<void> {
    for (const peer of this.#outbound.values()) peer.close();
    this.#outbound.clear();
    this.#connected.clear();
    for (const socket of this.#inbound.values()) socket.destroy();
    this.#inbound.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** @internal */
  dial(address: string): Socket {
    const { host, port } = hostAndPort(address);
    const tls = this.#options.tls;
    if (tls === undefined) return tcpConnect({ host, port });
    return tlsConnect({
      host,
      port,
      cert: tls.cert,
      key: tls.key,
      ...(tls.ca === undefined
        ? { rejectUnauthorized: false }
        : { ca: tls.ca, checkServerIdentity: () => undefined }),
    });
  }

  /** @internal */
  peerConnected(nodeId: string, peer: OutboundPeer): void {
    this.#connected.set(nodeId, peer);
    this.logger.info({ peer: peer.address, nodeId }, 'cluster connection authenticated');
  }

  /** @internal */
  peerDisconnected(nodeId: string, peer: OutboundPeer): void {
    if (this.#connected.get(nodeId) !== peer) return;
    this.#connected.delete(nodeId);
    this.logger.info({ peer: peer.address, nodeId }, 'cluster connection lost');
  }

  #peerIsBack(nodeId: string): void {
    for (const peer of this.#outbound.values()) {
      if (peer.nodeId === nodeId && peer.retryNow())
        this.logger.info({ peer: peer.address, nodeId }, 'cluster peer is back: dialing it now');
    }
  }

  #accept(socket: Socket): void {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const { nodeId, clusterName, secret } = this.identity;
    const acceptorNonce = randomBytes(nonceBytes).toString('base64');
    let transcript: Transcript | undefined;
    let peerId: string | undefined;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 5000);
    const timeout = setTimeout(() => {
      this.logger.warn({ remote }, 'cluster connection did not authenticate in time; closed');
      socket.destroy();
    }, this.handshakeTimeoutMs);
    const refuse = (reason: string): void => {
      this.logger.error({ remote, nodeId: peerId, reason }, 'refused a cluster connection');
      socket.end(encodeFrame({ type: FrameType.reject, payload: encodeJson({ reason }) }));
      setTimeout(() => socket.destroy(), 1000).unref();
    };
    readFrames(
      socket,
      (frame) => {
        if (peerId !== undefined && this.#inbound.get(peerId) === socket) {
          if (frame.type !== FrameType.message) return refuse(`unexpected frame type ${frame.type}`);
          for (const handler of this.#messageHandlers) handler(peerId, frame.payload);
          return;
        }
        if (transcript === undefined) {
          if (frame.type !== FrameType.hello) return refuse('expected a hello');
          const hello = decodeHello(frame.payload);
          if (hello === undefined) return refuse('malformed hello');
          peerId = hello.nodeId;
          const verdict = judgeHello(hello, { clusterName, nodeId });
          if (!verdict.ok) return refuse(verdict.reason);
          transcript = {
            clusterName,
            dialerId: hello.nodeId,
            acceptorId: nodeId,
            dialerNonce: hello.nonce,
            acceptorNonce,
          };
          socket.write(
            encodeFrame({
              type: FrameType.challenge,
              payload: encodeJson({
                nodeId,
                nonce: acceptorNonce,
                proof: computeProof('acceptor', secret, transcript),
                meta: this.ownMeta,
              }),
            }),
          );
          return;
        }
        if (frame.type !== FrameType.proof) return refuse('expected a proof');
        const proof = decodeJson(frame.payload, ['proof'])?.proof;
        if (proof === undefined || !verifyProof('dialer', secret, transcript, proof)) {
          return refuse(
            `node ${transcript.dialerId} could not prove the cluster secret: cluster.secret differs between ${transcript.dialerId} and ${nodeId}; set the same secret on both`,
          );
        }
        clearTimeout(timeout);
        this.rememberMeta(transcript.dialerId, frame.payload);
        const previous = this.#inbound.get(transcript.dialerId);
        this.#inbound.set(transcript.dialerId, socket);
        previous?.destroy();
        socket.write(encodeFrame({ type: FrameType.welcome, payload: new Uint8Array() }));
        this.#peerIsBack(transcript.dialerId);
      },
      (message) =>
        this.logger.warn({ remote, nodeId: peerId, reason: message }, 'closed a broken cluster connection'),
    );
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timeout);
      if (peerId !== undefined && this.#inbound.get(peerId) === socket) this.#inbound.delete(peerId);
    });
  }
}

import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

/**
 * TEST SUPPORT: fault-injecting TCP relays for cluster traffic (issue 9).
 *
 * A `FaultRelay` listens on a local port and forwards every connection to one target. It can
 * cut traffic in either direction or both, heal it, and delay it:
 * - **cut**: bytes in a cut direction are read and thrown away — the connection stays open and
 *   silent, like packets dropped by a firewall; a new connection is accepted and black-holed the
 *   same way (it hangs, it is not refused).
 * - **heal**: every connection that lost bytes is destroyed (both ends see a reset, as after a
 *   TCP timeout), so no one receives a stream with a hole in it; new connections pass again.
 * - **delay**: every chunk waits `ms` before it is forwarded, in order.
 *
 * A `RelayMesh` puts one relay on every ordered pair of nodes: node i reaches node j's cluster
 * port through relay (i → j). The transport sends i's messages to j only on the connection i
 * dialed, so cutting (i → j) silences i towards j; `partition` cuts both ways between groups.
 */
export type Direction = 'both' | 'forward' | 'backward';

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Bytes were dropped in either direction: the stream is broken, destroy it on heal. */
  damaged: boolean;
}

export class FaultRelay {
  readonly port: number;
  readonly #server: Server;
  readonly #target: { readonly host: string; readonly port: number };
  readonly #pairs = new Set<Pair>();
  #cutForward = false;
  #cutBackward = false;
  #delayMs = 0;
  /** Bytes forwarded / dropped, for tests and summaries. */
  readonly counters = { forwarded: 0, dropped: 0, connections: 0 };

  private constructor(server: Server, port: number, target: { host: string; port: number }) {
    this.#server = server;
    this.port = port;
    this.#target = target;
  }

  /** Listens on `listenPort` (0: any free port) of 127.0.0.1, forwarding to `target`. */
  static async start(target: { host: string; port: number }, listenPort = 0): Promise<FaultRelay> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPort, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('relay has no TCP address');
    const relay = new FaultRelay(server, address.port, target);
    server.on('connection', (socket) => relay.#accept(socket));
    return relay;
  }

  get cut(): { readonly forward: boolean; readonly backward: boolean } {
    return { forward: this.#cutForward, backward: this.#cutBackward };
  }

  /** forward: client → target; backward: target → client. */
  cutTraffic(direction: Direction = 'both'): void {
    if (direction !== 'backward') this.#cutForward = true;
    if (direction !== 'forward') this.#cutBackward = true;
  }

  heal(): void {
    this.#cutForward = false;
    this.#cutBackward = false;
    for (const pair of this.#pairs) {
      if (!pair.damaged) continue;
      pair.client.destroy();
      pair.upstream.destroy();
      this.#pairs.delete(pair);
    }
  }

  delay(ms: number): void {
    this.#delayMs = Math.max(0, ms);
  }

  /** Destroys every connection through the relay (both ends see a reset). */
  resetConnections(): void {
    for (const pair of this.#pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.#pairs.clear();
  }

  async close(): Promise<void> {
    this.resetConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.counters.connections++;
    const upstream = tcpConnect({ host: this.#target.host, port: this.#target.port });
    const pair: Pair = { client, upstream, damaged: false };
    this.#pairs.add(pair);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      this.#pairs.delete(pair);
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    client.on('data', (chunk: Buffer) => this.#pass(pair, chunk, upstream, () => this.#cutForward));
    upstream.on('data', (chunk: Buffer) => this.#pass(pair, chunk, client, () => this.#cutBackward));
  }

  #pass(pair: Pair, chunk: Buffer, to: Socket, isCut: () => boolean): void {
    const send = (): void => {
      // Checked again after a delay: a cut made meanwhile drops what was still on its way.
      if (isCut()) {
        pair.damaged = true;
        this.counters.dropped += chunk.length;
        return;
      }
      this.counters.forwarded += chunk.length;
      if (!to.destroyed) to.write(chunk);
    };
    if (this.#delayMs > 0) setTimeout(send, this.#delayMs);
    else send();
  }
}

/** One relay per ordered pair of nodes (indexes 0…n-1). */
export class RelayMesh {
  readonly #relays: Map<string, FaultRelay>;
  readonly size: number;

  private constructor(size: number, relays: Map<string, FaultRelay>) {
    this.size = size;
    this.#relays = relays;
  }

  /** Relays for `clusterPorts[j]`, one per dialing node i ≠ j. */
  static async start(clusterPorts: readonly number[]): Promise<RelayMesh> {
    const relays = new Map<string, FaultRelay>();
    for (const [i] of clusterPorts.entries()) {
      for (const [j, port] of clusterPorts.entries()) {
        if (i === j) continue;
        relays.set(`${i}>${j}`, await FaultRelay.start({ host: '127.0.0.1', port }));
      }
    }
    return new RelayMesh(clusterPorts.length, relays);
  }

  /** The relay node `from` dials to reach node `to`. */
  relay(from: number, to: number): FaultRelay {
    const relay = this.#relays.get(`${from}>${to}`);
    if (relay === undefined) throw new Error(`no relay from node ${from} to node ${to}`);
    return relay;
  }

  /** Node `from` can no longer send to node `to` (its connection to `to` goes silent). */
  cutOneWay(from: number, to: number): void {
    this.relay(from, to).cutTraffic('both');
  }

  /** No traffic between `a` and `b`, either way. */
  cutBetween(a: number, b: number): void {
    this.cutOneWay(a, b);
    this.cutOneWay(b, a);
  }

  /** Every node of `side` is cut from every node not in it. */
  partition(side: readonly number[]): void {
    for (let a = 0; a < this.size; a++) {
      for (let b = 0; b < this.size; b++) {
        if (a !== b && side.includes(a) && !side.includes(b)) this.cutBetween(a, b);
      }
    }
  }

  /** `node` cut from everyone. */
  isolate(node: number): void {
    this.partition([node]);
  }

  /**
   * A bridge: `bridge` talks to both halves, which do not talk to each other (e.g. 5 nodes:
   * [0, 1] | 2 | [3, 4]).
   */
  bridge(left: readonly number[], bridge: number, right: readonly number[]): void {
    for (const a of left) for (const b of right) this.cutBetween(a, b);
    void bridge;
  }

  heal(): void {
    for (const relay of this.#relays.values()) relay.heal();
  }

  delayAll(ms: number): void {
    for (const relay of this.#relays.values()) relay.delay(ms);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#relays.values()].map((relay) => relay.close()));
  }
}

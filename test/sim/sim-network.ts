import type { Message, NodeId, Prng } from '../../src/consensus/index.js';

export interface NetworkFaults {
  /** Probability that a message is lost. */
  lossRate: number;
  /** Probability that a message is delivered twice. */
  duplicateRate: number;
  /** Delivery delay in ticks, uniformly in [delayTicksMin, delayTicksMax]: different delays reorder. */
  delayTicksMin: number;
  delayTicksMax: number;
}

export const reliableNetwork: NetworkFaults = {
  lossRate: 0,
  duplicateRate: 0,
  delayTicksMin: 1,
  delayTicksMax: 1,
};

interface InFlight {
  readonly deliverAtTick: number;
  readonly seq: number;
  readonly message: Message;
}

/** Messages in flight beyond this are dropped, as a full socket buffer would. */
const inFlightMessagesMax = 20_000;

/**
 * The simulated network: every message gets a delivery tick; links can be cut one way
 * (`from>to`), which drops messages both when sent and when due.
 */
export class SimNetwork {
  faults: NetworkFaults = reliableNetwork;
  private queue: InFlight[] = [];
  private seq = 0;
  private readonly blocked = new Set<string>();
  sentCount = 0;
  droppedCount = 0;

  constructor(private readonly prng: Prng) {}

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.blocked.has(`${from}>${to}`);
  }

  block(from: NodeId, to: NodeId): void {
    this.blocked.add(`${from}>${to}`);
  }

  /** Cuts every link between the two groups, both ways. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue;
        for (const x of a) for (const y of b) this.block(x, y);
      }
    }
  }

  heal(): void {
    this.blocked.clear();
  }

  blockedLinks(): string[] {
    return [...this.blocked].sort();
  }

  send(message: Message, nowTick: number): void {
    this.sentCount++;
    if (this.isBlocked(message.from, message.to) || this.prng.chance(this.faults.lossRate)) {
      this.droppedCount++;
      return;
    }
    const copies = this.prng.chance(this.faults.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      if (this.queue.length >= inFlightMessagesMax) {
        this.droppedCount++;
        return;
      }
      const delay = this.prng.between(this.faults.delayTicksMin, this.faults.delayTicksMax);
      this.queue.push({ deliverAtTick: nowTick + delay, seq: this.seq++, message });
    }
  }

  /** Removes and returns the messages due at `nowTick`, in delivery order; `hold` keeps a message for later. */
  takeDue(nowTick: number, hold: (message: Message) => boolean): Message[] {
    const due: InFlight[] = [];
    const kept: InFlight[] = [];
    for (const item of this.queue) {
      if (item.deliverAtTick <= nowTick && !hold(item.message)) due.push(item);
      else kept.push(item);
    }
    this.queue = kept;
    due.sort((a, b) => a.deliverAtTick - b.deliverAtTick || a.seq - b.seq);
    const delivered: Message[] = [];
    for (const item of due) {
      if (this.isBlocked(item.message.from, item.message.to)) {
        this.droppedCount++;
        continue;
      }
      delivered.push(item.message);
    }
    return delivered;
  }

  /** Drops everything addressed to `nodeId` (it crashed: its sockets are gone). */
  dropTo(nodeId: NodeId): void {
    this.queue = this.queue.filter((item) => item.message.to !== nodeId);
  }

  get inFlightCount(): number {
    return this.queue.length;
  }
}

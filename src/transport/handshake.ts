import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The mutual challenge that opens every cluster connection. Pure: the caller supplies nonces.
 *
 *   dialer   → hello     {version, clusterName, nodeId, nonce}
 *   acceptor → challenge {nodeId, nonce, proof = HMAC(secret, "acceptor" · transcript)}
 *   dialer   → proof     {proof = HMAC(secret, "dialer" · transcript)}
 *   acceptor → welcome   {}
 *   either   → reject    {reason}
 *
 * The transcript binds both nonces, both node ids and the cluster name, so a proof cannot be
 * replayed on another connection, for another node, or in another cluster. The secret never
 * crosses the wire. Each side proves itself, so a node with a wrong secret is refused by its
 * peers and also refuses them: both sides log why.
 */
export const transportProtocolVersion = 1;
export const nonceBytes = 32;

export interface Hello {
  readonly version: number;
  readonly clusterName: string;
  readonly nodeId: string;
  readonly nonce: string;
}

export interface Challenge {
  readonly nodeId: string;
  readonly nonce: string;
  readonly proof: string;
}

export interface Transcript {
  readonly clusterName: string;
  readonly dialerId: string;
  readonly acceptorId: string;
  /** base64 */
  readonly dialerNonce: string;
  /** base64 */
  readonly acceptorNonce: string;
}

export type Role = 'dialer' | 'acceptor';

export function computeProof(role: Role, secret: string, transcript: Transcript): string {
  return createHmac('sha256', secret)
    .update(
      JSON.stringify([
        role,
        transcript.clusterName,
        transcript.dialerId,
        transcript.acceptorId,
        transcript.dialerNonce,
        transcript.acceptorNonce,
      ]),
    )
    .digest('base64');
}

export function verifyProof(role: Role, secret: string, transcript: Transcript, proof: string): boolean {
  const expected = Buffer.from(computeProof(role, secret, transcript), 'base64');
  const given = Buffer.from(proof, 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });
const textEncoder = new TextEncoder();

export function encodeJson(value: unknown): Uint8Array {
  return textEncoder.encode(JSON.stringify(value));
}

/** Parses a handshake payload; undefined when it is not a JSON object with string fields `keys`. */
export function decodeJson<K extends string>(
  payload: Uint8Array,
  keys: readonly K[],
): Readonly<Record<K, string>> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(textDecoder.decode(payload));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  for (const key of keys) {
    if (typeof record[key] !== 'string' || (record[key] as string).length > 4096) return undefined;
  }
  return record as Readonly<Record<K, string>>;
}

export function decodeHello(payload: Uint8Array): Hello | undefined {
  const fields = decodeJson(payload, ['clusterName', 'nodeId', 'nonce']);
  if (fields === undefined) return undefined;
  const version = (fields as unknown as { version?: unknown }).version;
  if (typeof version !== 'number') return undefined;
  return { version, clusterName: fields.clusterName, nodeId: fields.nodeId, nonce: fields.nonce };
}

/** What the acceptor says about a hello: go on, or refuse with a reason for both operators. */
export function judgeHello(
  hello: Hello,
  own: { readonly clusterName: string; readonly nodeId: string },
): { readonly ok: true } | { readonly ok: false; readonly reason: string } {
  if (hello.version !== transportProtocolVersion) {
    return {
      ok: false,
      reason: `protocol version ${hello.version} is not supported (this node speaks ${transportProtocolVersion}): run the same WolfScale version on every node`,
    };
  }
  if (hello.clusterName !== own.clusterName) {
    return {
      ok: false,
      reason: `cluster name mismatch: node ${own.nodeId} is in cluster "${own.clusterName}", node ${hello.nodeId} says "${hello.clusterName}": set the same cluster.cluster_name on both`,
    };
  }
  if (hello.nodeId === own.nodeId) {
    return {
      ok: false,
      reason: `node id ${hello.nodeId} is this node's own id: every node needs its own node.id (or cluster.peers lists this node itself)`,
    };
  }
  if (Buffer.from(hello.nonce, 'base64').length !== nonceBytes) {
    return { ok: false, reason: 'malformed hello: bad nonce' };
  }
  return { ok: true };
}

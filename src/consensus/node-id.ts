/** A node's identity, as configured (`node.id`). Unique in the cluster and never reused. */
export type NodeId = string;

/**
 * The cluster's one ordering of node IDs: byte-wise on their UTF-8 encoding, which is the same as
 * comparing Unicode code points. (JavaScript's `<` compares UTF-16 code units, which differs for
 * characters outside the Basic Multilingual Plane.) Note "n10" sorts before "n2": operators who
 * want numeric order zero-pad their IDs.
 */
export function compareNodeIds(a: NodeId, b: NodeId): number {
  if (a === b) return 0;
  const left = [...a];
  const right = [...b];
  const length = Math.min(left.length, right.length);
  for (let i = 0; i < length; i++) {
    const x = left[i]!.codePointAt(0)!;
    const y = right[i]!.codePointAt(0)!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return left.length - right.length;
}

export function sortNodeIds(ids: Iterable<NodeId>): NodeId[] {
  return [...ids].sort(compareNodeIds);
}

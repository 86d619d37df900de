/** Ticks after the heal for the cluster to converge (elect, fail back, catch everyone up). */
export const settleTicksDefault = 400;

/** The default node count of a seed: 3 to 7, varying with the seed. */
export function nodeCountForSeed(seed: number): number {
  return 3 + (seed % 5);
}

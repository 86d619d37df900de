import type { Member } from './membership.js';
import type { NodeId } from './node-id.js';

/** Decisions the engine reports so the runtime can log them with their reasons. */
export type EngineEvent =
  | {
      readonly kind: 'campaignStarted';
      readonly term: number;
      readonly preVote: boolean;
      readonly rank: number;
    }
  | { readonly kind: 'transferStarted'; readonly to: NodeId; readonly reason: string }
  | { readonly kind: 'transferAborted'; readonly to: NodeId; readonly reason: string }
  | { readonly kind: 'transferRejected'; readonly reason: string }
  | { readonly kind: 'steppedDown'; readonly reason: string }
  | { readonly kind: 'membershipChangeStarted'; readonly members: readonly Member[]; readonly reason: string }
  | { readonly kind: 'membershipChangeRejected'; readonly reason: string }
  | {
      readonly kind: 'forcedPromotion';
      readonly term: number;
      readonly members: readonly Member[];
      /** Entries up to here were known committed by this node: they are safe. */
      readonly knownCommitIndex: number;
      /**
       * Entries [knownCommitIndex+1, lastIndex] of this node are now committed although no quorum
       * was seen to hold them; entries the lost majority held beyond, or differently, are lost.
       */
      readonly uncommittedRange: { readonly from: number; readonly to: number } | null;
      readonly lastIndex: number;
    }
  | { readonly kind: 'diverged'; readonly index: number; readonly commitIndex: number };

// STARTs a node never got: the scheduler placed the instance and told the controller, and went
// (killed) before its START reached the node. The instance would stay `pending` on a node that
// knows nothing of it. A node's STATS list everything it has, a start under way too, so an instance
// placed there that its node never spoke of (no state from it yet), missing from its STATS for long
// enough, gets its START again, to that node (docs/protocol.md, "Placements are saved"). A node
// that had it after all tells its state again: a START of an instance it has is not a failure.

/** How long an instance placed on a node may be missing from every one of its STATS before its
 *  START is sent to it again (ms): far longer than a START takes to reach a node. */
export const START_UNSEEN_MS = 10_000;

export class StartsUnseen {
  /** Per node, the instances missing from its last STATS, and since when (ms). */
  private readonly missing = new Map<string, Map<string, number>>();

  /** A node's STATS did not list `ids`, placed on it. Returns those missing from each of its STATS
   *  for START_UNSEEN_MS, to be started again (each then waits as long again). */
  missed(nodeId: string, ids: string[], now = Date.now()): string[] {
    if (ids.length === 0) {
      this.missing.delete(nodeId);
      return [];
    }
    const before = this.missing.get(nodeId);
    const missing = new Map<string, number>();
    const again: string[] = [];
    for (const id of ids) {
      const since = before?.get(id) ?? now;
      const due = now - since >= START_UNSEEN_MS;
      if (due) again.push(id);
      missing.set(id, due ? now : since);
    }
    this.missing.set(nodeId, missing);
    return again;
  }
}

// Commands a node never got: the scheduler that carried them went (killed) before they reached
// the node, and nothing else would ever send them again. A node's STATS list everything it has
// and the state it is in, so the controller sees what a command has not changed yet; what stays
// unchanged in each STATS of its node for long enough gets its command again (each then waits as
// long again):
// - a START: an instance placed on a node that its node never spoke of (no state from it yet),
//   missing from its STATS (docs/protocol.md, "Placements are saved"). A node that had it after
//   all tells its state again: a START of an instance it has is not a failure;
// - a STOP: an instance `stopping` that its node still reports `active`, in STATS taken after
//   the stop was asked (docs/protocol.md, "Actions");
// - a REBOOT: an instance `rebooting` that its node reports `active` and no reboot under way. Its
//   REBOOT did not reach the node, or the node's answer did not reach the controller: either way
//   it is sent again (a reboot asked once may then be done twice, never not at all);
// - any other action whose end its node tells (PAUSE, SUSPEND, SHELVE, RESCUE, …: `asked` on the
//   instance): one its node reports in the state the controller has, with no action under way. A
//   node takes such a command again safely (docs/protocol.md, "Actions").

/** How long an instance placed on a node may be missing from every one of its STATS before its
 *  START is sent to it again (ms): far longer than a START takes to reach a node. */
export const START_UNSEEN_MS = 10_000;
/** How long an instance asked to stop may be reported `active` by every STATS of its node before
 *  its STOP is sent again (ms): far longer than a STOP takes to reach a node. */
export const STOP_UNHEARD_MS = 10_000;
/** The same for a REBOOT: the node's STATS say no reboot is under way (ms). */
export const REBOOT_UNHEARD_MS = 10_000;
/** The same for any other action asked (`asked`): the node's STATS say none is under way (ms). */
export const ACTION_UNHEARD_MS = 10_000;

export class CommandsUnheard {
  /** Per node, the instances the last STATS showed unchanged, and since when (ms). */
  private readonly missing = new Map<string, Map<string, number>>();

  /** `afterMs`: how long an instance stays unchanged before its command is due again. */
  constructor(private readonly afterMs: number) {}

  /** A node's STATS showed `ids` unchanged by their command. Returns those unchanged in each of
   *  its STATS for `afterMs`, whose command is to be sent again. */
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
      const due = now - since >= this.afterMs;
      if (due) again.push(id);
      missing.set(id, due ? now : since);
    }
    this.missing.set(nodeId, missing);
    return again;
  }
}

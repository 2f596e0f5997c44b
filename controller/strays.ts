// Strays: instances a node runs that are not placed on it. A scheduler and a controller that went
// at once lost where an instance was placed, and its START, sent again, was placed elsewhere; or the
// controller no longer has the instance at all. The node's STATS list them; the node is told to
// delete them, and only them: it can delete only its own (docs/protocol.md, "Placements are saved").
import type { ControllerContext } from './context.ts';

/** How long a stray its node still lists waits before its DELETE is sent again (ms): one that went
 *  with a link, or that the node refused, is asked again. */
export const STRAY_ASK_AGAIN_MS = 30_000;

/** A stray, and what the controller has of it, for the event: `is on node-1`, `does not exist`. */
export type Stray = { instanceId: string; where: string };

export class Strays {
  /** Per node, its strays: when it was told to delete each, or 0 when only one STATS listed it so
   *  far. A node listed without one has none. */
  private readonly listedBy = new Map<string, Map<string, number>>();

  constructor(private readonly ctx: ControllerContext) {}

  /** A node's STATS listed these strays. One is deleted once two STATS in a row list it: a single
   *  one may be older than what the controller knows (the scheduler replays a node's last STATS to
   *  a controller that connects). Those the node no longer lists are forgotten. */
  listed(nodeId: string, strays: Stray[]): void {
    if (strays.length === 0) {
      this.listedBy.delete(nodeId);
      return;
    }
    const before = this.listedBy.get(nodeId);
    const now = Date.now();
    const listed = new Map<string, number>();
    for (const { instanceId, where } of strays) {
      const asked = before?.get(instanceId);
      if (asked === undefined || (asked > 0 && now - asked < STRAY_ASK_AGAIN_MS)) {
        listed.set(instanceId, asked ?? 0);
        continue;
      }
      // No link to the scheduler: the node's next STATS after it is back asks.
      if (!this.ctx.send({ type: 'COMMAND', op: 'DELETE', to: nodeId, payload: { instanceId } })) {
        listed.set(instanceId, asked);
        continue;
      }
      listed.set(instanceId, now);
      if (asked > 0) continue;
      const message = `Node ${nodeId} runs instance ${instanceId}, which ${where}: deleted there`;
      this.ctx.logger.warn(message, { nodeId, instanceId });
      this.ctx.events.add(null, 'error', message);
    }
    this.listedBy.set(nodeId, listed);
  }
}

// Hooks into a control plane under test (test/helpers/control-plane.ts) that its restart tests
// share: what reaches its nodes, and what its scheduler does with the next START.
import type { EventEmitter } from 'node:events';
import type { Frame } from '../../protocol/payloads.ts';
import type { ControlPlane } from './control-plane.ts';

export function planeHooks(plane: ControlPlane) {
  /** Counts the STARTs the nodes get from now on: how many of an instance's came so far. */
  function startsReaching(): (id: string) => number {
    const seen = new Map<string, number>();
    for (const launcher of plane.launchers) {
      (launcher as unknown as { peer: EventEmitter }).peer.on('frame', (f: Frame) => {
        if (f.op === 'START') seen.set(f.payload.instanceId, (seen.get(f.payload.instanceId) ?? 0) + 1);
      });
    }
    return (id) => seen.get(id) ?? 0;
  }

  /** Has the scheduler do `what` with the next START of an instance (not a CNCI's; `instanceId`'s
   *  if given) the controller sends, in place of placing it (`place` does what the scheduler would have). */
  function onNextStart(what: (f: Frame, place: (f: Frame) => void) => void, instanceId?: string) {
    const scheduler = plane.scheduler as unknown as { fromController(f: Frame): void };
    const own = scheduler.fromController.bind(scheduler);
    scheduler.fromController = (f: Frame) => {
      if (f.op !== 'START' || f.to || f.payload.cnci || (instanceId !== undefined && f.payload.instanceId !== instanceId)) return own(f);
      scheduler.fromController = own;
      what(f, own);
    };
  }

  /** Makes the scheduler take the next START of an instance (not a CNCI's) from the controller and
   *  keep it (as one that dies with it would); `handle()` then handles it as it would have. */
  function schedulerKeepsNextStart() {
    let kept: { f: Frame; place: (f: Frame) => void } | undefined;
    onNextStart((f, place) => (kept = { f, place }));
    return {
      taken: () => kept !== undefined,
      handle: () => kept!.place(kept!.f),
    };
  }

  /** The nodes whose backend has the instance. */
  async function nodesRunning(id: string): Promise<string[]> {
    const on: string[] = [];
    for (const [i, backend] of plane.backends.entries()) if ((await backend.list()).some((a) => a.spec.instanceId === id)) on.push(`node-${i}`);
    return on;
  }

  return { startsReaching, onNextStart, schedulerKeepsNextStart, nodesRunning };
}

// Frames to the scheduler leave only once the decisions made before them are saved
// (docs/durability.md): a node acts only on what the controller still knows after a crash.
import { encodeFrame } from '../protocol/frame.ts';
import type { Frame } from '../protocol/payloads.ts';
import type { Datastore } from './datastore/datastore.ts';

/** A `send` whose frames wait, in order, for the store's commit of what was decided up to the end
 *  of the turn that sent them (a report handler that sends one makes its changes decisions): a
 *  frame is often sent first (to learn whether the link is up, and answer 503 before anything
 *  changes) and the change it tells of made just after. It answers at once whether the link is up
 *  (`connected`); a frame whose link goes while it waits is lost, as one written into a closing
 *  socket is. A frame waits as its bytes, off the heap: thousands wait through a burst of creates. */
export function sendAfterCommit(store: Datastore, connected: () => boolean, send: (bytes: Buffer) => boolean): (frame: Frame) => boolean {
  /** Frames in the order sent; `saved` once what was decided before the end of their turn is. */
  let waiting: { bytes: Buffer; saved: boolean }[] = [];
  /** The frames of this turn, not yet given their commit. */
  let turn: { bytes: Buffer; saved: boolean }[] = [];
  const drain = () => {
    let n = 0;
    for (; n < waiting.length && waiting[n].saved; n++) send(waiting[n].bytes);
    if (n > 0) waiting = waiting.slice(n);
  };
  const endOfTurn = () => {
    const frames = turn;
    turn = [];
    const saved = () => {
      for (const f of frames) f.saved = true;
      drain();
    };
    const saving = store.committed();
    if (saving) void saving.then(saved);
    else saved();
  };
  return (frame) => {
    if (!connected()) return false;
    // Sent while handling a report: what the handler changed is what this frame tells of.
    store.decideReported();
    const entry = { bytes: encodeFrame(frame), saved: false };
    waiting.push(entry);
    if (turn.push(entry) === 1) setImmediate(endOfTurn);
    return true;
  };
}

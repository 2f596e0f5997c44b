// The controller tells the scheduler which of its answers about STARTs (PLACED, its START_FAILURE)
// are saved, so that it stops keeping them for a controller that comes back (docs/protocol.md,
// "Placements are saved"). One frame per commit, once everything changed before it is saved.
import type { Frame } from '../protocol/payloads.ts';
import type { Datastore } from './datastore/datastore.ts';

export class PlacementsSaved {
  /** The `seq` of the last answer taken from the scheduler there is now, and of the last one told saved. */
  private taken = 0;
  private told = 0;
  private waiting = false;
  /** Counts the scheduler's links: a wait that began on one link tells nothing on the next (a new
   *  scheduler numbers its answers from 1 again). */
  private link = 0;

  constructor(private readonly store: Datastore, private readonly send: (frame: Frame) => boolean) {}

  /** A new link to a scheduler: its answers are numbered its own way. */
  connected(): void {
    this.link++;
    this.taken = 0;
    this.told = 0;
    this.waiting = false;
  }

  /** The scheduler's answer numbered `seq` was taken: its changes are made (or none was needed). */
  take(seq: number | undefined): void {
    if (seq === undefined || seq <= this.taken) return;
    this.taken = seq;
    if (this.waiting) return;
    this.waiting = true;
    // At the end of the turn: the answers taken in it are told in one frame.
    setImmediate(() => this.tell(this.link));
  }

  private tell(link: number): void {
    if (link !== this.link) return;
    const upTo = this.taken;
    if (upTo <= this.told) {
      this.waiting = false;
      return;
    }
    const saved = () => {
      if (link !== this.link) return;
      this.told = upTo;
      this.send({ type: 'COMMAND', op: 'PLACEMENTS_SAVED', payload: { upTo } });
      this.tell(link);
    };
    const saving = this.store.saved();
    if (saving) void saving.then(saved);
    else saved();
  }
}

// What the controller's services share: the datastore, the event log, the link to the scheduler.
import type { Frame } from '../protocol/payloads.ts';
import type { Logger } from '../shared/log.ts';
import type { Datastore } from './datastore/datastore.ts';
import type { EventLog } from './events.ts';
import type { AdmissionLimits } from './create-admission.ts';

export interface ControllerContext {
  store: Datastore;
  events: EventLog;
  logger: Logger;
  /** Sends a frame to the scheduler; false when the scheduler is not connected. */
  send(frame: Frame): boolean;
  /** Where image files live. */
  imageDir: string;
  /** The volume store: one qcow2 file per volume. */
  volumeDir: string;
  /** The cluster has a way out (setup --egress; docs/egress.md): new tenants get egress on. */
  egress?: boolean;
  /** When creates are shed (controller/create-admission.ts); the defaults otherwise. */
  admission?: Partial<AdmissionLimits>;
}

let lastMs = NaN;
let lastIso = '';
/** The time as an ISO string. Within one millisecond it is the same string, made once: every record
 *  written and every event take it, hundreds of thousands of times in a burst (docs/scale.md). */
export const now = (): string => {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
};

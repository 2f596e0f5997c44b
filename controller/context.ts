// What the controller's services share: the datastore, the event log, the link to the scheduler.
import type { Frame } from '../protocol/payloads.ts';
import type { Logger } from '../shared/log.ts';
import type { Datastore } from './datastore/datastore.ts';
import type { EventLog } from './events.ts';
import type { AdmissionLimits } from './create-admission.ts';
import { ApiError } from '../shared/errors.ts';

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

/** How long a request that may change something waits for a link to the scheduler that is down
 *  before it runs (a restarted scheduler is back and linked again within seconds): Router's `ready`. */
export const SCHEDULER_WAIT_MS = 10_000;

/** What a request that needs the scheduler answers when the link to it is still down after
 *  SCHEDULER_WAIT_MS: 503, asked again after Retry-After. */
export const schedulerNotConnected = () =>
  new ApiError('unavailable', 'the controller is not connected to the scheduler, and was not again within the time a request waits for it: try again in a few seconds', 5);

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

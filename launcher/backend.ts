// What a launcher asks of a workload runtime. The simulation, docker and qemu backends live beside
// this file; a real network node's CNCIs (cnci/cnci-backend.ts) implement the same interface.
import type { InstanceExit, StartFailureReason, StartPayload, VolumeRef } from '../protocol/payloads.ts';
import type { ConsoleText } from './console.ts';

/** A start that failed, with the reason the user will see in the event. */
export class LaunchError extends Error {
  constructor(readonly reason: StartFailureReason, message: string) {
    super(message);
    this.name = 'LaunchError';
  }
}

export interface Running {
  sshIp?: string;
  sshPort?: number;
}

export interface AdoptedInstance extends Running {
  spec: StartPayload;
  running: boolean;
  /** It runs, frozen by a pause. */
  paused?: boolean;
  /** It does not run: its memory is saved, for a resume. */
  suspended?: boolean;
  /** It runs booted from a rescue image, its own disk attached. */
  rescued?: boolean;
}

/** Told of an instance that ended when the backend was not asked to stop it. */
export type ExitListener = (instanceId: string, exit: InstanceExit) => void;

export interface Backend {
  readonly kind: 'simulation' | 'docker' | 'qemu' | 'cnci';
  /** Starts (or, with spec.restart, starts again) an instance; resolves once it runs. Throws LaunchError. */
  start(spec: StartPayload): Promise<Running>;
  /** Stops it, keeping its disk for a restart. */
  stop(instanceId: string): Promise<void>;
  /** Stops it if needed and removes everything it had. Idempotent. */
  delete(instanceId: string): Promise<void>;
  /** What this backend still runs or keeps, so a restarted launcher re-adopts instead of losing it. */
  list(): Promise<AdoptedInstance[]>;
  /** Volumes (VMs only). `spec` is the instance's spec with the change made: kept for its next start;
   *  a running instance gets the disk hot-plugged (attach) or unplugged (detach) too. */
  attach?(spec: StartPayload, volume: VolumeRef, running: boolean): Promise<void>;
  detach?(spec: StartPayload, volumeId: string, running: boolean): Promise<void>;
  /** Freezes a running instance in place (its memory and processes kept) and thaws it again. */
  pause?(instanceId: string): Promise<void>;
  unpause?(instanceId: string): Promise<void>;
  /** Saves a running instance's memory to disk and ends its runtime; `resume` starts it again from
   *  that memory (the same boot goes on) and drops the saved copy. */
  suspend?(instanceId: string): Promise<void>;
  resume?(spec: StartPayload): Promise<Running>;
  /** Makes a stopped instance's root disk again from `spec.image` (its new image), keeping its
   *  identity (id, MAC, address, volumes); its next start (a restart) boots on it. */
  rebuild?(spec: StartPayload): Promise<void>;
  /** Gives a stopped instance `spec.resources` (a resize: docs/protocol.md "Resize"): its disk
   *  grows when they say larger (never shrinks), and its next start (a restart) runs with them. */
  resize?(spec: StartPayload): Promise<void>;
  /** The last `lines` lines (null: all that fit) of the instance's console, running or stopped
   *  (docs/protocol.md "Console output"); shaped by launcher/console.ts. */
  console?(instanceId: string, lines: number | null): Promise<ConsoleText>;
  /** A shelved (stopped) instance gives back what it still holds on the node but its disk — its
   *  place on the tenant network; its next start (an unshelve) takes it again. Idempotent. */
  offload?(instanceId: string): Promise<void>;
  /** Starts a stopped VM from the rescue `image` with its own disk (and volumes) attached as extra
   *  disks, its identity kept (MAC, address, config drive); `unrescue` starts the stopped rescue
   *  from its own image again. Its spec keeps its own image throughout. */
  rescue?(spec: StartPayload, image: string): Promise<Running>;
  unrescue?(spec: StartPayload): Promise<Running>;
  /** Reports, within 2 s, instances that end (docs/protocol.md "An instance that dies"). An end
   *  the launcher asked for (a stop or delete under way) may be reported too: the launcher, which
   *  knows what it asked, ignores those. Returns a function that stops the watching. */
  watchExits?(listener: ExitListener): () => void;
}

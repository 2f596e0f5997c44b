// What the steps of a flow share (docs/lifecycle.md): the cluster's name, paths and settings, and
// what earlier steps made. A step reads what it needs through need(), which says which step should
// have made it, and ensures its own result: it makes what is missing and leaves the rest, so a
// flow run again (a resume) does only what is left to do. What a step does to the host outside the
// state dir goes through `host` (setup-host.ts), which tests replace with a fake.
import type { CertPaths, ClusterPki } from '../../shared/pki.ts';
import type { VmImage } from '../../images/vm-image.ts';
import type { ClusterNetwork } from '../cluster-network.ts';
import type { ClusterRecord, EgressSetting, clusterPaths } from '../cluster-files.ts';
import type { DaemonName } from '../build-daemons.ts';
import type { Credentials } from '../demo-sh.ts';
import type { Accel } from '../preflight.ts';
import type { Step } from '../flow.ts';

import { need } from '../flow.ts';

export { need };
import type { AdminClient, SetupHost } from './setup-host.ts';

export interface SetupSettings {
  simulate: boolean;
  nodes: number;
  accel: 'auto' | Accel;
  bootDelayMs: number;
  statsIntervalMs: number;
  /** Where the APIs listen (CIAO_API_HOST: ccloudvm asks for 0.0.0.0 inside its VM). */
  apiHost?: string;
  /** The cluster's way out (--egress; docs/egress.md); absent: none. */
  egress?: EgressSetting;
  /** --network-nodes and --sim-nodes (singlevm/node-roles.ts). */
  networkNodes?: number;
  simNodes?: number;
  /** better-sqlite3 still compiles as setup starts (setup.sh left it going, docs/cold-start.md):
   *  the control plane waits for it, and the VM snapshot templates are made meanwhile. */
  nativeCompileGoing?: boolean;
}

export interface SetupContext {
  name: string;
  paths: ReturnType<typeof clusterPaths>;
  settings: SetupSettings;
  /** The image cache (~/.cache/ciao). */
  cacheDir: string;
  /** Set when the cluster existed before this run: setup resumes it. */
  resuming: boolean;
  host: SetupHost;
  record?: ClusterRecord;
  bundles?: Record<DaemonName, string>;
  /** `agents[i]`: node i's certificate (a real cluster's). */
  pki?: ClusterPki & { agents?: CertPaths[]; simAgent?: CertPaths };
  creds?: Credentials;
  admin?: AdminClient;
  real?: { vmImage?: VmImage; containerImage?: string; accel?: Accel; network?: ClusterNetwork };
  vmImageId?: string;
  /** The images registered whose files are still to be sent (register images → upload images). */
  imageUploads?: { id: string; content: () => Promise<Buffer> }[];
}

/** A step of the setup flow (singlevm/flow.ts). */
export type Action = Step<SetupContext>;


export const urls = (ctx: SetupContext) => {
  const record = need(ctx.record, 'the cluster record', 'configuration');
  return { identity: `https://127.0.0.1:${record.ports.identity}`, controller: `https://127.0.0.1:${record.ports.controller}` };
};

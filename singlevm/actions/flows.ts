// The setup flow as a list of steps and what each needs first (docs/lifecycle.md); singlevm/flow.ts
// runs it, the steps whose needs are met at the same time.
import type { Needs } from '../flow.ts';
import type { Action, SetupContext } from './context.ts';
import { preflight } from './preflight.ts';
import { configuration } from './configuration.ts';
import { daemonBundles } from './daemon-bundles.ts';
import { certificates } from './certificates.ts';
import { accel, clusterNetwork, containerImage, dockerEngine, sshKey, vmImage } from './real-node.ts';
import { credentials } from './credentials.ts';
import { controlPlane } from './control-plane.ts';
import { nativeModule } from './native-module.ts';
import { vmTemplates } from './vm-templates.ts';
import { registerImages, uploadImages } from './images.ts';
import { node } from './node.ts';
import { workloads } from './workloads.ts';
import { demoSh } from './demo-sh.ts';
import { joinedMachines } from './joined-machines.ts';

/** A new cluster, or what is missing of one that exists (a resume). */
export const SETUP_FLOW: Action[] = [
  preflight, configuration, daemonBundles, certificates,
  sshKey, dockerEngine, vmImage, containerImage, accel, vmTemplates, clusterNetwork,
  credentials, nativeModule, controlPlane, registerImages, uploadImages, node, workloads, demoSh, joinedMachines,
];

/** What each step needs done first: everything reads the state dir preflight makes, and nothing
 *  touches the host before preflight's snapshot of it. A step left out waits for all before it. */
export const SETUP_NEEDS: Needs<SetupContext> = new Map<Action, Action[]>([
  [configuration, [preflight]],
  [daemonBundles, [preflight]],
  [certificates, [configuration]],
  [sshKey, [preflight]],
  [dockerEngine, [preflight]],
  [vmImage, [preflight]],
  // Both unpack Debian packages into one cache folder: one at a time.
  [containerImage, [dockerEngine, vmImage]],
  [accel, [configuration, vmImage]],
  // Only while better-sqlite3 compiles (a fresh machine): the node then finds them made.
  [vmTemplates, [vmImage, accel]],
  [clusterNetwork, [configuration]],
  [credentials, [configuration]],
  // The controller loads better-sqlite3: on a fresh machine its compile runs beside the steps above.
  [nativeModule, [preflight]],
  [controlPlane, [daemonBundles, certificates, credentials, nativeModule]],
  [registerImages, [controlPlane, vmImage]],
  [uploadImages, [registerImages]],
  [node, [registerImages, accel, clusterNetwork, dockerEngine, vmTemplates]],
  [workloads, [controlPlane, containerImage, sshKey]],
  [demoSh, [certificates, credentials, uploadImages, node, workloads]],
  [joinedMachines, [controlPlane, clusterNetwork]],
]);

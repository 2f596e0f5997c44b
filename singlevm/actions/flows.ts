// The setup flow as a list of steps (docs/lifecycle.md); singlevm/flow.ts runs it.
import type { Action } from './context.ts';
import { preflight } from './preflight.ts';
import { configuration } from './configuration.ts';
import { daemonBundles } from './daemon-bundles.ts';
import { certificates } from './certificates.ts';
import { accel, clusterNetwork, containerImage, dockerEngine, sshKey, vmImage } from './real-node.ts';
import { credentials } from './credentials.ts';
import { controlPlane } from './control-plane.ts';
import { registerImages } from './images.ts';
import { node } from './node.ts';
import { workloads } from './workloads.ts';
import { demoSh } from './demo-sh.ts';
import { joinedMachines } from './joined-machines.ts';

/** A new cluster, or what is missing of one that exists (a resume). */
export const SETUP_FLOW: Action[] = [
  preflight, configuration, daemonBundles, certificates,
  sshKey, dockerEngine, vmImage, containerImage, accel, clusterNetwork,
  credentials, controlPlane, registerImages, node, workloads, demoSh, joinedMachines,
];

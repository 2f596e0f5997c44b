// The flows as lists of steps (docs/lifecycle.md), and the one runner that runs them: each step's
// status line and time, its note under it, and the first failure stops the flow.
import type { StepRunner } from '../step-runner.ts';
import type { Action, SetupContext } from './context.ts';
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

/** A new cluster, or what is missing of one that exists (a resume). */
export const SETUP_FLOW: Action[] = [
  preflight, configuration, daemonBundles, certificates,
  sshKey, dockerEngine, vmImage, containerImage, accel, clusterNetwork,
  credentials, controlPlane, registerImages, node, workloads, demoSh,
];

export async function runFlow(steps: StepRunner, flow: Action[], ctx: SetupContext): Promise<void> {
  for (const action of flow) {
    if (action.when && !action.when(ctx)) continue;
    const name = typeof action.name === 'function' ? action.name(ctx) : action.name;
    const note = await steps.step(name, (progress) => action.execute(ctx, progress));
    if (note) console.log(`  ${note}`);
  }
}

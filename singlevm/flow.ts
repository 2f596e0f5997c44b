// A flow is a list of steps over one context, run in order by the step runner: each step's status
// line and time, its note under it, and the first failure stops the flow. Setup, verify and
// ccloudvm create are flows, each with its own context (docs/lifecycle.md).
import type { StepRunner } from './step-runner.ts';

/** A step: a name for its status line, and what it does. */
export interface Step<C> {
  name: string | ((ctx: C) => string);
  /** Skipped when false (e.g. the real node's steps on a simulated cluster). */
  when?: (ctx: C) => boolean;
  /** May return a line to print under the step's status line. */
  execute(ctx: C, progress: (note: string) => void): Promise<string | void>;
}

/** What the step's status line says it does. */
export const stepName = <C>(step: Step<C>, ctx: C): string => (typeof step.name === 'function' ? step.name(ctx) : step.name);

export async function runFlow<C>(steps: StepRunner, flow: Step<C>[], ctx: C): Promise<void> {
  for (const step of flow) {
    if (step.when && !step.when(ctx)) continue;
    const note = await steps.step(stepName(step, ctx), (progress) => step.execute(ctx, progress));
    if (note) console.log(`  ${note}`);
  }
}

// A flow is a list of steps over one context, run in order by the step runner: each step's status
// line and time, its note under it, and the first failure stops the flow. Setup, verify and
// ccloudvm create are flows, each with its own context (docs/lifecycle.md).
import type { StepRunner } from './step-runner.ts';

/** A step: a name for its status line, and what it does. */
export interface Step<C> {
  name: string | ((ctx: C) => string);
  /** Skipped when false (e.g. the real node's steps on a simulated cluster). */
  when?: (ctx: C) => boolean;
  /** What goes undone when `when` skips the step, as a line for the flow's summary (verify's
   *  "not checked on this simulated cluster"). */
  skipped?: string;
  /** May return a line to print under the step's status line. */
  execute(ctx: C, progress: (note: string) => void): Promise<string | void>;
}

/** What an earlier step made; a clear error when it did not. */
export function need<T>(value: T | undefined, what: string, step: string): T {
  if (value === undefined) throw new Error(`${what} is not there: the "${step}" step should have made it`);
  return value;
}

/** What the step's status line says it does. */
export const stepName = <C>(step: Step<C>, ctx: C): string => (typeof step.name === 'function' ? step.name(ctx) : step.name);

/** Runs the steps in order; the `skipped` lines of the steps `when` leaves out go to `undone`. */
export async function runFlow<C>(steps: StepRunner, flow: Step<C>[], ctx: C, undone: string[] = []): Promise<void> {
  for (const step of flow) {
    if (step.when && !step.when(ctx)) {
      if (step.skipped) undone.push(step.skipped);
      continue;
    }
    const note = await steps.step(stepName(step, ctx), (progress) => step.execute(ctx, progress));
    if (note) console.log(`  ${note}`);
  }
}

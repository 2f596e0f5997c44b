// A flow is a list of steps over one context, run by the step runner: each step's status line and
// time, its note under it, and the first failure stops the flow. Setup, verify and ccloudvm create
// are flows, each with its own context (docs/lifecycle.md). A flow may say what each step needs
// first (`Needs`): then the steps whose needs are met run at the same time, and the runner prints
// the critical path (docs/lifecycle.md, "Steps at the same time").
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

/** What each step needs done before it starts: steps earlier in the same list. A step the table
 *  does not name needs every step before it, and every step after it needs it (a barrier), so a
 *  step added to a list without an entry here runs exactly where it stands, as in a plain list. */
export type Needs<C> = ReadonlyMap<Step<C>, readonly Step<C>[]>;

/** What an earlier step made; a clear error when it did not. */
export function need<T>(value: T | undefined, what: string, step: string): T {
  if (value === undefined) throw new Error(`${what} is not there: the "${step}" step should have made it`);
  return value;
}

/** What the step's status line says it does. */
export const stepName = <C>(step: Step<C>, ctx: C): string => (typeof step.name === 'function' ? step.name(ctx) : step.name);

/** For each step of `flow`, the steps it waits for (indices into `flow`), by the rule of `Needs`. */
export function waitsFor<C>(flow: readonly Step<C>[], needs?: Needs<C>): number[][] {
  return flow.map((step, i) => {
    const declared = needs?.get(step);
    if (!declared) return Array.from({ length: i }, (_, j) => j);
    const deps = declared.map((d) => {
      const j = flow.indexOf(d);
      if (j < 0 || j >= i) throw new Error(`flow: step ${i} needs a step that is not before it in the list`);
      return j;
    });
    // Every step before it that the table leaves out is a barrier.
    for (let j = 0; j < i; j++) if (!needs!.has(flow[j])) deps.push(j);
    return [...new Set(deps)];
  });
}

/** Runs the steps, each once the steps it needs are done (in list order when `needs` is absent);
 *  the `skipped` lines of the steps `when` leaves out go to `undone`. The first failure stops any
 *  step from starting; the steps running then are waited for, and that failure is thrown. */
export async function runFlow<C>(steps: StepRunner, flow: Step<C>[], ctx: C, undone: string[] = [], needs?: Needs<C>): Promise<void> {
  const deps = waitsFor(flow, needs);
  const done: (Promise<string | undefined> | undefined)[] = [];
  let failed: unknown;
  const runStep = async (i: number): Promise<string | undefined> => {
    const names = await Promise.all(deps[i].map((j) => done[j]!));
    const step = flow[i];
    if (failed) throw new Error('an earlier step failed');
    if (step.when && !step.when(ctx)) {
      if (step.skipped) undone.push(step.skipped);
      // A skipped step ends when what it would have waited for ended: what waits on it waits on those.
      return latest(names);
    }
    const name = stepName(step, ctx);
    try {
      const note = await steps.step(name, (progress) => step.execute(ctx, progress), { after: latest(names) });
      if (note) steps.print(`  ${note}`);
    } catch (err) {
      failed ??= err;
      throw err;
    }
    return name;
  };
  /** Of the steps a step waited for, the one that ended last (its critical predecessor). */
  const latest = (names: (string | undefined)[]) => steps.lastEnded(names.filter((n): n is string => !!n));
  for (let i = 0; i < flow.length; i++) done.push(runStep(i));
  // Keep an unobserved rejection from ending the process before allSettled sees it.
  for (const p of done) p!.catch(() => {});
  await Promise.allSettled(done);
  if (failed) throw failed;
}

// How the BAT runner schedules the suites (docs/bat.md): which run side by side and which alone,
// in what order, and how many tests at once the cluster has room for.

/** The fastest measured on a 2-core machine (docs/bat.md, "Measured"). */
export const DEFAULT_JOBS = 4;
export const DEFAULT_TEST_JOBS = 3;

/** Suites that change the cluster every other suite stands on, with why: they run after the
 *  others, alone. */
export const ALONE: Readonly<Record<string, string>> = { cluster: 'it kills a launcher, cordons, adds and removes nodes' };

/** The longest suites first (measured), so that the side-by-side lane ends as soon as it can. */
const LONGEST_FIRST = ['actions', 'storage', 'openstack-cli', 'base', 'network', 'keypairs-groups', 'workload', 'quotas', 'egress', 'image', 'tenant'];

/** The most vcpus one test holds at once: a tenant's CNCI and three instances (base, quotas), or
 *  two tenants' CNCIs and an instance each (network). */
export const VCPUS_PER_TEST = 4;

export interface Lanes {
  /** Run side by side, started in this order. */
  sideBySide: string[];
  /** Run one at a time after the side-by-side lane has ended. */
  alone: string[];
}

export function lanes(wanted: string[]): Lanes {
  const rank = (s: string) => (LONGEST_FIRST.includes(s) ? LONGEST_FIRST.indexOf(s) : LONGEST_FIRST.length);
  return {
    sideBySide: wanted.filter((s) => !ALONE[s]).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)),
    alone: wanted.filter((s) => ALONE[s]),
  };
}

/** How many tests may run at once in the whole run: no more than the cluster's free vcpus
 *  (`room`) hold, a test holding up to VCPUS_PER_TEST, nor than asked (suites × tests each). */
export function testSlots(asked: { suites: number; tests: number }, room: number): { slots: number; capped?: string } {
  const fit = Math.max(1, Math.floor(room / VCPUS_PER_TEST));
  const wanted = asked.suites * asked.tests;
  return fit >= wanted ? { slots: wanted } : { slots: fit, capped: `the cluster has ${room} vcpus free, and a test holds up to ${VCPUS_PER_TEST}` };
}

/** Runs `suites` in order, at most `jobs` at once and at most `slots` tests at once in all: a suite
 *  whose tests run side by side (`sideBySide(suite)`) starts with up to `tests` of the free slots,
 *  any other with one; a suite's slots are free again when it ends. */
export async function runInSlots<R>(suites: string[], o: { jobs: number; tests: number; slots: number; sideBySide: (suite: string) => boolean },
  run: (suite: string, tests: number) => Promise<R>): Promise<R[]> {
  let free = o.slots;
  const running = new Set<Promise<void>>();
  const done: R[] = [];
  for (const suite of suites) {
    while (running.size >= o.jobs || free < 1) await Promise.race(running);
    const tests = o.sideBySide(suite) ? Math.min(o.tests, free) : 1;
    free -= tests;
    const p: Promise<void> = run(suite, tests).then((r) => { done.push(r); }).finally(() => { free += tests; running.delete(p); });
    running.add(p);
  }
  await Promise.all(running);
  return done;
}

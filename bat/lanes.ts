// How the BAT runner schedules the suites (docs/bat.md): which run side by side and which alone,
// in what order, and how many suites and tests at once the cluster has room for.

/** The fastest measured on a 2-core machine (docs/bat.md, "Measured"). */
export const DEFAULT_JOBS = 4;
export const DEFAULT_TEST_JOBS = 3;

/** Suites that change the cluster every other suite stands on, with why: they run after the
 *  others, alone. */
export const ALONE: Readonly<Record<string, string>> = { cluster: 'it kills a launcher, cordons, adds and removes nodes' };

/** The longest suites first (measured), so that the side-by-side lane ends as soon as it can. */
const LONGEST_FIRST = ['openstack-cli', 'actions', 'storage', 'network', 'base', 'keypairs-groups', 'quotas', 'workload', 'egress', 'image', 'tenant'];

/** The most vcpus one test holds at once: a tenant's CNCI and three instances (base, quotas), or
 *  two tenants' CNCIs and an instance each (network). */
export const VCPUS_PER_TEST = 4;

export interface Lanes {
  /** Run up to `suites` at once, in this order. */
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

export interface Concurrency {
  suites: number;
  tests: number;
  /** Why it is less than asked for, when it is. */
  capped?: string;
}

/** Suites and tests at once: as asked, unless more tests could run at once than the cluster's
 *  free vcpus (`room`) hold; then the split of suites × tests-per-suite that runs the most tests
 *  at once within it (on a tie, more suites: the long ones run together). */
export function concurrency(asked: { suites: number; tests: number }, room: number, suiteCount: number): Concurrency {
  const atOnce = Math.max(1, Math.floor(room / VCPUS_PER_TEST));
  if (Math.max(1, Math.min(asked.suites, suiteCount)) * asked.tests <= atOnce) return { suites: asked.suites, tests: asked.tests };
  let best = { suites: 1, tests: 1 };
  for (let tests = 1; tests <= asked.tests; tests++) {
    const suites = Math.max(1, Math.min(asked.suites, suiteCount, Math.floor(atOnce / tests)));
    if (suites * tests <= atOnce && suites * tests > best.suites * best.tests) best = { suites, tests };
  }
  return { ...best, capped: `the cluster has ${room} vcpus free, and a test holds up to ${VCPUS_PER_TEST}` };
}

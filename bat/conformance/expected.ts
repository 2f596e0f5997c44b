// The checked-in list of tests expected to fail or be skipped, each under the reason of its group,
// and the verdict of a run against it: anything that differs from the list is unexpected — a listed
// test that passes too, so the list stays true and only shrinks (docs/conformance.md).
import { readFile } from 'node:fs/promises';
import { subjectOf, type Outcome, type TestResult } from './results.ts';

export interface Expectation {
  name: string;
  outcome: 'fail' | 'skip';
  reason: string;
  line: number;
}

export class ExpectedListError extends Error {}

/** `## reason` starts a group; `fail NAME` / `skip NAME` name a test (without its [attributes]);
 *  `#` lines and blank lines are comments. */
export function parseExpected(text: string, file = 'the expected list'): Expectation[] {
  const list: Expectation[] = [];
  const seen = new Map<string, number>();
  let reason: string | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const at = `${file}:${i + 1}`;
    if (line.startsWith('## ')) return void (reason = line.slice(3).trim());
    if (!line || line.startsWith('#')) return;
    const m = line.match(/^(fail|skip) (\S.*)$/);
    if (!m) throw new ExpectedListError(`${at}: expected "fail TEST", "skip TEST" or "## reason", not ${JSON.stringify(line)}`);
    const name = m[2].trim();
    if (/\[[^\]]*\]$/.test(name)) throw new ExpectedListError(`${at}: write ${name} without its [attributes]`);
    if (!reason) throw new ExpectedListError(`${at}: ${name} has no reason: put it under a "## reason" line`);
    if (seen.has(name)) throw new ExpectedListError(`${at}: ${name} is listed already on line ${seen.get(name)}`);
    seen.set(name, i + 1);
    list.push({ name, outcome: m[1] as Expectation['outcome'], reason, line: i + 1 });
  });
  return list;
}

export async function readExpected(file: string): Promise<Expectation[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ExpectedListError(`cannot read the expected list ${file}: ${(err as Error).message}`);
  }
  return parseExpected(text, file);
}

export type Surprise =
  | { kind: 'passed'; result: TestResult; expected: Expectation }
  | { kind: 'failed' | 'skipped'; result: TestResult; expected?: Expectation }
  | { kind: 'not-run'; expected: Expectation };

export interface Verdict {
  /** Results that match their listing (failures and skips that are listed as such). */
  asExpected: TestResult[];
  surprises: Surprise[];
}

const PAST: Record<Exclude<Outcome, 'pass'>, 'failed' | 'skipped'> = { fail: 'failed', skip: 'skipped' };

/**
 * Each result against the list. `selected` says which listed names this run was meant to cover:
 * when whole areas ran, a listed test of theirs that did not run is a surprise (unless its class's
 * setUpClass row stands for it); with a narrower selection (--smoke, --regex) pass `undefined`.
 */
export function judge(results: TestResult[], expected: Expectation[], selected?: (name: string) => boolean): Verdict {
  const byName = new Map(expected.map((e) => [e.name, e]));
  const verdict: Verdict = { asExpected: [], surprises: [] };
  for (const result of results) {
    const listed = byName.get(result.name);
    if (result.outcome === 'pass') {
      if (listed) verdict.surprises.push({ kind: 'passed', result, expected: listed });
    } else if (listed?.outcome === result.outcome) {
      verdict.asExpected.push(result);
    } else {
      verdict.surprises.push({ kind: PAST[result.outcome], result, expected: listed });
    }
  }
  if (selected) {
    const ran = new Set(results.map((r) => r.name));
    const setUpClassRows = new Set(results.filter((r) => r.name.startsWith('setUpClass (')).map((r) => r.subject));
    for (const e of expected) {
      const cls = subjectOf(e.name).replace(/\.\w+$/, '');
      if (selected(e.name) && !ran.has(e.name) && !setUpClassRows.has(cls)) verdict.surprises.push({ kind: 'not-run', expected: e });
    }
  }
  return verdict;
}

/** One line per surprise, saying what to do about it. */
export function describeSurprise(s: Surprise): string {
  switch (s.kind) {
    case 'passed':
      return `PASSED, listed as ${s.expected.outcome} (line ${s.expected.line}): ${s.result.name} — remove it from the list`;
    case 'not-run':
      return `NOT RUN, listed as ${s.expected.outcome} (line ${s.expected.line}): ${s.expected.name} — renamed or gone? fix the list`;
    default:
      return `${s.kind.toUpperCase()}${s.expected ? `, listed as ${s.expected.outcome} (line ${s.expected.line})` : ', not listed'}: ${s.result.name}\n    ${s.result.cause ?? ''}`;
  }
}

/** The unexpected failures and skips in the list's own format, one group per cause: a start for
 *  the list when an area is added, to be given human reasons before it is checked in. */
export function asListEntries(surprises: Surprise[]): string {
  const groups = new Map<string, string[]>();
  for (const s of surprises) {
    if (s.kind !== 'failed' && s.kind !== 'skipped') continue;
    const key = s.result.cause ?? s.kind;
    groups.set(key, [...(groups.get(key) ?? []), `${s.result.outcome} ${s.result.name}`]);
  }
  return [...groups].sort((a, b) => b[1].length - a[1].length)
    .map(([cause, lines]) => `## ${cause}\n${lines.sort().join('\n')}`).join('\n');
}

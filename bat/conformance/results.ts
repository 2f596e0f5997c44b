// From Tempest's subunit stream to results: one outcome per test (or per class, when Tempest fails
// or skips a whole class in setUpClass or fails it in tearDownClass), each failure and skip with a
// short cause to group by, and the table per area.
import type { SubunitPacket } from './subunit.ts';
import { inArea, type Area } from './areas.ts';

export type Outcome = 'pass' | 'fail' | 'skip';

export interface TestResult {
  /** As Tempest names it, with its [id-…,smoke] attributes. */
  id: string;
  /** Without the attributes: what the expected list names. */
  name: string;
  /** The dotted path the row is about: the test, or the class of a setUpClass/tearDownClass row. */
  subject: string;
  outcome: Outcome;
  seconds: number;
  /** A failure's traceback, a skip's reason. */
  detail: string;
  /** Why it failed or was skipped, normalised so that one cause groups many tests. */
  cause?: string;
}

const FINAL: Partial<Record<NonNullable<SubunitPacket['status']>, Outcome>> = {
  success: 'pass', xfail: 'pass', fail: 'fail', uxsuccess: 'fail', skip: 'skip',
};

export const withoutAttributes = (id: string): string => id.replace(/\[[^\]]*\]$/, '');

/** `setUpClass (tempest.api.x.Class)` is about tempest.api.x.Class. */
export const subjectOf = (name: string): string => name.match(/^\w+ \(([\w.]+)\)$/)?.[1] ?? name;

/** Gathers packets into results; `add` returns the result a packet completes. */
export class ResultCollector {
  readonly results: TestResult[] = [];
  private readonly open = new Map<string, { started?: Date; files: Map<string, Buffer[]> }>();

  add(p: SubunitPacket): TestResult | undefined {
    // The stream opens by listing every selected test (`exists`): not a start.
    if (!p.testId || p.status === 'exists') return undefined;
    let test = this.open.get(p.testId);
    if (!test) this.open.set(p.testId, (test = { files: new Map() }));
    if (p.status === 'inprogress') test.started = p.timestamp;
    if (p.file) test.files.set(p.file.name, [...(test.files.get(p.file.name) ?? []), p.file.bytes]);
    const outcome = p.status && FINAL[p.status];
    if (!outcome) return undefined;
    this.open.delete(p.testId);
    const file = (name: string) => {
      const found = [...test.files].find(([n]) => n === name || n.startsWith(`${name}:`));
      return found ? Buffer.concat(found[1]).toString('utf8') : '';
    };
    const name = withoutAttributes(p.testId);
    const detail = outcome === 'skip' ? file('reason') : outcome === 'fail' ? file('traceback') : '';
    const result: TestResult = {
      id: p.testId, name, subject: subjectOf(name), outcome,
      seconds: test.started && p.timestamp ? (p.timestamp.getTime() - test.started.getTime()) / 1000 : 0,
      detail,
      ...(outcome === 'fail' && { cause: failureCause(detail, file('pythonlogging')) }),
      ...(outcome === 'skip' && { cause: normalise(detail.trim()) || 'skipped (no reason given)' }),
    };
    this.results.push(result);
    return result;
  }
}

export function resultsOf(packets: SubunitPacket[]): TestResult[] {
  const c = new ResultCollector();
  for (const p of packets) c.add(p);
  return c.results;
}

/** Ids, request ids, random numbers in Tempest's resource names, header dumps: what differs
 *  between two tests that fail for the same reason. */
export function normalise(text: string): string {
  return text
    .replace(/ - \{'.*$/s, '')
    .replace(/req-[0-9a-f-]{36}/g, 'req-…')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '{id}')
    .replace(/\b[0-9a-f]{32}\b/gi, '{id}')
    .replace(/0x[0-9a-f]+/g, '0x…')
    .replace(/\d{6,}/g, 'N')
    .replace(/range\[[^\]]*\]/g, 'range[…]')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200);
}

/** A failure's cause: the exception's type and its details; when the details are only a status
 *  code (UnexpectedResponseCode), the last request that got that status, from Tempest's log. */
export function failureCause(traceback: string, log = ''): string {
  const lines = traceback.trimEnd().split('\n');
  const isException = (l: string) => /^[A-Za-z_][\w.]*(?: \([\w.]+\))?: /.test(l) && !l.startsWith('Details: ');
  const at = lines.length - 1 - [...lines].reverse().findIndex(isException);
  if (at === lines.length) return normalise(lines.at(-1) ?? 'failed with no traceback');
  const [, type, message] = lines[at].match(/^([\w.]+)(?: \([\w.]+\))?: (.*)$/) ?? [];
  const details = lines.slice(at + 1).find((l) => l.startsWith('Details: '))?.slice('Details: '.length).trim();
  const short = type?.split('.').at(-1) ?? 'Error';
  if (details && /^\d{3}$/.test(details)) {
    const request = [...log.matchAll(/Request \([^)]*\): (\d{3}) ([A-Z]+) (\S+)/g)].filter((m) => m[1] === details).at(-1);
    if (request) return normalise(`${short}: HTTP ${details} on ${request[2]} ${new URL(request[3]).pathname}`);
    // A class row has no request log: the service client's call in the traceback says what it was.
    const call = [...traceback.matchAll(/tempest\/lib\/services\/(?:[\w/]+\/)?(\w+)\.py", line \d+, in (\w+)/g)].at(-1);
    if (call) return normalise(`${short}: HTTP ${details} from ${call[1]}.${call[2]}`);
  }
  // An API's error body ({'code': …, 'message': '…'}): its message says what is missing.
  const apiMessage = details?.match(/'message': (['"])(.*)\1\}$/)?.[2];
  return normalise(`${short}: ${apiMessage ?? details ?? message}`);
}

export interface AreaRow {
  area: Area;
  ran: number;
  passed: number;
  failed: number;
  skipped: number;
}

export function areaTable(results: TestResult[], areas: Area[]): AreaRow[] {
  return areas.map((area) => {
    const mine = results.filter((r) => inArea(r.subject, area));
    const count = (o: Outcome) => mine.filter((r) => r.outcome === o).length;
    return { area, ran: mine.length, passed: count('pass'), failed: count('fail'), skipped: count('skip') };
  });
}

/** The table as Markdown, as the issue and docs/conformance.md show it. */
export function formatTable(rows: AreaRow[]): string {
  const width = Math.max(...rows.map((r) => r.area.title.length), 4);
  const line = (cells: string[]) => `| ${cells[0].padEnd(width)} | ${cells.slice(1).map((c) => c.padStart(7)).join(' | ')} |`;
  return [
    line(['area', 'ran', 'passed', 'failed', 'skipped']),
    `|${'-'.repeat(width + 2)}|${Array(4).fill('-'.repeat(9)).join('|')}|`,
    ...rows.map((r) => line([r.area.title, String(r.ran), String(r.passed), String(r.failed), String(r.skipped)])),
  ].join('\n');
}

/** The most frequent causes among the results with this outcome, most first. */
export function topCauses(results: TestResult[], outcome: Outcome, n = 10): { cause: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const r of results) if (r.outcome === outcome && r.cause) counts.set(r.cause, (counts.get(r.cause) ?? 0) + 1);
  return [...counts].map(([cause, count]) => ({ cause, count })).sort((a, b) => b.count - a.count || a.cause.localeCompare(b.cause)).slice(0, n);
}

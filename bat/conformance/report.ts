// What a run leaves and says: JUnit (Debian's subunit2junitxml over the saved stream), summary.json,
// the paste-ready entries for the expected list, and the text for the terminal — the table per
// area, the top causes of failure and every outcome that differs from the expected list.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../shared/run.ts';
import { asListEntries, describeSurprise, type Verdict } from './expected.ts';
import { formatTable, topCauses, type AreaRow, type TestResult } from './results.ts';

export interface RunSummary {
  cluster: string;
  tempest: string;
  credentials: string;
  started: string;
  seconds: number;
  selection: string;
  table: AreaRow[];
  results: TestResult[];
  verdict: Verdict;
}

export const outputFiles = (outDir: string) => ({
  subunit: join(outDir, 'tempest.subunit'),
  junit: join(outDir, 'tempest.xml'),
  summary: join(outDir, 'summary.json'),
  entries: join(outDir, 'unexpected-entries.txt'),
});

export async function writeJunit(subunitFile: string, junitFile: string): Promise<void> {
  // It exits 1 when the stream holds a failure: only a missing document is an error.
  const { stdout, stderr } = await run('subunit2junitxml', [], { inputFile: subunitFile, allowFailure: true });
  if (!stdout.includes('</testsuite>')) throw new Error(`subunit2junitxml wrote no JUnit document: ${stderr.trim().split('\n').slice(-3).join(' | ') || '(it said nothing)'}`);
  await writeFile(junitFile, stdout);
}

export async function writeSummary(file: string, s: RunSummary): Promise<void> {
  const json = {
    ...s,
    table: s.table.map((r) => ({ area: r.area.key, title: r.area.title, ran: r.ran, passed: r.passed, failed: r.failed, skipped: r.skipped })),
    results: s.results.map(({ name, outcome, seconds, cause }) => ({ name, outcome, seconds, cause })),
    verdict: { as_expected: s.verdict.asExpected.length, unexpected: s.verdict.surprises.map(describeSurprise) },
  };
  await writeFile(file, JSON.stringify(json, null, 2) + '\n');
}

/** The unexpected failures and skips as list entries, when there are any; else nothing is written. */
export async function writeEntries(file: string, verdict: Verdict): Promise<boolean> {
  const entries = asListEntries(verdict.surprises);
  if (entries) await writeFile(file, `${entries}\n`);
  return Boolean(entries);
}

/** The end of a run on the terminal; at most `limit` unexpected outcomes are spelled out. */
export function runReport(s: RunSummary, limit = 40): string {
  const causes = topCauses(s.results, 'fail');
  const lines = [
    `Tempest ${s.tempest} against cluster ${s.cluster} (${s.credentials} credentials), ${(s.seconds / 60).toFixed(1)} min`,
    '',
    formatTable(s.table),
  ];
  if (causes.length) lines.push('', 'top causes of failure:', ...causes.map((c) => `  ${String(c.count).padStart(4)}  ${c.cause}`));
  const { surprises, asExpected } = s.verdict;
  lines.push('', `${asExpected.length} failures and skips as expected, ${surprises.length} unexpected`);
  lines.push(...surprises.slice(0, limit).map((x) => `  ${describeSurprise(x)}`));
  if (surprises.length > limit) lines.push(`  … and ${surprises.length - limit} more (summary.json)`);
  return lines.join('\n');
}

// The expected list and the verdict: a listed failure is fine, an unlisted one fails the run, a
// listed test that passes fails it too (the list only shrinks), and a stale entry is found.
import t from 'tap';
import { asListEntries, describeSurprise, judge, parseExpected, ExpectedListError } from '../../bat/conformance/expected.ts';
import { subjectOf, type TestResult } from '../../bat/conformance/results.ts';

const M = 'tempest.api.compute.flavors.test_flavors.FlavorsV2TestJSON';
const result = (name: string, outcome: TestResult['outcome'], cause?: string): TestResult =>
  ({ id: `${name}[id-x]`, name, subject: subjectOf(name), outcome, seconds: 0.1, detail: '', cause });

const LIST = `# expected to fail or skip
## compute: no microversion header in responses
fail ${M}.test_get_flavor
fail ${M}.test_list_flavors

## volume snapshots are off
skip setUpClass (tempest.api.volume.test_volumes_snapshots.VolumesSnapshotTestJSON)
`;
const expected = parseExpected(LIST);

t.test('the list: groups under a reason, names without attributes, each once', async (t) => {
  t.same(expected.map((e) => [e.outcome, e.name, e.reason, e.line]), [
    ['fail', `${M}.test_get_flavor`, 'compute: no microversion header in responses', 3],
    ['fail', `${M}.test_list_flavors`, 'compute: no microversion header in responses', 4],
    ['skip', 'setUpClass (tempest.api.volume.test_volumes_snapshots.VolumesSnapshotTestJSON)', 'volume snapshots are off', 7],
  ]);
  t.throws(() => parseExpected(`fail ${M}.test_a`, 'x.txt'), new ExpectedListError(`x.txt:1: ${M}.test_a has no reason: put it under a "## reason" line`));
  t.throws(() => parseExpected(`## r\nfail ${M}.test_a[id-1,smoke]`), /without its \[attributes\]/);
  t.throws(() => parseExpected(`## r\nfail ${M}.test_a\nskip ${M}.test_a`), /listed already on line 2/);
  t.throws(() => parseExpected('## r\nbroken line'), /:2: expected "fail TEST", "skip TEST" or "## reason"/);
});

t.test('a listed failure that fails, and a listed skip that skips, are as expected', async (t) => {
  const v = judge([
    result(`${M}.test_get_flavor`, 'fail'), result(`${M}.test_list_flavors`, 'fail'),
    result('setUpClass (tempest.api.volume.test_volumes_snapshots.VolumesSnapshotTestJSON)', 'skip'),
    result(`${M}.test_other`, 'pass'),
  ], expected);
  t.equal(v.asExpected.length, 3);
  t.same(v.surprises, []);
});

t.test('an unlisted failure or skip is unexpected', async (t) => {
  const v = judge([result(`${M}.test_new`, 'fail', 'KeyError: x'), result(`${M}.test_skipped`, 'skip', 'off')], expected);
  t.same(v.surprises.map((s) => s.kind), ['failed', 'skipped']);
  t.match(describeSurprise(v.surprises[0]), /^FAILED, not listed: .*test_new\n {4}KeyError: x$/);
});

t.test('a listed test that passes is unexpected: the list must shrink', async (t) => {
  const v = judge([result(`${M}.test_get_flavor`, 'pass'), result(`${M}.test_list_flavors`, 'fail')], expected);
  t.same(v.surprises.map((s) => s.kind), ['passed']);
  t.match(describeSurprise(v.surprises[0]), /^PASSED, listed as fail \(line 3\): .*test_get_flavor — remove it from the list$/);
});

t.test('a listed test with another outcome than listed is unexpected', async (t) => {
  const v = judge([result(`${M}.test_get_flavor`, 'skip'), result(`${M}.test_list_flavors`, 'fail')], expected);
  t.same(v.surprises.map((s) => s.kind), ['skipped']);
  t.match(describeSurprise(v.surprises[0]), /^SKIPPED, listed as fail \(line 3\)/);
});

t.test('when whole areas ran, a listed test that did not run is unexpected, unless its class failed in setUpClass', async (t) => {
  const selected = (name: string) => subjectOf(name).startsWith('tempest.api.compute');
  const stale = judge([result(`${M}.test_get_flavor`, 'fail')], expected, selected);
  t.same(stale.surprises.map((s) => s.kind === 'not-run' && s.expected.name), [`${M}.test_list_flavors`], 'the volume entry is outside the areas that ran');
  t.match(describeSurprise(stale.surprises[0]), /^NOT RUN, listed as fail \(line 4\)/);
  const classFailed = judge([result(`setUpClass (${M})`, 'fail')], parseExpected(`## r\nfail ${M}.test_get_flavor\nfail setUpClass (${M})`), selected);
  t.same(classFailed.surprises, [], 'its setUpClass row stands for it');
  t.same(judge([], expected).surprises, [], 'a narrower selection (--smoke, --regex) does not check');
});

t.test('the unexpected failures and skips as list entries, a group per cause, biggest first', async (t) => {
  const v = judge([
    result(`${M}.test_b`, 'fail', 'NotFound: no such API path: GET /v2.1/limits'),
    result(`${M}.test_a`, 'fail', 'KeyError: x'), result(`${M}.test_c`, 'fail', 'KeyError: x'),
    result(`${M}.test_get_flavor`, 'pass'),
  ], expected);
  t.equal(asListEntries(v.surprises), `## KeyError: x\nfail ${M}.test_a\nfail ${M}.test_c\n## NotFound: no such API path: GET /v2.1/limits\nfail ${M}.test_b`);
  t.same(parseExpected(asListEntries(v.surprises)).length, 3, 'they parse as a list');
});

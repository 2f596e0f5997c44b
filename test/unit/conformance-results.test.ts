// Tempest's subunit stream → results, causes and the table per area (a small stream of a real run
// in fixtures/tempest-sample.subunit: a pass, two failures with their tracebacks and request log, a
// class skipped in setUpClass and a class failed in it).
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSubunit, SubunitParser } from '../../bat/conformance/subunit.ts';
import { areaTable, failureCause, formatTable, normalise, resultsOf, topCauses } from '../../bat/conformance/results.ts';
import { AREAS, inArea, pickAreas, selectionRegex } from '../../bat/conformance/areas.ts';

const stream = await readFile(join(import.meta.dirname, 'fixtures', 'tempest-sample.subunit'));
const results = resultsOf(parseSubunit(stream));
const byName = (prefix: string) => results.find((r) => r.name.startsWith(prefix))!;

t.test('one result per test or class row, named without its attributes', async (t) => {
  t.same(results.map((r) => [r.outcome, r.name]).sort(), [
    ['fail', 'setUpClass (tempest.api.volume.test_volumes_list.VolumesListTestJSON)'],
    ['fail', 'tempest.api.compute.flavors.test_flavors.FlavorsV2TestJSON.test_get_flavor'],
    ['fail', 'tempest.api.identity.admin.v3.test_default_project_id.TestDefaultProjectId.test_default_project_id'],
    ['pass', 'tempest.api.identity.v3.test_tokens.TokensV3Test.test_create_token'],
    ['skip', 'setUpClass (tempest.api.identity.admin.v2.test_endpoints.EndPointsTestJSON)'],
  ]);
  t.match(byName('tempest.api.compute.flavors').id, /\[id-1f12046b-[\w-]+,smoke\]$/, 'the id keeps them');
  t.equal(byName('setUpClass (tempest.api.volume').subject, 'tempest.api.volume.test_volumes_list.VolumesListTestJSON', 'a class row is about its class');
  t.ok(byName('tempest.api.identity.v3').seconds > 0, 'timed from inprogress to its end');
});

t.test('a stream fed in pieces gives the same results as a whole one', async (t) => {
  const parser = new SubunitParser();
  const packets = [];
  for (let i = 0; i < stream.length; i += 7) packets.push(...parser.push(stream.subarray(i, i + 7)));
  t.same(resultsOf(packets), results);
  t.same(resultsOf(parseSubunit(Buffer.concat([Buffer.from('not subunit\n'), stream]))), results, 'stray bytes before the stream are skipped');
});

t.test('causes: the API\'s message, the request a bare status code was the answer to, the skip reason', async (t) => {
  t.equal(byName('tempest.api.compute.flavors').cause, "InvalidHTTPResponseHeader: Microversion header 'x-openstack-nova-api-version' with value '2.1' does not match in response");
  t.equal(byName('tempest.api.identity.admin.v3').cause, 'UnexpectedResponseCode: HTTP 405 on POST /v3/domains');
  t.equal(byName('setUpClass (tempest.api.volume').cause, 'NotFound: no such API path: GET /volume/v3/volumes');
  t.equal(byName('setUpClass (tempest.api.identity.admin.v2').cause, 'Identity api v2 is not enabled');
  t.equal(byName('tempest.api.identity.v3').cause, undefined, 'a pass has none');
  t.equal(failureCause('Traceback (most recent call last):\n  File "x.py", line 1\nKeyError: \'x-compute-request-id\'\n'), "KeyError: 'x-compute-request-id'");
  t.equal(failureCause('tempest.lib.exceptions.UnexpectedResponseCode: Unexpected response code received\nDetails: 405\n'), 'UnexpectedResponseCode: 405', 'no request log: the status alone');
  t.equal(failureCause([
    '  File "/usr/lib/python3/dist-packages/tempest/lib/services/identity/v3/users_client.py", line 62, in delete_user',
    '    resp, body = self.delete("users/%s" % user_id)',
    '  File "/usr/lib/python3/dist-packages/tempest/lib/common/rest_client.py", line 900, in _error_checker',
    'tempest.lib.exceptions.UnexpectedResponseCode: Unexpected response code received', 'Details: 405'].join('\n')),
  'UnexpectedResponseCode: HTTP 405 from users_client.delete_user', 'or the service client call in the traceback');
  t.equal(normalise('<bound method X.y of <a.B object at 0x7fdec62cd210>>'), '<bound method X.y of <a.B object at 0x…>>');
  t.equal(normalise('GET /v2.1/servers/0f842811-6f46-4204-a79b-930e6c48a4f5 tempest-image-1319449196 req-3c436ed6-e426-462c-ab40-eb7cd5924805'), 'GET /v2.1/servers/{id} tempest-image-N req-…');
  t.equal(normalise('The microversion range[2.47 - latest] of this test is out of the configuration range[2.1 - 2.1].'),
    'The microversion range[…] of this test is out of the configuration range[…].');
  t.same(topCauses(results, 'fail', 2).map((c) => c.count), [1, 1]);
});

t.test('the table counts each area over the same results, an area inside another included', async (t) => {
  const rows = areaTable(results, AREAS);
  const row = (key: string) => rows.find((r) => r.area.key === key)!;
  t.match(row('identity-tokens'), { ran: 1, passed: 1, failed: 0, skipped: 0 });
  t.match(row('identity'), { ran: 3, passed: 1, failed: 1, skipped: 1 });
  t.match(row('compute-flavors'), { ran: 1, passed: 0, failed: 1, skipped: 0 });
  t.match(row('volume'), { ran: 1, failed: 1 }, 'a class row counts in its area');
  t.match(row('image'), { ran: 0 });
  t.match(formatTable(rows), /^\| area +\| +ran \| +passed \| +failed \| +skipped \|\n\|-+\|/);
  t.match(formatTable(rows), /\| identity \(all\) +\| +3 \| +1 \| +1 \| +1 \|/);
});

t.test('areas: --area picks by key, the regex selects their prefixes, --smoke the smoke tag', async (t) => {
  t.same(pickAreas('image,nope').unknown, ['nope']);
  const { areas } = pickAreas('image,compute-flavors');
  t.same(areas.map((a) => a.key), ['compute-flavors', 'image']);
  const re = new RegExp(selectionRegex(areas));
  t.ok(re.test('tempest.api.image.v2.test_images.BasicOperationsImagesTest.test_delete_image[id-1,smoke]'));
  t.notOk(re.test('tempest.api.image.v21.x.Y.test'), 'a prefix is a whole dotted segment');
  t.notOk(re.test('tempest.api.compute.servers.test_x.Y.test'));
  t.ok(re.test('tempest.api.compute.admin.test_flavors_access.FlavorsAccessTestJSON.test_flavor_access_add_remove[id-1]'), 'compute flavors has Tempest\'s admin flavor modules too');
  t.notOk(re.test('tempest.api.compute.admin.test_flavors_foo.X.test'), 'but only those modules');
  t.ok(inArea('setUpClass (tempest.api.compute.admin.test_flavors_extra_specs.FlavorsExtraSpecsTestJSON)'.replace(/^setUpClass \((.*)\)$/, '$1'), areas[0]));
  const smoke = new RegExp(selectionRegex(areas, true));
  t.ok(smoke.test('tempest.api.image.v2.test_images.X.test_a[id-1,smoke]'));
  t.notOk(smoke.test('tempest.api.image.v2.test_images.X.test_b[id-2]'));
});

// tempest.conf from a cluster's demo.sh and its cloud facts; the facts from the API's answers; the
// accounts Tempest gets.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDemoSh } from '../../singlevm/demo-sh.ts';
import { clusterAccess } from '../../bat/conformance/cluster.ts';
import { factsFrom, type CloudAnswers } from '../../bat/conformance/cloud-facts.ts';
import { tempestConf } from '../../bat/conformance/tempest-conf.ts';
import { ALT_FLAVOR_ID } from '../../bat/conformance/alt-flavor.ts';
import { workspacePaths } from '../../bat/conformance/workspace.ts';
import { accountsYaml, wantedAccounts } from '../../bat/conformance/accounts.ts';
import { parse } from 'yaml';

const demoSh = await readFile(join(import.meta.dirname, 'fixtures', 'conformance-demo.sh'), 'utf8');
const cluster = clusterAccess('tmpconf', parseDemoSh(demoSh));
const answers: CloudAnswers = {
  workloads: [
    { id: 'container-flavor', vm_type: 'docker', visibility: 'public', image_name: 'busybox' },
    { id: 'tenant-vm', vm_type: 'qemu', visibility: 'tenant', image_name: 'ciao-vm' },
    { id: 'vm-flavor', vm_type: 'qemu', visibility: 'public', image_name: 'ciao-vm' },
  ],
  images: [{ id: 'image-1', name: 'ciao-vm' }, { id: 'image-2', name: 'ciao-vm-root' }],
  computeVersion: { version: '2.1', min_version: '2.1' },
  volumeVersion: { version: '3.12', min_version: '3.0' },
  computeNodes: 1,
};
const facts = factsFrom(answers);
const workspace = workspacePaths(cluster.stateDir);

/** The options of an INI text, as section → key → value. */
function ini(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let section = '';
  for (const line of text.split('\n')) {
    const s = line.match(/^\[(.+)\]$/);
    if (s) out[(section = s[1])] = {};
    const kv = line.match(/^([\w-]+) = (.*)$/);
    if (kv) out[section][kv[1]] = kv[2];
  }
  return out;
}

t.test('the cluster access comes from demo.sh', async (t) => {
  t.match(cluster, {
    name: 'tmpconf', stateDir: '/root/local/ciao-tmpconf', identityUrl: 'https://127.0.0.1:41265', controllerUrl: 'https://127.0.0.1:41473',
    caFile: '/root/local/ciao-tmpconf/pki/ca.crt', region: 'RegionOne', admin: { username: 'admin', password: 'admin-password', project: 'admin' }, simulated: true,
  });
  t.throws(() => clusterAccess('x', { ...parseDemoSh(demoSh), CIAO_ADMIN_PASSWORD: undefined }), /does not set CIAO_ADMIN_PASSWORD/);
});

t.test('the flavor is the first public VM workload, and the image is its own', async (t) => {
  t.same(facts, { flavorRef: 'vm-flavor', flavorRefAlt: 'vm-flavor', imageRef: 'image-1', imageRefAlt: 'image-1', compute: { minMicroversion: '2.1', maxMicroversion: '2.1' }, volume: { minMicroversion: '3.0', maxMicroversion: '3.12' }, computeNodes: 1 });
  t.throws(() => factsFrom({ ...answers, workloads: answers.workloads.slice(0, 2) }), /no public VM \(qemu\) workload/);
  const alt = { id: ALT_FLAVOR_ID, vm_type: 'qemu', visibility: 'public', image_name: 'ciao-vm' } as const;
  t.match(factsFrom({ ...answers, workloads: [alt, ...answers.workloads] }), { flavorRef: 'vm-flavor', flavorRefAlt: ALT_FLAVOR_ID }, 'the runner\'s alternative flavor is flavor_ref_alt, wherever it is listed');
  t.throws(() => factsFrom({ ...answers, images: [] }), /boots image ciao-vm, which the image API does not list/);
  const withAlt = factsFrom({ ...answers, images: [...answers.images, { id: 'image-3', name: 'ciao-vm-alt' }] });
  t.match(withAlt, { imageRef: 'image-1', imageRefAlt: 'image-3' }, 'image_ref_alt: the runner\'s second image when there is one');
  t.same(factsFrom({ ...answers, computeVersion: { version: '', min_version: '' } }).compute, { minMicroversion: undefined, maxMicroversion: undefined }, 'no microversions advertised, none configured');
});

t.test('pre-provisioned: the accounts file, and the admin for the classes that make their own users', async (t) => {
  const text = tempestConf({ cluster, facts, workspace, credentials: 'preprovisioned' });
  const conf = ini(text);
  t.match(conf.auth, { use_dynamic_credentials: 'false', test_accounts_file: '/root/local/ciao-tmpconf/tempest/etc/accounts.yaml', create_isolated_networks: 'false' });
  t.match(conf.auth, { admin_username: 'admin', admin_password: 'admin-password', admin_project_name: 'admin' }, 'identity admin classes force tenant isolation');
  t.match(conf.identity, { uri_v3: 'https://127.0.0.1:41265/v3', ca_certificates_file: '/root/local/ciao-tmpconf/pki/ca.crt', region: 'RegionOne' });
  t.notOk('disable_ssl_certificate_validation' in conf.identity, 'certificates are checked');
  t.match(conf.compute, { image_ref: 'image-1', flavor_ref: 'vm-flavor', min_microversion: '2.1', max_microversion: '2.1', min_compute_nodes: '1' });
  t.match(conf.service_available, { nova: 'true', glance: 'true', cinder: 'true', neutron: 'false', swift: 'false' });
  t.match(conf.volume, { catalog_type: 'volumev3', min_microversion: '3.0', max_microversion: '3.12' }, 'the volume microversions are what the cluster advertises');
  t.match(conf.validation, { run_validation: 'false' });
  t.match(conf.DEFAULT, { log_dir: '/root/local/ciao-tmpconf/tempest/logs' });
  t.match(conf.oslo_concurrency, { lock_path: '/root/local/ciao-tmpconf/tempest/lock' });
  t.match(conf['compute-feature-enabled'], { pause: 'true', resize: 'true', cold_migration: 'false', interface_attach: 'false' });
  t.match(text, /# a flavor is a workload[^\n]*\nflavor_ref = vm-flavor/, 'each option says why above it');
});

t.test('dynamic: the admin from demo.sh, no accounts file', async (t) => {
  const conf = ini(tempestConf({ cluster, facts, workspace, credentials: 'dynamic' }));
  t.match(conf.auth, { use_dynamic_credentials: 'true', admin_username: 'admin', admin_password: 'admin-password', admin_project_name: 'admin', admin_domain_name: 'Default' });
  t.notOk('test_accounts_file' in conf.auth);
});

t.test('accounts: two members and one admin per worker, two members and an admin spare; each in its own project', async (t) => {
  let n = 0;
  const accounts = wantedAccounts(2, 'ab12', () => `pw${++n}`);
  t.equal(accounts.filter((a) => !a.types).length, 6);
  t.equal(accounts.filter((a) => a.types?.includes('admin')).length, 3);
  t.equal(new Set(accounts.map((a) => a.project_name)).size, accounts.length);
  t.match(accounts[0], { username: 'tempest-ab12-member-1', project_name: 'tempest-ab12-member-1', password: 'pw1', domain_name: 'Default' });
  t.same(parse(accountsYaml(accounts)), accounts, 'the YAML Tempest reads holds them as they are');
});

// tempest.conf for a cluster: where its services are, how Tempest gets credentials, and which
// features to test. Each option carries its reason, written above it in the file
// (docs/conformance.md has the same table). Pure: the cluster's facts come in, the file's text out.
import type { ClusterAccess } from './cluster.ts';
import type { CloudFacts } from './cloud-facts.ts';

export type CredentialsMode = 'preprovisioned' | 'dynamic';

export interface WorkspacePaths {
  dir: string;
  config: string;
  accounts: string;
  logs: string;
  lock: string;
}

export interface ConfInput {
  cluster: ClusterAccess;
  facts: CloudFacts;
  workspace: WorkspacePaths;
  credentials: CredentialsMode;
}

type Value = string | number | boolean | string[];
interface Option { key: string; value: Value | undefined; why?: string }
export type Section = { name: string; options: Option[] };

const NOT_PLANNED = 'not in the cluster and not planned (docs/conformance.md)';

export function confSections({ cluster, facts, workspace, credentials }: ConfInput): Section[] {
  const dynamic = credentials === 'dynamic';
  return [
    { name: 'DEFAULT', options: [
      { key: 'log_dir', value: workspace.logs, why: 'every request Tempest makes, for the evidence of a failure' },
      { key: 'log_file', value: 'tempest.log' },
    ] },
    { name: 'oslo_concurrency', options: [
      { key: 'lock_path', value: workspace.lock, why: 'pre-provisioned accounts are handed out under these locks' },
    ] },
    { name: 'auth', options: [
      { key: 'use_dynamic_credentials', value: dynamic, why: dynamic
        ? '--credentials dynamic: Tempest makes a project and user per test class with the admin below'
        : 'pre-provisioned accounts, the default (--credentials dynamic works too: identity deletes the users it is asked to)' },
      { key: 'test_accounts_file', value: dynamic ? undefined : workspace.accounts, why: 'made by the runner through identity\'s admin API (accounts.ts)' },
      { key: 'admin_username', value: cluster.admin.username, why: 'the cluster\'s admin (demo.sh): dynamic credentials are made with it, and the identity admin classes\n# make their own projects and users with it (force_tenant_isolation) even with pre-provisioned accounts' },
      { key: 'admin_password', value: cluster.admin.password },
      { key: 'admin_project_name', value: cluster.admin.project },
      { key: 'admin_domain_name', value: 'Default' },
      { key: 'default_credentials_domain_name', value: 'Default' },
      { key: 'create_isolated_networks', value: false, why: 'there is no Networking API (neutron) to make networks with' },
    ] },
    { name: 'identity', options: [
      { key: 'uri_v3', value: `${cluster.identityUrl}/v3` },
      { key: 'auth_version', value: 'v3' },
      { key: 'ca_certificates_file', value: cluster.caFile, why: 'the cluster CA: certificates are checked, not skipped' },
      { key: 'region', value: cluster.region },
      { key: 'v3_endpoint_type', value: 'public', why: 'the catalogue\'s public endpoints, as users\' clients use them' },
      { key: 'admin_role', value: 'admin' },
      { key: 'default_domain_id', value: 'default' },
    ] },
    { name: 'identity-feature-enabled', options: [
      { key: 'api_v2', value: false, why: 'Keystone v2 is gone upstream too' },
      { key: 'api_v3', value: true },
      { key: 'trust', value: true, why: 'OS-TRUST trusts and trust-scoped tokens are served (mocks/identity/routes/trusts.ts)' },
      { key: 'access_rules', value: true, why: 'kept per user, carried by the credential\'s tokens and enforced by the controller (controller/access-rules.ts)' },
      { key: 'application_credentials', value: true },
      { key: 'project_tags', value: true, why: 'tags are in issue 13 §3: their tests run' },
      { key: 'security_compliance', value: false, why: 'no PCI-DSS lockout or password history settings' },
    ] },
    { name: 'compute', options: [
      { key: 'image_ref', value: facts.imageRef, why: 'the image of the VM flavor (flavor_ref): a server is made from its workload\'s own image' },
      { key: 'image_ref_alt', value: facts.imageRefAlt },
      { key: 'flavor_ref', value: facts.flavorRef, why: 'a flavor is a workload: the first public VM (qemu) workload' },
      { key: 'flavor_ref_alt', value: facts.flavorRefAlt, why: 'a second public VM flavor, larger, that the runner makes (alt-flavor.ts): resize goes to it, the flavor filters tell servers apart by it' },
      { key: 'min_microversion', value: facts.compute.minMicroversion, why: 'what GET /v2.1 advertises: the cluster\'s own claim decides which microversion tests run' },
      { key: 'max_microversion', value: facts.compute.maxMicroversion },
      { key: 'min_compute_nodes', value: facts.computeNodes, why: 'tests that need more hosts skip' },
      { key: 'build_timeout', value: 60, why: 'a simulated boot takes 100 ms: a server that never becomes ACTIVE fails in a minute, not five' },
      { key: 'build_interval', value: 1 },
      { key: 'shelved_offload_time', value: -1, why: 'a shelved server is offloaded only when asked (shelveOffload), as Nova with -1: the tests shelve, see SHELVED, then offload (docs/protocol.md "Shelve")' },
    ] },
    { name: 'compute-feature-enabled', options: [
      ...['cold_migration', 'live_migration', 'snapshot', 'attach_encrypted_volume']
        .map((key, i) => ({ key, value: false, why: i === 0 ? `${NOT_PLANNED}: one node, no images from servers, no volume encryption` : undefined })),
      { key: 'resize', value: true, why: 'resize, confirmResize and revertResize on the server\'s own node (docs/protocol.md "Resize")' },
      { key: 'console_output', value: true, why: 'os-getConsoleOutput reads the node: a VM\'s serial log, a container\'s output, a simulated instance\'s record (controller/console-requests.ts)' },
      { key: 'interface_attach', value: false, why: 'needs neutron' },
      { key: 'rescue', value: true, why: 'a VM boots from the rescue image with its own disk attached (docs/protocol.md "Actions")' },
      { key: 'stable_rescue', value: false, why: 'Nova 2.87 (rescue of a volume-backed server, hw_rescue_* image properties) is beyond the advertised microversions' },
      { key: 'disk_config', value: true, why: 'OS-DCF:diskConfig is kept and shown; the instance disk is blank at boot, so AUTO has no partition to grow (docs/api.md)' },
      { key: 'personality', value: true, why: 'injected files go on the config drive (VMs) or into the container before it starts (docs/api.md)' },
      ...['pause', 'suspend', 'shelve', 'config_drive', 'enable_instance_password']
        .map((key, i) => ({ key, value: true, why: i === 0 ? 'planned (issue 13 §2) or there already: their tests run, and fail until built' : undefined })),
      { key: 'xenapi_apis', value: true, why: 'Tempest gates the server metadata tests on it; server metadata is writable here (docs/api.md)' },
    ] },
    { name: 'validation', options: [
      { key: 'run_validation', value: false, why: 'no SSH into servers: a simulated cluster has no guests, and Tempest reaches guests through neutron floating IPs' },
    ] },
    { name: 'image', options: [
      { key: 'container_formats', value: ['bare'], why: 'what the image API accepts (docs/api.md)' },
      { key: 'disk_formats', value: ['raw'], why: 'Tempest uploads random bytes under these formats, and an upload is inspected against its disk_format (qcow2 needs qcow2 data): random bytes are only raw' },
    ] },
    { name: 'image-feature-enabled', options: [
      { key: 'api_v2', value: true },
      { key: 'api_v1', value: false },
      { key: 'import_image', value: false, why: `Glance's image import API: ${NOT_PLANNED}` },
      { key: 'os_glance_reserved', value: true, why: 'os_glance_* properties are refused (403), as in Glance' },
    ] },
    { name: 'volume', options: [
      { key: 'catalog_type', value: 'volumev3', why: 'Tempest\'s default: the catalogue lists Block Storage v3 as volumev3 (and as volume)' },
      { key: 'min_microversion', value: facts.volume.minMicroversion, why: 'what GET /volume/v3 advertises: the cluster\'s own claim decides which microversion tests run' },
      { key: 'max_microversion', value: facts.volume.maxMicroversion },
      { key: 'storage_protocol', value: 'file', why: 'what the one backend reports (controller/volume-backend.ts): a volume type asking for these is satisfied' },
      { key: 'vendor_name', value: 'ciao' },
      { key: 'volume_size', value: 1, why: 'GiB: a volume is a sparse qcow2 file, so 1 GiB costs nothing until written' },
      { key: 'build_timeout', value: 60 },
      { key: 'build_interval', value: 1, why: 'a volume is made (qemu-img create) in well under a second' },
    ] },
    { name: 'volume-feature-enabled', options: [
      ...['backup', 'snapshot', 'manage_snapshot', 'manage_volume', 'multi_backend', 'extend_attached_volume']
        .map((key, i) => ({ key, value: false, why: i === 0 ? 'not built (no snapshots, backups, second backend or live extend)' : undefined })),
      { key: 'clone', value: true, why: 'a volume made from source_volid is a copy of its file (qemu-img convert)' },
      { key: 'api_extensions', value: ['os-availability-zone', 'os-quota-sets', 'os-volume-actions', 'os-vol-tenant-attr', 'os-types-manage'],
        why: 'the extensions GET /volume/v3/extensions lists (Tempest checks the first is there; "all" would look for ones not served)' },
    ] },
    { name: 'service_available', options: [
      { key: 'nova', value: true, why: 'served (or claimed in the catalogue) by the cluster' },
      { key: 'glance', value: true },
      { key: 'cinder', value: true },
      { key: 'neutron', value: false, why: 'not part of the cluster' },
      { key: 'swift', value: false },
      { key: 'horizon', value: false },
    ] },
  ];
}

const render = (v: Value) => (Array.isArray(v) ? v.join(',') : String(v));

export function renderIni(sections: Section[], header: string): string {
  const body = sections.map((s) => [
    `[${s.name}]`,
    ...s.options.filter((o) => o.value !== undefined).flatMap((o) => [...(o.why ? [`# ${o.why}`] : []), `${o.key} = ${render(o.value as Value)}`]),
  ].join('\n'));
  return `${header.split('\n').map((l) => `# ${l}`).join('\n')}\n\n${body.join('\n\n')}\n`;
}

export function tempestConf(input: ConfInput): string {
  return renderIni(confSections(input), `tempest.conf for cluster "${input.cluster.name}", written by bat/tempest.sh: edits are lost on its next run.`);
}

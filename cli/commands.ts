// Every `ciao <verb> <noun>` the CLI knows: which endpoint it calls (docs/api.md) and how its
// answer is shown. Commands see the API through the small Caller interface, so tests can fake it.
import { readFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import type { Column } from './table.ts';
import { roleOf } from '../singlevm/node-roles.ts';
import { NODE_COMMANDS } from './node-commands.ts';
import type { ClusterEvent, ExternalIp, Image, Instance, NodeInfo, Pool, Tenant, Volume, Workload } from '../controller/api-types.ts';

export interface Caller {
  call<T = unknown>(method: string, path: string, body?: unknown, contentType?: string): Promise<T>;
  tenantId(): Promise<string>;
}

export interface Context {
  /** The user's caller; `admin` authenticates as CIAO_ADMIN_USERNAME when set. */
  user: Caller;
  admin: Caller;
  /** --tenant-id, else the user's project. */
  tenant(): Promise<string>;
  /** Standard input, for `--yaml -`. */
  readStdin(): Promise<string>;
}

export type Output =
  | { kind: 'list'; data: unknown[]; columns: Column<any>[] }
  | { kind: 'object'; data: Record<string, unknown> }
  | { kind: 'message'; data: unknown; text: string };

export interface CommandSpec {
  verb: string;
  nouns: string[];
  summary: string;
  args?: string[];
  options?: { flags: string; description: string; default?: unknown }[];
  run(ctx: Context, args: string[], opts: Record<string, any>): Promise<Output>;
}

const list = <T>(data: T[], columns: Column<T>[]): Output => ({ kind: 'list', data, columns });
const object = (data: object): Output => ({ kind: 'object', data: data as Record<string, unknown> });
const message = (text: string, data: unknown = null): Output => ({ kind: 'message', data, text });

const instanceColumns: Column<Instance>[] = [
  { title: 'ID', value: (i) => i.id },
  { title: 'NAME', value: (i) => (i.name === i.id ? '' : i.name) },
  { title: 'STATE', value: (i) => i.state },
  { title: 'NODE', value: (i) => i.node_id },
  { title: 'IP', value: (i) => i.ip },
  { title: 'SSH', value: (i) => (i.ssh_ip ? `${i.ssh_ip}:${i.ssh_port ?? 22}` : '') },
  { title: 'EXTERNAL IP', value: (i) => i.external_ip },
  { title: 'WORKLOAD', value: (i) => i.workload_id },
];

function parseBool(v: unknown, flag: string): boolean {
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw new UsageError(`${flag} must be true or false`);
}

function parseOnOff(v: unknown, flag: string): boolean {
  if (v === 'on') return true;
  if (v === 'off') return false;
  throw new UsageError(`${flag} must be on or off`);
}

function parseInteger(v: unknown, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`${flag} must be a whole number`);
  return n;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

const QUOTA_FLAGS: [string, string][] = [['instances', 'instances'], ['vcpus', 'vcpus'], ['memMb', 'mem_mb'], ['diskMb', 'disk_mb'], ['externalIps', 'external_ips'], ['images', 'images'], ['imageMb', 'image_mb'], ['volumes', 'volumes'], ['volumeMb', 'volume_mb']];

export const COMMANDS: CommandSpec[] = [
  // --- workloads ---
  {
    verb: 'list', nouns: ['workloads', 'workload'], summary: 'workloads you can start (yours and public ones)',
    async run(ctx) {
      const { workloads } = await ctx.user.call<{ workloads: Workload[] }>('GET', `/tenants/${await ctx.tenant()}/workloads`);
      return list(workloads, [
        { title: 'ID', value: (w) => w.id }, { title: 'DESCRIPTION', value: (w) => w.description },
        { title: 'TYPE', value: (w) => w.vm_type }, { title: 'IMAGE', value: (w) => w.image_name },
        { title: 'VCPUS', value: (w) => w.defaults.vcpus }, { title: 'MEM_MB', value: (w) => w.defaults.mem_mb },
        { title: 'VISIBILITY', value: (w) => w.visibility },
      ]);
    },
  },
  {
    verb: 'show', nouns: ['workload', 'workloads'], summary: 'one workload', args: ['id'],
    async run(ctx, [id]) {
      return object(await ctx.user.call('GET', `/tenants/${await ctx.tenant()}/workloads/${id}`));
    },
  },
  {
    verb: 'create', nouns: ['workload', 'workloads'], summary: 'a workload from a YAML file (- for stdin)',
    options: [{ flags: '--yaml <file>', description: 'the workload definition (docs/api.md)' }],
    async run(ctx, _args, opts) {
      if (!opts.yaml) throw new UsageError('--yaml FILE is required (- reads standard input)');
      const text = opts.yaml === '-' ? await ctx.readStdin() : await readFile(opts.yaml, 'utf8').catch((e) => { throw new UsageError(`cannot read ${opts.yaml}: ${e.message}`); });
      const w = await ctx.user.call<Workload>('POST', `/tenants/${await ctx.tenant()}/workloads`, text, 'application/yaml');
      return message(`created workload ${w.id}`, w);
    },
  },
  {
    verb: 'delete', nouns: ['workload', 'workloads'], summary: 'a workload no instance uses', args: ['id'],
    async run(ctx, [id]) {
      await ctx.user.call('DELETE', `/tenants/${await ctx.tenant()}/workloads/${id}`);
      return message(`deleted workload ${id}`);
    },
  },

  // --- instances ---
  {
    verb: 'list', nouns: ['instances', 'instance'], summary: 'your instances',
    options: [{ flags: '--workload <id>', description: 'only instances of this workload' }, { flags: '--node <id>', description: 'only instances on this node' }],
    async run(ctx, _args, opts) {
      const q = new URLSearchParams();
      if (opts.workload) q.set('workload', opts.workload);
      if (opts.node) q.set('node', opts.node);
      const { instances } = await ctx.user.call<{ instances: Instance[] }>('GET', `/tenants/${await ctx.tenant()}/instances${q.size ? `?${q}` : ''}`);
      return list(instances, instanceColumns);
    },
  },
  {
    verb: 'show', nouns: ['instance', 'instances'], summary: 'one instance', args: ['id'],
    async run(ctx, [id]) {
      return object(await ctx.user.call('GET', `/tenants/${await ctx.tenant()}/instances/${id}`));
    },
  },
  {
    verb: 'create', nouns: ['instance', 'instances'], summary: 'start instances of a workload',
    options: [
      { flags: '--workload <id>', description: 'the workload to start (ciao list workloads)' },
      { flags: '--instances <n>', description: 'how many (1-100)', default: '1' },
      { flags: '--name <name>', description: 'a name (numbered when several)' },
    ],
    async run(ctx, _args, opts) {
      if (!opts.workload) throw new UsageError('--workload ID is required (ciao list workloads)');
      const count = parseInteger(opts.instances, '--instances');
      const r = await ctx.user.call<{ instances: Instance[] }>('POST', `/tenants/${await ctx.tenant()}/instances`, { workload_id: opts.workload, count, name: opts.name });
      return list(r.instances, instanceColumns);
    },
  },
  {
    verb: 'delete', nouns: ['instance', 'instances'], summary: 'an instance, or every instance with --all', args: ['[id]'],
    options: [{ flags: '--all', description: 'delete every instance of the tenant' }],
    async run(ctx, [id], opts) {
      const base = `/tenants/${await ctx.tenant()}/instances`;
      if (opts.all) {
        const r = await ctx.user.call<{ deleted: number }>('DELETE', base);
        return message(`deleting ${r.deleted} instance(s)`, r);
      }
      if (!id) throw new UsageError('give an instance id, or --all');
      await ctx.user.call('DELETE', `${base}/${id}`);
      return message(`deleting instance ${id} (a "Deleted" event follows)`);
    },
  },
  ...([
    ['stop', 'stopping', 'an active instance (its disk is kept)'],
    ['restart', 'restarting', 'a stopped instance'],
    ['pause', 'pausing', 'an active instance: frozen in place, memory kept'],
    ['unpause', 'unpausing', 'a paused instance'],
    ['reboot', 'rebooting', 'an active instance\'s guest (--hard: a reset, without asking the guest)'],
    ['suspend', 'suspending', 'an active VM: its memory saved to disk, its QEMU ended'],
    ['resume', 'resuming', 'a suspended VM: the same boot goes on'],
    ['rebuild', 'rebuilding', 'an active or stopped instance: its disk made again from --image, same id and address'],
    ['shelve', 'shelving', 'an active, paused or stopped instance: stopped, kept on its node with its disk'],
    ['offload', 'offloading', 'a shelved instance: its node\'s memory and vcpus released, the disk kept there'],
    ['unshelve', 'unshelving', 'a shelved instance: started again from its own disk, same id and address'],
    ['rescue', 'rescuing', 'an active or stopped VM: booted from --image (else its own) with its own disk attached'],
    ['unrescue', 'unrescuing', 'a rescued VM: booted from its own image and disk again'],
  ] as const).map(([action, doing, what]): CommandSpec => ({
    verb: action, nouns: ['instance', 'instances'], summary: `${action} ${what}`, args: ['id'],
    options: action === 'reboot' ? [{ flags: '--hard', description: 'reset the guest at once' }]
      : action === 'rebuild' ? [{ flags: '--image <image>', description: 'the image (id or name) to make the disk from' }]
      : action === 'rescue' ? [{ flags: '--image <image>', description: 'the rescue image (id or name); the VM\'s own when not given' }] : undefined,
    async run(ctx, [id], opts) {
      if (action === 'rebuild' && !opts.image) throw new UsageError('rebuild needs --image');
      const body = action === 'reboot' ? { action, hard: !!opts.hard } : action === 'rebuild' || (action === 'rescue' && opts.image) ? { action, image: opts.image } : { action };
      const inst = await ctx.user.call<Instance>('POST', `/tenants/${await ctx.tenant()}/instances/${id}/action`, body);
      return message(`${doing} instance ${id}`, inst);
    },
  })),
  {
    verb: 'resize', nouns: ['instance'], summary: 'resize an active or stopped instance to the sizes of --workload; then --confirm or --revert it', args: ['id'],
    options: [
      { flags: '--workload <id>', description: 'the workload (flavor) whose vcpus, memory and disk it takes' },
      { flags: '--confirm', description: 'keep the new sizes (the old ones are freed)' },
      { flags: '--revert', description: 'go back to the old sizes' },
    ],
    async run(ctx, [id], opts) {
      const picked = [opts.workload, opts.confirm, opts.revert].filter(Boolean).length;
      if (picked !== 1) throw new UsageError('resize needs exactly one of --workload W, --confirm, --revert');
      const body = opts.workload ? { action: 'resize', workload: opts.workload } : { action: opts.confirm ? 'confirm-resize' : 'revert-resize' };
      const inst = await ctx.user.call<Instance>('POST', `/tenants/${await ctx.tenant()}/instances/${id}/action`, body);
      return message(`${opts.workload ? 'resizing' : opts.confirm ? 'confirming the resize of' : 'reverting the resize of'} instance ${id}`, inst);
    },
  },
  {
    verb: 'console', nouns: ['instance', 'instances'], summary: 'the last lines of an instance\'s console (a VM\'s serial console, a container\'s output)', args: ['id'],
    options: [{ flags: '--lines <n>', description: 'how many lines (all: as many as fit in 64 KiB)', default: '50' }],
    async run(ctx, [id], opts) {
      const lines = String(opts.lines ?? '50');
      if (lines !== 'all') parseInteger(lines, '--lines');
      const r = await ctx.user.call<{ output: string; truncated: boolean }>('GET', `/tenants/${await ctx.tenant()}/instances/${id}/console?lines=${encodeURIComponent(lines)}`);
      return message(r.output + (r.truncated ? '\n(earlier lines left out: a console answer holds at most 64 KiB)' : ''), r);
    },
  },

  // --- tenants ---
  {
    verb: 'list', nouns: ['tenants', 'tenant'], summary: 'tenants (admin: all of them)',
    async run(ctx) {
      const { tenants } = await ctx.admin.call<{ tenants: Tenant[] }>('GET', '/tenants');
      return list(tenants, [
        { title: 'ID', value: (t) => t.id }, { title: 'NAME', value: (t) => t.name }, { title: 'SUBNET', value: (t) => t.subnet },
        { title: 'CNCI', value: (t) => t.cnci?.state }, { title: 'PRIVILEGED', value: (t) => t.config.privileged_containers },
        { title: 'EGRESS', value: (t) => (t.config.egress ? 'on' : 'off') },
      ]);
    },
  },
  {
    verb: 'show', nouns: ['tenant', 'tenants'], summary: 'a tenant (default: yours)', args: ['[id]'],
    async run(ctx, [id]) {
      return object(await (id ? ctx.admin : ctx.user).call('GET', `/tenants/${id ?? (await ctx.tenant())}`));
    },
  },
  {
    verb: 'create', nouns: ['tenant', 'tenants'], summary: 'a tenant (admin)',
    options: [{ flags: '--name <name>', description: 'its name' }, { flags: '--id <uuid>', description: 'its id (default: a new UUID)' }],
    async run(ctx, _args, opts) {
      if (!opts.name) throw new UsageError('--name is required');
      const t = await ctx.admin.call<Tenant>('POST', '/tenants', { name: opts.name, id: opts.id });
      return message(`created tenant ${t.id} (${t.subnet})`, t);
    },
  },
  {
    verb: 'update', nouns: ['tenant', 'tenants'], summary: "a tenant's name or configuration (admin)", args: ['id'],
    options: [
      { flags: '--name <name>', description: 'new name' },
      { flags: '--subnet-bits <n>', description: 'tenant subnet size (only without instances)' },
      { flags: '--privileged-containers <bool>', description: 'may run privileged containers (true|false)' },
      { flags: '--egress <on|off>', description: "its workloads reach outside the cluster (a cluster set up with --egress; docs/egress.md)" },
    ],
    async run(ctx, [id], opts) {
      const config: Record<string, unknown> = {};
      if (opts.subnetBits !== undefined) config.subnet_bits = parseInteger(opts.subnetBits, '--subnet-bits');
      if (opts.privilegedContainers !== undefined) config.privileged_containers = parseBool(opts.privilegedContainers, '--privileged-containers');
      if (opts.egress !== undefined) config.egress = parseOnOff(opts.egress, '--egress');
      if (opts.name === undefined && Object.keys(config).length === 0) throw new UsageError('nothing to update: give --name, --subnet-bits, --privileged-containers or --egress');
      return object(await ctx.admin.call('PATCH', `/tenants/${id}`, { name: opts.name, config }));
    },
  },
  {
    verb: 'delete', nouns: ['tenant', 'tenants'], summary: 'a tenant without instances (admin)', args: ['id'],
    async run(ctx, [id]) {
      await ctx.admin.call('DELETE', `/tenants/${id}`);
      return message(`deleted tenant ${id}`);
    },
  },

  // --- nodes and cluster ---
  {
    verb: 'list', nouns: ['nodes', 'node'], summary: 'the cluster nodes (admin)',
    async run(ctx) {
      const { nodes } = await ctx.admin.call<{ nodes: NodeInfo[] }>('GET', '/nodes');
      return list(nodes, [
        { title: 'ID', value: (n) => n.id }, { title: 'HOSTNAME', value: (n) => n.hostname }, { title: 'KIND', value: (n) => n.kind },
        { title: 'STATUS', value: (n) => n.status }, { title: 'MAINTENANCE', value: (n) => (n.cordoned ? 'cordoned' : '-') }, { title: 'ROLE', value: (n) => roleOf(n.roles) }, { title: 'INSTANCES', value: (n) => n.instance_count },
        { title: 'VCPUS', value: (n) => n.vcpus }, { title: 'MEM FREE/TOTAL MB', value: (n) => `${n.mem_available_mb}/${n.mem_total_mb}` },
        { title: 'DISK FREE/TOTAL MB', value: (n) => `${n.disk_available_mb}/${n.disk_total_mb}` }, { title: 'LOAD', value: (n) => n.load },
      ]);
    },
  },
  {
    verb: 'show', nouns: ['node', 'nodes'], summary: 'one node (admin)', args: ['id'],
    async run(ctx, [id]) {
      return object(await ctx.admin.call('GET', `/nodes/${id}`));
    },
  },
  {
    verb: 'show', nouns: ['cluster'], summary: 'node and instance counts (admin)',
    async run(ctx) {
      return object(await ctx.admin.call('GET', '/cluster/status'));
    },
  },

  // --- events ---
  {
    verb: 'list', nouns: ['events', 'event'], summary: "your tenant's events (--all: every tenant's, admin)",
    options: [{ flags: '--all', description: 'all tenants (admin)' }],
    async run(ctx, _args, opts) {
      const { events } = opts.all
        ? await ctx.admin.call<{ events: ClusterEvent[] }>('GET', '/events')
        : await ctx.user.call<{ events: ClusterEvent[] }>('GET', `/tenants/${await ctx.tenant()}/events`);
      return list(events, [
        { title: 'TIME', value: (e) => e.time }, { title: 'TYPE', value: (e) => e.type },
        ...(opts.all ? [{ title: 'TENANT', value: (e: ClusterEvent) => e.tenant_id }] : []), { title: 'MESSAGE', value: (e) => e.message },
      ]);
    },
  },
  {
    verb: 'clear', nouns: ['events', 'event'], summary: "clear your tenant's events (--all: every tenant's, admin)",
    options: [{ flags: '--all', description: 'all tenants (admin)' }],
    async run(ctx, _args, opts) {
      if (opts.all) await ctx.admin.call('DELETE', '/events');
      else await ctx.user.call('DELETE', `/tenants/${await ctx.tenant()}/events`);
      return message('events cleared');
    },
  },

  // --- pools and external IPs ---
  {
    verb: 'list', nouns: ['pools', 'pool'], summary: 'external IP pools (admin)',
    async run(ctx) {
      const { pools } = await ctx.admin.call<{ pools: (Pool & { total: number; free: number })[] }>('GET', '/pools');
      return list(pools, [{ title: 'NAME', value: (p) => p.name }, { title: 'SUBNETS', value: (p) => p.subnets }, { title: 'IPS', value: (p) => p.ips }, { title: 'FREE', value: (p) => `${p.free}/${p.total}` }]);
    },
  },
  {
    verb: 'show', nouns: ['pool', 'pools'], summary: 'one pool (admin)', args: ['name'],
    async run(ctx, [name]) {
      return object(await ctx.admin.call('GET', `/pools/${encodeURIComponent(name)}`));
    },
  },
  {
    verb: 'create', nouns: ['pool', 'pools'], summary: 'an external IP pool (admin)', args: ['name'],
    options: [{ flags: '--subnet <cidr>', description: 'addresses of a subnet, e.g. 203.0.113.0/24' }, { flags: '--ip <ip...>', description: 'single addresses' }],
    async run(ctx, [name], opts) {
      const p = await ctx.admin.call<Pool & { total: number }>('POST', '/pools', { name, subnet: opts.subnet, ips: opts.ip });
      return message(`created pool ${p.name} with ${p.total} address(es)`, p);
    },
  },
  {
    verb: 'add', nouns: ['pool', 'pools'], summary: 'addresses to a pool (admin)', args: ['name'],
    options: [{ flags: '--subnet <cidr>', description: 'a subnet' }, { flags: '--ip <ip...>', description: 'single addresses' }],
    async run(ctx, [name], opts) {
      if (!opts.subnet && !opts.ip) throw new UsageError('give --subnet CIDR or --ip IP');
      return object(await ctx.admin.call('POST', `/pools/${encodeURIComponent(name)}/addresses`, { subnet: opts.subnet, ips: opts.ip }));
    },
  },
  {
    verb: 'delete', nouns: ['pool', 'pools'], summary: 'a pool with no mapped address (admin)', args: ['name'],
    async run(ctx, [name]) {
      await ctx.admin.call('DELETE', `/pools/${encodeURIComponent(name)}`);
      return message(`deleted pool ${name}`);
    },
  },
  {
    verb: 'list', nouns: ['external-ips', 'external-ip', 'externalips', 'externalip'], summary: "your external IPs (--all: everyone's, admin)",
    options: [{ flags: '--all', description: 'all tenants (admin)' }],
    async run(ctx, _args, opts) {
      const { external_ips } = opts.all
        ? await ctx.admin.call<{ external_ips: ExternalIp[] }>('GET', '/external-ips')
        : await ctx.user.call<{ external_ips: ExternalIp[] }>('GET', `/tenants/${await ctx.tenant()}/external-ips`);
      return list(external_ips, [
        { title: 'IP', value: (m) => m.ip }, { title: 'STATE', value: (m) => m.state }, { title: 'INSTANCE', value: (m) => m.instance_id },
        { title: 'PRIVATE IP', value: (m) => m.private_ip }, { title: 'POOL', value: (m) => m.pool },
      ]);
    },
  },
  {
    verb: 'map', nouns: ['external-ip', 'external-ips', 'externalip', 'externalips'], summary: 'an external IP to an instance',
    options: [{ flags: '--instance <id>', description: 'the instance' }, { flags: '--pool <name>', description: 'take the address from this pool' }],
    async run(ctx, _args, opts) {
      if (!opts.instance) throw new UsageError('--instance ID is required');
      const m = await ctx.user.call<ExternalIp>('POST', `/tenants/${await ctx.tenant()}/external-ips`, { instance_id: opts.instance, pool: opts.pool });
      return message(`mapping ${m.ip} to ${m.instance_id} (a "Mapped" event follows)`, m);
    },
  },
  {
    verb: 'unmap', nouns: ['external-ip', 'external-ips', 'externalip', 'externalips'], summary: 'an external IP', args: ['ip'],
    async run(ctx, [ip]) {
      await ctx.user.call('DELETE', `/tenants/${await ctx.tenant()}/external-ips/${ip}`);
      return message(`unmapping ${ip} (an "Unmapped" event follows)`);
    },
  },

  // --- quotas ---
  {
    verb: 'list', nouns: ['quotas', 'quota'], summary: "a tenant's quotas and usage",
    async run(ctx) {
      const { quotas } = await ctx.user.call<{ quotas: { name: string; limit: number; usage: number }[] }>('GET', `/tenants/${await ctx.tenant()}/quotas`);
      return list(quotas, [{ title: 'QUOTA', value: (q) => q.name }, { title: 'LIMIT', value: (q) => (q.limit === -1 ? 'unlimited' : q.limit) }, { title: 'USAGE', value: (q) => q.usage }]);
    },
  },
  {
    verb: 'update', nouns: ['quotas', 'quota'], summary: "a tenant's quotas (admin; -1 = unlimited)",
    options: QUOTA_FLAGS.map(([flag, name]) => ({ flags: `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} <n>`, description: `limit on ${name}` })),
    async run(ctx, _args, opts) {
      const body: Record<string, number> = {};
      for (const [flag, name] of QUOTA_FLAGS) if (opts[flag] !== undefined) body[name] = parseInteger(opts[flag], `--${flag}`);
      if (!Object.keys(body).length) throw new UsageError('give at least one limit, e.g. --instances 10');
      const { quotas } = await ctx.admin.call<{ quotas: { name: string; limit: number; usage: number }[] }>('PUT', `/tenants/${await ctx.tenant()}/quotas`, body);
      return list(quotas, [{ title: 'QUOTA', value: (q) => q.name }, { title: 'LIMIT', value: (q) => q.limit }, { title: 'USAGE', value: (q) => q.usage }]);
    },
  },

  // --- images ---
  {
    verb: 'list', nouns: ['images', 'image'], summary: 'images you can use',
    async run(ctx) {
      const { images } = await ctx.user.call<{ images: Image[] }>('GET', '/image/v2/images');
      return list(images, [{ title: 'ID', value: (i) => i.id }, { title: 'NAME', value: (i) => i.name }, { title: 'STATUS', value: (i) => i.status }, { title: 'VISIBILITY', value: (i) => i.visibility }, { title: 'SIZE', value: (i) => i.size }]);
    },
  },
  {
    verb: 'show', nouns: ['image', 'images'], summary: 'one image', args: ['id'],
    async run(ctx, [id]) {
      return object(await ctx.user.call('GET', `/image/v2/images/${id}`));
    },
  },
  {
    verb: 'create', nouns: ['image', 'images'], summary: 'an image from a file',
    options: [
      { flags: '--name <name>', description: 'its name' }, { flags: '--file <file>', description: 'the image data' },
      { flags: '--visibility <v>', description: 'private (default), public or internal (admin)', default: 'private' }, { flags: '--id <id>', description: 'its id' },
    ],
    async run(ctx, _args, opts) {
      if (!opts.name || !opts.file) throw new UsageError('--name and --file are required');
      const caller = opts.visibility === 'private' ? ctx.user : ctx.admin;
      const image = await caller.call<Image>('POST', '/image/v2/images', { name: opts.name, id: opts.id, visibility: opts.visibility, disk_format: 'qcow2', container_format: 'bare' });
      await caller.call('PUT', `/image/v2/images/${image.id}/file`, createReadStream(opts.file), 'application/octet-stream');
      return message(`created image ${image.id}`, await caller.call('GET', `/image/v2/images/${image.id}`));
    },
  },
  {
    verb: 'delete', nouns: ['image', 'images'], summary: 'an image', args: ['id'],
    async run(ctx, [id]) {
      await ctx.user.call('DELETE', `/image/v2/images/${id}`).catch(async (err) => {
        if ((err as { status?: number }).status !== 404) throw err;
        await ctx.admin.call('DELETE', `/image/v2/images/${id}`);
      });
      return message(`deleted image ${id}`);
    },
  },

  // --- volumes ---
  {
    verb: 'list', nouns: ['volumes', 'volume'], summary: "your tenant's volumes",
    async run(ctx) {
      const { volumes } = await ctx.user.call<{ volumes: Volume[] }>('GET', `/tenants/${await ctx.tenant()}/volumes`);
      return list(volumes, [
        { title: 'ID', value: (v) => v.id }, { title: 'NAME', value: (v) => v.name }, { title: 'STATE', value: (v) => v.state },
        { title: 'SIZE MB', value: (v) => v.size_mb }, { title: 'BOOTABLE', value: (v) => (v.bootable ? 'yes' : '') },
        { title: 'ATTACHED TO', value: (v) => (v.attachment ? `${v.attachment.instance_id}${v.attachment.root ? ' (root)' : ''}` : '') },
      ]);
    },
  },
  {
    verb: 'show', nouns: ['volume', 'volumes'], summary: 'one volume', args: ['id'],
    async run(ctx, [id]) {
      return object(await ctx.user.call('GET', `/tenants/${await ctx.tenant()}/volumes/${id}`));
    },
  },
  {
    verb: 'create', nouns: ['volume', 'volumes'], summary: 'a volume: blank (--size) or a copy of an image (--image)',
    options: [
      { flags: '--size <mb>', description: 'its size in MB (from an image: at least the image\'s)' }, { flags: '--image <id>', description: 'copy this image (id or name)' },
      { flags: '--name <name>', description: 'its name' }, { flags: '--description <text>', description: 'what it is for' },
      { flags: '--bootable', description: 'mark it bootable' },
    ],
    async run(ctx, _args, opts) {
      if (opts.size === undefined && !opts.image) throw new UsageError('give --size MB, or --image ID to copy an image');
      const v = await ctx.user.call<Volume>('POST', `/tenants/${await ctx.tenant()}/volumes`, {
        size_mb: opts.size === undefined ? undefined : parseInteger(opts.size, '--size'), image_id: opts.image,
        name: opts.name, description: opts.description, bootable: opts.bootable ? true : undefined,
      });
      return message(`creating volume ${v.id} (${v.size_mb} MB; "ciao show volume ${v.id}" says when it is available)`, v);
    },
  },
  {
    verb: 'delete', nouns: ['volume', 'volumes'], summary: 'a volume that is not attached', args: ['id'],
    async run(ctx, [id]) {
      await ctx.user.call('DELETE', `/tenants/${await ctx.tenant()}/volumes/${id}`);
      return message(`deleted volume ${id}`);
    },
  },
  {
    verb: 'attach', nouns: ['volume', 'volumes'], summary: 'a volume to a VM (hot-plugged when it runs)', args: ['id'],
    options: [{ flags: '--instance <id>', description: 'the VM' }],
    async run(ctx, [id], opts) {
      if (!opts.instance) throw new UsageError('--instance ID is required');
      const v = await ctx.user.call<Volume>('POST', `/tenants/${await ctx.tenant()}/volumes/${id}/attach`, { instance_id: opts.instance });
      return message(`attaching volume ${id} to ${opts.instance} (an "Attached" event follows)`, v);
    },
  },
  {
    verb: 'detach', nouns: ['volume', 'volumes'], summary: 'a volume from its VM', args: ['id'],
    async run(ctx, [id]) {
      const v = await ctx.user.call<Volume>('POST', `/tenants/${await ctx.tenant()}/volumes/${id}/detach`);
      return message(`detaching volume ${id} (a "Detached" event follows)`, v);
    },
  },

  // --- fault injection ---
  {
    verb: 'set', nouns: ['fault'], summary: 'fault injection for tests (admin): --node with --start-failure, or --nat-failure for the tenant',
    options: [
      { flags: '--node <id>', description: 'the node whose starts fail' },
      { flags: '--start-failure <reason>', description: 'launch_failure, image_failure, network_failure, full_cloud or none' },
      { flags: '--nat-failure <bool>', description: "make the tenant's CNCI NAT changes fail (true|false)" },
    ],
    async run(ctx, _args, opts) {
      if (opts.node) {
        if (!opts.startFailure) throw new UsageError('--start-failure REASON (or none) is required with --node');
        const r = await ctx.admin.call('POST', `/nodes/${opts.node}/faults`, { start_failure: opts.startFailure === 'none' ? null : opts.startFailure });
        return message(`node ${opts.node}: start failure ${opts.startFailure}`, r);
      }
      if (opts.natFailure !== undefined) {
        const r = await ctx.admin.call('POST', `/tenants/${await ctx.tenant()}/cnci/faults`, { nat_failure: parseBool(opts.natFailure, '--nat-failure') });
        return message(`NAT failure ${opts.natFailure}`, r);
      }
      throw new UsageError('give --node ID --start-failure REASON, or --nat-failure true|false');
    },
  },
  ...NODE_COMMANDS,
];

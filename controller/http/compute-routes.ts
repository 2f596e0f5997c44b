// The OpenStack Compute v2.1 subset (docs/api.md): a workload is a flavor, an instance a server,
// so standard OpenStack clients can list, create, start, stop and delete instances.
import { ApiError, badRequest, notFound } from '../../shared/errors.ts';
import type { Instance, Tenant, Workload } from '../api-types.ts';
import type { Caller } from '../auth.ts';
import type { Services } from '../services.ts';
import { reply, type Handler, type Request, type RouteOptions, type Router } from '../../shared/http-router.ts';
import { COMPUTE_VERSIONS, microversioned } from './microversion.ts';
import { FlavorRef, NewServer, ServerAction } from './request-schemas.ts';
import { serverExtras } from './server-extras.ts';

const STATUS: Record<Instance['state'], string> = {
  pending: 'BUILD', active: 'ACTIVE', paused: 'PAUSED', stopping: 'ACTIVE', exited: 'SHUTOFF', hung: 'ERROR', missing: 'ERROR', deleting: 'DELETED',
};

export function computeRoutes(router: Router, s: Services, baseUrl: () => string): void {
  const scoped = async (req: Request): Promise<{ caller: Caller; tenant: Tenant }> => {
    const caller = await s.auth.authenticate(req.header('x-auth-token'));
    if (!caller.projectId) throw new ApiError('forbidden', 'the compute API needs a project-scoped token');
    if (req.params.project && req.params.project !== caller.projectId) throw new ApiError('wrong_tenant', `your token is scoped to project ${caller.projectId}, not ${req.params.project}`);
    return { caller, tenant: s.tenants.ensure(caller.projectId, caller.projectName ?? caller.projectId) };
  };
  const url = (path: string) => `${baseUrl()}/v2.1${path}`;
  const links = (path: string) => [{ rel: 'self', href: url(path) }, { rel: 'bookmark', href: url(path) }];
  const flavors = (t: Tenant) => s.store.workloads.all().filter((w) => w.tenant_id === t.id || w.visibility === 'public');
  const flavor = (w: Workload, detail: boolean) => ({
    id: w.id, name: w.description, links: links(`/flavors/${w.id}`),
    ...(detail ? {
      ram: w.defaults.mem_mb, vcpus: w.defaults.vcpus, disk: Math.ceil(w.defaults.disk_mb / 1024), swap: '',
      'OS-FLV-EXT-DATA:ephemeral': 0, 'OS-FLV-DISABLED:disabled': false, rxtx_factor: 1.0,
      'os-flavor-access:is_public': w.visibility === 'public', description: w.description, extra_specs: { vm_type: w.vm_type },
    } : {}),
  });
  const server = (i: Instance, detail: boolean) => ({
    id: i.id, name: i.name, links: links(`/servers/${i.id}`),
    ...(detail ? {
      status: STATUS[i.state], tenant_id: i.tenant_id, user_id: null, created: i.created_at, updated: i.updated_at,
      flavor: { id: i.workload_id, links: links(`/flavors/${i.workload_id}`) },
      image: i.vm_type === 'qemu' ? { id: i.image, links: [] } : '',
      addresses: { [`${i.tenant_id}-net`]: [{ addr: i.ip, version: 4, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': i.mac },
        ...(i.external_ip ? [{ addr: i.external_ip, version: 4, 'OS-EXT-IPS:type': 'floating', 'OS-EXT-IPS-MAC:mac_addr': i.mac }] : [])] },
      accessIPv4: i.ssh_ip ?? '', accessIPv6: '', metadata: {}, key_name: i.key_name ?? null, progress: 0, config_drive: 'True', hostId: i.node_id ?? '',
      'OS-EXT-STS:vm_state': STATUS[i.state].toLowerCase(), 'OS-EXT-STS:task_state': null, 'OS-EXT-STS:power_state': i.state === 'active' ? 1 : 4,
      'OS-EXT-SRV-ATTR:host': i.node_id, 'OS-EXT-AZ:availability_zone': 'nova', 'OS-DCF:diskConfig': 'MANUAL',
      'os-extended-volumes:volumes_attached': [], security_groups: [{ name: 'default' }], fault: i.reason ? { message: i.reason } : undefined,
    } : {}),
  });

  const version = {
    id: 'v2.1', status: 'CURRENT', version: COMPUTE_VERSIONS.max, min_version: COMPUTE_VERSIONS.min, updated: '2013-07-23T11:33:21Z',
    links: [{ rel: 'self', href: url('/') }], 'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }],
  };
  // The version document is not versioned itself; every route under it is (controller/http/microversion.ts).
  router.on('GET', '/', async () => reply(200, { versions: [version] }));
  const api = { on: (method: string, pattern: string, handler: Handler, opts?: RouteOptions) => router.on(method, pattern, microversioned(handler), opts) };
  api.on('GET', '/v2.1', async () => reply(200, { version }));

  for (const prefix of ['/v2.1', '/v2.1/:project']) {
    api.on('GET', `${prefix}/flavors`, async (req) => reply(200, { flavors: flavors((await scoped(req)).tenant).map((w) => flavor(w, false)) }));
    api.on('GET', `${prefix}/flavors/detail`, async (req) => reply(200, { flavors: flavors((await scoped(req)).tenant).map((w) => flavor(w, true)) }));
    api.on('GET', `${prefix}/flavors/:id`, async (req) => {
      const { tenant } = await scoped(req);
      const w = flavors(tenant).find((f) => f.id === req.params.id || f.description === req.params.id);
      if (!w) throw notFound('flavor', req.params.id);
      return reply(200, { flavor: flavor(w, true) });
    }, { params: { id: FlavorRef } });
    const listServers = (detail: boolean) => async (req: Request) => {
      const { tenant } = await scoped(req);
      const name = req.query.get('name');
      const list = s.instances.list(tenant.id).filter((i) => !name || i.name.includes(name));
      return reply(200, { servers: list.map((i) => server(i, detail)) });
    };
    api.on('GET', `${prefix}/servers`, listServers(false));
    api.on('GET', `${prefix}/servers/detail`, listServers(true));
    api.on('POST', `${prefix}/servers`, async (req) => {
      const { tenant, caller } = await scoped(req);
      const body = await req.body(NewServer);
      const sv = body.server;
      const w = flavors(tenant).find((f) => f.id === sv.flavorRef);
      if (!w) throw new ApiError('unknown_workload', `flavor ${sv.flavorRef} does not exist: flavors are the workloads (openstack flavor list)`);
      const count = sv.min_count ?? 1;
      const extras = serverExtras(s.store, tenant, caller.userId, sv, body['os:scheduler_hints'] ?? body['OS-SCH-HNT:scheduler_hints'], count);
      const [first] = await s.instances.create(tenant, w, { workloadId: w.id, count, name: sv.name, image: sv.imageRef || undefined, extras });
      return reply(202, { server: { id: first.id, links: links(`/servers/${first.id}`), adminPass: '', 'OS-DCF:diskConfig': 'MANUAL', security_groups: [{ name: 'default' }] } });
    });
    api.on('GET', `${prefix}/servers/:id`, async (req) => reply(200, { server: server(s.instances.get((await scoped(req)).tenant, req.params.id), true) }));
    api.on('DELETE', `${prefix}/servers/:id`, async (req) => (s.instances.delete((await scoped(req)).tenant, req.params.id), reply(204)));
    api.on('POST', `${prefix}/servers/:id/action`, async (req) => {
      const { tenant } = await scoped(req);
      const body = await req.body(ServerAction);
      if ('os-stop' in body) s.instances.stop(tenant, req.params.id);
      else if ('os-start' in body) s.instances.restart(tenant, req.params.id);
      else throw badRequest(`supported actions are os-start and os-stop, not ${Object.keys(body).join(', ') || 'none'}`);
      return reply(202);
    });
  }
}

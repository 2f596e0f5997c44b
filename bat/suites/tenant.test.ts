// BAT tenant: list, create, show, update config, and the privileged-containers permission.
import t from 'tap';
import type { Tenant } from '../../controller/api-types.ts';
import { admin, ownTenant, refusal, user, userTenantPath, sideBySide } from '../lib.ts';

// Its tests share nothing they change: they run side by side (docs/bat.md).
sideBySide(t);

t.test('admin lists every tenant; a user sees only their own', async (t) => {
  const tenant = await ownTenant(t, 'tenant');
  const all = (await admin.call<{ tenants: Tenant[] }>('GET', '/tenants')).tenants;
  t.ok(all.some((x) => x.id === tenant.id), 'the new tenant is listed to admin');
  const mine = (await user.call<{ tenants: Tenant[] }>('GET', '/tenants')).tenants;
  t.same(mine.map((x) => `/tenants/${x.id}`), [await userTenantPath()]);
});

t.test('create and show a tenant: its own subnet and default config', async (t) => {
  const tenant = await ownTenant(t, 'tenant');
  const shown = await admin.call<Tenant>('GET', tenant.path);
  t.match(shown, { id: tenant.id, name: tenant.name, subnet: /^172\.\d+\.\d+\.0\/24$/, config: { subnet_bits: 24, privileged_containers: false } });
  const other = await ownTenant(t, 'tenant');
  t.not(other.subnet, tenant.subnet, 'tenants get different subnets');
});

t.test('update a tenant\'s name and config', async (t) => {
  const tenant = await ownTenant(t, 'tenant');
  const updated = await admin.call<Tenant>('PATCH', tenant.path, { name: `${tenant.name}-renamed`, config: { subnet_bits: 26 } });
  t.match(updated, { name: `${tenant.name}-renamed`, config: { subnet_bits: 26 } });
  t.same(await refusal(admin.call('PATCH', tenant.path, { config: { no_such: 1 } })), { status: 400, code: 'invalid_request' });
});

t.test('the privileged-containers permission is set and cleared by admin only', async (t) => {
  const tenant = await ownTenant(t, 'tenant');
  t.match(await admin.call<Tenant>('PATCH', tenant.path, { config: { privileged_containers: true } }), { config: { privileged_containers: true } });
  t.match(await admin.call<Tenant>('PATCH', tenant.path, { config: { privileged_containers: false } }), { config: { privileged_containers: false } });
  t.same(await refusal(user.call('PATCH', await userTenantPath(), { config: { privileged_containers: true } })), { status: 403, code: 'not_admin' });
});

t.test("a user cannot read another tenant", async (t) => {
  const tenant = await ownTenant(t, 'tenant');
  t.same(await refusal(user.call('GET', tenant.path)), { status: 403, code: 'wrong_tenant' });
});

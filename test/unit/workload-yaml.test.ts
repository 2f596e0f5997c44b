import t from 'tap';
import { parseWorkload } from '../../controller/workload-yaml.ts';

t.test('a full workload parses with defaults filled in', async (t) => {
  const w = parseWorkload(`
description: Debian VM
vm_type: qemu
image_name: ciao-vm
defaults: {vcpus: 2, mem_mb: 512}
requirements: {hostname: node-1}
config: |
  #cloud-config
`);
  t.match(w, { description: 'Debian VM', vm_type: 'qemu', fw_type: 'legacy', visibility: 'tenant', requirements: { hostname: 'node-1' } });
  t.same(w.defaults, { vcpus: 2, mem_mb: 512, disk_mb: 0 });
  t.equal(w.config, '#cloud-config\n');
});

t.test('malformed YAML is invalid_yaml with the line', async (t) => {
  t.throws(() => parseWorkload('description: "x\nvm_type: [qemu'), { code: 'invalid_yaml', message: /line/ });
  t.throws(() => parseWorkload('- a\n- b'), { code: 'invalid_yaml', message: /must be a mapping/ });
});

t.test('missing or wrong fields are named', async (t) => {
  t.throws(() => parseWorkload('description: x\nvm_type: xen\nimage_name: a'), { code: 'invalid_request', message: /vm_type/ });
  t.throws(() => parseWorkload('description: x\nvm_type: docker'), { code: 'invalid_request', message: /image_name/ });
  t.throws(() => parseWorkload('vm_type: docker\nimage_name: a'), { code: 'invalid_request', message: /description/ });
  t.throws(() => parseWorkload('description: x\nvm_type: docker\nimage_name: a\ncolour: red'), { code: 'invalid_request', message: /colour/ });
  t.throws(() => parseWorkload('description: x\nvm_type: docker\nimage_name: a\ndefaults: {mem_mb: -5}'), { code: 'invalid_request', message: /defaults.mem_mb/ });
});

t.test('disks: volumes of VMs, made ones ephemeral unless said, existing ones never', async (t) => {
  const vm = 'description: x\nvm_type: qemu\nimage_name: ciao-vm\n';
  const w = parseWorkload(`${vm}disks:\n  - {source: {service: image, id: root}, bootable: true}\n  - {size_mb: 8, ephemeral: false}\n  - {source: {service: volume, id: v1}}`);
  t.same(w.disks, [
    { source: { service: 'image', id: 'root' }, bootable: true, ephemeral: true },
    { size_mb: 8, bootable: false, ephemeral: false },
    { source: { service: 'volume', id: 'v1' }, bootable: false, ephemeral: false },
  ]);
  t.same(parseWorkload(vm).disks, [], 'none by default');
  t.throws(() => parseWorkload(`${vm}disks: [{bootable: true}]`), { code: 'invalid_request', message: /source or a size_mb/ });
  t.throws(() => parseWorkload(`${vm}disks: [{size_mb: 8, bootable: true}, {size_mb: 8, bootable: true}]`), { code: 'invalid_request', message: /at most one disk is bootable/ });
  t.throws(() => parseWorkload(`${vm}disks: [{source: {service: volume, id: v1}, ephemeral: true}]`), { code: 'invalid_request', message: /cannot be ephemeral/ });
  t.throws(() => parseWorkload(`${vm}disks: [{source: {service: nfs, id: v1}}]`), { code: 'invalid_request', message: /disks.0.source.service/ });
  t.throws(() => parseWorkload('description: x\nvm_type: docker\nimage_name: a\ndisks: [{size_mb: 8}]'), { code: 'invalid_request', message: /only VMs/ });
});

t.test('a text nested deeper than any workload is refused before the YAML parser spends seconds on it', async (t) => {
  const deep = '['.repeat(50_000) + ']'.repeat(50_000);
  const started = performance.now();
  t.throws(() => parseWorkload(deep), { code: 'invalid_yaml', message: /deeper than 64 levels/ });
  t.ok(performance.now() - started < 500, 'at once');
  t.throws(() => parseWorkload(`${'['.repeat(10)}${']'.repeat(10)}`), { message: /must be a mapping/ }, 'shallow nesting still reaches the parser');
});

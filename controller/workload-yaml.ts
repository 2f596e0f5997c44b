// Workload definitions (YAML or JSON, docs/api.md): parsed and validated at the API boundary.
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { ApiError } from '../shared/errors.ts';

const Disk = z.object({
  source: z.object({ service: z.enum(['image', 'volume']), id: z.string().min(1) }).strict().optional(),
  size_mb: z.number().int().min(1).max(1024 * 1024).optional(),
  bootable: z.boolean().default(false),
  ephemeral: z.boolean().optional(),
}).strict()
  .refine((d) => d.source || d.size_mb, { message: 'a disk needs a source or a size_mb' })
  .refine((d) => !(d.source?.service === 'volume' && d.ephemeral), { message: 'an existing volume cannot be ephemeral' })
  // Volumes made for the instance go with it unless it says otherwise; an existing volume never does.
  .transform((d) => ({ ...d, ephemeral: d.ephemeral ?? d.source?.service !== 'volume' }));

const WorkloadInput = z.object({
  description: z.string().min(1, 'description is required'),
  vm_type: z.enum(['qemu', 'docker']),
  image_name: z.string().min(1).optional(),
  image_id: z.string().min(1).optional(),
  fw_type: z.enum(['legacy', 'efi']).default('legacy'),
  visibility: z.enum(['public', 'tenant', 'internal']).default('tenant'),
  defaults: z.object({
    vcpus: z.number().int().min(1).max(64).default(1),
    mem_mb: z.number().int().min(16).max(1024 * 1024).default(128),
    disk_mb: z.number().int().min(0).max(10 * 1024 * 1024).default(0),
  }).default({ vcpus: 1, mem_mb: 128, disk_mb: 0 }),
  requirements: z.object({
    node_id: z.string().optional(),
    hostname: z.string().optional(),
    network_node: z.boolean().optional(),
    real_node: z.boolean().optional(),
    simulated_node: z.boolean().optional(),
    privileged: z.boolean().optional(),
  }).default({}),
  disks: z.array(Disk).max(8).default([]),
  config: z.string().default(''),
}).strict()
  .refine((w) => w.image_name || w.image_id, { message: 'image_name (or image_id) is required' })
  .refine((w) => !(w.requirements.real_node && w.requirements.simulated_node), { message: 'requirements: real_node and simulated_node exclude each other' })
  .refine((w) => w.vm_type === 'qemu' || w.disks.length === 0, { message: 'disks: only VMs (vm_type qemu) have volumes' })
  .refine((w) => w.disks.filter((d) => d.bootable).length <= 1, { message: 'disks: at most one disk is bootable' });

export type WorkloadInput = z.infer<typeof WorkloadInput>;

/** Flow collections nested deeper than this are refused before parsing: the YAML parser's time
 *  grows fast with nesting ('[' × 50 000 took it 2 s, blocking the controller), and no workload nests so deep. */
const MAX_FLOW_NESTING = 64;

function flowNesting(text: string): number {
  let depth = 0;
  let max = 0;
  for (const c of text) {
    if (c === '[' || c === '{') max = Math.max(max, ++depth);
    else if (c === ']' || c === '}') depth--;
  }
  return max;
}

/** Parses a workload from a YAML or JSON text (YAML is a superset of JSON). */
export function parseWorkload(text: string): WorkloadInput {
  if (flowNesting(text) > MAX_FLOW_NESTING) throw new ApiError('invalid_yaml', `the workload nests [ ] or { } deeper than ${MAX_FLOW_NESTING} levels`);
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : '';
    throw new ApiError('invalid_yaml', `the workload is not valid YAML${where}: ${(err as Error).message.split('\n')[0]}`);
  }
  return validateWorkload(raw);
}

export function validateWorkload(raw: unknown): WorkloadInput {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ApiError('invalid_yaml', 'the workload must be a mapping with description, vm_type, image_name, defaults …');
  }
  const result = WorkloadInput.safeParse(raw);
  if (!result.success) {
    const issues = result.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message));
    throw new ApiError('invalid_request', `invalid workload: ${issues.join('; ')}`);
  }
  return result.data;
}

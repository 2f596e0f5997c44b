// `ciao cordon node ID` / `ciao uncordon node ID` (admin; docs/nodes.md): node maintenance.
import type { CommandSpec } from './commands.ts';
import type { NodeInfo } from '../controller/api-types.ts';

export const NODE_COMMANDS: CommandSpec[] = ([['cordon', true], ['uncordon', false]] as const).map(([verb, cordoned]) => ({
  verb, nouns: ['node', 'nodes'], args: ['id'],
  summary: cordoned ? 'a node (admin): the scheduler places nothing new there; what runs stays' : 'a cordoned node (admin): it takes new instances again',
  async run(ctx, [id]) {
    const node = await ctx.admin.call<NodeInfo>('POST', `/nodes/${encodeURIComponent(id)}/${verb}`);
    return { kind: 'message', data: node, text: `node ${id} ${cordoned ? 'cordoned: nothing new is placed there' : 'uncordoned'}` };
  },
}));

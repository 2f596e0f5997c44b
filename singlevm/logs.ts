// placeholder until the logs command lands
export async function collectLogs(cluster: string, outFile: string): Promise<{ file: string; entries: string[] }> {
  throw new Error(`logs of ${cluster} not collected to ${outFile}: not built yet`);
}

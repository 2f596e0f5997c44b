// What a user should do about a failed connection: a refused one means the cluster is not up, a
// certificate one means the CA file is not this cluster's.
export function connectionHint(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string } };
  const code = e.cause?.code ?? e.code ?? '';
  if (code === 'ECONNREFUSED') return 'is the cluster up? ./singlevm/setup.sh';
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|DEPTH_ZERO/.test(code)) return "the certificate check failed: is CIAO_CA_CERT_FILE this cluster's CA (. ~/local/demo.sh)?";
  return 'is the cluster up, and is the address right?';
}

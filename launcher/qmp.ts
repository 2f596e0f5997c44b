// A minimal QMP client (QEMU's machine protocol over a unix socket): greeting, capabilities, one command.
import net from 'node:net';

export async function qmp(socketPath: string, execute: string, args?: object, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    let buf = '';
    let step = 0;
    const timer = setTimeout(() => fail(new Error(`QMP ${execute} on ${socketPath} timed out`)), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      sock.destroy();
      reject(err);
    };
    sock.on('error', fail);
    // `quit` closes the socket before (or instead of) answering: that is success.
    sock.on('close', () => {
      clearTimeout(timer);
      if (execute === 'quit' && step === 2) resolve(undefined);
    });
    sock.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { QMP?: unknown; return?: unknown; error?: { desc: string }; event?: string };
        buf = buf.slice(nl + 1);
        if (msg.event) continue;
        if (msg.error) return fail(new Error(`QMP ${execute}: ${msg.error.desc}`));
        if (step === 0 && msg.QMP) {
          step = 1;
          sock.write(JSON.stringify({ execute: 'qmp_capabilities' }) + '\n');
        } else if (step === 1) {
          step = 2;
          sock.write(JSON.stringify({ execute, ...(args ? { arguments: args } : {}) }) + '\n');
        } else if (step === 2) {
          clearTimeout(timer);
          sock.end();
          resolve(msg.return);
        }
      }
    });
  });
}

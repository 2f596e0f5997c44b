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

/** One QMP connection for a sequence of commands (a restore runs a dozen): the greeting and
 *  capabilities once, then each command answered in order. */
export class QmpSession {
  private buf = '';
  private waiting: { resolve: (v: unknown) => void; reject: (e: Error) => void; execute: string }[] = [];
  private closed?: Error;

  private constructor(private readonly sock: net.Socket, private readonly socketPath: string) {
    sock.on('data', (chunk) => this.read(chunk));
    const end = (err?: Error) => {
      this.closed = err ?? new Error(`QMP connection to ${socketPath} closed`);
      for (const w of this.waiting.splice(0)) w.reject(new Error(`QMP ${w.execute}: ${this.closed.message}`));
    };
    sock.on('error', end);
    sock.on('close', () => end());
  }

  static async open(socketPath: string, timeoutMs = 5000): Promise<QmpSession> {
    const sock = net.connect(socketPath);
    const session = new QmpSession(sock, socketPath);
    // The greeting is taken as the answer to a first command: it is the first line QEMU sends.
    const greeting = new Promise((resolve, reject) => session.waiting.push({ resolve, reject, execute: 'greeting' }));
    await withTimeout(greeting, timeoutMs, `QMP greeting on ${socketPath}`).catch((err) => { sock.destroy(); throw err; });
    await session.execute('qmp_capabilities', undefined, timeoutMs).catch((err) => { sock.destroy(); throw err; });
    return session;
  }

  private read(chunk: Buffer) {
    this.buf += chunk.toString('utf8');
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const msg = JSON.parse(this.buf.slice(0, nl)) as { QMP?: unknown; return?: unknown; error?: { desc: string }; event?: string };
      this.buf = this.buf.slice(nl + 1);
      if (msg.event) continue;
      const w = this.waiting.shift();
      if (!w) continue;
      if (msg.error) w.reject(new Error(`QMP ${w.execute}: ${msg.error.desc}`));
      else w.resolve(msg.return);
    }
  }

  execute(execute: string, args?: object, timeoutMs = 5000): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error(`QMP ${execute}: ${this.closed.message}`));
    const answer = new Promise((resolve, reject) => this.waiting.push({ resolve, reject, execute }));
    this.sock.write(JSON.stringify({ execute, ...(args ? { arguments: args } : {}) }) + '\n');
    return withTimeout(answer, timeoutMs, `QMP ${execute} on ${this.socketPath}`);
  }

  close() {
    this.sock.destroy();
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} timed out`)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Micro benchmark of the HTTP data plane (not part of `npm test`): a minimal raw keep-alive
 * backend in a child process, the proxy in this process, and wrk against both.
 * Prints req/s direct and through the proxy, and the proxy's CPU time per request (µs).
 *
 *   node_modules/.bin/node bench/http-micro.ts [seconds=5] [connections=64] [bodyBytes=2] [http|tcp]
 */
import { execFile, spawn } from 'node:child_process';
import { createHttpListener } from '../src/dataplane/http/listener.ts';
import { createTcpListener } from '../src/dataplane/tcp/listener.ts';
import { backend, baseConfig, freePort, frontend, makePlane, server } from '../test/helpers/plane.ts';

const seconds = Number(process.argv[2] ?? 5);
const conns = Number(process.argv[3] ?? 64);
const bodyBytes = Number(process.argv[4] ?? 2);
/** `tcp` runs the same load through the L4 listener, as a same-conditions reference. */
const mode = process.argv[5] === 'tcp' ? 'tcp' : 'http';
/** PIN=1: wrk and the backend on cpu 0, this process (the proxy) on cpu 1, as the shared harness does. */
const pin = process.env.PIN === '1';
/** CLOSE=1: a new client connection per request (wrk sends `Connection: close`). */
const close = process.env.CLOSE === '1';

const backendSrc = `
const net = require('node:net');
const body = Buffer.alloc(${bodyBytes}, 'x');
const res = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: ' + body.length + '\\r\\n\\r\\n'), body]);
const srv = net.createServer({ noDelay: true }, (s) => {
  let pending = '';
  s.on('data', (d) => {
    pending += d.toString('latin1');
    let n = 0, i;
    while ((i = pending.indexOf('\\r\\n\\r\\n')) >= 0) { n++; pending = pending.slice(i + 4); }
    if (n === 1) s.write(res); else if (n > 1) s.write(Buffer.concat(Array(n).fill(res)));
  });
  s.on('error', () => {});
});
srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
`;

function wrk(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = ['-t1', `-c${conns}`, `-d${seconds}s`, ...(close ? ['-H', 'Connection: close'] : []), url];
    execFile(pin ? 'taskset' : 'wrk', pin ? ['-c', '0', 'wrk', ...args] : args, (err, out) => {
      if (err) return reject(err);
      const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
      resolve(m ? Number(m[1]) : 0);
    });
  });
}

const child = pin
  ? spawn('taskset', ['-c', '0', process.execPath, '-e', backendSrc], { stdio: ['ignore', 'pipe', 'inherit'] })
  : spawn(process.execPath, ['-e', backendSrc], { stdio: ['ignore', 'pipe', 'inherit'] });
const backendPort = await new Promise<number>((r) => child.stdout.once('data', (d) => r(Number(String(d).trim()))));
const port = await freePort();
const config = baseConfig();
config.backends.push(backend('be', mode));
config.servers.push(server('s0', 'be', backendPort));
config.frontends.push(frontend('fe', mode, port, 'be'));
const p = makePlane({ http: createHttpListener, tcp: createTcpListener });
await p.apply(config);

const direct = await wrk(`http://127.0.0.1:${backendPort}/`);
const cpu0 = process.cpuUsage();
const t0 = Date.now();
const proxied = await wrk(`http://127.0.0.1:${port}/`);
const cpu = process.cpuUsage(cpu0);
const wall = (Date.now() - t0) / 1000;
const total = proxied * seconds;
const us = (cpu.user + cpu.system) / total;
console.log(
  JSON.stringify({
    mode,
    direct: Math.round(direct),
    proxied: Math.round(proxied),
    ratio: +(proxied / direct).toFixed(3),
    cpuUsPerReq: +us.toFixed(1),
    cpuShare: +((cpu.user + cpu.system) / 1e6 / wall).toFixed(2),
  }),
);
await p.plane.close(100);
child.kill();

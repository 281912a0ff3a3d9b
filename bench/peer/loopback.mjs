// Preloaded with `node --import ./loopback.mjs` by the benchmark harness:
// the Portkey gateway's start-server.js listens on every interface and has
// no flag for the host, so this makes any listen() call that names no host
// listen on 127.0.0.1 only. The benchmark's servers never leave loopback.
import net from 'node:net';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1');
  } else if (first && typeof first === 'object' && first.host === undefined && first.path === undefined) {
    args[0] = { ...first, host: '127.0.0.1' };
  }
  return listen.apply(this, args);
};

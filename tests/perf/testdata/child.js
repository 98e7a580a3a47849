// The perf child protocol for the Node.js sides (tests/perf): serve prints
// "addr HOST:PORT" once the server listens, then answers "stat" (CPU ticks
// from /proc/self/stat), "rss" (resident bytes, live connections, 0) and
// "quit" read on stdin.
'use strict';
const fs = require('fs');
const readline = require('readline');

function ticks() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

function rss() {
  const m = fs.readFileSync('/proc/self/status', 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return Number(m[1]) * 1024;
}

// serve listens with server on a loopback port and speaks the protocol;
// conns returns the live connections.
exports.serve = function serve(server, conns) {
  server.listen(0, '127.0.0.1', () => {
    console.log('addr 127.0.0.1:' + server.address().port);
  });
  readline.createInterface({ input: process.stdin })
    .on('line', (line) => {
      switch (line) {
        case 'stat':
          console.log('stat ' + ticks());
          break;
        case 'rss':
          if (global.gc) global.gc();
          console.log('rss ' + rss() + ' ' + conns() + ' 0');
          break;
        case 'quit':
          process.exit(0);
      }
    })
    .on('close', () => process.exit(0));
};

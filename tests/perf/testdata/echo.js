// The Node.js side of the echo comparison (tests/perf): an echo server on
// Node's net module, piping each socket to itself (which honours
// back-pressure), speaking the perf child protocol: it prints "addr HOST:PORT",
// then answers "stat" (CPU ticks from /proc/self/stat), "rss" (resident bytes,
// live connections, 0) and "quit" read on stdin.
'use strict';
const net = require('net');
const fs = require('fs');
const readline = require('readline');

let conns = 0;
const server = net.createServer((s) => {
  conns++;
  s.setNoDelay(true);
  s.on('error', () => {});
  s.on('close', () => { conns--; });
  s.pipe(s);
});
server.listen(0, '127.0.0.1', () => {
  console.log('addr 127.0.0.1:' + server.address().port);
});

function ticks() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

function rss() {
  const m = fs.readFileSync('/proc/self/status', 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return Number(m[1]) * 1024;
}

readline.createInterface({ input: process.stdin })
  .on('line', (line) => {
    switch (line) {
      case 'stat':
        console.log('stat ' + ticks());
        break;
      case 'rss':
        if (global.gc) global.gc();
        console.log('rss ' + rss() + ' ' + conns + ' 0');
        break;
      case 'quit':
        process.exit(0);
    }
  })
  .on('close', () => process.exit(0));

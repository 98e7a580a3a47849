// The Node.js side of the echo comparison (tests/perf): an echo server on
// Node's net module, piping each socket to itself (which honours
// back-pressure), speaking the perf child protocol (child.js).
'use strict';
const net = require('net');

let conns = 0;
const server = net.createServer((s) => {
  conns++;
  s.setNoDelay(true);
  s.on('error', () => {});
  s.on('close', () => { conns--; });
  s.pipe(s);
});
require('./child.js').serve(server, () => conns);

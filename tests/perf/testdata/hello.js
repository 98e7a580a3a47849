// The Node.js side of the HTTP comparison (tests/perf): a hello server on
// Node's http module (keep-alive, its defaults), answering every request
// with the body the Go sides answer, speaking the perf child protocol
// (child.js).
'use strict';
const http = require('http');

const body = Buffer.from('Hello, World!');
let conns = 0;
const server = http.createServer((req, res) => {
  res.end(body);
});
server.on('connection', (s) => {
  conns++;
  s.on('close', () => { conns--; });
});
require('./child.js').serve(server, () => conns);

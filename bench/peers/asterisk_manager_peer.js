// asterisk-manager (npm) on the load harness's AMI stream: log in, count
// every event until the harness's end marker (UserEvent LoadEnd), print the
// count, close.
//
// Run by the harness: node asterisk_manager_peer.js PORT
'use strict';
const port = Number(process.argv[2]);
const ami = require('asterisk-manager')(port, '127.0.0.1', 'bridge', 'load-secret', true);
let events = 0;
let first = null;
ami.on('managerevent', (evt) => {
  if (evt.event === 'UserEvent' && evt.userevent === 'LoadEnd') {
    const secs = first === null ? 0 : Number(process.hrtime.bigint() - first) / 1e9;
    console.log(`events=${events} seconds=${secs.toFixed(3)}`);
    ami.disconnect();
    process.exit(0);
  }
  if (first === null) first = process.hrtime.bigint();
  events += 1;
});

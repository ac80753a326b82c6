// SPDX-License-Identifier: AGPL-3.0-or-later
// sim-driver.js: the Node.js driver (npm's mongodb) against a simulated set; run by sim-drivers.sh.
//   node sim-driver.js SET PRIMARY SECONDARY HIDDEN OTHER...
// The module is $MBH_NODE_MONGODB, the password $MBH_DRIVER_PASSWORD (user "backup").  One line per
// check: "ok CHECK DETAIL" or "not CHECK DETAIL" (CHECK: discover auth status lock held).
'use strict';
const { MongoClient } = require(process.env.MBH_NODE_MONGODB);

const [set, primary, secondary, hidden, ...others] = process.argv.slice(2);
const all = [primary, secondary, hidden, ...others];
const cred = 'backup:' + encodeURIComponent(process.env.MBH_DRIVER_PASSWORD) + '@';
const opts = 'authSource=admin&serverSelectionTimeoutMS=5000&connectTimeoutMS=5000';

function say(ok, check, detail) {
  console.log((ok ? 'ok ' : 'not ') + check + ' ' + detail);
}
function direct(host, extra) {
  return new MongoClient('mongodb://' + cred + host + '/?directConnection=true&' + opts + (extra || ''));
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function check(name, fn) {
  try {
    const [ok, detail] = await fn();
    say(ok, name, detail);
  } catch (e) {
    say(false, name, String(e && e.message ? e.message : e).replace(/\n/g, ' '));
  }
}

async function discover() {
  let desc = null;
  const c = new MongoClient('mongodb://' + cred + primary + '/?replicaSet=' + set + '&' + opts);
  c.on('topologyDescriptionChanged', (e) => { desc = e.newDescription; });
  try {
    await c.connect();
    for (let i = 0; i < 100; i++) {
      const types = desc ? [...desc.servers.values()].map((s) => s.type) : [];
      if (types.filter((t) => t === 'RSPrimary').length === 1 && types.filter((t) => t === 'RSSecondary').length === 2)
        break;
      await sleep(100);
    }
    const seen = [...desc.servers.keys()].sort();
    const want = [primary, secondary, ...others].sort();
    const types = [...desc.servers.values()].map((s) => s.type).sort().join(',');
    return [JSON.stringify(seen) === JSON.stringify(want) && !seen.includes(hidden) &&
            types === 'RSPrimary,RSSecondary,RSSecondary', seen.join(' ') + ' ' + types];
  } finally {
    await c.close();
  }
}

async function auth() {
  const users = [];
  for (const h of all) {
    const c = direct(h);
    try {
      const r = await c.db('admin').command({ connectionStatus: 1 });
      users.push(r.authInfo.authenticatedUsers.map((u) => u.user + '@' + u.db).join('+') || 'none');
    } finally {
      await c.close();
    }
  }
  return [users.every((u) => u === 'backup@admin'), all.length + ' members: ' + users.join(' ')];
}

async function status() {
  const c = new MongoClient('mongodb://' + cred + primary + '/?replicaSet=' + set + '&' + opts);
  try {
    const r = await c.db('admin').command({ replSetGetStatus: 1 });
    const states = r.members.map((m) => m.stateStr).join(',');
    return [r.ok === 1 && r.set === set && r.members.length === all.length, r.set + ' ' + states];
  } finally {
    await c.close();
  }
}

async function lock() {
  const c = direct(secondary);
  try {
    const a = await c.db('admin').command({ fsync: 1, lock: true });
    const b = await c.db('admin').command({ fsyncUnlock: 1 });
    return [Number(a.lockCount) === 1 && Number(b.lockCount) === 0,
            'lockCount ' + Number(a.lockCount) + ' then ' + Number(b.lockCount)];
  } finally {
    await c.close();
  }
}

async function held() {
  const admin = direct(primary);
  const writer = direct(primary);
  try {
    await admin.db('admin').command({ fsync: 1, lock: true });
    let done = false;
    const ins = writer.db('drivers').collection('held').insertOne({ at: Date.now() }).then(() => { done = true; });
    await sleep(1000);
    const whileLocked = done;
    await admin.db('admin').command({ fsyncUnlock: 1 });
    // bounded, and the bound's timer cleared: a pending one keeps node running to its end
    let bound;
    await Promise.race([ins, new Promise((r) => { bound = setTimeout(r, 10000); })]);
    clearTimeout(bound);
    return [!whileLocked && done, 'done while locked: ' + whileLocked + ', after the unlock: ' + done];
  } finally {
    await admin.db('admin').command({ fsyncUnlock: 1 }).catch(() => {});
    await writer.close();
    await admin.close();
  }
}

(async () => {
  await check('discover', discover);
  await check('auth', auth);
  await check('status', status);
  await check('lock', lock);
  await check('held', held);
})();

<?php
// SPDX-License-Identifier: AGPL-3.0-or-later
// sim-driver.php: PHP's mongodb extension against a simulated set; run by sim-drivers.sh.
//   php sim-driver.php SET PRIMARY SECONDARY HIDDEN OTHER...
// The password is $MBH_DRIVER_PASSWORD (user "backup").  One line per check: "ok CHECK DETAIL" or
// "not CHECK DETAIL" (CHECK: discover auth status lock held).  The extension is synchronous: the held
// insert is shown by a client-side timeout while the primary is locked, then the insert succeeding
// after the unlock.

use MongoDB\Driver\BulkWrite;
use MongoDB\Driver\Command;
use MongoDB\Driver\Manager;
use MongoDB\Driver\Server;

[, $set, $primary, $secondary, $hidden] = $argv;
$others = array_slice($argv, 5);
$all = array_merge([$primary, $secondary, $hidden], $others);
$cred = 'backup:' . rawurlencode(getenv('MBH_DRIVER_PASSWORD')) . '@';
$opts = 'authSource=admin&serverSelectionTimeoutMS=5000&connectTimeoutMS=5000';

function say(bool $ok, string $check, string $detail): void
{
	echo ($ok ? 'ok ' : 'not ') . $check . ' ' . str_replace("\n", ' ', $detail) . "\n";
}

function direct(string $host, string $extra = ''): Manager
{
	global $cred, $opts;
	// a new Manager per call: the extension caches clients by URI, and the tests want separate connections
	return new Manager("mongodb://$cred$host/?directConnection=true&$opts$extra", [], ['disableClientPersistence' => true]);
}

function cmd(Manager $m, array $doc): object
{
	return $m->executeCommand('admin', new Command($doc))->toArray()[0];
}

function check(string $name, callable $fn): void
{
	try {
		[$ok, $detail] = $fn();
		say($ok, $name, $detail);
	} catch (Throwable $e) {
		say(false, $name, get_class($e) . ': ' . $e->getMessage());
	}
}

check('discover', function () use ($cred, $opts, $set, $primary, $secondary, $hidden, $others) {
	$m = new Manager("mongodb://$cred$primary/?replicaSet=$set&$opts", [], ['disableClientPersistence' => true]);
	cmd($m, ['ping' => 1]);
	$types = [];
	for ($i = 0; $i < 50; $i++) {
		$m->selectServer(new MongoDB\Driver\ReadPreference('secondaryPreferred'));
		$seen = [];
		$types = [];
		foreach ($m->getServers() as $s) {
			$seen[] = $s->getHost() . ':' . $s->getPort();
			$types[] = $s->getType();
		}
		if (count(array_filter($types, fn($t) => $t === Server::TYPE_RS_SECONDARY)) === 2)
			break;
		usleep(100000);
	}
	sort($seen);
	$want = array_merge([$primary, $secondary], $others);
	sort($want);
	$np = count(array_filter($types, fn($t) => $t === Server::TYPE_RS_PRIMARY));
	$ns = count(array_filter($types, fn($t) => $t === Server::TYPE_RS_SECONDARY));
	return [$seen === $want && !in_array($hidden, $seen, true) && $np === 1 && $ns === 2,
		implode(' ', $seen) . " primary=$np secondaries=$ns"];
});

check('auth', function () use ($all) {
	$users = [];
	foreach ($all as $h) {
		$r = cmd(direct($h), ['connectionStatus' => 1]);
		$u = $r->authInfo->authenticatedUsers;
		$users[] = count($u) ? $u[0]->user . '@' . $u[0]->db : 'none';
	}
	return [count(array_unique($users)) === 1 && $users[0] === 'backup@admin',
		count($all) . ' members: ' . implode(' ', $users)];
});

check('status', function () use ($cred, $opts, $set, $primary, $all) {
	$m = new Manager("mongodb://$cred$primary/?replicaSet=$set&$opts", [], ['disableClientPersistence' => true]);
	$r = cmd($m, ['replSetGetStatus' => 1]);
	$states = array_map(fn($x) => $x->stateStr, $r->members);
	return [$r->ok == 1 && $r->set === $set && count($r->members) === count($all), $r->set . ' ' . implode(',', $states)];
});

check('lock', function () use ($secondary) {
	$m = direct($secondary);
	$a = cmd($m, ['fsync' => 1, 'lock' => true]);
	$b = cmd($m, ['fsyncUnlock' => 1]);
	return [(int)$a->lockCount === 1 && (int)$b->lockCount === 0, 'lockCount ' . (int)$a->lockCount . ' then ' . (int)$b->lockCount];
});

check('held', function () use ($primary) {
	$admin = direct($primary);
	cmd($admin, ['fsync' => 1, 'lock' => true]);
	$whileLocked = 'completed';
	try {
		$w = new BulkWrite();
		$w->insert(['at' => microtime(true)]);
		direct($primary, '&socketTimeoutMS=1000')->executeBulkWrite('drivers.held', $w);
	} catch (MongoDB\Driver\Exception\RuntimeException $e) {
		// a bulk write wraps the socket timeout as its previous exception
		$t = $e instanceof MongoDB\Driver\Exception\ConnectionTimeoutException ? $e : $e->getPrevious();
		$whileLocked = $t instanceof MongoDB\Driver\Exception\ConnectionTimeoutException ? 'timed out' : get_class($e) . ': ' . $e->getMessage();
	} finally {
		cmd($admin, ['fsyncUnlock' => 1]);
	}
	$w = new BulkWrite();
	$w->insert(['at' => microtime(true)]);
	$n = direct($primary)->executeBulkWrite('drivers.held', $w)->getInsertedCount();
	return [$whileLocked === 'timed out' && $n === 1, "an insert while locked: $whileLocked; after the unlock: $n inserted"];
});

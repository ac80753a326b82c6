// SPDX-License-Identifier: AGPL-3.0-or-later
// sim-driver.go: the Go driver (Debian's golang-mongodb-mongo-driver-dev) against a simulated set;
// built and run by sim-drivers.sh:
//   sim-driver-go SET PRIMARY SECONDARY HIDDEN OTHER...
// The password is $MBH_DRIVER_PASSWORD (user "backup").  One line per check: "ok CHECK DETAIL" or
// "not CHECK DETAIL" (CHECK: discover auth status lock held).
package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/event"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/description"
	"go.mongodb.org/mongo-driver/mongo/options"
)

var (
	set, primary, secondary, hidden string
	others, all                     []string
	cred                            string
)

const opts = "authSource=admin&serverSelectionTimeoutMS=5000&connectTimeoutMS=5000"

func say(ok bool, check, detail string) {
	word := "not"
	if ok {
		word = "ok"
	}
	fmt.Printf("%s %s %s\n", word, check, strings.ReplaceAll(detail, "\n", " "))
}

func connect(uri string, mon *event.ServerMonitor) (*mongo.Client, error) {
	o := options.Client().ApplyURI(uri)
	if mon != nil {
		o.SetServerMonitor(mon)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return mongo.Connect(ctx, o)
}

func direct(host string) (*mongo.Client, error) {
	return connect("mongodb://"+cred+host+"/?directConnection=true&"+opts, nil)
}

func command(c *mongo.Client, doc bson.D) (bson.M, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var r bson.M
	err := c.Database("admin").RunCommand(ctx, doc).Decode(&r)
	return r, err
}

func num(v interface{}) int64 {
	switch n := v.(type) {
	case int32:
		return int64(n)
	case int64:
		return n
	case float64:
		return int64(n)
	}
	return -1
}

func check(name string, fn func() (bool, string, error)) {
	ok, detail, err := fn()
	if err != nil {
		say(false, name, err.Error())
		return
	}
	say(ok, name, detail)
}

func discover() (bool, string, error) {
	var mu sync.Mutex
	var last description.Topology
	mon := &event.ServerMonitor{TopologyDescriptionChanged: func(e *event.TopologyDescriptionChangedEvent) {
		mu.Lock()
		last = e.NewDescription
		mu.Unlock()
	}}
	c, err := connect("mongodb://"+cred+primary+"/?replicaSet="+set+"&"+opts, mon)
	if err != nil {
		return false, "", err
	}
	defer c.Disconnect(context.Background())
	if _, err := command(c, bson.D{{Key: "ping", Value: 1}}); err != nil {
		return false, "", err
	}
	var seen, kinds []string
	for i := 0; i < 100; i++ {
		mu.Lock()
		seen, kinds = nil, nil
		for _, s := range last.Servers {
			seen = append(seen, s.Addr.String())
			kinds = append(kinds, s.Kind.String())
		}
		mu.Unlock()
		sort.Strings(kinds)
		if strings.Join(kinds, ",") == "RSPrimary,RSSecondary,RSSecondary" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	sort.Strings(seen)
	want := append([]string{primary, secondary}, others...)
	sort.Strings(want)
	ok := strings.Join(seen, " ") == strings.Join(want, " ") && strings.Join(kinds, ",") == "RSPrimary,RSSecondary,RSSecondary"
	for _, s := range seen {
		ok = ok && s != hidden
	}
	return ok, strings.Join(seen, " ") + " " + strings.Join(kinds, ","), nil
}

func auth() (bool, string, error) {
	var users []string
	ok := true
	for _, h := range all {
		c, err := direct(h)
		if err != nil {
			return false, "", err
		}
		r, err := command(c, bson.D{{Key: "connectionStatus", Value: 1}})
		c.Disconnect(context.Background())
		if err != nil {
			return false, "", fmt.Errorf("%s: %v", h, err)
		}
		u := "none"
		if ai, _ := r["authInfo"].(bson.M); ai != nil {
			if list, _ := ai["authenticatedUsers"].(bson.A); len(list) > 0 {
				if m, _ := list[0].(bson.M); m != nil {
					u = fmt.Sprintf("%v@%v", m["user"], m["db"])
				}
			}
		}
		ok = ok && u == "backup@admin"
		users = append(users, u)
	}
	return ok, fmt.Sprintf("%d members: %s", len(all), strings.Join(users, " ")), nil
}

func status() (bool, string, error) {
	c, err := connect("mongodb://"+cred+primary+"/?replicaSet="+set+"&"+opts, nil)
	if err != nil {
		return false, "", err
	}
	defer c.Disconnect(context.Background())
	r, err := command(c, bson.D{{Key: "replSetGetStatus", Value: 1}})
	if err != nil {
		return false, "", err
	}
	members, _ := r["members"].(bson.A)
	var states []string
	for _, m := range members {
		if d, _ := m.(bson.M); d != nil {
			states = append(states, fmt.Sprint(d["stateStr"]))
		}
	}
	return num(r["ok"]) == 1 && r["set"] == set && len(members) == len(all), fmt.Sprint(r["set"], " ", strings.Join(states, ",")), nil
}

func lock() (bool, string, error) {
	c, err := direct(secondary)
	if err != nil {
		return false, "", err
	}
	defer c.Disconnect(context.Background())
	a, err := command(c, bson.D{{Key: "fsync", Value: 1}, {Key: "lock", Value: true}})
	if err != nil {
		return false, "", err
	}
	b, err := command(c, bson.D{{Key: "fsyncUnlock", Value: 1}})
	if err != nil {
		return false, "", err
	}
	return num(a["lockCount"]) == 1 && num(b["lockCount"]) == 0,
		fmt.Sprintf("lockCount %d then %d", num(a["lockCount"]), num(b["lockCount"])), nil
}

func held() (bool, string, error) {
	admin, err := direct(primary)
	if err != nil {
		return false, "", err
	}
	defer admin.Disconnect(context.Background())
	writer, err := direct(primary)
	if err != nil {
		return false, "", err
	}
	defer writer.Disconnect(context.Background())
	if _, err := command(admin, bson.D{{Key: "fsync", Value: 1}, {Key: "lock", Value: true}}); err != nil {
		return false, "", err
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_, err := writer.Database("drivers").Collection("held").InsertOne(ctx, bson.D{{Key: "at", Value: time.Now()}})
		done <- err
	}()
	whileLocked := "held"
	select {
	case err := <-done:
		whileLocked = fmt.Sprintf("completed (%v)", err)
	case <-time.After(time.Second):
	}
	if _, err := command(admin, bson.D{{Key: "fsyncUnlock", Value: 1}}); err != nil {
		return false, "", err
	}
	after := "not completed within 10 s"
	if whileLocked == "held" {
		select {
		case err := <-done:
			after = "completed"
			if err != nil {
				after = "failed: " + err.Error()
			}
		case <-time.After(10 * time.Second):
		}
	}
	return whileLocked == "held" && after == "completed", "while locked: " + whileLocked + "; after the unlock: " + after, nil
}

func main() {
	if len(os.Args) < 5 {
		fmt.Fprintln(os.Stderr, "usage: sim-driver-go SET PRIMARY SECONDARY HIDDEN OTHER...")
		os.Exit(64)
	}
	set, primary, secondary, hidden = os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	others = os.Args[5:]
	all = append([]string{primary, secondary, hidden}, others...)
	cred = "backup:" + url.QueryEscape(os.Getenv("MBH_DRIVER_PASSWORD")) + "@"
	check("discover", discover)
	check("auth", auth)
	check("status", status)
	check("lock", lock)
	check("held", held)
}

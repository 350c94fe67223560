package db

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"marquee/db/dbtest"
)

// TestReplicaRouting runs a real primary and replica (two MariaDB servers of
// the test's own, GTID replication) and shows where reads go: to the replica
// while it keeps up, to the primary while it lags too far or is down, and
// back once it recovers. Which server answers is read from @@server_id
// through the read handle.
func TestReplicaRouting(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two database servers")
	}
	if bin, ok := dbtest.FindServerBinary(); ok {
		if out, _ := exec.Command(bin, "--no-defaults", "--version").Output(); !strings.Contains(string(out), "MariaDB") {
			t.Skip("the replication set-up of this test is MariaDB's (GTID slave_pos)")
		}
	}
	primary := dbtest.StartLocalServer(t, "--server-id=1", "--log-bin=binlog", "--binlog-format=ROW")
	replica := dbtest.StartLocalServer(t, "--server-id=2", "--slave-net-timeout=5")

	// Replicate from the primary's current position: the accounts both
	// servers made for themselves before stay out of the stream.
	primary.Admin(t,
		"CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'repl-secret'",
		"GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'")
	pos := primary.AdminQuery(t, "SELECT @@gtid_binlog_pos")
	replica.Admin(t,
		"SET GLOBAL gtid_slave_pos = '"+pos+"'",
		"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT="+strconv.Itoa(primary.Port)+
			", MASTER_USER='repl', MASTER_PASSWORD='repl-secret', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
		"START SLAVE")
	primary.Admin(t, "CREATE DATABASE marquee CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")

	ctx := context.Background()
	d, err := Open(ctx, Options{
		URL:                  primary.URL("marquee"),
		ReplicaURL:           replica.URL("marquee"),
		ReplicaMaxLag:        2 * time.Second,
		ReplicaCheckInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Migrate(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	store := NewStore(d)

	readsFrom := func() int {
		var id int
		if err := d.R.QueryRowContext(ctx, "SELECT @@server_id").Scan(&id); err != nil {
			t.Fatalf("a read failed: %v", err)
		}
		return id
	}
	waitReadsFrom := func(server int, why string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for readsFrom() != server {
			if time.Now().After(deadline) {
				t.Fatalf("%s: reads still do not go to server %d; replica status %+v", why, server, d.ReplicaStatus())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	waitReadsFrom(2, "a replica that keeps up")
	if st := d.ReplicaStatus(); !st.Configured || !st.InUse || st.Err != nil {
		t.Fatalf("status %+v, want in use", st)
	}
	// The replica has what the primary wrote (the migrations, then this).
	created, err := store.Create(ctx, PornstarInput{PornstarFields: PornstarFields{Name: "Replicated"}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new record on the replica", func() bool {
		got, err := store.Get(ctx, created.ID)
		return err == nil && got.Name == "Replicated"
	})

	// Lag: the replica applies events an hour late. Once it is more than
	// 2 s behind, reads go to the primary, and see the newest write.
	replica.Admin(t, "STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY=3600", "START SLAVE")
	late, err := store.Create(ctx, PornstarInput{PornstarFields: PornstarFields{Name: "Written while the replica lags"}})
	if err != nil {
		t.Fatal(err)
	}
	// While the replica restarts its threads the router may first see it
	// stopped (also a reason to read the primary): wait for the lag.
	waitFor(t, "the router to see the replica lag", func() bool {
		st := d.ReplicaStatus()
		return !st.InUse && st.Err != nil && strings.Contains(st.Err.Error(), "lags")
	})
	waitReadsFrom(1, "a replica more than 2 s behind")
	if got, err := store.Get(ctx, late.ID); err != nil || got.Name != late.Name {
		t.Fatalf("reading the newest write while the replica lags: %v, %v", got, err)
	}

	replica.Admin(t, "STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY=0", "START SLAVE")
	waitReadsFrom(2, "a replica that caught up")

	// Down: reads go on at once, from the primary, without waiting for the
	// next check.
	replica.Kill(t)
	if got, err := store.Get(ctx, late.ID); err != nil || got.Name != late.Name {
		t.Fatalf("first read after the replica died: %v, %v", got, err)
	}
	if id := readsFrom(); id != 1 {
		t.Fatalf("reads go to server %d with the replica down, want the primary", id)
	}
	if st := d.ReplicaStatus(); st.InUse {
		t.Errorf("status %+v with the replica down", st)
	}

	replica.Start(t)
	waitReadsFrom(2, "a restarted replica")
	if err := d.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestReplicaStatusWithoutReplica(t *testing.T) {
	d, err := Open(context.Background(), Options{URL: dbtest.SQLiteURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if st := d.ReplicaStatus(); st.Configured || st.InUse {
		t.Fatalf("status %+v without a replica", st)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

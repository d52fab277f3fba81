package daemon

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// TestAddrPoolIsSetAtCreationAndKept starts a cluster with its own
// address pool, restarts it without flags (the pool stays), then with
// another pool (refused, naming both).
func TestAddrPoolIsSetAtCreationAndKept(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := func(cfg DevConfig) (*Dev, error) {
		cfg.DataDir, cfg.Logger = dir, quiet
		return StartDev(ctx, cfg)
	}
	subnetOf := func(d *Dev, name string) string {
		t.Helper()
		c, err := client.New(d.Host())
		if err != nil {
			t.Fatal(err)
		}
		n, err := c.NetworkCreate(ctx, api.NetworkSpec{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		sub, _ := n.Subnet()
		return sub
	}

	d, err := start(DevConfig{DefaultAddrPool: []string{"172.28.0.0/16"}, SubnetSize: 26})
	if err != nil {
		t.Fatal(err)
	}
	if got := subnetOf(d, "first"); got != "172.28.0.0/26" {
		t.Errorf("first network: %s, want 172.28.0.0/26", got)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d, err = start(DevConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if got := subnetOf(d, "second"); got != "172.28.0.64/26" {
		t.Errorf("network after a restart without flags: %s, want 172.28.0.64/26", got)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d, err = start(DevConfig{DefaultAddrPool: []string{"10.0.0.0/8"}})
	if err == nil {
		d.Close()
		t.Fatal("a restart with another address pool started")
	}
	want := "the cluster's address pool is [172.28.0.0/16] with /26 subnets, set when it was created; it cannot be changed to [10.0.0.0/8] with /24"
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q, want it to say %q", err, want)
	}
}

package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

func TestDurationJSON(t *testing.T) {
	for _, d := range []time.Duration{0, time.Second * 5, 90 * time.Second, 1500 * time.Millisecond, -time.Second, time.Nanosecond} {
		b, err := json.Marshal(api.Duration(d))
		if err != nil || string(b) != `"`+d.String()+`"` {
			t.Errorf("Marshal(%v) = %s, %v", d, b, err)
		}
		var back api.Duration
		if err := json.Unmarshal(b, &back); err != nil || back.D() != d {
			t.Errorf("round trip %v: %v, %v", d, back, err)
		}
	}
	reads := map[string]time.Duration{
		`"5s"`:         5 * time.Second,
		`"1m30s"`:      90 * time.Second,
		`"250ms"`:      250 * time.Millisecond,
		`"0"`:          0,
		`5000000000`:   5 * time.Second, // nanoseconds, as Docker writes them
		`0`:            0,
		`-1000000`:     -time.Millisecond,
		`1`:            time.Nanosecond,
		`"-2h"`:        -2 * time.Hour,
		`"1h2m3.5s"`:   time.Hour + 2*time.Minute + 3500*time.Millisecond,
		`"1.5h"`:       90 * time.Minute,
		`"10us"`:       10 * time.Microsecond,
		`"3ns"`:        3,
		`"0.000001ms"`: 1,
	}
	for in, want := range reads {
		var d api.Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || d.D() != want {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", in, d, err, want)
		}
	}
}

func TestDurationJSONRejectsBadInput(t *testing.T) {
	cases := map[string]string{
		`"5"`:      `invalid duration "5"`,
		`"five s"`: `invalid duration "five s"`,
		`""`:       `invalid duration ""`,
		`"5 s"`:    `invalid duration "5 s"`,
		`1.5`:      `invalid duration 1.5: want a string such as "5s"`,
		`true`:     `invalid duration true`,
		`{}`:       `invalid duration {}`,
		`[1]`:      `invalid duration [1]`,
	}
	for in, want := range cases {
		d := api.Duration(42)
		err := json.Unmarshal([]byte(in), &d)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Unmarshal(%s) = %v, %v; want an error containing %q", in, d, err, want)
		}
		if d != 42 {
			t.Errorf("Unmarshal(%s) changed the value to %v on error", in, d)
		}
	}
}

func TestDurationJSONInSpec(t *testing.T) {
	in := `{"Delay":"10s","Monitor":5000000000,"Parallelism":2}`
	var u api.UpdateConfig
	if err := json.Unmarshal([]byte(in), &u); err != nil {
		t.Fatal(err)
	}
	if u.Delay.D() != 10*time.Second || u.Monitor.D() != 5*time.Second || u.Parallelism != 2 {
		t.Errorf("decoded %+v", u)
	}
	// null means "not set", for value and pointer fields alike.
	u = api.UpdateConfig{Delay: api.Duration(time.Second)}
	if err := json.Unmarshal([]byte(`{"Delay":null}`), &u); err != nil || u.Delay.D() != time.Second {
		t.Errorf("null Delay: %+v, %v", u, err)
	}
	var rp api.RestartPolicy
	if err := json.Unmarshal([]byte(`{"Delay":null,"Window":"1m"}`), &rp); err != nil || rp.Delay != nil || rp.Window.D() != time.Minute {
		t.Errorf("restart policy: %+v, %v", rp, err)
	}
	out, _ := json.Marshal(api.RestartPolicy{Delay: api.DurationPtr(1500 * time.Millisecond)})
	if string(out) != `{"Delay":"1.5s"}` {
		t.Errorf("Marshal = %s", out)
	}
	if s := api.Duration(time.Minute).String(); s != "1m0s" {
		t.Errorf("String = %q", s)
	}
}

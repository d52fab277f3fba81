package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// Tour plays the seed's story on a deployed demo (Up done), narrating
// each step to out with the command that does it by hand and what to
// look at, and checking what the story promises; pause runs between
// steps (a delay, or waiting for Enter). It stops at the first step
// that does not turn out as told. The last step is played on extra's
// nodes, or told when there are none.
func Tour(ctx context.Context, e *Env, base string, extra Extra, out io.Writer, pause func(context.Context) error) error {
	say := func(title, body string) error {
		fmt.Fprintf(out, "\n== %s\n%s\n", title, strings.Trim(body, "\n"))
		return pause(ctx)
	}
	result := func(format string, args ...any) { fmt.Fprintf(out, "   -> "+format+"\n", args...) }

	if err := say("1. Self-healing: kill a replica", `
signup-web runs one replica. The tour kills its process (kill -9), as the seed
stops IIS in the container. The manager sees the task fail and starts a new
one; until it is healthy the app answers errors. By hand:
   kill -9 "$(shoal ps -f name=signup_signup-web.1. --format '{{.RuntimeID}}')"
   (containers: docker kill "$(shoal ps -f name=signup_signup-web.1. --format '{{.RuntimeID}}')")
   shoal service ps signup_signup-web`); err != nil {
		return err
	}
	killed, repl, err := KillOne(ctx, e.Client, Web)
	if err != nil {
		return err
	}
	result("task %s killed; task %s replaced it in slot %d", killed.ID, repl.ID, repl.Slot)

	if err := say("2. Adding replicas provides HA", `
   shoal service update signup_signup-web --replicas 2
With two replicas, a kill fails no request: the ingress sends traffic to the
healthy one while the manager replaces the other. The tour kills one replica
while it sends requests to `+base+`/app/.`); err != nil {
		return err
	}
	if err := Scale(ctx, e.Client, Web, 2); err != nil {
		return err
	}
	if err := WaitHealthy(ctx, e.Client); err != nil {
		return err
	}
	load := StartLoad(base+"/app/", 4)
	time.Sleep(time.Second)
	_, _, err = KillOne(ctx, e.Client, Web)
	time.Sleep(time.Second)
	ok, failed, errs := load.Stop()
	if err != nil {
		return err
	}
	result("%d requests answered, %d failed %s", ok, failed, strings.Join(errs, "; "))

	if err := say("3. ...but the form breaks: anti-forgery tokens", `
Open `+base+`/app/ and submit the form: it fails more often than not. Each
replica keeps the anti-forgery tokens it issued in its own memory, and the
POST may reach the other replica (the page says which one served it).`); err != nil {
		return err
	}
	ok, failed, _, err = FormTrials(base, 10, "tour-v1")
	if err != nil {
		return err
	}
	result("10 sign-ups without sticky sessions: %d succeeded, %d failed the anti-forgery check", ok, failed)

	if err := say("4. Sticky sessions (signup-v2.yml)", `
   shoal stack deploy -c `+e.StackFile("signup-v2.yml")+` signup
v2 adds the label traefik.http.services.signup-web.loadbalancer.sticky.cookie=true:
the ingress sets a cookie on the first answer and sends the session's later
requests to the same replica (see the cookie in your browser's network tab).`); err != nil {
		return err
	}
	if _, err := Deploy(ctx, e, "signup-v2.yml", Stack); err != nil {
		return err
	}
	time.Sleep(time.Second)
	if err := WaitHealthy(ctx, e.Client); err != nil {
		return err
	}
	ok, failed, cookie, err := FormTrials(base, 10, "tour-v2")
	if err != nil {
		return err
	}
	result("10 sign-ups with sticky sessions: %d succeeded, %d failed (cookie %s)", ok, failed, cookie)
	if ps, err := Prospects(ctx, e); err == nil {
		result("signup-db holds %d prospects, saved by save-handler from the queue", len(ps))
	}

	if err := say("5. Health checks and start-first updates (signup-v3.yml)", `
   shoal stack deploy -c `+e.StackFile("signup-v3.yml")+` signup
   shoal service ps signup_signup-web
v3 overrides the health checks and updates start-first: each new task starts
and turns healthy before an old one stops, so capacity never drops. The tour
sends requests all along.`); err != nil {
		return err
	}
	ok, failed, errs, most, err := Rollout(ctx, e, "signup-v3.yml", base+"/app/")
	if err != nil {
		return err
	}
	result("%d requests answered, %d failed %s; up to %d signup-web tasks ran at once", ok, failed, strings.Join(errs, "; "), most)

	if err := say("6. A broken release rolls back on its own", `
   shoal service update --env-add SIGNUP_BREAK=health signup_signup-web
   shoal service ps signup_signup-web; shoal service inspect --pretty signup_signup-web
The new release fails its health check; with failure_action rollback the
update stops and the service goes back to the previous spec by itself.`); err != nil {
		return err
	}
	state, restored, err := BadRelease(ctx, e.Client)
	if err != nil {
		return err
	}
	result("update state %s; previous spec back: %v", state, restored)
	if err := WaitHealthy(ctx, e.Client); err != nil {
		return err
	}

	return rebalanceStep(ctx, e.Client, base, extra, say, result, out)
}

package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Browser is one user: its own cookies, and a new connection for each
// request (so no kept-alive connection hides how the ingress balances).
func Browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

var (
	tokenRe   = regexp.MustCompile(`name="__RequestVerificationToken" value="([0-9a-f]+)"`)
	replicaRe = regexp.MustCompile(`<span id="replica">([^<]*)</span>`)
)

// SignUp is one user's visit: GET the form, POST it back with the
// token. It returns whether the POST succeeded, the replicas that
// served the form and the post, and the error page when it failed.
func SignUp(hc *http.Client, base string, email string) (ok bool, form, post, errPage string, err error) {
	resp, err := hc.Get(base + "/app/")
	if err != nil {
		return false, "", "", "", err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, "", "", "", fmt.Errorf("GET /app/: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	m := tokenRe.FindSubmatch(body)
	if m == nil {
		return false, "", "", "", fmt.Errorf("GET /app/: no anti-forgery token in the form")
	}
	if r := replicaRe.FindSubmatch(body); r != nil {
		form = string(r[1])
	}
	v := url.Values{"__RequestVerificationToken": {string(m[1])}, "firstName": {"Demo"}, "lastName": {"User"},
		"email": {email}, "country": {"Norway"}, "role": {"Developer"}}
	resp, err = hc.PostForm(base+"/app/", v)
	if err != nil {
		return false, form, "", "", err
	}
	body, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if r := replicaRe.FindSubmatch(body); r != nil {
		post = string(r[1])
	}
	if resp.StatusCode != http.StatusOK {
		return false, form, post, strings.TrimSpace(string(body)), nil
	}
	return true, form, post, "", nil
}

// FormTrials has n new users sign up once each, and counts the
// successes and the anti-forgery failures. sticky is the name of the
// ingress's cookie the first user got, if any.
func FormTrials(base string, n int, tag string) (ok, failed int, sticky string, err error) {
	for i := 0; i < n; i++ {
		hc := Browser()
		good, _, _, _, err := SignUp(hc, base, fmt.Sprintf("%s-%d@example.com", tag, i))
		if err != nil {
			return ok, failed, sticky, err
		}
		if good {
			ok++
		} else {
			failed++
		}
		if sticky == "" {
			u, _ := url.Parse(base + "/app/")
			for _, c := range hc.Jar.Cookies(u) {
				sticky = c.Name
			}
		}
	}
	return ok, failed, sticky, nil
}

// Load sends GETs to one URL from a few workers until stopped, and
// counts the answers that were not 200.
type Load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	ok     int
	failed int
	errs   []string
}

// StartLoad starts workers GETting url, each about every 20ms.
func StartLoad(url string, workers int) *Load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &Load{cancel: cancel}
	for i := 0; i < workers; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			for ctx.Err() == nil {
				l.one(ctx, hc, url)
				select {
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	}
	return l
}

func (l *Load) one(ctx context.Context, hc *http.Client, url string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := hc.Do(req)
	if ctx.Err() != nil {
		return // stopped mid-request: not the cluster's failure
	}
	var problem string
	if err != nil {
		problem = err.Error()
	} else {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			problem = resp.Status + ": " + strings.TrimSpace(string(body))
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if problem == "" {
		l.ok++
		return
	}
	l.failed++
	if len(l.errs) < 5 {
		l.errs = append(l.errs, time.Now().Format("15:04:05.000")+" "+problem)
	}
}

// Stop stops the workers and returns the counts and the first errors.
func (l *Load) Stop() (ok, failed int, errs []string) {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok, l.failed, l.errs
}

// CheckForms is the walkthrough's verdict on FormTrials' counts:
// without sticky sessions some posts must fail their anti-forgery check
// and no cookie be set; with them none may fail, and a cookie must be.
func CheckForms(sticky bool, ok, failed int, cookie string) error {
	switch {
	case !sticky && (failed == 0 || cookie != ""):
		return fmt.Errorf("without sticky sessions: %d ok, %d failed, cookie %q; want failures and no cookie", ok, failed, cookie)
	case sticky && (failed != 0 || ok == 0 || cookie == ""):
		return fmt.Errorf("with sticky sessions: %d ok, %d failed, cookie %q; want none failed and a cookie", ok, failed, cookie)
	}
	return nil
}

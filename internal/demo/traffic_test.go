package demo

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

// replica mimics signup-web: the anti-forgery tokens it issues live in
// its own memory, so a form posted to another replica fails.
func replica(t *testing.T, name string) *httptest.Server {
	var mu sync.Mutex
	toks := map[string]bool{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			var b [8]byte
			_, _ = rand.Read(b[:])
			tok := hex.EncodeToString(b[:])
			mu.Lock()
			toks[tok] = true
			mu.Unlock()
			fmt.Fprintf(w, `<input type="hidden" name="__RequestVerificationToken" value="%s"><span id="replica">%s</span>`, tok, name)
			return
		}
		_ = r.ParseForm()
		mu.Lock()
		ok := toks[r.PostForm.Get("__RequestVerificationToken")]
		delete(toks, r.PostForm.Get("__RequestVerificationToken"))
		mu.Unlock()
		if !ok {
			http.Error(w, "The anti-forgery token could not be validated: replica "+name+" did not issue it.", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `thanks <span id="replica">%s</span>`, name)
	}))
	t.Cleanup(s.Close)
	return s
}

// front balances two replicas round-robin; sticky, it pins a session to
// the replica its cookie names, as the ingress's sticky cookie does.
func front(t *testing.T, sticky bool) string {
	var proxies []*httputil.ReverseProxy
	for _, name := range []string{"r0", "r1"} {
		u, _ := url.Parse(replica(t, name).URL)
		proxies = append(proxies, httputil.NewSingleHostReverseProxy(u))
	}
	var next atomic.Uint64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(next.Add(1) % 2)
		if sticky {
			if c, err := r.Cookie("sticky"); err == nil {
				i, _ = strconv.Atoi(c.Value)
			} else {
				http.SetCookie(w, &http.Cookie{Name: "sticky", Value: strconv.Itoa(i), Path: "/"})
			}
		}
		proxies[i%2].ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// The walkthrough's form check can fail: against replicas balanced
// without sticky sessions it sees anti-forgery failures (and CheckForms
// rejects that as "sticky"), and with a sticky cookie it sees none (and
// CheckForms rejects that as "not sticky").
func TestCheckFormsTellsStickyFromNot(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the servers' cleanups
	for _, sticky := range []bool{false, true} {
		ok, failed, cookie, err := FormTrials(front(t, sticky), 10, "unit")
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckForms(sticky, ok, failed, cookie); err != nil {
			t.Errorf("sticky %v: %v", sticky, err)
		}
		if err := CheckForms(!sticky, ok, failed, cookie); err == nil {
			t.Errorf("sticky %v: %d ok, %d failed, cookie %q pass as sticky %v too", sticky, ok, failed, cookie, !sticky)
		}
	}
}

package middleware

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBuffering(t *testing.T) {
	m, err := New("buffering", opts("maxRequestBodyBytes=10", "memRequestBodyBytes=5", "maxResponseBodyBytes=8"))
	if err != nil {
		t.Fatal(err)
	}
	var gotLen int64
	var gotBody string
	calls := 0
	h := m(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		gotLen = r.ContentLength
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Set("X-B", "1")
		_, _ = io.WriteString(w, r.URL.Query().Get("answer"))
	}))
	send := func(body string, chunked bool, answer string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/?answer="+answer, strings.NewReader(body))
		if chunked {
			r.ContentLength = -1
			r.TransferEncoding = []string{"chunked"}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	rec := send("0123456789", true, "ok")
	if rec.Code != 200 || gotLen != 10 || gotBody != "0123456789" || rec.Header().Get("Content-Length") != "2" || rec.Body.String() != "ok" {
		t.Errorf("chunked body within the limit: %d, backend got length %d %q; response %v %q", rec.Code, gotLen, gotBody, rec.Header(), rec.Body)
	}
	calls = 0
	if rec := send("01234567890", false, "ok"); rec.Code != 413 || calls != 0 {
		t.Errorf("body over the limit by Content-Length: %d, backend called %d", rec.Code, calls)
	}
	if rec := send("01234567890", true, "ok"); rec.Code != 413 || calls != 0 {
		t.Errorf("chunked body over the limit: %d, backend called %d", rec.Code, calls)
	}
	if rec := send("", false, "123456789"); rec.Code != 500 || rec.Header().Get("X-B") != "" || strings.Contains(rec.Body.String(), "123") {
		t.Errorf("response over the limit: %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
	wantErr(t, "buffering", nil, "maxRequestBodyBytes", "required")
	wantErr(t, "buffering", opts("maxRequestBodyBytes=100000000"), "at most")
	wantErr(t, "buffering", opts("maxRequestBodyBytes=10", "retryExpression=IsNetworkError() && Attempts() < 2"), "retryExpression")
}

// The bodies all buffering middlewares hold together are bounded: each
// router's limit (up to 64 MiB a request and as much a response) alone
// let a few dozen concurrent uploads take gigabytes.
func TestBufferingSharedBudget(t *testing.T) {
	defer func(n int64) { bufferBudget.max = n }(bufferBudget.max)
	bufferBudget.max = 20
	m, err := New("buffering", opts("maxRequestBodyBytes=15", "maxResponseBodyBytes=15"))
	if err != nil {
		t.Fatal(err)
	}
	held, release := make(chan struct{}), make(chan struct{})
	h := m(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			held <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, r.URL.Query().Get("answer"))
	}))
	send := func(path, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", path, strings.NewReader(body)))
		return rec
	}
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- send("/hold", strings.Repeat("a", 15)) }()
	<-held
	if rec := send("/", strings.Repeat("b", 15)); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("a body past the shared budget: %d, want 503", rec.Code)
	}
	if rec := send("/?answer="+strings.Repeat("c", 10), "x"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("a response past the shared budget: %d %q, want 503", rec.Code, rec.Body)
	}
	close(release)
	if rec := <-done; rec.Code != http.StatusOK {
		t.Errorf("the held request: %d", rec.Code)
	}
	if rec := send("/?answer=ok", strings.Repeat("b", 15)); rec.Code != http.StatusOK || rec.Body.String() != "ok" {
		t.Errorf("after the first ended: %d %q, want 200 (its bytes given back)", rec.Code, rec.Body)
	}
	if n := bufferBudget.used.Load(); n != 0 {
		t.Errorf("budget used after every request ended: %d", n)
	}
}

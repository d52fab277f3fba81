package h2serve

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/internal/testutil"
)

// curl --http2 and nghttp (nghttp2's client) over TLS with ALPN h2: a
// GET, a POST larger than the windows, and many streams at once.
func TestCurlAndNghttp(t *testing.T) {
	cert, _ := testutil.SelfSignedCert(t, "127.0.0.1")
	s := startServerTLS(t, Config{StreamWindow: 32 << 10, ConnWindow: 64 << 10}, http.HandlerFunc(echo),
		&tls.Config{Certificates: []tls.Certificate{cert}})
	url := "https://" + s.addr()
	big := bytes.Repeat([]byte("curl and nghttp "), 200<<10/16) // 200 KiB
	file := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(file, big, 0o600); err != nil {
		t.Fatal(err)
	}
	postWant := fmt.Sprintf("POST /up %s %d %s", s.addr(), len(big), digest(big))
	for _, tc := range []struct {
		tool string
		args []string
		want []string // in the output
	}{
		{"curl", []string{"-sk", "--http2", "-H", "Cookie: a=1", "-H", "Cookie: b=2", url + "/a?x=1"},
			[]string{`GET /a?x=1 ` + s.addr() + ` 0 e3b0c44298fc1c14 cookie="a=1; b=2" proto=HTTP/2.0`}},
		{"curl", []string{"-sk", "--http2", "--data-binary", "@" + file, url + "/up"}, []string{postWant}},
		{"curl", []string{"-sk", "--http2", "-o", "/dev/null", "-w", "%{http_version} %{size_download}", url + "/big/3000000"},
			[]string{"2 3000000"}},
		{"nghttp", []string{"-n", "-s", "-m", "50", url + "/many"}, []string{"200   69 /many"}},
		{"nghttp", []string{"-d", file, url + "/up"}, []string{postWant}},
		{"nghttp", []string{"-n", "-s", url + "/big/2000000"}, []string{"200   1M /big/2000000"}},
	} {
		t.Run(tc.tool+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			if _, err := exec.LookPath(tc.tool); err != nil {
				t.Skipf("%s not installed (apt-get install curl nghttp2-client)", tc.tool)
			}
			out, err := exec.Command(tc.tool, tc.args...).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tc.args[len(tc.args)-1] == url+"/many" && strings.Count(string(out), "200   69 /many") != 50 {
				t.Errorf("not 50 answers:\n%s", out)
			}
		})
	}
}

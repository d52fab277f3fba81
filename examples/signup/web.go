package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// tokens are the anti-forgery tokens this replica issued, in its memory
// only, as the seed's WebForms app keeps them: a form posted to another
// replica fails unless the ingress keeps the session on one (sticky
// cookie). At most max are kept; the oldest go first.
type tokens struct {
	mu    sync.Mutex
	max   int
	order []string
	set   map[string]bool
}

func (t *tokens) issue() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.order) >= t.max {
		delete(t.set, t.order[0])
		t.order = t.order[1:]
	}
	t.order = append(t.order, tok)
	t.set[tok] = true
	return tok
}

// use reports whether tok was issued here, and forgets it.
func (t *tokens) use(tok string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	ok := t.set[tok]
	delete(t.set, tok)
	return ok
}

var formPage = template.Must(template.New("form").Parse(`<!doctype html><title>Sign up</title>
<h1>Sign up for the newsletter</h1>
{{if .Error}}<p style="color:red">{{.Error}}</p>{{end}}
<form method="post" action="/app/">
<input type="hidden" name="__RequestVerificationToken" value="{{.Token}}">
<p><label>First name <input name="firstName"></label>
<p><label>Last name <input name="lastName"></label>
<p><label>Email <input name="email" type="email"></label>
<p><label>Country <select name="country">{{range .Countries}}<option>{{.}}</option>{{end}}</select></label>
<p><label>Role <select name="role">{{range .Roles}}<option>{{.}}</option>{{end}}</select></label>
<p><button>Go</button>
</form>
<p><small>served by <span id="replica">{{.Replica}}</span></small></p>
`))

var thanksPage = template.Must(template.New("thanks").Parse(`<!doctype html><title>Thank you</title>
<h1>Thank you, {{.Name}}!</h1><p>We'll be in touch.</p>
<p><small>served by <span id="replica">{{.Replica}}</span></small></p>
`))

func webCmd(args []string) error {
	fs := flag.NewFlagSet("web", flag.ContinueOnError)
	listen := fs.String("listen", "", "address to listen on (default :$PORT, else :8080)")
	apiURL := fs.String("api", "http://reference-data-api:8080", "URL of reference-data-api")
	queueURL := fs.String("queue", "nats://message-queue:4222", "NATS URL of the message queue")
	if err := fs.Parse(args); err != nil {
		return err
	}
	nc, err := nats.Connect(*queueURL, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(500*time.Millisecond))
	if err != nil {
		return fmt.Errorf("connect to the queue: %w", err)
	}
	defer nc.Close()
	toks := &tokens{max: 10000, set: map[string]bool{}}
	hc := &http.Client{Timeout: 5 * time.Second}
	me := replica()

	render := func(w http.ResponseWriter, status int, errMsg string) {
		countries, err1 := refList(hc, *apiURL+"/api/countries")
		roles, err2 := refList(hc, *apiURL+"/api/roles")
		if err1 != nil || err2 != nil {
			http.Error(w, fmt.Sprintf("reference data unavailable: %v %v (served by %s)", err1, err2, me), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_ = formPage.Execute(w, map[string]any{"Token": toks.issue(), "Countries": countries, "Roles": roles, "Replica": me, "Error": errMsg})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", healthHandler(nil))
	mux.HandleFunc("GET /app/{$}", func(w http.ResponseWriter, r *http.Request) { render(w, http.StatusOK, "") })
	mux.HandleFunc("POST /app/{$}", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
			return
		}
		if !toks.use(r.PostForm.Get("__RequestVerificationToken")) {
			// The seed's app answers with an error page here too.
			http.Error(w, "The anti-forgery token could not be validated: replica "+me+" did not issue it.", http.StatusBadRequest)
			return
		}
		p := prospect{FirstName: r.PostForm.Get("firstName"), LastName: r.PostForm.Get("lastName"), Email: r.PostForm.Get("email"),
			Country: r.PostForm.Get("country"), Role: r.PostForm.Get("role"), Replica: me, Created: time.Now().UTC()}
		if err := p.check(); err != nil {
			render(w, http.StatusBadRequest, err.Error())
			return
		}
		data, _ := json.Marshal(p)
		// A request, not a bare publish: the handler answers once the
		// prospect is saved, so the page never thanks for a lost one.
		msg, err := nc.Request(subject, data, 5*time.Second)
		if err != nil || !strings.HasPrefix(string(msg.Data), "saved") {
			reason := fmt.Sprint(err)
			if err == nil {
				reason = string(msg.Data)
			}
			http.Error(w, "could not save your details ("+reason+"), served by "+me, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = thanksPage.Execute(w, map[string]any{"Name": p.FirstName, "Replica": me})
	})
	return serve(listenAddr(*listen), mux)
}

// refList GETs one list of reference data.
func refList(hc *http.Client, url string) ([]string, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	var v struct {
		Data []string `json:"data"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&v); err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return v.Data, nil
}

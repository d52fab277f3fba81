package main

import (
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// prospect is one sign-up, as the form takes it and the db stores it.
type prospect struct {
	FirstName string    `json:"firstName"`
	LastName  string    `json:"lastName"`
	Email     string    `json:"email"`
	Country   string    `json:"country"`
	Role      string    `json:"role"`
	Replica   string    `json:"replica,omitempty"` // the web replica that took it
	Created   time.Time `json:"created"`
}

func (p prospect) check() error {
	if p.FirstName == "" || p.Email == "" || p.Country == "" || p.Role == "" {
		return errors.New("first name, email, country and role are required")
	}
	for _, f := range []string{p.FirstName, p.LastName, p.Email, p.Country, p.Role, p.Replica} {
		if len(f) > 200 {
			return errors.New("a field is longer than 200 characters")
		}
	}
	return nil
}

// readPassword reads the password file (a secret), trimmed.
func readPassword(path string) (string, error) {
	b, err := os.ReadFile(filePath(path))
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	pw := strings.TrimSpace(string(b))
	if pw == "" {
		return "", fmt.Errorf("read the password: %s is empty", path)
	}
	return pw, nil
}

func dbCmd(args []string) error {
	fs := flag.NewFlagSet("db", flag.ContinueOnError)
	listen := fs.String("listen", "", "address to listen on (default :$PORT, else :8080)")
	dataDir := fs.String("data", "/data", "folder of the database file (a volume; $SIGNUP_DB_DIR when set)")
	pwFile := fs.String("password-file", "/run/secrets/signup-db-password", "secret: the password clients send as a bearer token")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if d := os.Getenv("SIGNUP_DB_DIR"); d != "" && !flagSet(fs, "data") {
		*dataDir = d
	}
	pw, err := readPassword(*pwFile)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	db, err := sql.Open("sqlite", filepath.Join(*dataDir, "signup.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS prospects (id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT,
		email TEXT, country TEXT, role TEXT, replica TEXT, created TEXT)`); err != nil {
		return fmt.Errorf("create the table: %w", err)
	}
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			if subtle.ConstantTimeCompare([]byte(got), []byte(pw)) != 1 {
				http.Error(w, "wrong password", http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", healthHandler(func() error { return db.Ping() }))
	mux.HandleFunc("POST /prospects", auth(func(w http.ResponseWriter, r *http.Request) {
		var p prospect
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&p); err != nil {
			http.Error(w, "bad prospect: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := p.check(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if p.Created.IsZero() {
			p.Created = time.Now().UTC()
		}
		if _, err := db.Exec(`INSERT INTO prospects (first_name, last_name, email, country, role, replica, created) VALUES (?,?,?,?,?,?,?)`,
			p.FirstName, p.LastName, p.Email, p.Country, p.Role, p.Replica, p.Created.Format(time.RFC3339Nano)); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	mux.HandleFunc("GET /prospects", auth(func(w http.ResponseWriter, r *http.Request) {
		rows, err := db.Query(`SELECT first_name, last_name, email, country, role, replica, created FROM prospects ORDER BY id DESC LIMIT 100`)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer rows.Close()
		out := []prospect{}
		for rows.Next() {
			var p prospect
			var created string
			if err := rows.Scan(&p.FirstName, &p.LastName, &p.Email, &p.Country, &p.Role, &p.Replica, &created); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			p.Created, _ = time.Parse(time.RFC3339Nano, created)
			out = append(out, p)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}))
	return serve(listenAddr(*listen), mux)
}

// prospectsCmd prints the saved prospects as JSON, newest first, from
// the database file in --data: a look into the volume from the host.
func prospectsCmd(args []string) error {
	fs := flag.NewFlagSet("prospects", flag.ContinueOnError)
	dataDir := fs.String("data", "/data", "folder of the database file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(*dataDir, "signup.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.Query(`SELECT first_name, last_name, email, country, role, replica FROM prospects ORDER BY id DESC`)
	if err != nil {
		return err
	}
	defer rows.Close()
	out := []prospect{}
	for rows.Next() {
		var p prospect
		if err := rows.Scan(&p.FirstName, &p.LastName, &p.Email, &p.Country, &p.Role, &p.Replica); err != nil {
			return err
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

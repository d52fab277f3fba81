package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
)

// refData is the reference data: the config file holds the lists, the
// secret the environment's name (standing in for the seed's connection
// details), which every answer carries so one can see it was read.
type refData struct {
	Countries   []string `json:"countries"`
	Roles       []string `json:"roles"`
	Environment string   `json:"environment,omitempty"`
}

func loadJSON(path string, v any) error {
	b, err := os.ReadFile(filePath(path))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func apiCmd(args []string) error {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	listen := fs.String("listen", "", "address to listen on (default :$PORT, else :8080)")
	config := fs.String("config", "/app/configs/config.json", "config file: {\"countries\": [...], \"roles\": [...]}")
	secret := fs.String("secret", "/app/secrets/secret.json", "secret file: {\"environment\": \"...\"}")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var data refData
	if err := loadJSON(*config, &data); err != nil {
		return fmt.Errorf("read the config: %w", err)
	}
	var sec struct {
		Environment string `json:"environment"`
	}
	if err := loadJSON(*secret, &sec); err != nil {
		return fmt.Errorf("read the secret: %w", err)
	}
	data.Environment = sec.Environment
	answer := func(v any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"data": v, "environment": data.Environment, "replica": replica()})
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", healthHandler(nil))
	mux.HandleFunc("GET /api/countries", answer(data.Countries))
	mux.HandleFunc("GET /api/roles", answer(data.Roles))
	mux.HandleFunc("GET /api/{$}", answer([]string{"/api/countries", "/api/roles"}))
	return serve(listenAddr(*listen), mux)
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// subject is where signup-web publishes prospects; the handlers share
// the queue group, so each prospect is saved once.
const subject, queueGroup = "events.prospect.signedup", "save-handler"

func queueCmd(args []string) error {
	fs := flag.NewFlagSet("queue", flag.ContinueOnError)
	listen := fs.String("listen", "", "HTTP address of /health (default :$PORT, else :8080)")
	natsPort := fs.Int("nats-port", 4222, "port of the NATS clients")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ns, err := server.NewServer(&server.Options{Host: "0.0.0.0", Port: *natsPort, NoSigs: true, MaxPayload: 64 << 10})
	if err != nil {
		return fmt.Errorf("nats server: %w", err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		return errors.New("nats server not ready after 10s")
	}
	slog.Info("nats listening", "port", *natsPort)
	mux := http.NewServeMux()
	mux.HandleFunc("/health", healthHandler(func() error {
		if !ns.Running() {
			return errors.New("nats server stopped")
		}
		return nil
	}))
	return serve(listenAddr(*listen), mux)
}

func handlerCmd(args []string) error {
	fs := flag.NewFlagSet("handler", flag.ContinueOnError)
	listen := fs.String("listen", "", "HTTP address of /health (default :$PORT, else :8080)")
	queueURL := fs.String("queue", "nats://message-queue:4222", "NATS URL of the message queue")
	dbURL := fs.String("db", "http://signup-db:8080", "URL of signup-db")
	pwFile := fs.String("password-file", "/run/secrets/signup-db-password", "secret: the database password")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pw, err := readPassword(*pwFile)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(*queueURL, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(500*time.Millisecond))
	if err != nil {
		return fmt.Errorf("connect to the queue: %w", err)
	}
	defer nc.Close()
	hc := &http.Client{Timeout: 5 * time.Second}
	sub, err := nc.QueueSubscribe(subject, queueGroup, func(m *nats.Msg) {
		err := save(hc, *dbURL, pw, m.Data)
		if err != nil {
			slog.Error("save prospect", "err", err)
		}
		if m.Reply != "" {
			reply := []byte("saved")
			if err != nil {
				reply = []byte("error: " + err.Error())
			}
			_ = m.Respond(reply)
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	defer sub.Unsubscribe()
	mux := http.NewServeMux()
	mux.HandleFunc("/health", healthHandler(func() error {
		if !nc.IsConnected() {
			return errors.New("not connected to the queue")
		}
		return nil
	}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return serveCtx(ctx, listenAddr(*listen), mux)
}

// save posts one prospect to signup-db.
func save(hc *http.Client, dbURL, pw string, data []byte) error {
	var p prospect
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("bad message: %w", err)
	}
	if err := p.check(); err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, dbURL+"/prospects", bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+pw)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("signup-db: %s %s", resp.Status, bytes.TrimSpace(body))
	}
	slog.Info("prospect saved", "email", p.Email)
	return nil
}

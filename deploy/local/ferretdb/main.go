// Command ferretdb runs FerretDB v1 (MongoDB wire protocol) on SQLite for local
// development and tests of wbl-placements.
//
// It embeds FerretDB's public package github.com/FerretDB/FerretDB/ferretdb instead of
// building FerretDB's own cmd/ferretdb, whose version file is generated at release time
// and absent from the Go module. deploy/local/infra.py builds it with
//
//	CGO_ENABLED=0 go build -tags ferretdb_no_postgresql
//
// and starts it with the port and the SQLite directory as flags. SIGTERM or SIGINT
// stops the listener and closes the SQLite backend cleanly.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	port := flag.Int("port", 27017, "TCP port to listen on")
	sqliteDir := flag.String("sqlite-dir", "", "directory holding the SQLite databases (created if missing)")
	logLevel := flag.String("log-level", "warn", "level of FerretDB's own logs: debug, info, warn or error")
	flag.Parse()

	if err := run(*host, *port, *sqliteDir, *logLevel); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: %s\n", err)
		os.Exit(1)
	}
}

func run(host string, port int, sqliteDir string, logLevel string) error {
	if sqliteDir == "" {
		return fmt.Errorf("-sqlite-dir is required")
	}

	dir, err := filepath.Abs(sqliteDir)
	if err != nil {
		return err
	}

	if err = os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	var level slog.Level
	if err = level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}

	// FerretDB logs every connection at info level: its default here is warn.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	own := slog.New(slog.NewTextHandler(os.Stderr, nil))

	// The SQLite URL must name an existing directory and end with a slash.
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: fmt.Sprintf("%s:%d", host, port)},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	own.Info("ferretdb listening", "uri", f.MongoDBURI(), "sqlite_dir", dir, "pid", os.Getpid())

	if err = f.Run(ctx); err != nil {
		return err
	}

	own.Info("ferretdb stopped")

	return nil
}

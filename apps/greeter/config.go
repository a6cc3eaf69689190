package main

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is everything the service reads from its environment. The Deployment maps a ConfigMap
// (greeting, PG* connection settings) and a Secret (PGPASSWORD) onto these variables.
type Config struct {
	Greeting string
	Listen   string
	// DrainDelay: after SIGTERM, how long to keep serving (readiness already failing) before
	// closing the listener, so endpoints drop the pod before it stops accepting.
	DrainDelay time.Duration
	// ShutdownTimeout bounds the wait for in-flight requests once the listener is closed.
	ShutdownTimeout time.Duration
	PG              PGConfig
}

// PGConfig holds the libpq-style connection settings. Password is never printed: use String().
type PGConfig struct {
	Host     string
	Port     int
	Database string
	User     string
	Password string
	SSLMode  string
}

const (
	defaultListen          = ":8080"
	defaultSSLMode         = "prefer"
	defaultPGPort          = 5432
	defaultDrainDelay      = 0 * time.Second
	defaultShutdownTimeout = 10 * time.Second
)

var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// ParseConfig reads the configuration through getenv (os.LookupEnv in main, a map in tests).
// It always returns a usable Config (invalid values replaced by their defaults) together with
// every problem found, so that the process can keep serving /healthz and report the problems on
// /readyz instead of crash-looping.
func ParseConfig(getenv func(string) (string, bool)) (Config, error) {
	var problems []string
	get := func(name string) string {
		v, _ := getenv(name)
		return strings.TrimSpace(v)
	}
	c := Config{
		Greeting:        get("GREETER_GREETING"),
		Listen:          defaultListen,
		DrainDelay:      defaultDrainDelay,
		ShutdownTimeout: defaultShutdownTimeout,
		PG: PGConfig{
			Host:     get("PGHOST"),
			Port:     defaultPGPort,
			Database: get("PGDATABASE"),
			User:     get("PGUSER"),
			SSLMode:  defaultSSLMode,
		},
	}
	// The password is taken verbatim (spaces may be part of it) and never echoed in a message.
	c.PG.Password, _ = getenv("PGPASSWORD")

	if c.Greeting == "" {
		problems = append(problems, "GREETER_GREETING is empty or unset (it is required)")
	}
	if v := get("GREETER_LISTEN"); v != "" {
		if err := checkListen(v); err != nil {
			problems = append(problems, fmt.Sprintf("GREETER_LISTEN=%q: %v (listening on %s instead)", v, err, defaultListen))
		} else {
			c.Listen = v
		}
	}
	if v := get("GREETER_DRAIN_DELAY"); v != "" {
		if d, err := parseDuration(v); err != nil {
			problems = append(problems, fmt.Sprintf("GREETER_DRAIN_DELAY=%q: %v", v, err))
		} else {
			c.DrainDelay = d
		}
	}
	if v := get("GREETER_SHUTDOWN_TIMEOUT"); v != "" {
		if d, err := parseDuration(v); err != nil || d == 0 {
			problems = append(problems, fmt.Sprintf("GREETER_SHUTDOWN_TIMEOUT=%q: want a positive duration such as 10s", v))
		} else {
			c.ShutdownTimeout = d
		}
	}
	for _, req := range []struct{ name, value string }{
		{"PGHOST", c.PG.Host}, {"PGDATABASE", c.PG.Database}, {"PGUSER", c.PG.User},
	} {
		if req.value == "" {
			problems = append(problems, req.name+" is empty or unset (it is required)")
		}
	}
	if c.PG.Password == "" {
		problems = append(problems, "PGPASSWORD is empty or unset (it comes from the database Secret)")
	}
	if v := get("PGPORT"); v != "" {
		if p, err := parsePort(v); err != nil {
			problems = append(problems, fmt.Sprintf("PGPORT=%q: %v", v, err))
		} else {
			c.PG.Port = p
		}
	}
	if v := get("PGSSLMODE"); v != "" {
		if !contains(sslModes, v) {
			problems = append(problems, fmt.Sprintf("PGSSLMODE=%q: want one of %s", v, strings.Join(sslModes, ", ")))
		} else {
			c.PG.SSLMode = v
		}
	}
	if len(problems) > 0 {
		return c, &ConfigError{Problems: problems}
	}
	return c, nil
}

// ConfigError lists every invalid or missing setting, in the order checked.
type ConfigError struct{ Problems []string }

func (e *ConfigError) Error() string {
	return "invalid configuration: " + strings.Join(e.Problems, "; ")
}

// IsConfigError reports whether err is (or wraps) a *ConfigError.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}

func checkListen(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return errors.New("want [host]:port, for example :8080")
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return errors.New("host must be empty, an IP address or localhost")
	}
	_, err = parsePort(port)
	return err
}

func parsePort(v string) (int, error) {
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return 0, errors.New("not a port number (1-65535)")
	}
	return p, nil
}

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errors.New("want a duration such as 5s")
	}
	return d, nil
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// String describes the connection for logs: every setting except the password.
func (p PGConfig) String() string {
	pw := "unset"
	if p.Password != "" {
		pw = "set"
	}
	return fmt.Sprintf("host=%s port=%d dbname=%s user=%s sslmode=%s password=(%s)", p.Host, p.Port, p.Database, p.User, p.SSLMode, pw)
}

// GoString keeps %#v from printing the password too.
func (p PGConfig) GoString() string { return "PGConfig{" + p.String() + "}" }

// keywordDSN is the libpq keyword/value string of every setting except the password, which the
// caller sets on the parsed config directly (so no string holding it ever exists).
func (p PGConfig) keywordDSN() string {
	kv := []string{
		"host=" + quoteDSN(p.Host),
		"port=" + strconv.Itoa(p.Port),
		"dbname=" + quoteDSN(p.Database),
		"user=" + quoteDSN(p.User),
		"sslmode=" + quoteDSN(p.SSLMode),
		"application_name=greeter",
	}
	return strings.Join(kv, " ")
}

func quoteDSN(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// configFiles maps the files of GREETER_CONFIG_DIR (a mounted ConfigMap: one key, one file) to the
// variables they stand for. The password is never read from there: it comes from the Secret.
var configFiles = map[string]string{
	"greeting":   "GREETER_GREETING",
	"db-host":    "PGHOST",
	"db-port":    "PGPORT",
	"db-name":    "PGDATABASE",
	"db-user":    "PGUSER",
	"db-sslmode": "PGSSLMODE",
}

// DirLookup returns a getenv for ParseConfig where a file of dir (see configFiles) wins over the
// environment variable it stands for, and a fingerprint of those files' contents (it changes
// exactly when a reload is due). A missing dir or file falls back to the environment.
func DirLookup(dir string, env func(string) (string, bool), read func(string) ([]byte, error)) (func(string) (string, bool), string) {
	values := map[string]string{}
	var fp strings.Builder
	for _, file := range sortedKeys(configFiles) {
		b, err := read(dir + "/" + file)
		if err != nil {
			fp.WriteString(file + "\x00-\x00")
			continue
		}
		values[configFiles[file]] = string(b)
		fp.WriteString(file + "\x00" + string(b) + "\x00")
	}
	return func(name string) (string, bool) {
		if v, ok := values[name]; ok {
			return v, true
		}
		return env(name)
	}, fp.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

package main

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func validEnv() map[string]string {
	return map[string]string{
		"GREETER_GREETING": "Hello from the lab",
		"PGHOST":           "10.42.0.1",
		"PGDATABASE":       "greeter",
		"PGUSER":           "greeter",
		"PGPASSWORD":       "pw",
	}
}

func TestParseConfigAppliesDefaults(t *testing.T) {
	c, err := ParseConfig(env(validEnv()))
	if err != nil {
		t.Fatalf("valid env rejected: %v", err)
	}
	if c.Listen != ":8080" || c.PG.Port != 5432 || c.PG.SSLMode != "prefer" || c.ShutdownTimeout != 10*time.Second || c.DrainDelay != 0 {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if c.Greeting != "Hello from the lab" || c.PG.Host != "10.42.0.1" || c.PG.Password != "pw" {
		t.Fatalf("values not read: %+v", c)
	}
}

func TestParseConfigReadsEverySetting(t *testing.T) {
	e := validEnv()
	e["GREETER_LISTEN"] = "127.0.0.1:9000"
	e["PGPORT"] = "6432"
	e["PGSSLMODE"] = "disable"
	e["GREETER_DRAIN_DELAY"] = "3s"
	e["GREETER_SHUTDOWN_TIMEOUT"] = "20s"
	c, err := ParseConfig(env(e))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9000" || c.PG.Port != 6432 || c.PG.SSLMode != "disable" || c.DrainDelay != 3*time.Second || c.ShutdownTimeout != 20*time.Second {
		t.Fatalf("settings not read: %+v", c)
	}
}

func TestParseConfigRejectsBadValuesWithAClearMessage(t *testing.T) {
	cases := []struct {
		name, key, value, want string
	}{
		{"empty greeting", "GREETER_GREETING", "", "GREETER_GREETING is empty"},
		{"blank greeting", "GREETER_GREETING", "   ", "GREETER_GREETING is empty"},
		{"bad listen port", "GREETER_LISTEN", ":80800", `GREETER_LISTEN=":80800": not a port number`},
		{"listen without port", "GREETER_LISTEN", "8080", `GREETER_LISTEN="8080": want [host]:port`},
		{"non-numeric PGPORT", "PGPORT", "five", `PGPORT="five": not a port number`},
		{"PGPORT zero", "PGPORT", "0", `PGPORT="0": not a port number`},
		{"unknown sslmode", "PGSSLMODE", "maybe", `PGSSLMODE="maybe": want one of disable, allow, prefer`},
		{"missing host", "PGHOST", "", "PGHOST is empty"},
		{"missing password", "PGPASSWORD", "", "PGPASSWORD is empty"},
		{"negative drain", "GREETER_DRAIN_DELAY", "-1s", `GREETER_DRAIN_DELAY="-1s"`},
		{"zero shutdown timeout", "GREETER_SHUTDOWN_TIMEOUT", "0s", `GREETER_SHUTDOWN_TIMEOUT="0s"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := validEnv()
			e[tc.key] = tc.value
			c, err := ParseConfig(env(e))
			if err == nil {
				t.Fatalf("%s=%q accepted", tc.key, tc.value)
			}
			if !IsConfigError(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			// Still usable: the process can listen and report the problem.
			if c.Listen == "" || c.PG.Port == 0 || c.ShutdownTimeout == 0 {
				t.Fatalf("invalid value left no usable default: %+v", c)
			}
		})
	}
}

func TestParseConfigReportsEveryProblemAtOnce(t *testing.T) {
	_, err := ParseConfig(env(map[string]string{"PGPORT": "x"}))
	ce, ok := err.(*ConfigError)
	if !ok {
		t.Fatalf("want *ConfigError, got %v", err)
	}
	// greeting, host, database, user, password, port
	if len(ce.Problems) != 6 {
		t.Fatalf("want 6 problems, got %d: %v", len(ce.Problems), ce.Problems)
	}
}

func TestBadListenFallsBackToTheDefault(t *testing.T) {
	e := validEnv()
	e["GREETER_LISTEN"] = "nonsense"
	c, _ := ParseConfig(env(e))
	if c.Listen != ":8080" {
		t.Fatalf("listen = %q, want the default", c.Listen)
	}
}

func TestKeywordDSNQuotesValuesAndLeavesThePasswordOut(t *testing.T) {
	p := PGConfig{Host: "db", Port: 5432, Database: "it's", User: `a\b`, Password: "hunter2", SSLMode: "prefer"}
	dsn := p.keywordDSN()
	if strings.Contains(dsn, "hunter2") || strings.Contains(dsn, "password") {
		t.Fatalf("DSN holds the password: %s", dsn)
	}
	if !strings.Contains(dsn, `dbname='it\'s'`) || !strings.Contains(dsn, `user='a\\b'`) {
		t.Fatalf("values not quoted: %s", dsn)
	}
}

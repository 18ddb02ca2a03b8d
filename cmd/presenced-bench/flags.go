package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is one run of one scenario, as the flags set it. Workers receive it
// as JSON (the hidden --worker flag), so every field the worker needs has a
// JSON name.
type Config struct {
	Scenario string `json:"scenario"`
	URL      string `json:"url"`

	Conns          int           `json:"conns"`
	Duration       time.Duration `json:"duration"`
	Concurrency    int           `json:"concurrency"`
	ConnectTimeout time.Duration `json:"connectTimeout"`

	Changes       int           `json:"changes"`
	ChangesPerSec float64       `json:"changesPerSec"`
	ChangeKind    string        `json:"changeKind"`
	Lifetime      time.Duration `json:"lifetime"`
	Settle        time.Duration `json:"settle"`
	OfflineGrace  time.Duration `json:"offlineGrace"`

	Pairs    int     `json:"pairs"`
	Rate     float64 `json:"rate"`
	MsgBytes int     `json:"msgBytes"`
	Verify   bool    `json:"verify"`

	Drain time.Duration `json:"drain"`

	Role      string `json:"role"`
	JWTSecret string `json:"jwtSecret,omitempty"`
	IDPrefix  string `json:"idPrefix"`

	SourceIP   string `json:"sourceIP"`
	ConnsPerIP int    `json:"connsPerIP"`
	// SourceOffset skips this many source addresses: a sweep moves on to
	// fresh ones for each run, away from ports still in TIME_WAIT.
	SourceOffset int `json:"sourceOffset"`

	Procs      int           `json:"procs"`
	ServerPID  int           `json:"serverPid,omitempty"`
	MetricsURL string        `json:"metricsUrl,omitempty"`
	Progress   time.Duration `json:"progress"`

	Sweep string `json:"-"`
	Chart string `json:"-"`
	// CPUProfile is where the coordinator, and the worker it runs in its
	// own process, write their CPU profile: what the tool itself costs.
	CPUProfile string `json:"-"`

	// Run tells apart the runs of one sweep in user ids and message ids.
	Run int `json:"run"`
}

// scenarios the tool knows, in the order --help lists them.
var scenarioNames = []string{"idle", "presence", "messages", "storm"}

// workerFlag is the hidden flag that makes the process a worker.
const workerFlag = "--worker"

const usageHead = `presenced-bench: load generator for presence servers that speak PROTOCOL.md v1.

Usage:
  presenced-bench --scenario idle|presence|messages|storm [flags]

Scenarios:
  idle      --conns N connections, each heartbeating at the advertised interval,
            held for --duration; with --server-pid, the server's memory per
            connection.
  presence  --conns N viewers (the server must run presence.visibility: all),
            then --changes M presence changes at --changes-per-sec R; the delay
            from each change to its arrival at every viewer that should see it.
  messages  --pairs P sender/receiver pairs sending --rate R messages/s in
            total for --duration; send→message:sent and send→new_message
            latency, lost and duplicated messages.
  storm     --conns N connections opened as fast as --concurrency allows;
            connect time (dial + upgrade + presence:connected).

Output: progress on stderr about every second; at the end one JSON line on
stdout and a short table on stderr. Exit status: 0 when the run completed and
its checks held, 3 when it completed but a check failed (lost messages,
failed connections, missing presence arrivals), 1 on an error, 2 on bad flags.

Flags:
`

// parseFlags reads the command line. It returns flag.ErrHelp after writing
// the usage to out when asked for help.
func parseFlags(args []string, out io.Writer) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet("presenced-bench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.Scenario, "scenario", "", "the workload `name`: "+strings.Join(scenarioNames, ", ")+" (required)")
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "server base `URL`; WebSockets go to its /ws")
	fs.IntVar(&c.Conns, "conns", 1000, "connections (idle, storm) or viewers (presence)")
	fs.DurationVar(&c.Duration, "duration", 30*time.Second, "how long idle holds its connections and messages sends")
	fs.IntVar(&c.Concurrency, "concurrency", 0, "connections being opened at once over all workers (0: 500 for storm, 200 otherwise)")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", 10*time.Second, "bound on dial + upgrade + presence:connected")
	fs.IntVar(&c.Changes, "changes", 100, "presence: number of changes")
	fs.Float64Var(&c.ChangesPerSec, "changes-per-sec", 20, "presence: changes per second over all workers")
	fs.StringVar(&c.ChangeKind, "change-kind", "churn", "presence: `kind` of change: churn (a user connects or disconnects; every viewer sees it), focus (a viewer focuses or blurs a chat; only the partner sees it), or mixed")
	fs.DurationVar(&c.Lifetime, "lifetime", time.Second, "presence: how long a churn user stays connected, or a chat stays focused, before its second change")
	fs.DurationVar(&c.Settle, "settle", time.Second, "presence: quiet time between the viewers connecting and the first change")
	fs.DurationVar(&c.OfflineGrace, "offline-grace", 0, "presence: the server's presence.offline_grace; subtracted from disconnect→offline delays")
	fs.IntVar(&c.Pairs, "pairs", 50, "messages: sender/receiver pairs, each a direct conversation")
	fs.Float64Var(&c.Rate, "rate", 1000, "messages: messages per second over all pairs")
	fs.IntVar(&c.MsgBytes, "msg-bytes", 64, "messages: content size in bytes")
	fs.BoolVar(&c.Verify, "verify", true, "messages: check afterwards through the history API that every acknowledged message is stored once")
	fs.DurationVar(&c.Drain, "drain", 5*time.Second, "how long to wait for answers still in flight after the last send")
	fs.StringVar(&c.Role, "role", "CLIENT", "role of every simulated user: CLIENT, FREELANCER or ADMIN")
	fs.StringVar(&c.JWTSecret, "jwt-secret", "", "mint HS256 tokens (claims sub, role, exp) with this secret instead of dev ?user=&role=")
	fs.StringVar(&c.IDPrefix, "id-prefix", "", "prefix of every user id and clientMsgId (default: random, so runs never collide)")
	fs.StringVar(&c.SourceIP, "source-ip", "127.0.0.2", "first loopback source `address`; further ones count up from it")
	fs.IntVar(&c.ConnsPerIP, "conns-per-ip", 10000, "connections per source address before moving to the next")
	fs.IntVar(&c.Procs, "procs", 0, "worker processes (0: one per 19,000 connections)")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "`pid` of the server on this machine: read its VmRSS and CPU time before and after")
	fs.StringVar(&c.MetricsURL, "metrics-url", "", "scrape this Prometheus `URL` before and after (e.g. http://127.0.0.1:8080/metrics)")
	fs.DurationVar(&c.Progress, "progress", time.Second, "period of the progress lines on stderr")
	fs.StringVar(&c.Sweep, "sweep", "", "run the scenario once per value: rates=1000,2000 (messages --rate, presence --changes-per-sec) or conns=1000,5000")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write this process's CPU profile to `file` (with --procs 1: the whole tool), to see what the tool takes from the server")
	fs.StringVar(&c.Chart, "chart", "", "with --sweep, write an SVG `file` of latency percentiles against the swept value")
	fs.Usage = func() {
		fmt.Fprint(out, usageHead)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.IDPrefix == "" {
		c.IDPrefix = randomPrefix()
	}
	if c.Concurrency == 0 {
		c.Concurrency = 200
		if c.Scenario == "storm" {
			c.Concurrency = 500
		}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// validate checks one run's values; a sweep is validated per run too.
func (c *Config) validate() error {
	known := false
	for _, s := range scenarioNames {
		known = known || s == c.Scenario
	}
	switch {
	case !known:
		return fmt.Errorf("--scenario: want one of %s, got %q", strings.Join(scenarioNames, ", "), c.Scenario)
	case c.Conns <= 0 || c.Pairs <= 0 || c.Changes < 0 || c.Concurrency <= 0 || c.ConnsPerIP <= 0:
		return errors.New("--conns, --pairs, --concurrency and --conns-per-ip must be positive, --changes not negative")
	case c.Rate <= 0 || c.ChangesPerSec <= 0:
		return errors.New("--rate and --changes-per-sec must be positive")
	case c.Duration <= 0 || c.ConnectTimeout <= 0 || c.Drain < 0 || c.Progress <= 0 || c.Lifetime <= 0 || c.Settle < 0 || c.OfflineGrace < 0:
		return errors.New("durations must be positive (--drain, --settle and --offline-grace may be 0)")
	case c.MsgBytes < 1:
		return errors.New("--msg-bytes must be at least 1")
	case c.ChangeKind != "churn" && c.ChangeKind != "focus" && c.ChangeKind != "mixed":
		return fmt.Errorf("--change-kind: want churn, focus or mixed, got %q", c.ChangeKind)
	case c.Role != "CLIENT" && c.Role != "FREELANCER" && c.Role != "ADMIN":
		return fmt.Errorf("--role: want CLIENT, FREELANCER or ADMIN, got %q", c.Role)
	case c.Procs < 0:
		return errors.New("--procs must not be negative")
	case c.Chart != "" && c.Sweep == "":
		return errors.New("--chart needs --sweep: it plots latency against the swept value")
	case len(c.IDPrefix) > 20 || !validIDChars(c.IDPrefix):
		return errors.New("--id-prefix: at most 20 characters of [A-Za-z0-9._:@-]")
	}
	if c.Scenario == "presence" && c.ChangeKind != "churn" && c.Conns < 2 {
		return errors.New("presence with focus changes needs at least 2 viewers")
	}
	if ip := net.ParseIP(c.SourceIP); ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return fmt.Errorf("--source-ip: want an IPv4 loopback address, got %q", c.SourceIP)
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url: want http://host:port, got %q", c.URL)
	}
	return nil
}

// sweep is a parsed --sweep: the parameter and its values.
type sweep struct {
	Param  string    `json:"param"`
	Values []float64 `json:"values"`
}

// parseSweep reads "rates=1000,2000" or "conns=100,1000".
func parseSweep(s, scenario string) (*sweep, error) {
	name, list, ok := strings.Cut(s, "=")
	if !ok || list == "" {
		return nil, fmt.Errorf("--sweep: want param=v1,v2,..., got %q", s)
	}
	sw := &sweep{Param: name}
	switch {
	case name == "rates" && (scenario == "messages" || scenario == "presence"):
	case name == "conns":
	default:
		return nil, fmt.Errorf("--sweep: %q does not apply to %s (rates: messages, presence; conns: all)", name, scenario)
	}
	for _, f := range strings.Split(list, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("--sweep: bad value %q", f)
		}
		sw.Values = append(sw.Values, v)
	}
	return sw, nil
}

// apply sets the swept parameter of c to v.
func (s *sweep) apply(c *Config, v float64) {
	switch {
	case s.Param == "conns":
		c.Conns = int(v)
	case c.Scenario == "messages":
		c.Rate = v
	default:
		c.ChangesPerSec = v
	}
}

// connsNeeded is how many connections one run holds at most, for --procs 0.
func (c *Config) connsNeeded() int {
	switch c.Scenario {
	case "messages":
		return 2 * c.Pairs
	case "presence":
		return c.Conns + churnPool(c)
	default:
		return c.Conns
	}
}

// maxConnsPerProc is what one process holds under this machine's limit of
// 20,000 open files, with room for the files a process needs anyway.
const maxConnsPerProc = 19000

// procs is the number of worker processes for c.
func (c *Config) procs() int {
	if c.Procs > 0 {
		return c.Procs
	}
	return max(1, ceilDiv(c.connsNeeded(), maxConnsPerProc))
}

// ipsPerWorker is the span of source addresses each of procs workers
// takes, so that no two workers (and no two runs of a sweep) share one.
func (c *Config) ipsPerWorker(procs int) int {
	return ceilDiv(ceilDiv(c.connsNeeded(), procs), c.ConnsPerIP)
}

func randomPrefix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "b" + hex.EncodeToString(b)
}

func validIDChars(s string) bool {
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:@-", r)
		if !ok {
			return false
		}
	}
	return true
}

package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config turns cluster mode on and configures it: the cluster section of
// tandem's configuration (its YAML keys and TANDEM_* names are the tags).
// With RedisURL empty tandem is one process with everything in memory.
// Start from DefaultConfig; Validate says what cannot work.
type Config struct {
	// RedisURL names the Redis every instance shares (redis:// or rediss://;
	// more addresses as addr= parameters make it a Redis Cluster, a
	// master_name= parameter a Sentinel set). Empty: a single instance.
	RedisURL string `yaml:"redis_url" env:"TANDEM_REDIS_URL"`
	// Addr is where this instance's media bridge listens, and the address it
	// advertises to the other instances (host:port, the host one they can
	// reach). Several instances on one host need different ports.
	Addr string `yaml:"addr" env:"TANDEM_CLUSTER_ADDR"`
	// Secret authenticates and encrypts the media bridge; every instance
	// shares it. Required with RedisURL.
	Secret string `yaml:"secret" env:"TANDEM_CLUSTER_SECRET"`
	// BridgeHold is how long a packet bound for another instance may wait
	// for others to share its datagram (Bridge.SetHold): fewer, fuller
	// datagrams cost both instances less CPU, for at most this much delay
	// on media between instances. 0 sends at the end of every poll.
	BridgeHold time.Duration `yaml:"bridge_hold" env:"TANDEM_BRIDGE_HOLD"`
}

// DefaultBridgeHold is BridgeHold's default (docs/performance.md, "Holding
// bridged packets").
const DefaultBridgeHold = 2 * time.Millisecond

// MaxBridgeHold bounds BridgeHold: more would be felt in a conversation and
// in the partner's congestion control.
const MaxBridgeHold = 20 * time.Millisecond

// MinSecretLength is the shortest cluster secret accepted.
const MinSecretLength = 32

// DefaultAddr is the media bridge's default address.
const DefaultAddr = "127.0.0.1:7946"

// HeartbeatTTL is how long an instance that stopped renewing its heartbeat
// is still taken for alive: the registry renews it every third of that and
// looks for dead instances as often, so a dead instance is noticed within
// about HeartbeatTTL plus a third.
const HeartbeatTTL = 3 * time.Second

// DefaultConfig is the cluster configuration tandem starts from: off.
func DefaultConfig() Config {
	return Config{Addr: DefaultAddr, BridgeHold: DefaultBridgeHold}
}

// Enabled reports whether cluster mode is on.
func (c Config) Enabled() bool { return c.RedisURL != "" }

// Validate reports the first setting that cannot work, naming its key.
// Without RedisURL nothing else is checked.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	if _, err := redisOptions(c.RedisURL); err != nil {
		return fmt.Errorf("cluster.redis_url: %w", err)
	}
	ap, err := netip.ParseAddrPort(c.Addr)
	if err != nil {
		return fmt.Errorf("cluster.addr: %q is not an IP address and port like 10.0.0.5:7946 (the other instances send media to it): %v", c.Addr, err)
	}
	if ap.Addr().IsUnspecified() || ap.Port() == 0 {
		return fmt.Errorf("cluster.addr: %q is advertised to the other instances, so it needs this host's own address and a port, not %s", c.Addr, ap)
	}
	if c.BridgeHold < 0 || c.BridgeHold > MaxBridgeHold {
		return fmt.Errorf("cluster.bridge_hold: %s is outside 0 to %s", c.BridgeHold, MaxBridgeHold)
	}
	if len(c.Secret) < MinSecretLength {
		return fmt.Errorf("cluster.secret: at least %d characters needed with cluster.redis_url (it encrypts the media between instances), got %d", MinSecretLength, len(c.Secret))
	}
	return nil
}

// Redacted returns c with the secret and the Redis password hidden, for
// printing and logging.
func (c Config) Redacted() Config {
	if c.Secret != "" {
		c.Secret = "<redacted>"
	}
	if u, err := url.Parse(c.RedisURL); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "redacted")
			c.RedisURL = u.String()
		}
	}
	return c
}

// NewRedis returns a client of the Redis named by rawURL: one server, a
// Sentinel set (master_name=) or a Redis Cluster (more addr=), all behind
// go-redis's UniversalClient. Timeouts not set in the URL are short (a
// second or two), so that an unreachable Redis is noticed quickly.
func NewRedis(rawURL string) (redis.UniversalClient, error) {
	o, err := redisOptions(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 2 * time.Second
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = time.Second
	}
	return redis.NewUniversalClient(o), nil
}

// redisOptions parses a Redis URL into the universal client's options.
func redisOptions(rawURL string) (*redis.UniversalOptions, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, errors.New("want a redis:// or rediss:// URL")
	}
	q := u.Query()
	switch {
	case q.Has("master_name"):
		f, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, err
		}
		return &redis.UniversalOptions{
			Addrs: f.SentinelAddrs, MasterName: f.MasterName, DB: f.DB,
			Username: f.Username, Password: f.Password, TLSConfig: f.TLSConfig,
			SentinelUsername: f.SentinelUsername, SentinelPassword: f.SentinelPassword,
			DialTimeout: f.DialTimeout, ReadTimeout: f.ReadTimeout, WriteTimeout: f.WriteTimeout,
		}, nil
	case q.Has("addr"):
		c, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, err
		}
		return &redis.UniversalOptions{
			Addrs: c.Addrs, IsClusterMode: true, Username: c.Username, Password: c.Password,
			TLSConfig: c.TLSConfig, DialTimeout: c.DialTimeout, ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout,
		}, nil
	default:
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, err
		}
		return &redis.UniversalOptions{
			Addrs: []string{o.Addr}, DB: o.DB, Username: o.Username, Password: o.Password,
			TLSConfig: o.TLSConfig, DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout,
		}, nil
	}
}

// NewInstanceID returns a new id for this process: the host name and a
// random suffix. It is new with every start (a restarted instance is a new
// one, so nothing meant for the old process reaches it, and the bridge's
// keys are new).
func NewInstanceID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "tandem"
	}
	host = strings.NewReplacer(":", "-", " ", "-").Replace(host)
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return host + "-" + hex.EncodeToString(b[:])
}

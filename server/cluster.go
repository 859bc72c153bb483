package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tandemchat/tandem/cluster"
	"github.com/tandemchat/tandem/moderation"
	"github.com/tandemchat/tandem/moderation/redisstore"
	"github.com/tandemchat/tandem/sfu"
	"github.com/tandemchat/tandem/signaling"
)

// clusterNode is this instance's part of a cluster (cluster mode, when
// cluster.redis_url is set): the Redis client, the shared queue the hub
// matches through, the registry that keeps this instance known and buries
// dead ones, and the bus whose messages go to the hub. Its goroutines run
// from start until close.
type clusterNode struct {
	id       string
	addr     string // the media bridge's advertised address
	rdb      redis.UniversalClient
	queue    *cluster.Queue
	registry *cluster.Registry
	bus      *cluster.Bus
	modStore *redisstore.Store // the moderation store all instances share
	bridge   *cluster.Bridge   // the media bridge to the other instances
	media    *bridgeMedia      // the media of pairs across instances, over bridge
	log      *slog.Logger

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// healthEvery is how often the node checks that Redis answers, to tell the
// hub to match locally or to rejoin the shared queue.
const healthEvery = time.Second

// newClusterNode connects to the cluster's Redis as instance id (nothing is
// sent yet) and opens the media bridge, which carries media between media's SFU and the
// other instances.
func newClusterNode(cfg cluster.Config, id string, media *sfu.SFU, log *slog.Logger) (*clusterNode, error) {
	rdb, err := cluster.NewRedis(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	log = log.With("instance", id)
	bm := newBridgeMedia(media, log)
	// The SFU's pollers read the bridge with the clients' sockets where they can.
	polled := func(addr netip.AddrPort, deliver func([]byte, netip.AddrPort)) (cluster.BridgeSocket, error) {
		return media.ListenDatagrams(addr, deliver)
	}
	bridge, err := cluster.ListenBridgeWith(polled, cfg.Addr, id, cfg.Secret, bm, log)
	if err != nil {
		rdb.Close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	bridge.SetHold(cfg.BridgeHold)
	bm.bridge = bridge
	self := cluster.Instance{ID: id, BridgeAddr: cfg.Addr, StartedAt: time.Now().UTC()}
	return &clusterNode{
		id:       id,
		addr:     cfg.Addr,
		rdb:      rdb,
		queue:    cluster.NewQueue(rdb, cluster.Prefix, id),
		registry: cluster.NewRegistry(rdb, cluster.Prefix, self, cluster.HeartbeatTTL, log),
		bus:      cluster.NewBus(rdb, cluster.Prefix, id, log),
		modStore: redisstore.New(rdb, cluster.Prefix, id),
		bridge:   bridge,
		media:    bm,
		log:      log,
	}, nil
}

// hubOptions is what the hub needs of the node; two clients one of whom
// reported the other are kept apart in the shared queue for apartFor (the
// reports' retention).
func (n *clusterNode) hubOptions(apartFor time.Duration) *signaling.ClusterOptions {
	return &signaling.ClusterOptions{Instance: n.id, BridgeAddr: n.addr, Queue: n.queue, Bus: n.bus, ApartFor: apartFor}
}

// start registers this instance and runs the heartbeat, the bus reader, the
// health check, the view publisher (clusterview.go), the watcher that
// keeps mod's view of the shared moderation store in step with the other
// instances' changes (bans, unbans, reports) and the exchange of call
// counts behind the low-trust pool. An unreachable Redis does not
// stop start-up: the hub matches locally until Redis answers, and mod reads
// the shared store when it does.
func (n *clusterNode) start(hub *signaling.Hub, mod *moderation.Moderator) {
	n.registry.OnDead(n.buryInstance)
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	if err := n.registry.Register(ctx); err != nil {
		n.log.Warn("cluster: Redis unreachable at start; matching on this instance only until it answers", "err", err)
		hub.SetShared(false, err)
	}
	n.log.Info("cluster mode", "bridge", n.addr)
	n.wg.Add(6)
	go func() { defer n.wg.Done(); n.modStore.Watch(ctx, mod.Apply, mod.Resync, n.log) }()
	go func() { defer n.wg.Done(); n.shareCalls(ctx, mod) }()
	go func() { defer n.wg.Done(); n.registry.Run(ctx) }()
	go func() { defer n.wg.Done(); n.publishViews(ctx, hub) }()
	go func() { defer n.wg.Done(); n.bus.Run(ctx, hub.HandleRemote) }()
	go func() { defer n.wg.Done(); n.watchRedis(ctx, hub, mod) }()
}

// shareCallsEvery is how often this instance adds its users' calls to the
// cluster's counts, for the low-trust pool.
const shareCallsEvery = 5 * time.Second

// shareCalls exchanges call counts with the shared moderation store every
// shareCallsEvery, until ctx ends (moderation.Moderator.ShareCalls).
func (n *clusterNode) shareCalls(ctx context.Context, mod *moderation.Moderator) {
	every(ctx, shareCallsEvery, func() {
		if err := mod.ShareCalls(n.modStore.CountCalls); err != nil && ctx.Err() == nil {
			n.log.Debug("cluster: call counts not shared; trying again", "err", err)
		}
	})
}

// every calls f each period until ctx ends.
func every(ctx context.Context, period time.Duration, f func()) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			f()
		}
	}
}

// watchRedis tells the hub whether Redis answers, every healthEvery, and
// when it does, stores the reports mod held while it did not.
func (n *clusterNode) watchRedis(ctx context.Context, hub *signaling.Hub, mod *moderation.Moderator) {
	every(ctx, healthEvery, func() {
		pctx, cancel := context.WithTimeout(ctx, healthEvery)
		err := n.rdb.Ping(pctx).Err()
		cancel()
		if ctx.Err() != nil {
			return
		}
		hub.SetShared(err == nil, err)
		if err == nil && mod.HeldReports() > 0 {
			if err := mod.StoreHeld(); err != nil {
				n.log.Warn("cluster: held reports not stored yet; trying again", "err", err)
			}
		}
	})
}

// buryInstance cleans up after an instance that died (the registry calls
// it on exactly one survivor): its users leave the shared queue, and every
// live instance (this one too) is told, so that their partners get
// partner_left "disconnect".
func (n *clusterNode) buryInstance(dead string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	removed, err := n.queue.RemoveInstance(ctx, dead)
	if err != nil {
		n.log.Warn("cluster: dead instance's queue entries not removed", "dead", dead, "err", err)
	}
	live, err := n.registry.Instances(ctx)
	if err != nil {
		n.log.Warn("cluster: live instances not listed; the dead one's partners are not told", "dead", dead, "err", err)
		return
	}
	data, _ := json.Marshal(map[string]string{"instance": dead})
	for _, in := range live {
		m := cluster.Message{Type: signaling.RemoteInstanceDied, Data: data}
		if err := n.bus.Send(ctx, in.ID, m); err != nil {
			n.log.Warn("cluster: instance not told of a death", "dead", dead, "to", in.ID, "err", err)
		}
	}
	n.log.Warn("cluster: buried a dead instance", "dead", dead, "queued", removed, "told", len(live))
}

// close stops the goroutines, deregisters this instance (a clean stop is
// not a death) and closes the Redis client. Only the first call counts.
func (n *clusterNode) close() error {
	n.closeOnce.Do(func() {
		if n.cancel != nil {
			n.cancel()
		}
		n.wg.Wait()
		if err := n.rdb.Close(); err != nil {
			n.closeErr = fmt.Errorf("close redis client: %w", err)
		}
		if err := n.bridge.Close(); err != nil {
			n.closeErr = errors.Join(n.closeErr, fmt.Errorf("close media bridge: %w", err))
		}
	})
	return n.closeErr
}

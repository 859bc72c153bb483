package server

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tandemchat/tandem/api"
	"github.com/tandemchat/tandem/cluster"
	"github.com/tandemchat/tandem/signaling"
)

// Every instance publishes its counts and rooms (api.InstanceView) in a
// key that expires unless renewed, so that any instance's /api/stats and
// /api/rooms answer for the whole cluster.

// viewEvery is how often an instance publishes its view; a view is at most
// that old, and one not renewed for three times that is gone.
const viewEvery = time.Second

func viewKey(instance string) string { return cluster.Prefix + ":view:" + instance }

// publishViews publishes hub's view every viewEvery until ctx ends, then
// deletes it.
func (n *clusterNode) publishViews(ctx context.Context, hub *signaling.Hub) {
	tick := time.NewTicker(viewEvery)
	defer tick.Stop()
	for {
		if err := n.publishView(ctx, hub); err != nil && ctx.Err() == nil {
			n.log.Debug("cluster view not published", "err", err)
		}
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), time.Second)
			n.rdb.Del(dctx, viewKey(n.id))
			cancel()
			return
		case <-tick.C:
		}
	}
}

func (n *clusterNode) publishView(ctx context.Context, hub *signaling.Hub) error {
	v, err := json.Marshal(api.InstanceView{Instance: n.id, Stats: hub.Stats(), Rooms: hub.Rooms()})
	if err != nil {
		return fmt.Errorf("encode view: %w", err)
	}
	return n.rdb.Set(ctx, viewKey(n.id), v, 3*viewEvery).Err()
}

// Views implements api.ClusterView: the views of the live instances.
func (n *clusterNode) Views(ctx context.Context) ([]api.InstanceView, error) {
	live, err := n.registry.Instances(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster views: %w", err)
	}
	if len(live) == 0 {
		return nil, nil
	}
	keys := make([]string, len(live))
	for i, in := range live {
		keys[i] = viewKey(in.ID)
	}
	vals, err := n.rdb.MGet(ctx, keys...).Result()
	if err != nil && err != redis.Nil {
		return nil, fmt.Errorf("cluster views: %w", err)
	}
	out := make([]api.InstanceView, 0, len(vals))
	for _, raw := range vals {
		s, ok := raw.(string)
		if !ok {
			continue // not published yet, or expired
		}
		var v api.InstanceView
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, fmt.Errorf("cluster view: %w", err)
		}
		out = append(out, v)
	}
	return out, nil
}

// Forward implements api.ClusterView: op for id goes to every other live instance.
func (n *clusterNode) Forward(ctx context.Context, op, id string) error {
	live, err := n.registry.Instances(ctx)
	if err != nil {
		return fmt.Errorf("forward %s: %w", op, err)
	}
	m := cluster.Message{Type: op, To: id}
	if op == signaling.RemoteEndRoom {
		m.To = ""
		m.Data, _ = json.Marshal(map[string]string{"room": id})
	}
	for _, in := range live {
		if in.ID == n.id {
			continue
		}
		if err := n.bus.Send(ctx, in.ID, m); err != nil {
			return fmt.Errorf("forward %s: %w", op, err)
		}
	}
	return nil
}

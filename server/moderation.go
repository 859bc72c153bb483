package server

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/moderation"
)

// openModeration opens the moderation rules over their store: the embedded
// bbolt file in moderation.data_dir for a single instance, or, in cluster
// mode, the store all instances share in Redis (moderation/redisstore),
// which the node keeps this instance's view in step with (clusterNode.start).
// A bbolt file left in the data directory is not read in cluster mode (nor
// copied to Redis): a warning says so. In cluster mode the data directory
// holds the reports made while Redis does not answer (moderation.Held),
// until the node stores them there.
func openModeration(cfg config.Config, node *clusterNode, log *slog.Logger) (*moderation.Moderator, error) {
	mc := moderationConfig(cfg)
	if node == nil {
		return moderation.Open(mc, log)
	}
	old := filepath.Join(mc.DataDir, moderation.StoreFile)
	if _, err := os.Stat(old); err == nil || !errors.Is(err, os.ErrNotExist) {
		log.Warn("cluster mode: moderation keeps its reports and bans in Redis; this instance's own store file is not used (see docs/deploy.md)", "file", old)
	}
	held, err := moderation.OpenHeld(mc.DataDir)
	if err != nil {
		return nil, err
	}
	if n := held.Len(); n > 0 {
		log.Info("reports held since an earlier run, stored when Redis answers", "held", n)
	}
	m, err := moderation.NewShared(mc, node.modStore, held, log)
	if err != nil {
		held.Close()
		return nil, err
	}
	return m, nil
}

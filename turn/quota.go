package turn

import (
	"errors"
	"sync"
)

// errQuotaReached is returned by the relay generator when a user already
// holds the maximum number of allocations.
var errQuotaReached = errors.New("allocation quota reached")

// userQuota counts live allocations per credential user id. Safe for
// concurrent use; its mutex guards only the map.
type userQuota struct {
	max int

	mu    sync.Mutex
	count map[string]int
}

func newUserQuota(max int) *userQuota {
	return &userQuota{max: max, count: make(map[string]int)}
}

// available reports whether user may create one more allocation. It is the
// early check (answered with 486 Allocation Quota Reached); acquire is the
// binding one.
func (q *userQuota) available(user string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.count[user] < q.max
}

// acquire takes one allocation slot for user, or reports false when the
// user is at the limit. The empty user is pion probing for a free even port
// (the socket is closed at once); it is not limited.
func (q *userQuota) acquire(user string) bool {
	if user == "" {
		return true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.count[user] >= q.max {
		return false
	}
	q.count[user]++
	return true
}

// release gives back one slot taken by acquire.
func (q *userQuota) release(user string) {
	if user == "" {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.count[user] <= 1 {
		delete(q.count, user)
		return
	}
	q.count[user]--
}

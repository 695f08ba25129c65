package server

import (
	"sync"
	"time"
)

// loginLimiter counts failed logins per client address and per user name
// in a sliding window, on this node. Past the limit, logins for that
// address or user are refused until the oldest failure leaves the window.
type loginLimiter struct {
	window  time.Duration
	perIP   int
	perUser int

	mu    sync.Mutex
	fails map[string][]time.Time // "ip:..." or "user:..." -> failure times
}

func newLoginLimiter(window time.Duration, perIP, perUser int) *loginLimiter {
	return &loginLimiter{window: window, perIP: perIP, perUser: perUser, fails: map[string][]time.Time{}}
}

// blocked returns how long logins from ip or for user must wait, or 0.
func (l *loginLimiter) blocked(ip, user string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return max(l.waitLocked("ip:"+ip, l.perIP, now), l.waitLocked("user:"+user, l.perUser, now))
}

func (l *loginLimiter) waitLocked(key string, limit int, now time.Time) time.Duration {
	ts := l.prune(key, now)
	if len(ts) < limit {
		return 0
	}
	return ts[len(ts)-limit].Add(l.window).Sub(now)
}

// prune drops failures older than the window and returns the rest.
func (l *loginLimiter) prune(key string, now time.Time) []time.Time {
	ts := l.fails[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= l.window {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, key)
		return nil
	}
	l.fails[key] = ts
	return ts
}

func (l *loginLimiter) fail(ip, user string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fails) > 100_000 {
		// Bound memory under a spray of user names: forget stale keys.
		for k := range l.fails {
			l.prune(k, now)
		}
	}
	for _, k := range []string{"ip:" + ip, "user:" + user} {
		l.fails[k] = append(l.prune(k, now), now)
		if n := len(l.fails[k]); n > 1000 {
			l.fails[k] = l.fails[k][n-1000:]
		}
	}
}

// succeed forgets a user's failures (not the address's: one good password
// must not reset a guessing address's count).
func (l *loginLimiter) succeed(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, "user:"+user)
}

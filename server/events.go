package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// streamEvent is one message of the live update stream.
type streamEvent struct {
	Type     string              `json:"type"`
	Time     time.Time           `json:"time"`
	Pipeline *pipelineStatusJSON `json:"pipeline,omitempty"`
	Run      *runJSON            `json:"run,omitempty"`
	Check    *checkJSON          `json:"check,omitempty"`
}

// hub fans events out to the connected event streams. A slow client loses
// events rather than slowing the server: its buffer is bounded.
type hub struct {
	mu   sync.Mutex
	subs map[chan streamEvent]struct{}
}

func newHub() *hub { return &hub{subs: map[chan streamEvent]struct{}{}} }

func (h *hub) subscribe() chan streamEvent {
	ch := make(chan streamEvent, 256)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch
}

func (h *hub) unsubscribe(ch chan streamEvent) {
	h.mu.Lock()
	delete(h.subs, ch)
	h.mu.Unlock()
}

func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *hub) publish(e streamEvent) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// statusLoop publishes every pipeline's status each second while someone
// listens, and a pipeline.state event when a state changes. It reads the
// statuses as the API does, so a node streams the pipelines other nodes
// run too.
func (s *Server) statusLoop(ctx context.Context) {
	t := time.NewTicker(s.Config.StatusInterval)
	defer t.Stop()
	last := map[string]string{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.events.count() == 0 {
			clear(last)
			continue
		}
		ps, err := s.pipelinesJSON(ctx, "")
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("sample pipelines for the event stream", "error", err)
			}
			continue
		}
		seen := map[string]bool{}
		for i := range ps {
			st := ps[i].Status
			seen[st.Name] = true
			if prev, ok := last[st.Name]; ok && prev != st.State {
				s.events.publish(streamEvent{Type: "pipeline.state", Pipeline: &st})
			}
			last[st.Name] = st.State
			s.events.publish(streamEvent{Type: "pipeline.status", Pipeline: &st})
		}
		for n := range last {
			if !seen[n] {
				delete(last, n)
			}
		}
	}
}

// events serves the Server-Sent Events stream.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, _ *principal) error {
	fl, ok := w.(http.Flusher)
	if !ok {
		return errorf(http.StatusInternalServerError, codeInternal, "this connection cannot stream events")
	}
	only := r.URL.Query()["pipeline"]
	ch := s.events.subscribe()
	defer s.events.unsubscribe(ch)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx would buffer the stream otherwise
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": sluice event stream\nretry: 3000\n\n")
	fl.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-s.stopping:
			return nil
		case <-ping.C:
			rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return nil
			}
			fl.Flush()
		case e := <-ch:
			if e.Pipeline != nil && len(only) > 0 && !slices.Contains(only, e.Pipeline.Name) {
				continue
			}
			b, err := json.Marshal(e)
			if err != nil {
				continue
			}
			rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", e.Type, b); err != nil {
				return nil
			}
			fl.Flush()
		}
	}
}

package server

import (
	"embed"
	"net/http"
	"time"
)

//go:embed openapi.yaml
var openAPIFile embed.FS

// openAPI serves the API's description, the source of truth for clients.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	b, err := openAPIFile.ReadFile("openapi.yaml")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
	w.Write(b)
}

type nodeJSON struct {
	ID          string    `json:"id"`
	Host        string    `json:"host"`
	Version     string    `json:"version"`
	State       string    `json:"state"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
	Pipelines   []string  `json:"pipelines"`
}

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request, _ *principal) error {
	ctx := r.Context()
	ns, err := s.Store.Nodes(ctx)
	if err != nil {
		return err
	}
	leases, err := s.Store.PipelineLeases(ctx)
	if err != nil {
		return err
	}
	out := make([]nodeJSON, 0, len(ns))
	for _, n := range ns {
		nj := nodeJSON{ID: n.ID, Host: n.Host, Version: n.Version, State: n.State, StartedAt: n.StartedAt.UTC(), HeartbeatAt: n.HeartbeatAt.UTC(), Pipelines: []string{}}
		for _, l := range leases {
			if l.Live && (l.NodeID == n.ID || (n.ID == s.Scheduler.NodeID() && l.NodeID == s.nodeID)) {
				nj.Pipelines = append(nj.Pipelines, l.Pipeline)
			}
		}
		out = append(out, nj)
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": out})
	return nil
}

package server

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/sluice-db/sluice/store"
)

// Channel topologies. The replication logic of each (loop prevention,
// conflicts) is the two-way sync's; the API only groups pipelines.
var topologies = []string{"two-way", "star", "mesh"}

type channelInput struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Topology    string   `json:"topology"`
	Sites       []string `json:"sites"`
	Pipelines   []string `json:"pipelines"`
}

type channelJSON struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Topology    string    `json:"topology"`
	Sites       []string  `json:"sites"`
	Pipelines   []string  `json:"pipelines"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func (s *Server) validateChannel(r *http.Request, in *channelInput) error {
	if err := checkName("name", in.Name); err != nil {
		return err
	}
	if !slices.Contains(topologies, in.Topology) {
		return invalid("topology", "topology %q: want two-way, star or mesh", in.Topology)
	}
	ctx := r.Context()
	for i, site := range in.Sites {
		if _, err := s.Store.DataSource(ctx, site); errors.Is(err, store.ErrNotFound) {
			return invalid(fieldIndex("sites", i), "sites[%d]: data source %q does not exist", i, site)
		} else if err != nil {
			return err
		}
	}
	if in.Topology == "two-way" && len(in.Sites) != 0 && len(in.Sites) != 2 {
		return invalid("sites", "a two-way channel joins exactly 2 sites, not %d", len(in.Sites))
	}
	for i, p := range in.Pipelines {
		if _, err := s.Store.PipelineByName(ctx, p); errors.Is(err, store.ErrNotFound) {
			return invalid(fieldIndex("pipelines", i), "pipelines[%d]: pipeline %q does not exist", i, p)
		} else if err != nil {
			return err
		}
	}
	return nil
}

func fieldIndex(name string, i int) string {
	return name + "[" + strconv.Itoa(i) + "]"
}

func (s *Server) channelJSON(r *http.Request, c store.Channel) (channelJSON, error) {
	ps, err := s.Store.Pipelines(r.Context(), c.Name)
	if err != nil {
		return channelJSON{}, err
	}
	out := channelJSON{Name: c.Name, Description: c.Description, Topology: c.Topology, Sites: c.Sites, Pipelines: []string{},
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()}
	if out.Sites == nil {
		out.Sites = []string{}
	}
	for _, p := range ps {
		out.Pipelines = append(out.Pipelines, p.Name)
	}
	return out, nil
}

func (s *Server) listChannels(w http.ResponseWriter, r *http.Request, _ *principal) error {
	cs, err := s.Store.Channels(r.Context())
	if err != nil {
		return err
	}
	out := make([]channelJSON, 0, len(cs))
	for _, c := range cs {
		cj, err := s.channelJSON(r, c)
		if err != nil {
			return err
		}
		out = append(out, cj)
	}
	writeJSON(w, http.StatusOK, map[string]any{"channels": out})
	return nil
}

func (s *Server) answerChannel(w http.ResponseWriter, r *http.Request, name string, status int) error {
	c, err := s.Store.ChannelByName(r.Context(), name)
	if err != nil {
		return err
	}
	cj, err := s.channelJSON(r, c)
	if err != nil {
		return err
	}
	writeJSON(w, status, cj)
	return nil
}

func (s *Server) getChannel(w http.ResponseWriter, r *http.Request, _ *principal) error {
	return s.answerChannel(w, r, r.PathValue("name"), http.StatusOK)
}

func (s *Server) createChannel(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var in channelInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := s.validateChannel(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := s.Store.CreateChannel(ctx, store.Channel{Name: in.Name, Description: in.Description, Topology: in.Topology, Sites: in.Sites}); errors.Is(err, store.ErrExists) {
		return errorf(http.StatusConflict, codeAlreadyExists, "channel %q already exists", in.Name)
	} else if err != nil {
		return err
	}
	if err := s.Store.SetPipelineChannel(ctx, in.Name, in.Pipelines); err != nil {
		return err
	}
	return s.answerChannel(w, r, in.Name, http.StatusCreated)
}

func (s *Server) updateChannel(w http.ResponseWriter, r *http.Request, _ *principal) error {
	var in channelInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	name := r.PathValue("name")
	if in.Name == "" {
		in.Name = name
	}
	if in.Name != name {
		return invalid("name", "name %q differs from the path's %q: a channel cannot be renamed", in.Name, name)
	}
	ctx := r.Context()
	if _, err := s.Store.ChannelByName(ctx, name); err != nil {
		return err
	}
	if err := s.validateChannel(r, &in); err != nil {
		return err
	}
	if err := s.Store.UpdateChannel(ctx, store.Channel{Name: name, Description: in.Description, Topology: in.Topology, Sites: in.Sites}); err != nil {
		return err
	}
	if in.Pipelines != nil {
		if err := s.Store.SetPipelineChannel(ctx, name, in.Pipelines); err != nil {
			return err
		}
	}
	return s.answerChannel(w, r, name, http.StatusOK)
}

func (s *Server) deleteChannel(w http.ResponseWriter, r *http.Request, _ *principal) error {
	if err := s.Store.DeleteChannel(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) channelPipelines(w http.ResponseWriter, r *http.Request, _ *principal) error {
	name := r.PathValue("name")
	if _, err := s.Store.ChannelByName(r.Context(), name); err != nil {
		return err
	}
	ps, err := s.pipelinesJSON(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"pipelines": ps})
	return nil
}

type topologyNode struct {
	ID   string `json:"id"`
	Host string `json:"host,omitempty"`
	Hub  bool   `json:"hub,omitempty"`
}

type topologyEdge struct {
	Pipeline      string  `json:"pipeline"`
	Source        string  `json:"source"`
	Target        string  `json:"target"`
	State         string  `json:"state"`
	LagSeconds    float64 `json:"lag_seconds"`
	RowsPerSecond float64 `json:"rows_per_second"`
}

// channelTopology is the graph the console draws: the channel's sites and
// its pipelines' endpoints are nodes, its pipelines are edges.
func (s *Server) channelTopology(w http.ResponseWriter, r *http.Request, _ *principal) error {
	ctx := r.Context()
	c, err := s.Store.ChannelByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	ps, err := s.pipelinesJSON(ctx, c.Name)
	if err != nil {
		return err
	}
	nodes := []topologyNode{}
	seen := map[string]bool{}
	addNode := func(name string, hub bool) {
		if seen[name] {
			return
		}
		seen[name] = true
		n := topologyNode{ID: name, Hub: hub}
		if d, err := s.Store.DataSource(ctx, name); err == nil {
			n.Host = d.Host
		}
		nodes = append(nodes, n)
	}
	for i, site := range c.Sites {
		addNode(site, c.Topology == "star" && i == 0)
	}
	edges := []topologyEdge{}
	for _, p := range ps {
		addNode(p.Source, false)
		addNode(p.Target, false)
		edges = append(edges, topologyEdge{Pipeline: p.Name, Source: p.Source, Target: p.Target, State: p.Status.State,
			LagSeconds: p.Status.LagSeconds, RowsPerSecond: p.Status.RowsPerSecond})
	}
	writeJSON(w, http.StatusOK, map[string]any{"channel": c.Name, "topology": c.Topology, "nodes": nodes, "edges": edges})
	return nil
}

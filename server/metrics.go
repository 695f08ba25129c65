package server

import (
	"crypto/subtle"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluice-db/sluice/pipeline"
)

// metrics is the server's Prometheus registry (its own: no globals) and
// the metrics it updates. Pipeline metrics are read from the supervisor at
// scrape time, so each pipeline is reported by the node that runs it.
type metrics struct {
	reg *prometheus.Registry

	jobRuns       *prometheus.CounterVec
	jobMisfires   *prometheus.CounterVec
	jobFireDelay  prometheus.Histogram
	checkRuns     *prometheus.CounterVec
	checkDiffs    *prometheus.CounterVec
	checkLastDiff *prometheus.GaugeVec
	alertsSent    *prometheus.CounterVec
}

func newMetrics(sv *supervisor) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.jobRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_job_runs_total",
		Help: "Job runs this node finished, by job and final status."}, []string{"job", "status"})
	m.jobMisfires = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_job_misfires_total",
		Help: "Fires this node recorded as missed or started late (past the job's misfire threshold), by job."}, []string{"job"})
	m.jobFireDelay = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_job_fire_delay_seconds",
		Help:    "Delay from a run's scheduled time to its start, on this node.",
		Buckets: []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}})
	m.checkRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_check_runs_total",
		Help: "Consistency checks this node ran, by outcome (equal, different, failed)."}, []string{"status"})
	m.checkDiffs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_check_differences_total",
		Help: "Differing rows found by checks on this node, by type (missing, extra, different)."}, []string{"type"})
	m.checkLastDiff = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_check_differences",
		Help: "Differing rows found by the latest check of each source and target pair."}, []string{"source", "target"})
	m.alertsSent = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_alerts_total",
		Help: "Alert webhook deliveries, by event and result (sent, failed)."}, []string{"event", "result"})
	m.reg.MustRegister(m.jobRuns, m.jobMisfires, m.jobFireDelay, m.checkRuns, m.checkDiffs, m.checkLastDiff, m.alertsSent,
		newPipelineCollector(sv),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// handler serves /metrics; with a token, only to Authorization: Bearer
// token.
func (m *metrics) handler(token string) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	if token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+token)) != 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]*apiError{"error": {Code: codeUnauthenticated,
				Message: "/metrics needs Authorization: Bearer with the server's --metrics-token"}})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// pipelineCollector reports the pipelines this node runs.
type pipelineCollector struct {
	sv                                                                                           *supervisor
	descLag, descRows, descTxns, descRowRate, descErrors, descRestarts, descState, descConflicts *prometheus.Desc
}

func newPipelineCollector(sv *supervisor) *pipelineCollector {
	return &pipelineCollector{sv: sv,
		descLag: prometheus.NewDesc("sluice_pipeline_lag_seconds",
			"How far the target is behind the source (age of the oldest transaction read but not yet committed).", []string{"pipeline"}, nil),
		descRows: prometheus.NewDesc("sluice_pipeline_rows_applied_total",
			"Rows applied to the target since this node took the pipeline.", []string{"pipeline"}, nil),
		descTxns: prometheus.NewDesc("sluice_pipeline_txns_applied_total",
			"Source transactions applied to the target since this node took the pipeline.", []string{"pipeline"}, nil),
		descRowRate: prometheus.NewDesc("sluice_pipeline_rows_per_second",
			"Rows applied per second over the last sample (one second).", []string{"pipeline"}, nil),
		descErrors: prometheus.NewDesc("sluice_pipeline_errors_total",
			"Errors that stopped the pipeline's flow (transient ones retried, permanent ones pausing it).", []string{"pipeline"}, nil),
		descRestarts: prometheus.NewDesc("sluice_pipeline_restarts_total",
			"Times the supervisor restarted the pipeline's runner.", []string{"pipeline"}, nil),
		descConflicts: prometheus.NewDesc("sluice_pipeline_conflicts_total",
			"Two-way conflicts found (each recorded in the target's sluice.conflicts table).", []string{"pipeline"}, nil),
		descState: prometheus.NewDesc("sluice_pipeline_state",
			"1 for the pipeline's current state, 0 for the others.", []string{"pipeline", "state"}, nil),
	}
}

// pipelineStates are the values sluice_pipeline_state reports.
func pipelineStates() []string {
	return []string{string(pipeline.Starting), string(pipeline.Running), string(pipeline.Retrying), string(pipeline.Paused), stateStopping}
}

func (c *pipelineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.descLag, c.descRows, c.descTxns, c.descRowRate, c.descErrors, c.descRestarts, c.descState, c.descConflicts} {
		ch <- d
	}
}

func (c *pipelineCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.sv.counters() {
		n := p.Status.Name
		ch <- prometheus.MustNewConstMetric(c.descLag, prometheus.GaugeValue, p.Status.LagSeconds, n)
		ch <- prometheus.MustNewConstMetric(c.descRows, prometheus.CounterValue, float64(p.Status.RowsApplied), n)
		ch <- prometheus.MustNewConstMetric(c.descTxns, prometheus.CounterValue, float64(p.Status.TxnsApplied), n)
		ch <- prometheus.MustNewConstMetric(c.descRowRate, prometheus.GaugeValue, p.Status.RowsPerSecond, n)
		ch <- prometheus.MustNewConstMetric(c.descErrors, prometheus.CounterValue, float64(p.Errors), n)
		ch <- prometheus.MustNewConstMetric(c.descRestarts, prometheus.CounterValue, float64(p.Restarts), n)
		ch <- prometheus.MustNewConstMetric(c.descConflicts, prometheus.CounterValue, float64(p.Status.Conflicts), n)
		for _, st := range pipelineStates() {
			v := 0.0
			if p.Status.State == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.descState, prometheus.GaugeValue, v, n, st)
		}
	}
}

package app

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/roster-app/roster/provisioning"
	"github.com/roster-app/roster/store"
)

// metrics is Roster's Prometheus registry: jobs by state (read from the
// store at scrape time), SCIM calls by operation and result, and ack
// latency by envelope kind.
type metrics struct {
	reg       *prometheus.Registry
	scimCalls *prometheus.CounterVec
	scimTime  *prometheus.HistogramVec
	acks      *prometheus.HistogramVec
	ackErrors *prometheus.CounterVec
	connected *atomic.Bool
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		scimCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_scim_calls_total",
			Help: "SCIM API calls by operation and result.",
		}, []string{"op", "result"}),
		scimTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "roster_scim_call_duration_seconds",
			Help:    "SCIM API call duration, including the wait for the client-side rate limiter.",
			Buckets: prometheus.DefBuckets,
		}, []string{"op"}),
		acks: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "roster_ack_latency_seconds",
			Help:    "Time from an envelope's arrival to its ack being queued, by envelope type.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"type"}),
		ackErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roster_ack_errors_total",
			Help: "Acks that could not be queued for the socket.",
		}, []string{"type"}),
	}
	m.reg.MustRegister(m.scimCalls, m.scimTime, m.acks, m.ackErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "roster_socket_connected",
		Help: "1 while the Socket Mode connection is up.",
	}, func() float64 {
		if m.connected != nil && m.connected.Load() {
			return 1
		}
		return 0
	}))
	return m
}

func (m *metrics) observeSCIM(op, result string, d time.Duration) {
	m.scimCalls.WithLabelValues(op, result).Inc()
	m.scimTime.WithLabelValues(op).Observe(d.Seconds())
}

func (m *metrics) observeAck(kind string, d time.Duration, err error) {
	m.acks.WithLabelValues(kind).Observe(d.Seconds())
	if err != nil {
		m.ackErrors.WithLabelValues(kind).Inc()
	}
}

// watchStore registers the jobs-by-state gauge, read at scrape time.
func (m *metrics) watchStore(db *store.DB) {
	m.reg.MustRegister(&jobsCollector{db: db, desc: prometheus.NewDesc(
		"roster_jobs", "Provisioning jobs by state.", []string{"state"}, nil)})
}

type jobsCollector struct {
	db   *store.DB
	desc *prometheus.Desc
}

func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var counts map[provisioning.JobState]int
	if err := c.db.View(ctx, func(tx provisioning.ReadTx) error {
		var err error
		counts, err = tx.CountJobs()
		return err
	}); err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, s := range []provisioning.JobState{provisioning.JobPending, provisioning.JobRunning, provisioning.JobDone, provisioning.JobFailed} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}

// httpHandler serves /healthz (200 when the socket is connected and the
// database answers, 503 otherwise, with a JSON body saying which) and
// /metrics.
func (a *App) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		dbErr := a.DB.View(ctx, func(tx provisioning.ReadTx) error {
			_, err := tx.CountJobs()
			return err
		})
		body := map[string]any{"socket_connected": a.connected.Load(), "database_open": dbErr == nil, "dry_run": a.cfg.DryRun}
		status := http.StatusOK
		if !a.connected.Load() || dbErr != nil {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	})
	return mux
}

package console

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/runtime"
)

// treeCollector turns the actor tree into Prometheus metrics at each
// scrape; nothing is kept between scrapes but the restart counter.
type treeCollector struct {
	rt       *runtime.Runtime
	actors   *prometheus.Desc
	restarts *prometheus.Desc
	mailbox  *prometheus.Desc
	counters *prometheus.Desc
}

func (t *treeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- t.actors
	ch <- t.restarts
	ch <- t.mailbox
	ch <- t.counters
}

func (t *treeCollector) Collect(ch chan<- prometheus.Metric) {
	type agg struct{ n, restarts, mailbox float64 }
	kinds := map[string]*agg{}
	type ck struct{ kind, name string }
	counters := map[ck]float64{}
	for _, in := range t.rt.Tree() {
		a := kinds[in.Kind]
		if a == nil {
			a = &agg{}
			kinds[in.Kind] = a
		}
		a.n++
		a.restarts += float64(in.Restarts)
		a.mailbox += float64(in.Mailbox)
		for name, v := range in.Counters {
			counters[ck{in.Kind, name}] += float64(v)
		}
	}
	for kind, a := range kinds {
		ch <- prometheus.MustNewConstMetric(t.actors, prometheus.GaugeValue, a.n, kind)
		ch <- prometheus.MustNewConstMetric(t.restarts, prometheus.GaugeValue, a.restarts, kind)
		ch <- prometheus.MustNewConstMetric(t.mailbox, prometheus.GaugeValue, a.mailbox, kind)
	}
	for k, v := range counters {
		ch <- prometheus.MustNewConstMetric(t.counters, prometheus.GaugeValue, v, k.kind, k.name)
	}
}

// newMetrics returns the /metrics handler: the tree's figures by kind, a
// monotonic count of restarts from the lifecycle events, and Go's own
// runtime metrics.
func newMetrics(rt *runtime.Runtime) (http.Handler, func()) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&treeCollector{
		rt:       rt,
		actors:   prometheus.NewDesc("microstack_actors", "Live actors, by kind.", []string{"kind"}, nil),
		restarts: prometheus.NewDesc("microstack_actor_restarts", "Restart count of live actors, summed by kind.", []string{"kind"}, nil),
		mailbox:  prometheus.NewDesc("microstack_mailbox_messages", "Messages waiting in mailboxes, summed by kind.", []string{"kind"}, nil),
		counters: prometheus.NewDesc("microstack_actor_counter", "Counters actors publish (bytes_in, bytes_out, connections, ...), summed over live actors by kind.", []string{"kind", "counter"}, nil),
	})
	restarts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "microstack_restarts_total",
		Help: "Restarts scheduled by supervisors since the console started, by kind.",
	}, []string{"kind"})
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "microstack_failures_total",
		Help: "Actor failures seen by supervisors since the console started, by kind.",
	}, []string{"kind"})
	reg.MustRegister(restarts, failures, collectors.NewGoCollector())
	unsubscribe := rt.Subscribe(func(e messages.LifecycleEvent) {
		switch ev := e.(type) {
		case *messages.ChildRestarted:
			restarts.WithLabelValues(ev.Kind).Inc()
		case *messages.ChildFailed:
			failures.WithLabelValues(ev.Kind).Inc()
		}
	})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), unsubscribe
}

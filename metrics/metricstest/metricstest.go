package metricstest

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is one series' value: a counter, a gauge, or one of a
// histogram's _count, _sum and _bucket series.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Samples is a scrape.
type Samples []Sample

// Scrape fetches url and parses it, failing t on any error.
func Scrape(t testing.TB, url string) Samples {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scraping %s: %s %s", url, resp.Status, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("scraping %s: Content-Type %q, want the text format", url, ct)
	}
	s, err := Parse(resp.Body)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	return s
}

// Parse reads the Prometheus text format.
func Parse(r io.Reader) (Samples, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing scrape: %w", err)
	}
	var out Samples
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			labels := make(map[string]string, len(m.GetLabel()))
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			add := func(n string, v float64, extra ...string) {
				l := labels
				if len(extra) > 0 {
					l = make(map[string]string, len(labels)+1)
					for k, v := range labels {
						l[k] = v
					}
					l[extra[0]] = extra[1]
				}
				out = append(out, Sample{Name: n, Labels: l, Value: v})
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				add(name, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				add(name, m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				add(name, m.GetUntyped().GetValue())
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				add(name+"_count", float64(h.GetSampleCount()))
				add(name+"_sum", h.GetSampleSum())
				for _, b := range h.GetBucket() {
					add(name+"_bucket", float64(b.GetCumulativeCount()), "le", fmt.Sprint(b.GetUpperBound()))
				}
			case dto.MetricType_SUMMARY:
				add(name+"_count", float64(m.GetSummary().GetSampleCount()))
				add(name+"_sum", m.GetSummary().GetSampleSum())
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

// String formats s as name{label="value",...} value.
func (s Sample) String() string {
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(s.Name)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, s.Labels[k])
	}
	fmt.Fprintf(&b, "} %g", s.Value)
	return b.String()
}

// Find returns the series of name whose labels include the given pairs
// (name, value, name, value, ...); a value "" matches a missing label.
func (ss Samples) Find(name string, labels ...string) Samples {
	if len(labels)%2 != 0 {
		panic("metricstest: labels must come in name, value pairs")
	}
	var out Samples
	for _, s := range ss {
		if s.Name != name {
			continue
		}
		ok := true
		for i := 0; i < len(labels); i += 2 {
			if s.Labels[labels[i]] != labels[i+1] {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// Sum adds up the series Find returns.
func (ss Samples) Sum(name string, labels ...string) float64 {
	var sum float64
	for _, s := range ss.Find(name, labels...) {
		sum += s.Value
	}
	return sum
}

// Has reports whether any series of name has the given labels.
func (ss Samples) Has(name string, labels ...string) bool { return len(ss.Find(name, labels...)) > 0 }

// Names returns the metric names in the scrape, sorted, without
// duplicates.
func (ss Samples) Names() []string {
	seen := make(map[string]bool)
	var out []string
	for _, s := range ss {
		if !seen[s.Name] {
			seen[s.Name] = true
			out = append(out, s.Name)
		}
	}
	sort.Strings(out)
	return out
}

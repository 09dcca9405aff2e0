package metrics

import (
	"testing"

	"github.com/alharvest/alharvest/internal/version"
)

func TestBuildInfoLabels(t *testing.T) {
	mfs, err := New().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := version.Get()
	for _, mf := range mfs {
		if mf.GetName() != "alharvest_build_info" {
			continue
		}
		labels := map[string]string{}
		for _, l := range mf.GetMetric()[0].GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["version"] != want.Version || labels["goversion"] != want.Go ||
			labels["revision"] != want.ShortRevision() || labels["vcs_time"] != want.Time {
			t.Errorf("labels %v, want %+v", labels, want)
		}
		return
	}
	t.Fatal("alharvest_build_info not exported")
}

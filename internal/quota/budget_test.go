package quota

import (
	"fmt"
	"testing"
	"time"
)

func TestTargetsWaterFill(t *testing.T) {
	rotate := 500 * time.Millisecond
	at := func(epoch int) time.Time { return time.Unix(0, int64(epoch)*int64(rotate)) }
	tests := []struct {
		name  string
		size  int
		wants map[string]int
		epoch int
		want  map[string]int
	}{
		{"idle holders leave everything to the busy one", 10, map[string]int{"a": 10, "b": 0, "c": 0}, 0, map[string]int{"a": 10}},
		{"even split", 10, map[string]int{"a": 10, "b": 10}, 0, map[string]int{"a": 5, "b": 5}},
		{"small demand is met first", 10, map[string]int{"a": 2, "b": 10, "c": 10}, 0, map[string]int{"a": 2, "b": 4, "c": 4}},
		{"demand below size leaves slots free", 10, map[string]int{"a": 1, "b": 2}, 0, map[string]int{"a": 1, "b": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Budget{Size: tt.size, Holders: map[string]*Holder{}}
			for id, w := range tt.wants {
				r.Holders[id] = &Holder{Want: w}
			}
			got := r.targets(at(tt.epoch), rotate)
			total := 0
			for id := range tt.wants {
				if got[id] != tt.want[id] {
					t.Errorf("%s: target %d, want %d (all %v)", id, got[id], tt.want[id], got)
				}
				total += got[id]
			}
			if total > tt.size {
				t.Errorf("targets sum to %d > size %d", total, tt.size)
			}
		})
	}
}

func TestTargetsRotateWhenSlotsAreFewerThanHolders(t *testing.T) {
	rotate := 500 * time.Millisecond
	r := &Budget{Size: 10, Holders: map[string]*Holder{}}
	for i := range 20 {
		r.Holders[fmt.Sprintf("holder-%02d", i)] = &Holder{Want: 10}
	}
	got := map[string]int{}
	for epoch := range ringSteps {
		tg := r.targets(time.Unix(0, int64(epoch)*int64(rotate)), rotate)
		total := 0
		for id, n := range tg {
			if n > 1 {
				t.Fatalf("epoch %d: %s gets %d slots while others get none", epoch, id, n)
			}
			total += n
			got[id] += n
		}
		if total != 10 {
			t.Fatalf("epoch %d: %d slots given, size 10", epoch, total)
		}
	}
	for id := range r.Holders {
		if got[id] == 0 {
			t.Errorf("%s never got a turn in a full rotation", id)
		}
	}

	// A holder dropping out moves at most one slot of the others.
	now := time.Unix(0, 7*int64(rotate))
	before := r.targets(now, rotate)
	r.Holders["holder-03"].Want = 0
	after := r.targets(now, rotate)
	moved := 0
	for id := range r.Holders {
		if id != "holder-03" && after[id] != before[id] {
			moved++
		}
	}
	if moved > 1 {
		t.Errorf("one holder going idle moved %d others' slots", moved)
	}
}

func TestPruneDropsLapsedLeases(t *testing.T) {
	now := time.Unix(1000, 0)
	r := &Budget{Size: 10, Holders: map[string]*Holder{
		"live":   {Held: 3, Expires: now.Add(time.Second).UnixMilli()},
		"lapsed": {Held: 7, Expires: now.Add(-time.Millisecond).UnixMilli()},
	}}
	if !r.prune(now, nil) {
		t.Fatal("prune reported nothing dropped")
	}
	if _, ok := r.Holders["lapsed"]; ok || r.held() != 3 {
		t.Fatalf("after prune: holders %v, held %d", r.Holders, r.held())
	}
}

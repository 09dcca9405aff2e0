package quota

import (
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
		{"remainder goes round, epoch 0", 3, map[string]int{"a": 5, "b": 5, "c": 5, "d": 5}, 0, map[string]int{"a": 1, "b": 1, "c": 1}},
		{"remainder goes round, epoch 1", 3, map[string]int{"a": 5, "b": 5, "c": 5, "d": 5}, 1, map[string]int{"b": 1, "c": 1, "d": 1}},
		{"more holders than slots", 2, map[string]int{"a": 1, "b": 1, "c": 1, "d": 1}, 3, map[string]int{"d": 1, "a": 1}},
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

func TestPruneDropsLapsedLeases(t *testing.T) {
	now := time.Unix(1000, 0)
	r := &Budget{Size: 10, Holders: map[string]*Holder{
		"live":   {Held: 3, Expires: now.Add(time.Second).UnixMilli()},
		"lapsed": {Held: 7, Expires: now.Add(-time.Millisecond).UnixMilli()},
	}}
	if !r.prune(now) {
		t.Fatal("prune reported nothing dropped")
	}
	if _, ok := r.Holders["lapsed"]; ok || r.held() != 3 {
		t.Fatalf("after prune: holders %v, held %d", r.Holders, r.held())
	}
}

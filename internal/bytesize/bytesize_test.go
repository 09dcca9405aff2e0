package bytesize

import "testing"

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{1 << 20, "1.0 MiB"},
		{5<<30 + 512<<20, "5.5 GiB"},
		{1 << 62, "4.0 EiB"},
	} {
		if got := Format(tc.n); got != tc.want {
			t.Errorf("Format(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		out  string
		err  bool
	}{
		{"0", 0, "0", false},
		{"512", 512, "512", false},
		{"1024", 1024, "1KiB", false},
		{"64 KiB", 64 << 10, "64KiB", false},
		{"3M", 3 << 20, "3MiB", false},
		{"2GiB", 2 << 30, "2GiB", false},
		{"1T", 1 << 40, "1TiB", false},
		{"10B", 10, "10", false},
		{"1.5GiB", 0, "", true},
		{"-1", 0, "", true},
		{"lots", 0, "", true},
	} {
		var v Value
		err := v.Set(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("Set(%q): error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if tc.err {
			continue
		}
		if int64(v) != tc.want || v.String() != tc.out {
			t.Errorf("Set(%q) = %d, printed %q; want %d, %q", tc.in, int64(v), v.String(), tc.want, tc.out)
		}
	}
}

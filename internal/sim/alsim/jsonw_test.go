package alsim

import "testing"

func TestAppendJSONStringLikePython(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"<>&", `"<>&"`},
		{"\n\r\t\b\f", `"\n\r\t\b\f"`},
		{"\x01\x1f\x7f", `"\u0001\u001f\u007f"`},
		{"résumé", `"r\u00e9sum\u00e9"`},
		{"😀!", `"\ud83d\ude00!"`},
		{"", `""`},
	}
	for _, tc := range tests {
		if got := string(appendJSONString(nil, tc.in)); got != tc.want {
			t.Errorf("%q: got %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestAppendISO(t *testing.T) {
	tests := []struct {
		us   int64
		want string
	}{
		{1741100531123456, "2025-03-04T15:02:11.123456Z"},
		{1741100531000000, "2025-03-04T15:02:11Z"},
		{1741100531000010, "2025-03-04T15:02:11.000010Z"},
	}
	for _, tc := range tests {
		if got := isoString(tc.us); got != tc.want {
			t.Errorf("%d: got %s, want %s", tc.us, got, tc.want)
		}
	}
}

package alsim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dates in queries: strict_date_optional_time or epoch_millis, date math
// and rounding, as Elasticsearch parses them.

// parseDate parses an Elasticsearch date (strict_date_optional_time or
// epoch_millis, with date math) to epoch milliseconds. roundUp picks the
// last millisecond of the value's precision instead of the first.
func parseDate(s string, roundUp bool, nowMS int64) (int64, error) {
	bad := fmt.Errorf("failed to parse date field [%s] with format [strict_date_optional_time||epoch_millis]", s)
	var base time.Time
	var unit string // precision of the anchor, for rounding
	dm := ""
	switch {
	case strings.HasPrefix(s, "now"):
		base = time.UnixMilli(nowMS).UTC()
		unit = "ms"
		dm = s[3:]
	default:
		anchor := s
		if i := strings.Index(s, "||"); i >= 0 {
			anchor, dm = s[:i], s[i+2:]
		}
		var err error
		base, unit, err = parseISO(anchor)
		if err != nil {
			return 0, bad
		}
	}
	t := base
	rounded := false
	for dm != "" {
		op := dm[0]
		dm = dm[1:]
		if op == '/' {
			if len(dm) != 1 {
				return 0, bad
			}
			t = roundTime(t, dm, roundUp)
			rounded = true
			dm = ""
			break
		}
		if op != '+' && op != '-' {
			return 0, bad
		}
		n := 0
		digits := 0
		for len(dm) > 0 && dm[0] >= '0' && dm[0] <= '9' {
			n = n*10 + int(dm[0]-'0')
			dm = dm[1:]
			digits++
		}
		if len(dm) == 0 {
			return 0, bad
		}
		if digits == 0 {
			n = 1
		}
		u := dm[:1]
		dm = dm[1:]
		if op == '-' {
			n = -n
		}
		switch u {
		case "y":
			t = t.AddDate(n, 0, 0)
		case "M":
			t = t.AddDate(0, n, 0)
		case "w":
			t = t.AddDate(0, 0, 7*n)
		case "d":
			t = t.AddDate(0, 0, n)
		case "h", "H":
			t = t.Add(time.Duration(n) * time.Hour)
		case "m":
			t = t.Add(time.Duration(n) * time.Minute)
		case "s":
			t = t.Add(time.Duration(n) * time.Second)
		default:
			return 0, bad
		}
	}
	if !rounded && roundUp && unit != "ms" {
		t = roundTime(t, unit, true)
	}
	return t.UnixMilli(), nil
}

// roundTime floors t to the unit, or moves it to the unit's last
// millisecond when up.
func roundTime(t time.Time, unit string, up bool) time.Time {
	var lo, next time.Time
	switch unit {
	case "y":
		lo = time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
		next = lo.AddDate(1, 0, 0)
	case "M":
		lo = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		next = lo.AddDate(0, 1, 0)
	case "w":
		wd := (int(t.Weekday()) + 6) % 7 // Monday first
		lo = time.Date(t.Year(), t.Month(), t.Day()-wd, 0, 0, 0, 0, time.UTC)
		next = lo.AddDate(0, 0, 7)
	case "d":
		lo = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		next = lo.AddDate(0, 0, 1)
	case "h", "H":
		lo = t.Truncate(time.Hour)
		next = lo.Add(time.Hour)
	case "m":
		lo = t.Truncate(time.Minute)
		next = lo.Add(time.Minute)
	case "s":
		lo = t.Truncate(time.Second)
		next = lo.Add(time.Second)
	default:
		return t
	}
	if up {
		return next.Add(-time.Millisecond)
	}
	return lo
}

var errBadISO = errors.New("bad date")

// parseISO parses strict_date_optional_time (or epoch millis) and reports
// the precision the value was given in.
func parseISO(s string) (time.Time, string, error) {
	if s == "" {
		return time.Time{}, "", errBadISO
	}
	allDigits := true
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && !(i == 0 && s[i] == '-') {
			allDigits = false
		}
	}
	if allDigits && len(s) > 4 {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, "", errBadISO
		}
		return time.UnixMilli(ms).UTC(), "ms", nil
	}
	// Split off a zone suffix.
	body, zone := s, ""
	if strings.HasSuffix(body, "Z") {
		body, zone = body[:len(body)-1], "Z"
	} else if i := strings.LastIndexAny(body, "+-"); i > 10 {
		body, zone = body[:i], body[i:]
	}
	layouts := []struct{ layout, unit string }{
		{"2006", "y"},
		{"2006-01", "M"},
		{"2006-01-02", "d"},
		{"2006-01-02T15", "h"},
		{"2006-01-02T15:04", "m"},
		{"2006-01-02T15:04:05", "s"},
	}
	var t time.Time
	unit := ""
	frac := ""
	if i := strings.IndexByte(body, '.'); i >= 0 {
		body, frac = body[:i], body[i+1:]
	}
	for _, l := range layouts {
		if len(body) == len(l.layout) {
			var err error
			t, err = time.ParseInLocation(l.layout, body, time.UTC)
			if err != nil {
				return time.Time{}, "", errBadISO
			}
			unit = l.unit
			break
		}
	}
	if unit == "" {
		return time.Time{}, "", errBadISO
	}
	if frac != "" {
		if unit != "s" || len(frac) > 9 {
			return time.Time{}, "", errBadISO
		}
		for _, ch := range frac {
			if ch < '0' || ch > '9' {
				return time.Time{}, "", errBadISO
			}
		}
		ns, _ := strconv.Atoi((frac + "000000000")[:9])
		t = t.Add(time.Duration(ns))
		unit = "ms"
	}
	if zone != "" && zone != "Z" {
		zt, err := time.Parse("-07:00", zone)
		if err != nil {
			if zt, err = time.Parse("-0700", zone); err != nil {
				return time.Time{}, "", errBadISO
			}
		}
		_, off := zt.Zone()
		t = t.Add(-time.Duration(off) * time.Second)
	}
	return t, unit, nil
}

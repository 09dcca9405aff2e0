package alsim

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// OutageMode is how Assemblyline is away during an outage: what a client
// meets instead of the API. Outages are what a deployment meets during
// Assemblyline maintenance, and what alharvest must sit out without
// dead-lettering good work.
type OutageMode string

// The outage modes.
const (
	// OutageOff: the API answers normally.
	OutageOff OutageMode = "off"
	// OutageHTML502: every API call gets a reverse proxy's "502 Bad
	// Gateway" HTML page, as when the proxy's upstream is down.
	OutageHTML502 OutageMode = "html502"
	// OutageHTML404: every API call gets an ingress's "404 Not Found" HTML
	// page, as when the route is missing mid-deploy or AL_URL has a wrong
	// path prefix. It is not Assemblyline's JSON envelope.
	OutageHTML404 OutageMode = "html404"
	// OutageRefuse: the listening socket is closed, so new connections are
	// refused, and open ones are reset. Only listeners the server wrapped
	// (Serve, WrapListener) can refuse; a bare Handler resets instead.
	OutageRefuse OutageMode = "refuse"
	// OutageReset: connections are accepted, then every API call is
	// dropped with a TCP reset before any answer.
	OutageReset OutageMode = "reset"
)

// ParseOutageMode accepts the mode names above ("" means off).
func ParseOutageMode(s string) (OutageMode, error) {
	switch m := OutageMode(s); m {
	case "":
		return OutageOff, nil
	case OutageOff, OutageHTML502, OutageHTML404, OutageRefuse, OutageReset:
		return m, nil
	default:
		return "", fmt.Errorf("unknown outage mode %q (want off, html502, html404, refuse or reset)", s)
	}
}

// Outage schedules one outage from the server's start: After it begins, it
// lasts For (zero: until switched off). The zero value is no outage.
type Outage struct {
	Mode  OutageMode    `json:"mode,omitempty"`
	After time.Duration `json:"after,omitempty"`
	For   time.Duration `json:"for,omitempty"`
}

// OutageStatus is what GET /_alsim/outage reports.
type OutageStatus struct {
	Mode OutageMode `json:"mode"`
	// Until is when the outage ends by itself; zero when it does not.
	Until time.Time `json:"until,omitzero"`
	// Answered counts API calls answered with an outage page or reset;
	// Refused counts connections reset when a refusing outage began.
	Answered int64 `json:"answered"`
	Refused  int64 `json:"refused"`
}

// outageState is the server's current outage and the listeners it can
// close and reopen.
type outageState struct {
	mu        sync.Mutex
	mode      OutageMode
	until     time.Time
	end       *time.Timer // ends a timed outage
	start     *time.Timer // begins the configured one
	listeners []*outageListener
	stopped   bool

	answered, refused atomic.Int64
	// fast lets intercept skip the lock while the API runs normally.
	fast atomic.Bool
}

func newOutageState(o Outage) *outageState {
	st := &outageState{mode: OutageOff}
	if o.Mode != "" && o.Mode != OutageOff {
		st.start = time.AfterFunc(o.After, func() { st.set(o.Mode, o.For) })
	}
	return st
}

// SetOutage switches the outage mode now. d > 0 ends it after d (the API
// comes back by itself); d == 0 keeps it until the next call.
func (s *Server) SetOutage(mode OutageMode, d time.Duration) error {
	if _, err := ParseOutageMode(string(mode)); err != nil {
		return err
	}
	if d < 0 {
		return fmt.Errorf("outage duration must not be negative, got %s", d)
	}
	s.outage.set(mode, d)
	return nil
}

// Outage reports the current outage.
func (s *Server) Outage() OutageStatus { return s.outage.status() }

func (st *outageState) set(mode OutageMode, d time.Duration) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.stopped {
		return
	}
	if st.end != nil {
		st.end.Stop()
		st.end = nil
	}
	st.until = time.Time{}
	if d > 0 && mode != OutageOff {
		st.until = time.Now().Add(d)
		st.end = time.AfterFunc(d, func() { st.set(OutageOff, 0) })
	}
	was := st.mode
	st.mode = mode
	st.fast.Store(mode != OutageOff)
	switch {
	case mode == OutageRefuse && was != OutageRefuse:
		for _, l := range st.listeners {
			st.refused.Add(int64(l.down()))
		}
	case mode != OutageRefuse && was == OutageRefuse:
		for _, l := range st.listeners {
			l.up()
		}
	}
}

func (st *outageState) status() OutageStatus {
	st.mu.Lock()
	defer st.mu.Unlock()
	return OutageStatus{Mode: st.mode, Until: st.until, Answered: st.answered.Load(), Refused: st.refused.Load()}
}

func (st *outageState) current() OutageMode {
	if !st.fast.Load() {
		return OutageOff
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.mode
}

// stop cancels the timers; the server is closing.
func (st *outageState) stop() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.stopped = true
	for _, t := range []*time.Timer{st.start, st.end} {
		if t != nil {
			t.Stop()
		}
	}
}

// intercept answers an API call the way the current outage does and reports
// whether it did. The simulator's own /_alsim/ endpoints are never
// intercepted, so a test can always switch the outage off again (except
// while refusing, when nothing gets through: give it a duration).
func (st *outageState) intercept(w http.ResponseWriter) bool {
	mode := st.current()
	switch mode {
	case OutageOff:
		return false
	case OutageHTML502:
		htmlPage(w, http.StatusBadGateway, "Bad Gateway")
	case OutageHTML404:
		htmlPage(w, http.StatusNotFound, "Not Found")
	default: // refuse through a bare Handler, or reset
		st.answered.Add(1)
		resetConn(w)
		return true
	}
	st.answered.Add(1)
	return true
}

func htmlPage(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	fmt.Fprintf(w, nginxPage, status, text, status, text)
}

// registerOutage adds GET /_alsim/outage and POST
// /_alsim/outage?mode=M[&for=D] to the admin endpoints.
func (s *Server) registerOutage(mux *http.ServeMux) {
	mux.HandleFunc("GET /_alsim/outage", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, s.Outage()) })
	mux.HandleFunc("POST /_alsim/outage", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mode, err := ParseOutageMode(q.Get("mode"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var d time.Duration
		if v := q.Get("for"); v != "" {
			if d, err = time.ParseDuration(v); err != nil || d < 0 {
				http.Error(w, fmt.Sprintf("bad duration for=%q", v), http.StatusBadRequest)
				return
			}
		}
		if mode == OutageRefuse && d == 0 {
			// Refusing closes this very endpoint's socket: nothing could
			// switch it off again.
			http.Error(w, "mode=refuse needs for=<duration>: while refusing, this endpoint is unreachable too", http.StatusBadRequest)
			return
		}
		// Answer before a refusing outage closes this connection.
		w.Header().Set("Content-Type", "application/json")
		st := OutageStatus{Mode: mode}
		if d > 0 && mode != OutageOff {
			st.Until = time.Now().Add(d)
		}
		b, _ := json.Marshal(st)
		w.Write(append(b, '\n'))
		http.NewResponseController(w).Flush()
		s.outage.set(mode, d)
	})
}

func (o Outage) validate() error {
	if _, err := ParseOutageMode(string(o.Mode)); err != nil {
		return err
	}
	if o.After < 0 || o.For < 0 {
		return fmt.Errorf("outage after and for must not be negative, got %s and %s", o.After, o.For)
	}
	return nil
}

// outageModeFlag is the -outage flag.
type outageModeFlag struct{ m *OutageMode }

func (f outageModeFlag) String() string {
	if f.m == nil || *f.m == "" {
		return string(OutageOff)
	}
	return string(*f.m)
}

func (f outageModeFlag) Set(s string) error {
	m, err := ParseOutageMode(s)
	if err == nil {
		*f.m = m
	}
	return err
}

// bindOutageFlags registers -outage, -outage-after and -outage-for.
func bindOutageFlags(fs *flag.FlagSet, o *Outage, env func(name, usage string) string) {
	fs.Var(outageModeFlag{&o.Mode}, "outage", env("outage", "play an Assemblyline outage: off, html502 (proxy page), html404 (ingress page), refuse (connections refused) or reset"))
	fs.DurationVar(&o.After, "outage-after", 0, env("outage-after", "start the outage this long after start"))
	fs.DurationVar(&o.For, "outage-for", 0, env("outage-for", "end the outage after this long (0 = never; change it with POST /_alsim/outage?mode=M&for=D)"))
}

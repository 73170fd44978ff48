// Package web serves the local web app of a running device (`mycel up`):
// the front end embedded in the binary and the device's JSON API (package
// api, the same handlers as its unix socket), behind a login that nothing
// but this computer's user can complete.
//
// The threats are other web pages in the user's browser and other users
// of the machine. A page of another site cannot read the app (no CORS) and
// cannot send it requests that act (a foreign Origin is refused: CSRF); a
// page that points its own name at 127.0.0.1 (DNS rebinding) is refused by
// its Host. Every request needs the session cookie (HttpOnly,
// SameSite=Strict), which only a one-time login token gets, and the token
// is shown only to the user (on the terminal, or by `mycel open`).
package web

import (
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

//go:embed assets
var embedded embed.FS

// DefaultAddr is where the web app listens unless told otherwise.
const DefaultAddr = "127.0.0.1:7457"

// CookieName names the session cookie.
const CookieName = "mycel_session"

// LoginTTL is how long a login token stays usable (once).
const LoginTTL = 10 * time.Minute

// Server is the web app of one running device.
type Server struct {
	api    http.Handler
	assets http.Handler
	base   string          // "http://127.0.0.1:7457"
	hosts  map[string]bool // Host headers answered, lower case
	now    func() time.Time

	mu       sync.Mutex
	logins   map[[32]byte]time.Time // digest of a login token → expiry
	sessions map[[32]byte]bool      // digest of a session cookie
}

// New serves the API handler under /api/ and the front end elsewhere, for
// a listener on addr (its actual address: the port known).
func New(api http.Handler, addr net.Addr) (*Server, error) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("web app: %v is not a TCP address", addr)
	}
	sub, err := fs.Sub(embedded, "assets")
	if err != nil {
		return nil, err
	}
	s := &Server{api: api, assets: http.FileServerFS(sub), hosts: map[string]bool{}, now: time.Now,
		logins: map[[32]byte]time.Time{}, sessions: map[[32]byte]bool{}}
	port := strconv.Itoa(tcp.Port)
	names := []string{"localhost"}
	switch {
	case tcp.IP.IsUnspecified():
		// Listening everywhere was asked for: answer to this machine's
		// addresses and name, never to any name at all (rebinding).
		names = append(names, "127.0.0.1", "::1")
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok {
					names = append(names, ipn.IP.String())
				}
			}
		}
		if h, err := os.Hostname(); err == nil {
			names = append(names, h)
		}
		s.base = "http://" + net.JoinHostPort("127.0.0.1", port)
	default:
		names = append(names, tcp.IP.String())
		s.base = "http://" + net.JoinHostPort(tcp.IP.String(), port)
	}
	for _, n := range names {
		s.hosts[strings.ToLower(net.JoinHostPort(n, port))] = true
	}
	return s, nil
}

// Listen opens addr for the web app. When addr is the default and its port
// is taken (another vault's mycel up, say), it takes any free port of the
// same address rather than fail; an address given is used as given.
func Listen(addr string, given bool) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err == nil {
		return l, nil
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		if !given {
			host, _, _ := net.SplitHostPort(addr)
			if l, err2 := net.Listen("tcp", net.JoinHostPort(host, "0")); err2 == nil {
				return l, nil
			}
		}
		return nil, fmt.Errorf("the web app cannot listen on %s: the port is in use (--web ADDR picks another, --no-web serves none)", addr)
	}
	return nil, fmt.Errorf("the web app cannot listen on %s: %w", addr, err)
}

// Base is the app's address, as a browser on this computer opens it.
func (s *Server) Base() string { return s.base }

// LoginURL makes a new one-time login token and returns the address that
// logs a browser in with it. Show it to the user only: never log it.
func (s *Server) LoginURL() string {
	tok := random()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for d, exp := range s.logins {
		if now.After(exp) {
			delete(s.logins, d)
		}
	}
	s.logins[sha256.Sum256([]byte(tok))] = now.Add(LoginTTL)
	return s.base + "/login?token=" + url.QueryEscape(tok)
}

func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ServeHTTP checks where a request comes from and who sends it, then
// serves it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer") // the login address holds a token
	h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	if !s.hosts[strings.ToLower(r.Host)] {
		refuse(w, r, http.StatusForbidden, fmt.Sprintf("this is mycel's web app, which answers only at %s, not as %q (a page of another site, pointed here by its name?)", s.base, r.Host))
		return
	}
	if o := r.Header.Get("Origin"); o != "" && !s.sameOrigin(o) {
		refuse(w, r, http.StatusForbidden, "requests from another site are refused (Origin "+o+")")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get("Origin") == "" && r.Header.Get("Sec-Fetch-Site") != "same-origin" {
		refuse(w, r, http.StatusForbidden, "a request that changes something must come from the app's own pages (no Origin header)")
		return
	}
	if r.URL.Path == "/login" {
		s.login(w, r)
		return
	}
	if !s.loggedIn(r) {
		refuse(w, r, http.StatusUnauthorized, "not logged in: open the address 'mycel up' printed, or run 'mycel open'")
		return
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		http.StripPrefix("/api", s.api).ServeHTTP(w, r)
		return
	}
	h.Set("Cache-Control", "no-cache")
	s.assets.ServeHTTP(w, r)
}

func (s *Server) sameOrigin(origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Scheme == "http" && u.Path == "" && s.hosts[strings.ToLower(u.Host)]
}

// login trades a login token, once, for a session cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	d := sha256.Sum256([]byte(r.URL.Query().Get("token")))
	s.mu.Lock()
	exp, ok := s.logins[d]
	delete(s.logins, d)
	ok = ok && !s.now().After(exp)
	var session string
	if ok {
		session = random()
		s.sessions[sha256.Sum256([]byte(session))] = true
	}
	s.mu.Unlock()
	if !ok {
		refuse(w, r, http.StatusUnauthorized, "this login address was used already or has expired: run 'mycel open' for a new one")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: session, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther) // drops the token from the address bar
}

func (s *Server) loggedIn(r *http.Request) bool {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[sha256.Sum256([]byte(c.Value))]
}

func refuse(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if strings.HasPrefix(r.URL.Path, "/api/") || !strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"error": msg})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

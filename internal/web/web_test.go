package web

import (
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

// serve runs the web app over a stand-in API on a loopback port.
func serve(t *testing.T) (*Server, string) {
	t.Helper()
	l, err := Listen("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	api := http.NewServeMux()
	api.HandleFunc("/v1/ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"pong":true}`) })
	s, err := New(api, l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s, s.Base()
}

func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func do(t *testing.T, c *http.Client, method, url string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// login logs c in with a fresh token and checks the cookie it gets.
func login(t *testing.T, s *Server, c *http.Client) {
	t.Helper()
	resp := do(t, c, "GET", s.LoginURL(), nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{CookieName + "=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(sc, want) {
			t.Fatalf("session cookie %q lacks %s", sc, want)
		}
	}
}

func TestNothingWithoutLogin(t *testing.T) {
	s, base := serve(t)
	c := client(t)
	for _, p := range []string{"/", "/index.html", "/app.js", "/api/v1/ping"} {
		if resp := do(t, c, "GET", base+p, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET %s without logging in: %d", p, resp.StatusCode)
		}
	}
	// A made-up token, and a cookie that no login gave.
	if resp := do(t, c, "GET", base+"/login?token=guess", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login with a guessed token: %d", resp.StatusCode)
	}
	if resp := do(t, c, "GET", base+"/api/v1/ping", map[string]string{"Cookie": CookieName + "=forged"}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged cookie: %d", resp.StatusCode)
	}
	login(t, s, c)
	for _, p := range []string{"/", "/app.js", "/api/v1/ping"} {
		if resp := do(t, c, "GET", base+p, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s logged in: %d", p, resp.StatusCode)
		}
	}
}

func TestLoginTokensWorkOnceAndExpire(t *testing.T) {
	s, _ := serve(t)
	u := s.LoginURL()
	login := func() int { return do(t, client(t), "GET", u, nil).StatusCode }
	if code := login(); code != http.StatusSeeOther {
		t.Fatalf("first use: %d", code)
	}
	if code := login(); code != http.StatusUnauthorized {
		t.Fatalf("second use of one token: %d", code)
	}
	now := time.Now()
	s.now = func() time.Time { return now }
	u = s.LoginURL()
	s.now = func() time.Time { return now.Add(LoginTTL + time.Second) }
	if code := login(); code != http.StatusUnauthorized {
		t.Fatalf("expired token: %d", code)
	}
}

// A page of another site that points its name at 127.0.0.1 (DNS
// rebinding) reaches the port with its own name as Host; and a page of
// another site that sends a request here has its Origin: both are refused,
// even with the session cookie.
func TestForeignHostAndOriginAreRefused(t *testing.T) {
	s, base := serve(t)
	c := client(t)
	login(t, s, c)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	if resp := do(t, c, "GET", base+"/api/v1/ping", map[string]string{"Host": "evil.example:" + port}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign Host: %d", resp.StatusCode)
	}
	u, _ := url.Parse(base)
	cookie := c.Jar.Cookies(u)[0]
	if resp := do(t, client(t), "GET", base+"/api/v1/ping", map[string]string{"Host": "localhost:" + port, "Cookie": cookie.String()}); resp.StatusCode != http.StatusOK {
		t.Fatalf("localhost as Host: %d", resp.StatusCode)
	}
	for _, o := range []string{"http://evil.example", "https://127.0.0.1:" + port, "null", "http://127.0.0.1:1"} {
		if resp := do(t, c, "POST", base+"/api/v1/ping", map[string]string{"Origin": o}); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("POST with Origin %s: %d", o, resp.StatusCode)
		}
	}
	if resp := do(t, c, "POST", base+"/api/v1/ping", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST without Origin: %d", resp.StatusCode)
	}
	if resp := do(t, c, "POST", base+"/api/v1/ping", map[string]string{"Origin": base}); resp.StatusCode != http.StatusOK {
		t.Fatalf("POST from the app itself: %d", resp.StatusCode)
	}
	resp := do(t, c, "GET", base+"/", nil)
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "Referrer-Policy", "X-Content-Type-Options"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
}

// The default port taken: any free one; a port given and taken: an error
// that says what to do.
func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := Listen(l.Addr().String(), true); err == nil || !strings.Contains(err.Error(), "--web ADDR") {
		t.Fatalf("a given port in use: %v", err)
	}
	l2, err := Listen(l.Addr().String(), false)
	if err != nil {
		t.Fatal(err)
	}
	l2.Close()
}

package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mycel/internal/api"
)

// The web app of a real 'mycel up': nothing without logging in; 'mycel
// open --print' gives an address that logs a browser in once; then the
// pages are there through the same API the CLI uses; a foreign Host is
// refused; and the login token is in no log and not in up's output (which
// is no terminal here).
func TestWebAppLogin(t *testing.T) {
	c := newCLI(t)
	c.ok("init", "--show-phrase", "--name", "desk")
	c.ok("new", "--title", "Garden notes", "--text", "Water on Sundays.")
	cmd := exec.Command(bin, "--data", c.data, "up", "--no-lan", "--web", "127.0.0.1:0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var link string
	deadline := time.Now().Add(20 * time.Second)
	for {
		o, _, err := c.run("", "open", "--print")
		if err == nil {
			link = strings.TrimSpace(o)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no login address: %v\n%s", err, out.String())
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
	u, err := url.Parse(link)
	if err != nil || u.Hostname() != "127.0.0.1" || u.Path != "/login" || len(u.Query().Get("token")) < 40 {
		t.Fatalf("login address %q", link)
	}
	base := "http://" + u.Host
	anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := anon.Get(base + "/api/v1/objects"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the API without logging in: %v %v", resp, err)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(link)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %v %v", resp, err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "app.js") {
		t.Fatalf("after logging in the app is not served: %s", page)
	}
	resp, err = browser.Get(base + "/api/v1/objects")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("objects: %v %v", resp, err)
	}
	var objs []map[string]any
	json.NewDecoder(resp.Body).Decode(&objs)
	resp.Body.Close()
	if len(objs) != 1 || objs[0]["title"] != "Garden notes" {
		t.Fatalf("objects through the web app: %v", objs)
	}
	// The same address again logs nobody in.
	if resp, err := anon.Get(link); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("second use of the login address: %v %v", resp, err)
	}
	// DNS rebinding: another name for this address, with the cookie.
	req, _ := http.NewRequest("GET", base+"/api/v1/objects", nil)
	req.Host = "attacker.example:" + u.Port()
	for _, ck := range jar.Cookies(&url.URL{Scheme: "http", Host: u.Host}) {
		req.AddCookie(ck)
	}
	if resp, err := anon.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a foreign Host: %v %v", resp, err)
	}
	// The socket API still answers the CLI.
	if resp, err := api.Client(c.data, 5*time.Second).Get("http://mycel/v1/status"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("socket API: %v %v", resp, err)
	}
	// An open event stream (the app keeps one) does not hold up stopping.
	stream, err := browser.Get(base + "/api/v1/events")
	if err != nil || stream.StatusCode != http.StatusOK {
		t.Fatalf("events: %v %v", stream, err)
	}
	defer stream.Body.Close()
	stopped := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil || time.Since(stopped) > 4*time.Second {
		t.Fatalf("up did not stop cleanly (%v after the signal): %v\n%s", time.Since(stopped), err, out.String())
	}
	token := u.Query().Get("token")
	logs, _ := os.ReadFile(filepath.Join(c.data, "mycel.log"))
	if strings.Contains(out.String(), token) || bytes.Contains(logs, []byte(token)) {
		t.Fatal("the login token is in up's output or log")
	}
	if !strings.Contains(out.String(), "Web app on "+base+": run 'mycel open' to log in.") {
		t.Fatalf("up does not say where the web app is:\n%s", out.String())
	}
}

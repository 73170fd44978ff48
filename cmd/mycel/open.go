package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"mycel/internal/api"
)

func (a *app) openCmd() *cobra.Command {
	var print bool
	cmd := &cobra.Command{
		Use:   "open",
		Short: "Open the web app of the running 'mycel up' in the browser",
		Long: `Open the web app in the browser, logged in: 'mycel up' makes a new address
that logs a browser in once (within 10 minutes) and this opens it. --print
prints the address instead (to open it in another browser); it is a
password for as long as it is unused, so do not paste it anywhere else.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req, _ := http.NewRequestWithContext(cmd.Context(), http.MethodPost, "http://mycel/v1/web/login", nil)
			resp, err := api.Client(a.data, 5*time.Second).Do(req)
			if err != nil {
				return fmt.Errorf("mycel is not running for %s: start it with 'mycel up' (%v)", a.data, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
				return errors.New("the running 'mycel up' serves no web app (it was started with --no-web)")
			}
			var out struct{ URL, Base string }
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil || out.URL == "" {
				return fmt.Errorf("the running 'mycel up' did not give a login address (%s)", resp.Status)
			}
			if print {
				return a.emit(map[string]string{"url": out.URL}, func(w io.Writer) { fmt.Fprintln(w, out.URL) })
			}
			if err := openBrowser(out.URL); err != nil {
				return fmt.Errorf("could not start a browser (%v): run 'mycel open --print' and open the address it prints", err)
			}
			return a.emit(map[string]string{"opened": out.Base}, func(w io.Writer) { fmt.Fprintf(w, "Opened %s in the browser.\n", out.Base) })
		},
	}
	cmd.Flags().BoolVar(&print, "print", false, "print the login address instead of opening a browser")
	return cmd
}

// openBrowser opens url in the user's browser. The address goes as an
// argument, never through a shell.
func openBrowser(url string) error {
	var c *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		c = exec.Command("open", url)
	case "windows":
		c = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		c = exec.Command("xdg-open", url)
	}
	return c.Start()
}

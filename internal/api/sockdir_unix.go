//go:build unix

package api

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// privateDir makes dir a folder only this user can enter, before anything
// is put in it: created 0700, or (left by an earlier run) checked to be a
// real folder of ours and set back to 0700. One of another user, or a
// symlink, is refused: whoever made it could reach what is inside.
func privateDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create the API's folder: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("the API's folder: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s is not a folder of this user's: move it away and start again", dir)
	}
	if fi.Mode().Perm() != 0o700 {
		// Mkdir's mode passes through the umask (which only takes bits
		// away), and an older folder may have been opened up: no socket
		// is in it yet, so setting it now leaves no moment open.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("make the API's folder private: %w", err)
		}
	}
	return nil
}

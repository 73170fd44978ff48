//go:build !unix

package api

import (
	"errors"
	"fmt"
	"os"
)

// privateDir creates the socket's folder. (Outside unix, a folder's access
// is its ACL, inherited from the user's profile where the data folder is.)
func privateDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create the API's folder: %w", err)
	}
	return nil
}

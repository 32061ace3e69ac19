//go:build !linux

package reports

import (
	"errors"
	"fmt"
)

// exchangeDirs is only implemented on Linux, where dpstats runs in
// production: replacing a published report needs an atomic exchange.
func exchangeDirs(a, b string) error {
	return fmt.Errorf("exchange %s and %s: %w", a, b, errors.ErrUnsupported)
}

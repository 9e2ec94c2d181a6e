package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	v := String()
	if !strings.HasPrefix(v, "perfprof ") || !strings.Contains(v, runtime.Version()) || !strings.HasSuffix(v, runtime.GOOS+"/"+runtime.GOARCH) {
		t.Errorf("String() = %q, want perfprof, the Go version and the platform", v)
	}
}

// Command hotgo burns MS ms of CPU in hotDelta, a function of its own:
// the Go binary of hotfuncs' tree (scripts/src/hotfuncs.c). It is built
// twice, with its symbol table and stripped (-ldflags=-s), where only
// .gopclntab names its functions.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

var sink uint64

//go:noinline
func hotDelta(ms int) {
	until := time.Now().Add(time.Duration(ms) * time.Millisecond)
	for time.Now().Before(until) {
		for i := range uint64(100000) {
			sink += i * 11
		}
	}
}

func main() {
	ms, err := strconv.Atoi(os.Args[len(os.Args)-1])
	if len(os.Args) != 2 || err != nil || ms < 1 {
		fmt.Fprintln(os.Stderr, "usage: hotgo MS")
		os.Exit(2)
	}
	hotDelta(ms)
}

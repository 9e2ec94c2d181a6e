// Command hotgo is the symbol package's Go test program: it prints the
// address of main.hotGo, then calls it until its standard input closes.
package main

import (
	"fmt"
	"io"
	"os"
	"reflect"
)

var sink int

//go:noinline
func hotGo(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += i*i ^ (s >> 3)
	}
	return s
}

func main() {
	fmt.Printf("%#x\n", reflect.ValueOf(hotGo).Pointer())
	go func() {
		for {
			sink += hotGo(100000)
		}
	}()
	io.Copy(io.Discard, os.Stdin)
}

// Package install tests the way a new module starts using Parley, as the
// README's Install section describes it: in a fresh module outside this
// repository, its commands add the generator as a tool, generate, and
// build a server that answers a call over HTTP.
package install

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The module's own files: a service in package greet, generated with the
// README's go:generate line (GENERATE below), and a server in package
// main that prints its address and serves until killed.
const (
	greetGo = `// Package greet is a service made from the README's instructions.
package greet

GENERATE

import (
	"context"
	"strings"
)

// Greeter greets.
//
//parley:service
type Greeter interface {
	// Hello greets name.
	Hello(ctx context.Context, name string) (string, error)
}

// Impl implements Greeter.
type Impl struct{}

// Hello implements Greeter.
func (Impl) Hello(ctx context.Context, name string) (string, error) {
	return "hello, " + strings.TrimSpace(name), nil
}
`
	mainGo = `package main

import (
	"fmt"
	"log"
	"net"
	"net/http"

	"example.com/hello/greet"
	"github.com/parley-go/parley/reverse"
	"github.com/parley-go/parley/rpc"
)

func main() {
	hub := reverse.NewHub()
	srv := rpc.NewServer(rpc.WithHub(hub))
	greet.RegisterGreeter(srv, greet.Impl{})
	mux := http.NewServeMux()
	mux.Handle("/parley/", srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("http://%s/\n", ln.Addr())
	log.Fatal(http.Serve(ln, mux))
}
`
)

// readmeInstall returns the commands of the README's Install section, one
// per line of its sh blocks, and the line of its go block, which marks a
// file for go generate.
func readmeInstall(t *testing.T, root string) (cmds [][]string, generate string) {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "\n## Install\n")
	require.True(t, ok, "README.md has no Install section")
	section, _, _ = strings.Cut(section, "\n## ")
	blocks := regexp.MustCompile("(?s)```(sh|go)\n(.*?)```").FindAllStringSubmatch(section, -1)
	for _, b := range blocks {
		for line := range strings.Lines(b[2]) {
			line, _, _ = strings.Cut(line, "#")
			if line = strings.TrimSpace(line); line == "" {
				continue
			}
			if b[1] == "go" {
				generate = line
			} else {
				cmds = append(cmds, strings.Fields(line))
			}
		}
	}
	require.NotEmpty(t, cmds, "no commands in the README's Install section")
	require.True(t, strings.HasPrefix(generate, "//go:generate "), "no go:generate line in the README's Install section")
	return cmds, generate
}

// moduleProxy returns the environment's GOPROXY for the new module:
// the same proxies, each falling back to the next on any error, then to
// off. The module replaces Parley with this repository, and Parley's
// path may be unknown to the proxy, which may refuse to look it up with
// an error other than not found; after such a refusal, off makes the
// lookup count as not found, so the replacement is used. Every other
// module comes from the proxy or the module cache, checked against the
// checksum database as usual.
func moduleProxy(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOPROXY").Output()
	require.NoError(t, err)
	var list []string
	for p := range strings.FieldsFuncSeq(strings.TrimSpace(string(out)), func(r rune) bool { return r == ',' || r == '|' }) {
		if p != "direct" && p != "off" {
			list = append(list, p)
		}
	}
	return strings.Join(append(list, "off"), "|")
}

// goCmd runs the go command with args in dir, with the environment's
// module cache and settings but proxy, and fails the test if it fails.
func goCmd(t *testing.T, ctx context.Context, dir, proxy string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOPROXY="+proxy)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s:\n%s", strings.Join(args, " "), out)
}

func TestReadmeInstall(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	cmds, generate := readmeInstall(t, root)
	assert.Equal(t, []string{"go", "get", "-tool", "github.com/parley-go/parley/cmd/parleygen"}, cmds[0])
	assert.Equal(t, "//go:generate go tool parleygen", generate)

	// A deadline to detect a hang, not a measure of speed.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	dir := t.TempDir()
	rel, err := filepath.Rel(root, dir)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(rel, ".."), "the module must be outside the repository")

	proxy := moduleProxy(t)
	goCmd(t, ctx, dir, proxy, "go", "mod", "init", "example.com/hello")
	goCmd(t, ctx, dir, proxy, "go", "mod", "edit", "-replace", "github.com/parley-go/parley="+root)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "greet"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "greet", "greet.go"), []byte(strings.Replace(greetGo, "GENERATE", generate, 1)), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(mainGo), 0o644))
	for _, args := range cmds {
		require.Equal(t, "go", args[0], "the README's Install section runs only go commands")
		goCmd(t, ctx, dir, proxy, args...)
	}
	assert.FileExists(t, filepath.Join(dir, "greet", "greet_parley.go"))
	goMod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	assert.Contains(t, string(goMod), "\ntool github.com/parley-go/parley/cmd/parleygen\n")

	bin := filepath.Join(t.TempDir(), "hello")
	goCmd(t, ctx, dir, proxy, "go", "build", "-o", bin, ".")
	server := exec.CommandContext(ctx, bin)
	stdout, err := server.StdoutPipe()
	require.NoError(t, err)
	server.Stderr = os.Stderr
	require.NoError(t, server.Start())
	t.Cleanup(func() {
		_ = server.Process.Kill()
		_ = server.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the server printed no address")
	url := strings.TrimSpace(line)

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"parley/call",
		strings.NewReader(`{"calls": [{"id": 1, "service": "Greeter", "method": "hello", "args": [" world "]}]}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Parley", "1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	assert.JSONEq(t, `{"results": [{"id": 1, "result": "hello, world"}]}`, string(body))
}

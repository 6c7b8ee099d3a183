package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/parley-go/parley/codegen"
	"github.com/parley-go/parley/jsruntime"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// packageDir returns a new directory inside the module, which go tooling
// ignores in ./... since its name starts with "_", holding files.
func packageDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir, err := os.MkdirTemp(".", "_test")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	return dir
}

const service = `package x

//parley:service
type S interface{ Do() error }
`

func TestRunWritesFiles(t *testing.T) {
	dir := packageDir(t, map[string]string{"s.go": service})
	require.NoError(t, run(dir, ""))
	got, err := os.ReadFile(filepath.Join(dir, "s_parley.go"))
	require.NoError(t, err)
	assert.Contains(t, string(got), "func RegisterS(srv *rpc.Server, impl S)")
}

func TestRunIgnoresAndRemovesStaleFiles(t *testing.T) {
	dir := packageDir(t, map[string]string{
		"s.go":            service,
		"s_parley.go":     generatedHeader + "package x\n\nthis does not compile\n",
		"gone_parley.go":  generatedHeader + "package x\n\nfunc RegisterGone() {}\n",
		"other_parley.go": "package x\n\n// Written by hand: kept.\n",
	})
	require.NoError(t, run(dir, ""))
	got, err := os.ReadFile(filepath.Join(dir, "s_parley.go"))
	require.NoError(t, err)
	assert.Contains(t, string(got), "func RegisterS(")
	assert.NoFileExists(t, filepath.Join(dir, "gone_parley.go"))
	assert.FileExists(t, filepath.Join(dir, "other_parley.go"))
}

func TestRunReportsRefusals(t *testing.T) {
	dir := packageDir(t, map[string]string{"c.go": `package x

//parley:client
type C interface {
	A() int
	B(ch chan int)
}
`})
	err := run(dir, "")
	var list codegen.Errors
	require.True(t, errors.As(err, &list))
	var out bytes.Buffer
	printErrors(&out, err)
	want := filepath.Join(dir, "c.go") + ":5: C.A: client methods must return nothing or error\n" +
		filepath.Join(dir, "c.go") + ":6: C.B: parameter ch has type chan int: channels are not supported\n"
	assert.Equal(t, want, out.String())
	assert.NoFileExists(t, filepath.Join(dir, "c_parley.go"))
}

// tsPage imports the runtime and the service S as a page does, by the
// URLs the server serves them at.
const tsPage = `import parley from "/parley/engine.js";
import { S } from "/parley/interface/S.js";

await parley.start({ transport: "sse" });
const done: void = await S.do();
console.log(done);
`

func TestRunWritesDeclarations(t *testing.T) {
	dir := packageDir(t, map[string]string{"s.go": service})
	ts := t.TempDir()
	out := filepath.Join(ts, "types", "parley")
	require.NoError(t, run(dir, out))

	engine, err := os.ReadFile(filepath.Join(out, "engine.d.ts"))
	require.NoError(t, err)
	assert.Equal(t, jsruntime.Types, engine)
	decl, err := os.ReadFile(filepath.Join(out, "interface", "S.d.ts"))
	require.NoError(t, err)
	assert.Contains(t, string(decl), "export declare const S: {")

	bin, err := exec.LookPath("tsc")
	require.NoError(t, err, "tsc is needed to check the declarations: run `make test`, which installs it")
	tsconfig := `{"compilerOptions": {"strict": true, "noEmit": true, "target": "es2022", "module": "es2022",
	  "moduleResolution": "bundler", "lib": ["es2022", "dom"], "paths": {"/parley/*": ["./types/parley/*"]}},
	  "files": ["page.ts"]}`
	require.NoError(t, os.WriteFile(filepath.Join(ts, "tsconfig.json"), []byte(tsconfig), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(ts, "page.ts"), []byte(tsPage), 0o644))
	cmd := exec.Command(bin, "-p", ".")
	cmd.Dir = ts
	got, err := cmd.CombinedOutput()
	assert.NoError(t, err, "tsc:\n%s", got)
}

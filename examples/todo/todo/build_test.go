package todo

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// web is the page's TypeScript project: package.json, tsconfig.json, the
// sources in src, the declarations parleygen writes to parley, and in bad
// files that tsc must refuse.
const web = "../web"

// tool finds a command the checks of the page need.
func tool(t *testing.T, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	require.NoError(t, err, "%s is needed to check the to-do page's build: run `make test`, which installs it", name)
	return bin
}

// tsc runs the TypeScript compiler on the project in dir and returns its
// output and error.
func tsc(t *testing.T, dir string) (string, error) {
	t.Helper()
	cmd := exec.Command(tool(t, "tsc"), "-p", dir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestPageTypeChecks(t *testing.T) {
	t.Parallel()
	out, err := tsc(t, web)
	assert.NoError(t, err, "tsc:\n%s", out)
}

func TestPageMisusesAreTypeErrors(t *testing.T) {
	t.Parallel()
	bad, err := filepath.Glob(filepath.Join(web, "bad", "*.ts"))
	require.NoError(t, err)
	require.NotEmpty(t, bad)
	out, err := tsc(t, filepath.Join(web, "bad"))
	require.Error(t, err, "tsc accepted every misuse")
	for _, path := range bad {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			assert.Contains(t, out, "bad/"+name+"(", "tsc accepted %s", name)
		})
	}
	assert.Contains(t, out, `'"carrier-pigeon"'`)
}

// buildCommand returns the command of package.json's build script
// without its --outfile, so that esbuild writes the bundle to stdout, and
// the file it writes to.
func buildCommand(t *testing.T) (args []string, outfile string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(web, "package.json"))
	require.NoError(t, err)
	var pkg struct {
		Scripts map[string]string `json:"scripts"`
	}
	require.NoError(t, json.Unmarshal(src, &pkg))
	for _, arg := range strings.Fields(pkg.Scripts["build"]) {
		if f, ok := strings.CutPrefix(arg, "--outfile="); ok {
			outfile = f
			continue
		}
		args = append(args, arg)
	}
	require.NotEmpty(t, args)
	require.Equal(t, "esbuild", args[0], "the build script runs esbuild")
	require.NotEmpty(t, outfile, "the build script names its --outfile")
	return args, outfile
}

func TestBundleIsUpToDate(t *testing.T) {
	t.Parallel()
	args, outfile := buildCommand(t)
	require.Equal(t, filepath.Join("..", "todo", "static", "app.js"), filepath.Join(web, outfile),
		"the build writes the page's embedded app.js")

	// Install the pinned esbuild apart, so the tree is left as it was.
	deps := t.TempDir()
	for _, name := range []string{"package.json", "package-lock.json"} {
		src, err := os.ReadFile(filepath.Join(web, name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(deps, name), src, 0o644))
	}
	install := exec.Command(tool(t, "npm"), "ci", "--no-audit", "--no-fund")
	install.Dir = deps
	out, err := install.CombinedOutput()
	require.NoError(t, err, "npm ci:\n%s", out)

	build := exec.Command(filepath.Join(deps, "node_modules", ".bin", "esbuild"), args[1:]...)
	build.Dir = web
	var stderr strings.Builder
	build.Stderr = &stderr
	bundle, err := build.Output()
	require.NoError(t, err, "esbuild:\n%s", stderr.String())
	committed, err := os.ReadFile(filepath.Join("static", "app.js"))
	require.NoError(t, err)
	assert.Equal(t, string(bundle), string(committed),
		"static/app.js is not the build of ../web: run `npm ci && npm run build` in examples/todo/web")
}

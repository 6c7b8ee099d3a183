package codegen

import (
	"encoding/json"
	"errors"
	"flag"
	"go/format"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/tools/go/packages"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata")

// caseDirs returns the directories of the golden cases.
func caseDirs(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob("testdata/*")
	require.NoError(t, err)
	slices.Sort(dirs)
	return dirs
}

// load loads the package in dir.
func load(t *testing.T, dir string) *packages.Package {
	t.Helper()
	pkgs, err := packages.Load(&packages.Config{Mode: LoadMode, Dir: dir}, ".")
	require.NoError(t, err)
	require.Len(t, pkgs, 1)
	return pkgs[0]
}

// expected returns the golden files of a case: its generated Go files,
// the JS module and .d.ts of each service, or errors.golden.
func expected(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	pkg := load(t, dir)
	files, err := Generate(pkg)
	if err != nil {
		var list Errors
		require.True(t, errors.As(err, &list), "want codegen.Errors, got %v", err)
		return map[string][]byte{"errors.golden": []byte(relativeErrors(t, dir, list))}
	}
	out := map[string][]byte{}
	for _, f := range files {
		formatted, err := format.Source(f.Content)
		require.NoError(t, err)
		require.Equal(t, string(formatted), string(f.Content), "%s is not gofmt-clean", f.Name)
		out[f.Name+".golden"] = f.Content
	}
	m, err := analyze(pkg)
	require.NoError(t, err)
	for _, sf := range m.files {
		for _, it := range sf.ifaces {
			if it.kind == service {
				out[it.name+".js.golden"] = []byte(moduleJS(sf.base, it, m.clients))
				out[it.name+".d.ts.golden"] = []byte(typesTS(sf.base, it, m.clients))
			}
		}
	}
	return out
}

// relativeErrors lists errs one a line, with file names relative to dir.
func relativeErrors(t *testing.T, dir string, errs Errors) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	require.NoError(t, err)
	var b strings.Builder
	for _, e := range errs {
		rel, err := filepath.Rel(abs, e.Pos.Filename)
		require.NoError(t, err)
		e := &Error{Pos: e.Pos, Msg: e.Msg}
		e.Pos.Filename = filepath.ToSlash(rel)
		b.WriteString(e.Error() + "\n")
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	for _, dir := range caseDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			want := expected(t, dir)
			old, err := filepath.Glob(filepath.Join(dir, "*.golden"))
			require.NoError(t, err)
			if *update {
				for _, path := range old {
					require.NoError(t, os.Remove(path))
				}
				for name, content := range want {
					require.NoError(t, os.WriteFile(filepath.Join(dir, name), content, 0o644))
				}
				return
			}
			var names []string
			for _, path := range old {
				names = append(names, filepath.Base(path))
			}
			assert.ElementsMatch(t, slices.Sorted(maps.Keys(want)), names, "golden files; run go test ./codegen -update")
			for name, content := range want {
				golden, err := os.ReadFile(filepath.Join(dir, name))
				if assert.NoError(t, err) {
					assert.Equal(t, string(golden), string(content), "%s differs; run go test ./codegen -update", name)
				}
			}
		})
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	pkg := load(t, "testdata/types")
	first, err := Generate(pkg)
	require.NoError(t, err)
	for range 5 {
		again, err := Generate(pkg)
		require.NoError(t, err)
		require.Equal(t, first, again)
	}
}

// TestGeneratedCodeVets compiles and vets each case's package with its
// generated files laid over it.
func TestGeneratedCodeVets(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go vet")
	}
	for _, dir := range generatingCases(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			files, err := Generate(load(t, dir))
			require.NoError(t, err)
			overlay := writeOverlay(t, dir, files)
			cmd := exec.Command("go", "vet", "-overlay="+overlay, "./"+filepath.ToSlash(dir)+"/...")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "go vet:\n%s", out)
		})
	}
}

// generatingCases returns the directories of the golden cases that
// generate files rather than refusals.
func generatingCases(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, dir := range caseDirs(t) {
		if _, err := os.Stat(filepath.Join(dir, "errors.golden")); errors.Is(err, os.ErrNotExist) {
			out = append(out, dir)
		}
	}
	require.NotEmpty(t, out)
	return out
}

// TestGeneratedHandlers runs the tests of the cases that have their own:
// enums calls its generated handlers with values inside and outside their
// enums, numbers sends floats and wide integers both ways, over HTTP and
// through a typed proxy.
func TestGeneratedHandlers(t *testing.T) {
	for _, tc := range []struct{ dir, test string }{
		{"enums", "TestEnumsAreChecked"},
		{"numbers", "TestNumbersBothWays|TestProxyNumbers"},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join("testdata", tc.dir)
			files, err := Generate(load(t, dir))
			require.NoError(t, err)
			overlay := writeOverlay(t, dir, files)
			cmd := exec.Command("go", "test", "-count=1", "-v", "-run", tc.test, "-overlay="+overlay, "./"+filepath.ToSlash(dir))
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "go test:\n%s", out)
			for name := range strings.SplitSeq(tc.test, "|") {
				assert.Contains(t, string(out), "--- PASS: "+name)
			}
			assert.NotContains(t, string(out), "no tests to run")
		})
	}
}

// writeOverlay writes files to a temporary directory and returns the
// path of a go command overlay file that places them in dir.
func writeOverlay(t *testing.T, dir string, files []File) string {
	t.Helper()
	tmp := t.TempDir()
	replace := map[string]string{}
	for _, f := range files {
		path := filepath.Join(tmp, f.Name)
		require.NoError(t, os.WriteFile(path, f.Content, 0o644))
		abs, err := filepath.Abs(filepath.Join(dir, f.Name))
		require.NoError(t, err)
		replace[abs] = path
	}
	body, err := json.Marshal(map[string]any{"Replace": replace})
	require.NoError(t, err)
	overlay := filepath.Join(tmp, "overlay.json")
	require.NoError(t, os.WriteFile(overlay, body, 0o644))
	return overlay
}

// TestModulesParse checks the generated JS modules with node, when it is
// installed.
func TestModulesParse(t *testing.T) {
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node is needed to parse the generated modules: run `make test`, which installs it")
	modules, err := filepath.Glob("testdata/*/*.js.golden")
	require.NoError(t, err)
	require.NotEmpty(t, modules)
	for _, golden := range modules {
		t.Run(golden, func(t *testing.T) {
			t.Parallel()
			src, err := os.ReadFile(golden)
			require.NoError(t, err)
			path := filepath.Join(t.TempDir(), "module.mjs")
			require.NoError(t, os.WriteFile(path, src, 0o644))
			out, err := exec.Command(node, "--check", path).CombinedOutput()
			require.NoError(t, err, "node --check:\n%s", out)
		})
	}
}

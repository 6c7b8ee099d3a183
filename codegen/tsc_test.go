package codegen

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pageTS uses the declarations of the enums, types and files cases as a
// page would: it calls stubs with the right types, reads results, and
// implements client interfaces.
const pageTS = `import Palette, { Color, Size, Level, Shape, Screen, CallOptions } from "./Palette.js";
import { Store, Item, Page, Tree } from "./Store.js";
import { Extras } from "./Extras.js";
import { Files, Download } from "./Files.js";

const options: CallOptions = { timeout: 1000, headers: { "X-Trace": "1" } };

export async function run(): Promise<void> {
  const c: Color = await Palette.paint(Color.Red);
  const same: Color = await Palette.paint("green", options);
  const s: Size = await Palette.sized(Size.Large);
  const shape: Shape = {
    color: c,
    tint: Color.Default,
    layers: [c, same],
    byName: { sky: "green" },
    counts: { red: 2 },
    grid: [[Size.Small, 2], [3, s]],
    kids: [null],
    level: Level.Low,
    quoted: "2",
    plain: "",
    inline: { c: "red" },
  };
  const n: number = await Palette.shapes([shape]);
  await Palette.byColor({ green: [shape, null] });
  await Palette.urgent(null);
  await Palette.urgent(-1);
  await Palette.fixed([1, 2, 3]);

  const item: Item | null = await Store.get("id-1");
  const created: string | undefined = item?.created;
  const tree: Tree = await Store.tree({ label: "root", children: null }, n);
  await Extras.raw({ any: [1, "two"] });
  const bytes: Record<string, string | null> | null = await Extras.fixed(["a", "b", "c", "d"], created);

  const size: number = await Files.put(new Blob(["hello"]), "hello.txt");
  const d: Download | null = await Files.get("hello.txt");
  console.log(size, d?.url, d?.contentType, tree.label, bytes);
}

export const screen: Screen = {
  show(c: Color, s: Shape): void {
    console.log(c, s.kids?.length);
  },
};

export const page: Page = {
  show(item: Item, tree: Tree | null): void {
    console.log(item.id, tree?.children);
  },
  ask(question: string, choices: string[] | null): void {
    console.log(question, choices);
  },
  ping(): void {},
  reserved(p: number, function_: string): void {
    console.log(p, function_);
  },
};
`

// badTS has one type error: a string outside an enum.
const badTS = `import Palette from "./Palette.js";

export async function run(): Promise<void> {
  await Palette.paint("blue");
}
`

// writeDeclarations writes the .d.ts files of every case that generates
// files into dir, and returns their names.
func writeDeclarations(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	for _, c := range generatingCases(t) {
		for name, content := range expected(t, c) {
			if base, ok := strings.CutSuffix(name, ".d.ts.golden"); ok {
				require.NoError(t, os.WriteFile(filepath.Join(dir, base+".d.ts"), content, 0o644))
				names = append(names, base+".d.ts")
			}
		}
	}
	return names
}

// tsc type-checks files in dir with the TypeScript compiler, strictly,
// and returns its output and error.
func tsc(t *testing.T, dir string, files ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("tsc")
	require.NoError(t, err, "tsc is needed to check the generated .d.ts files: run `make test`, which installs it")
	args := append([]string{"--noEmit", "--strict", "--target", "es2020", "--module", "es2020",
		"--moduleResolution", "bundler", "--lib", "es2020,dom"}, files...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestDeclarationsTypeCheck checks that every generated .d.ts and a page
// using them compile under tsc --strict, and that tsc does catch a misuse
// of them.
func TestDeclarationsTypeCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	decls := writeDeclarations(t, dir)
	require.Contains(t, decls, "Palette.d.ts")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "page.ts"), []byte(pageTS), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.ts"), []byte(badTS), 0o644))

	out, err := tsc(t, dir, append(decls, "page.ts")...)
	require.NoError(t, err, "tsc:\n%s", out)

	out, err = tsc(t, dir, "bad.ts")
	require.Error(t, err, "tsc accepted a value outside an enum")
	assert.Contains(t, out, "bad.ts")
	assert.Contains(t, out, `"blue"`)
	assert.Contains(t, out, "Color")
}

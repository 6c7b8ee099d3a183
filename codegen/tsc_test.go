package codegen

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parley-go/parley/jsruntime"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pageTS uses the declarations of the enums, types and files cases as a
// page would: it calls stubs with the right types, reads results, and
// implements client interfaces.
const pageTS = `import Palette, { Color, Size, Level, Shape, Screen, CallOptions } from "./interface/Palette.js";
import { Store, Item, Page, Tree } from "./interface/Store.js";
import { Extras } from "./interface/Extras.js";
import { Files, Download } from "./interface/Files.js";

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
  const tree: Tree = await Store.tree({ label: "root", children: [] }, n);
  const labels: string[] = tree.children.map((t) => t?.label ?? "");
  await Extras.raw({ any: [1, "two"] });
  const bytes: Record<string, string> = await Extras.fixed(["a", "b", "c", "d"], created);

  // DWR style: the Promise resolves to undefined after the handlers.
  const none: void = await Palette.paint(Color.Red, {
    callback: (painted: Color) => console.log(painted),
    errorHandler: (message: string, err: ParleyError) => console.log(message, err.code),
  });
  await Palette.sized(Size.Small, { errorHandler: (message) => console.log(message), timeout: 10 });
  console.log(none, labels);

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
  ask(question: string, choices: string[]): void {
    console.log(question, choices);
  },
  ping(): void {},
  reserved(p: number, function_: string): void {
    console.log(p, function_);
  },
};
`

// engineTS uses the runtime's API as a page would.
const engineTS = `import parley, { createClient, ParleyError, topicMatches, ErrorCode, Gap, State } from "./engine.js";

export async function run(): Promise<void> {
  parley.expose("ChatPage", { addMessage(text: string): void { console.log(text); } });
  parley.expose("updateCallers", (calls: number[]) => calls.length);
  parley.configure({ timeout: 5000, headers: { "X-Tenant": "t1" } });
  parley.configure({ headers: null });
  const off = parley.on("gap", (g: Gap) => {
    if (g.reason === "sequence") console.log(g.from, g.to);
    else console.log(g.reason);
  });
  parley.on("state", (s: State) => console.log(s));
  parley.on("transport", (t) => console.log(t));
  parley.on("error", (e) => console.log(e instanceof ParleyError ? e.code : e));
  off();
  await parley.start();
  await parley.start({ transport: "longpoll" });
  await parley.start({ transport: "poll", interval: 2000 });
  const n: number = parley.batch(() => 3, { ordered: true });
  const v = await parley.call<number>("Chat", "send", ["hi"], { timeout: 10 });
  const done: void = await parley.call<number>("Chat", "send", ["hi"], { callback: (id: number) => console.log(id) });
  const unsubscribe = await parley.subscribe("/stocks/*", (data: unknown, topic: string) => console.log(data, topic));
  await unsubscribe();
  await parley.unsubscribe("/stocks/*");
  const code: ErrorCode = new ParleyError("not_found", "no").code;
  const mine = createClient({ base: "https://example.com/parley/", random: () => 0.5 });
  const transport: "" | "websocket" | "sse" | "longpoll" | "poll" | "passive" = mine.transport;
  console.log(n, v + 1, done, code, topicMatches("/a/*", "/a/b"), mine.session, mine.state, transport, parley.ParleyError);
  parley.stop();
}
`

// badTS holds code that must not compile, one error per file, by name.
var badTS = map[string]string{
	"enum": `import Palette from "./interface/Palette.js";
await Palette.paint("blue");
`,
	"callbackResult": `import Palette, { Color } from "./interface/Palette.js";
const c: Color = await Palette.paint("red", { callback: () => {} });
`,
	"nullSlice": `import { Store } from "./interface/Store.js";
await Store.tree({ label: "root", children: null }, 1);
`,
	"transport": `import parley from "./engine.js";
await parley.start({ transport: "carrier-pigeon" });
`,
	"errorCode": `import { ParleyError } from "./engine.js";
throw new ParleyError("teapot", "short and stout");
`,
	"event": `import parley from "./engine.js";
parley.on("message", () => {});
`,
	"pattern": `import parley from "./engine.js";
await parley.subscribe("stocks", () => {});
`,
	"callback": `import parley from "./engine.js";
parley.call<number>("Chat", "send", [], { callback: (s: string) => s });
`,
}

// writeDeclarations writes, as the server serves them, the runtime's
// engine.d.ts into dir and the .d.ts files of every case that generates
// files into dir/interface, and returns their names relative to dir.
func writeDeclarations(t *testing.T, dir string) []string {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "engine.d.ts"), jsruntime.Types, 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "interface"), 0o755))
	names := []string{"engine.d.ts"}
	for _, c := range generatingCases(t) {
		for name, content := range expected(t, c) {
			if base, ok := strings.CutSuffix(name, ".d.ts.golden"); ok {
				require.NoError(t, os.WriteFile(filepath.Join(dir, "interface", base+".d.ts"), content, 0o644))
				names = append(names, "interface/"+base+".d.ts")
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
	args := append([]string{"--noEmit", "--strict", "--target", "es2022", "--module", "es2022",
		"--moduleResolution", "bundler", "--lib", "es2020,dom"}, files...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestDeclarationsTypeCheck checks that engine.d.ts, every generated
// .d.ts and pages using them compile under tsc --strict, and that tsc
// catches each misuse of them.
func TestDeclarationsTypeCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	decls := writeDeclarations(t, dir)
	require.Contains(t, decls, "interface/Palette.d.ts")
	write := func(name, content string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	write("page.ts", strings.Replace(pageTS, "\n", "\nimport { ParleyError } from \"./engine.js\";\n", 1))
	write("runtime.ts", engineTS)

	out, err := tsc(t, dir, append(decls, "page.ts", "runtime.ts")...)
	require.NoError(t, err, "tsc:\n%s", out)

	var bad []string
	for name, src := range badTS {
		write("bad_"+name+".ts", "export {};\n"+src)
		bad = append(bad, "bad_"+name+".ts")
	}
	slices.Sort(bad)
	out, err = tsc(t, dir, bad...)
	require.Error(t, err, "tsc accepted every misuse")
	for _, name := range bad {
		t.Run(name, func(t *testing.T) {
			assert.Contains(t, out, name+"(", "tsc accepted %s", name)
		})
	}
	assert.Contains(t, out, `"blue"`)
	assert.Contains(t, out, `"carrier-pigeon"`)
	assert.Contains(t, out, `"teapot"`)
}

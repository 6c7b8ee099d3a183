package reverse

import (
	"strings"
	"testing"
)

// FuzzNormalizePage checks the page key a browser's page path becomes:
// always a rooted path, and a fixed point.
func FuzzNormalizePage(f *testing.F) {
	for _, s := range []string{"", "/", "/chat/index.html?x#y", "//a/../b/./c/", "chat", "/%2e%2e/", "/a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got := NormalizePage(p)
		if !strings.HasPrefix(got, "/") {
			t.Fatalf("NormalizePage(%q) = %q, not rooted", p, got)
		}
		if again := NormalizePage(got); again != got {
			t.Fatalf("NormalizePage(%q) = %q, but that normalises to %q", p, got, again)
		}
	})
}

// FuzzSubscribePattern checks the pattern a page asks to subscribe to: a
// pattern that passes matches only topics within its own literal prefix,
// so TopicWithin can bound it.
func FuzzSubscribePattern(f *testing.F) {
	for _, s := range []string{"/stocks/**", "/**", "/*/inbox", "/a//b", "/a/**/b", "", "/a*", "/" + strings.Repeat("x/", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		if CheckPattern(pattern) != nil {
			return
		}
		segs := strings.Split(pattern[1:], "/")
		lit := ""
		for _, s := range segs {
			if strings.Contains(s, "*") {
				break
			}
			lit += "/" + s
		}
		if lit == "" {
			if TopicWithin(pattern, "/x") {
				t.Fatalf("%q has a wildcard first but is within /x", pattern)
			}
			return
		}
		if !TopicWithin(pattern, lit) {
			t.Fatalf("%q is not within its literal prefix %q", pattern, lit)
		}
		if checkTopic(pattern, false) == nil && strings.Contains(pattern, "*") {
			t.Fatalf("%q has a wildcard but passes as a topic", pattern)
		}
	})
}

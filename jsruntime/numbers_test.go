package jsruntime

import (
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
)

func TestCheckSafeIntegers(t *testing.T) {
	for _, tc := range []struct {
		in      string
		literal string // "" when safe
	}{
		{`9007199254740991`, ""},
		{`-9007199254740991`, ""},
		{`9007199254740992`, "9007199254740992"},
		{`-9007199254740992`, "-9007199254740992"},
		{`[1,2,{"a":9007199254740993}]`, "9007199254740993"},
		{`{"big":"9007199254740993123"}`, ""},
		{`{"9007199254740993":1}`, ""},
		{`"escaped \" 99999999999999999 \\"`, ""},
		{`["\\", 99999999999999999]`, "99999999999999999"},
		{`1.5e300`, ""},
		{`90071992547409930.0`, ""},
		{`12345678901234567890E2`, ""},
		{`[0, -0, 123456789012345]`, ""},
		{`{"a":[true,false,null,1e5],"b":-12345678901234567}`, "-12345678901234567"},
		{``, ""},
		{`"unterminated 99999999999999999`, ""},
	} {
		err := CheckSafeIntegers([]byte(tc.in))
		if tc.literal == "" {
			if err != nil {
				t.Errorf("%s: got %v, want nil", tc.in, err)
			}
			continue
		}
		var ue *UnsafeIntegerError
		if !errors.As(err, &ue) {
			t.Errorf("%s: got %v, want an UnsafeIntegerError", tc.in, err)
			continue
		}
		if ue.Literal != tc.literal || tc.in[ue.Offset:ue.Offset+len(ue.Literal)] != tc.literal {
			t.Errorf("%s: got literal %q at %d, want %q", tc.in, ue.Literal, ue.Offset, tc.literal)
		}
		if !strings.Contains(err.Error(), "integer "+tc.literal+" cannot be represented exactly in JavaScript") {
			t.Errorf("message %q", err)
		}
	}
}

// oracle finds the first unsafe integer literal of valid JSON the slow
// way: decoding every token.
func oracle(data []byte) string {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	limit := big.NewInt(MaxSafeInteger)
	for {
		tok, err := dec.Token()
		if err == io.EOF || err != nil {
			return ""
		}
		n, ok := tok.(json.Number)
		if !ok || strings.ContainsAny(string(n), ".eE") {
			continue
		}
		v, ok := new(big.Int).SetString(string(n), 10)
		if ok && v.CmpAbs(limit) > 0 {
			return string(n)
		}
	}
}

func FuzzCheckSafeIntegers(f *testing.F) {
	for _, s := range []string{
		`9007199254740992`, `[-9007199254740991, 1.0, "9007199254740993"]`,
		`{"a\"b":123456789012345678901234567890}`, `[1e400, 0.00000000000000000001, -0]`,
		`{"x":[{"y":"\\\\"}, 18446744073709551616]}`, `"\u0039"`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := CheckSafeIntegers(data) // must not panic on any input
		if !json.Valid(data) {
			return
		}
		want := oracle(data)
		var got string
		var ue *UnsafeIntegerError
		if errors.As(err, &ue) {
			got = ue.Literal
		} else if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		if got != want {
			t.Fatalf("CheckSafeIntegers(%q) found %q, the decoder %q", data, got, want)
		}
	})
}

func BenchmarkCheckSafeIntegers(b *testing.B) {
	data := []byte(`{"id":17,"author":"ann","text":"hello \"world\" 12345678901234567890","tags":[1,2,3,4.5e10],"at":"2026-11-21T10:00:00Z"}`)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := CheckSafeIntegers(data); err != nil {
			b.Fatal(err)
		}
	}
}

package codegen

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLowerCamel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"SetName":    "setName",
		"ID":         "id",
		"IDs":        "ids",
		"HTTPGet":    "httpGet",
		"HTTPServer": "httpServer",
		"URLs":       "urls",
		"URLsFor":    "urlsFor",
		"GetURL":     "getURL",
		"GetURLs":    "getURLs",
		"A":          "a",
		"Is":         "is",
		"MD5Sum":     "md5Sum",
		"V2":         "v2",
		"already":    "already",
		"Ünïcode":    "ünïcode",
		"":           "",
	} {
		t.Run(in, func(t *testing.T) {
			assert.Equal(t, want, LowerCamel(in))
		})
	}
}

func TestParamNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		source         []string
		wantGo, wantJS []string
	}{
		{"plain", []string{"a", "b"}, []string{"a", "b"}, []string{"a", "b"}},
		{"unnamed", []string{"", ""}, []string{"arg1", "arg2"}, []string{"arg1", "arg2"}},
		{"blank", []string{"_", "x"}, []string{"arg1", "x"}, []string{"arg1", "x"}},
		{"argN taken", []string{"", "arg1"}, []string{"arg1_", "arg1"}, []string{"arg1_", "arg1"}},
		{"reserved", []string{"new", "default", "options", "parley"}, []string{"new", "default", "options", "parley"}, []string{"new_", "default_", "options_", "parley_"}},
		{"escape taken", []string{"new", "new_"}, []string{"new", "new_"}, []string{"new_", "new__"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			goNames, jsNames := paramNames(tt.source)
			assert.Equal(t, tt.wantGo, goNames)
			assert.Equal(t, tt.wantJS, jsNames)
		})
	}
}

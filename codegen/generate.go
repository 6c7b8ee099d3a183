package codegen

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/tools/go/packages"
)

// File is a generated file.
type File struct {
	// Name is the file's base name, such as "chat_parley.go", to be
	// written in the package's directory.
	Name string
	// Content is the file's text.
	Content []byte
}

// LoadMode is what Generate needs go/packages to load.
const LoadMode = packages.NeedName | packages.NeedFiles | packages.NeedCompiledGoFiles |
	packages.NeedImports | packages.NeedTypes | packages.NeedSyntax | packages.NeedTypesInfo |
	packages.NeedModule

// Generate returns the files generated for the interfaces of pkg marked
// //parley:service or //parley:client: one NAME_parley.go per source file
// NAME.go that has any, sorted by name. pkg must be loaded with LoadMode
// and have no errors.
//
// When it refuses a declaration, Generate returns no files and an Errors
// listing every refusal.
func Generate(pkg *packages.Package) ([]File, error) {
	if err := checkLoaded(pkg); err != nil {
		return nil, err
	}
	m, err := analyze(pkg)
	if err != nil {
		return nil, err
	}
	var out []File
	for _, sf := range m.files {
		content, err := goFile(m, sf)
		if err != nil {
			return nil, err
		}
		out = append(out, File{Name: strings.TrimSuffix(sf.base, ".go") + "_parley.go", Content: content})
	}
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// checkLoaded reports a package that Generate cannot work from.
func checkLoaded(pkg *packages.Package) error {
	var errs []error
	for _, e := range pkg.Errors {
		if e.Kind == packages.ParseError {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if pkg.Types == nil || pkg.TypesInfo == nil || pkg.Fset == nil || len(pkg.Syntax) == 0 {
		return fmt.Errorf("codegen: package %s was not loaded with codegen.LoadMode", pkg.PkgPath)
	}
	return nil
}

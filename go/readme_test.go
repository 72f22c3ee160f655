// SPDX-License-Identifier: MIT

package dhp

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The README's complete example builds against this package, offline.
func TestReadmeExampleBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	text, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(text)
	i := strings.Index(s, "```go\npackage main\n")
	if i < 0 {
		t.Fatal("README.md: no complete example (a ```go block with package main)")
	}
	s = s[i+len("```go\n"):]
	s = s[:strings.Index(s, "```")]
	here, _ := filepath.Abs(".")
	dir := t.TempDir()
	mod := "module readme\n\ngo 1.19\n\nrequire github.com/dhp-project/dhp/go v0.0.0\n\n" +
		"replace github.com/dhp-project/dhp/go => " + here + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "example"), ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the README example does not build: %v\n%s", err, out)
	}
}

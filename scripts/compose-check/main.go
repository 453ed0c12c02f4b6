// compose-check loads Compose files the way `docker compose config` does, without a Docker
// engine: compose-go (the loader inside docker compose) validates them against the
// compose-spec schema, merges override files, interpolates variables and checks references
// (depends_on, volumes, secrets). It prints the resolved project as JSON on stdout so tests
// can compare each service with the CLI it runs; on an invalid file it prints the loader's
// error on stderr and exits 1.
//
// Usage: compose-check [--profile NAME]... FILE [OVERRIDE...]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
)

type profiles []string

func (p *profiles) String() string     { return fmt.Sprint(*p) }
func (p *profiles) Set(v string) error { *p = append(*p, v); return nil }

func main() {
	var wanted profiles
	flag.Var(&wanted, "profile", "enable a Compose profile (repeatable)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: compose-check [--profile NAME]... FILE [OVERRIDE...]")
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := check(flag.Args(), wanted); err != nil {
		fmt.Fprintln(os.Stderr, "compose-check:", err)
		os.Exit(1)
	}
}

func check(files []string, wanted []string) error {
	options, err := cli.NewProjectOptions(
		files,
		cli.WithName("voicectl"),
		cli.WithWorkingDirectory(filepath.Dir(files[0])),
		cli.WithOsEnv,
		cli.WithProfiles(wanted),
		cli.WithConsistency(true),
	)
	if err != nil {
		return err
	}
	project, err := cli.ProjectFromOptions(context.Background(), options)
	if err != nil {
		return err
	}
	out, err := project.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(append(out, '\n'))
	return err
}

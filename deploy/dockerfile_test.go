package deploy_test

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/llmgateway/llmgateway/config"
)

// root is the repository root, where the Dockerfile, .dockerignore, the
// Makefile and the gateway's go.mod are.
const root = ".."

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int    // where it starts
	cmd  string // upper case, like RUN
	args string
}

// stage is one FROM and the instructions under it.
type stage struct {
	name  string // after AS, or ""
	image string
	insts []instruction
}

// parseDockerfile reads the instructions of a Dockerfile: comments and
// blank lines dropped (inside a continuation too, as Docker does), lines
// ending in \ joined with the next.
func parseDockerfile(src string) ([]stage, error) {
	var (
		stages []stage
		buf    strings.Builder
		start  int
	)
	lines := strings.Split(src, "\n")
	for i, l := range lines {
		trimmed := strings.TrimSpace(l)
		if strings.HasPrefix(trimmed, "#") || trimmed == "" {
			continue
		}
		if buf.Len() == 0 {
			start = i + 1
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			buf.WriteString(strings.TrimSpace(cont) + " ")
			continue
		}
		buf.WriteString(trimmed)
		text := buf.String()
		buf.Reset()
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			f = slices.DeleteFunc(f, func(s string) bool { return strings.HasPrefix(s, "--") })
			st := stage{image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			} else if len(f) != 1 {
				return nil, fmt.Errorf("line %d: FROM %s: want FROM [--platform=...] IMAGE [AS NAME]", start, in.args)
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if in.cmd == "ARG" {
				continue
			}
			return nil, fmt.Errorf("line %d: %s before the first FROM", start, in.cmd)
		}
		stages[len(stages)-1].insts = append(stages[len(stages)-1].insts, in)
	}
	if buf.Len() > 0 {
		return nil, fmt.Errorf("line %d: continuation runs past the end of the file", start)
	}
	return stages, nil
}

func (s *stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.insts {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// execForm decodes an instruction's exec form, a JSON array of strings.
func execForm(in instruction) ([]string, error) {
	var argv []string
	if err := json.Unmarshal([]byte(in.args), &argv); err != nil || len(argv) == 0 {
		return nil, fmt.Errorf("line %d: %s %s: want the exec form [\"/path/to/binary\", ...]: the image has no shell", in.line, in.cmd, in.args)
	}
	return argv, nil
}

// makeBuildCommand returns the recipe of the Makefile's build target, with
// $(GO) spelt go.
func makeBuildCommand(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "build:") })
	if i < 0 {
		t.Fatal("Makefile has no build target")
	}
	var recipe []string
	for _, l := range lines[i+1:] {
		if !strings.HasPrefix(l, "\t") {
			break
		}
		recipe = append(recipe, strings.TrimSpace(l))
	}
	if len(recipe) != 1 {
		t.Fatalf("Makefile build recipe = %q, want one command", recipe)
	}
	return strings.ReplaceAll(recipe[0], "$(GO)", "go")
}

type image struct {
	build, final *stage
	buildCmd     instruction // the RUN of the go build
}

func dockerfile(t *testing.T) *image {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	stages, err := parseDockerfile(string(data))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	if len(stages) != 2 {
		t.Fatalf("Dockerfile has %d stages, want 2: a Go builder and the runtime image", len(stages))
	}
	img := &image{build: &stages[0], final: &stages[1]}
	var builds []instruction
	for _, in := range img.build.all("RUN") {
		if strings.Contains(in.args, "go build") {
			builds = append(builds, in)
		}
	}
	if len(builds) != 1 {
		t.Fatalf("Dockerfile builder stage has %d RUN go build, want 1", len(builds))
	}
	img.buildCmd = builds[0]
	return img
}

// TestDockerfileBuildsLikeMake keeps the image's build the one `make build`
// runs, with the Go version go.mod asks for.
func TestDockerfileBuildsLikeMake(t *testing.T) {
	img := dockerfile(t)
	want := makeBuildCommand(t)
	if got := img.buildCmd.args; strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(want), " ") {
		t.Errorf("Dockerfile line %d: RUN %s, want the Makefile's build command %s", img.buildCmd.line, got, want)
	}
	if !strings.Contains(want, "CGO_ENABLED=0") {
		t.Errorf("Makefile build command %q does not set CGO_ENABLED=0: the runtime image has no C library", want)
	}

	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	if want := "golang:" + string(m[1]); img.build.image != want {
		t.Errorf("Dockerfile builder FROM %s, want %s, the Go version go.mod names", img.build.image, want)
	}
}

// TestDockerfileRuntime checks the runtime stage: the binary the builder
// made, run as a non-root user, with the default config, both ports
// exposed and a health check that needs no shell.
func TestDockerfileRuntime(t *testing.T) {
	img := dockerfile(t)
	def, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}

	if !strings.HasPrefix(img.final.image, "gcr.io/distroless/static") {
		t.Errorf("runtime FROM %s, want a distroless static image", img.final.image)
	}
	if img.build.name == "" {
		t.Fatal("the builder stage has no name (FROM ... AS build)")
	}

	// The binary: from the builder's output path to the entrypoint.
	out := flagArg(strings.Fields(img.buildCmd.args), "-o")
	workdirs := img.build.all("WORKDIR")
	if out == "" || len(workdirs) != 1 {
		t.Fatalf("builder: want one WORKDIR and go build -o PATH, got %d WORKDIR and -o %q", len(workdirs), out)
	}
	built := path.Join(workdirs[0].args, out)
	var binary string
	for _, in := range img.final.all("COPY") {
		f := strings.Fields(in.args)
		if len(f) == 3 && f[0] == "--from="+img.build.name && f[1] == built {
			binary = f[2]
		}
	}
	if binary == "" {
		t.Fatalf("runtime stage: no COPY --from=%s %s DEST", img.build.name, built)
	}
	entry := img.final.all("ENTRYPOINT")
	if len(entry) != 1 {
		t.Fatalf("runtime stage has %d ENTRYPOINT, want 1", len(entry))
	}
	argv, err := execForm(entry[0])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(argv, []string{binary}) {
		t.Errorf("ENTRYPOINT %q, want [%q]: no arguments, so the gateway serves its embedded default config and `docker run IMAGE --config FILE` works", argv, binary)
	}
	if cmds := img.final.all("CMD"); len(cmds) > 0 {
		t.Errorf("runtime stage has CMD %s; without one the image serves the embedded default config", cmds[0].args)
	}

	// A numeric non-root user, which Kubernetes' runAsNonRoot can verify.
	users := img.final.all("USER")
	if len(users) != 1 {
		t.Fatalf("runtime stage has %d USER, want 1", len(users))
	}
	uid, _, _ := strings.Cut(users[0].args, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %s, want a numeric non-root uid", users[0].args)
	}

	// Both listeners of the default config.
	var exposed []string
	for _, in := range img.final.all("EXPOSE") {
		exposed = append(exposed, strings.Fields(in.args)...)
	}
	httpPort := addrPort(t, def.Server.HTTPAddr)
	for _, p := range []string{addrPort(t, def.Server.GRPCAddr), httpPort} {
		if !slices.Contains(exposed, p) && !slices.Contains(exposed, p+"/tcp") {
			t.Errorf("EXPOSE %v, want port %s of the default config", exposed, p)
		}
	}

	// HEALTHCHECK runs the binary's healthcheck against the HTTP port,
	// within the check's own timeout.
	hcs := img.final.all("HEALTHCHECK")
	if len(hcs) != 1 {
		t.Fatalf("runtime stage has %d HEALTHCHECK, want 1", len(hcs))
	}
	opts, cmd, ok := strings.Cut(hcs[0].args, "CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %s: want HEALTHCHECK [OPTIONS] CMD [...]", hcs[0].args)
	}
	hc, err := execForm(instruction{line: hcs[0].line, cmd: "HEALTHCHECK CMD", args: strings.TrimSpace(cmd)})
	if err != nil {
		t.Fatal(err)
	}
	if len(hc) < 2 || hc[0] != binary || hc[1] != "healthcheck" {
		t.Fatalf("HEALTHCHECK CMD %q, want [%q, \"healthcheck\", ...]", hc, binary)
	}
	fset := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	hcURL := fset.String("url", "http://127.0.0.1:8080/healthz", "")
	hcTimeout := fset.Duration("timeout", 2*time.Second, "")
	if err := fset.Parse(hc[2:]); err != nil {
		t.Fatalf("HEALTHCHECK CMD %q: %v", hc, err)
	}
	if want := "http://127.0.0.1:" + httpPort + "/healthz"; *hcURL != want {
		t.Errorf("HEALTHCHECK --url %s, want %s", *hcURL, want)
	}
	dockerTimeout := 30 * time.Second // Docker's default
	for _, o := range strings.Fields(opts) {
		if v, ok := strings.CutPrefix(o, "--timeout="); ok {
			if dockerTimeout, err = time.ParseDuration(v); err != nil {
				t.Fatalf("HEALTHCHECK %s: %v", o, err)
			}
		}
	}
	if *hcTimeout >= dockerTimeout {
		t.Errorf("healthcheck --timeout %s, want below HEALTHCHECK --timeout %s so that the message is the gateway's", *hcTimeout, dockerTimeout)
	}
}

func addrPort(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%q: %v", addr, err)
	}
	return p
}

// flagArg returns the argument after name in args.
func flagArg(args []string, name string) string {
	i := slices.Index(args, name)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}

// buildContext copies what Docker sends as the build context, the
// repository less what .dockerignore excludes, to dir, and returns the
// paths copied.
func buildContext(t *testing.T, dir string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	var copied []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		excluded, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		switch {
		case excluded && d.IsDir() && !pm.Exclusions():
			return filepath.SkipDir
		case excluded || d.IsDir():
			return nil
		case !d.Type().IsRegular():
			return nil // symlinks and the like: the gateway's sources have none
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		copied = append(copied, rel)
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatalf("copying the build context: %v", err)
	}
	return copied
}

// TestImageBuildsFromContext runs the Dockerfile's build in a copy of the
// build context, the way `docker build` would, and checks that the result
// is a static binary that runs. It catches a .dockerignore that drops
// something the build needs (an embedded file, a package).
func TestImageBuildsFromContext(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gateway")
	}
	img := dockerfile(t)
	ctxDir := t.TempDir()
	copied := buildContext(t, ctxDir)

	// What must stay out: history, build output, tools, node modules, test
	// binaries, local databases.
	for _, p := range copied {
		top, _, _ := strings.Cut(p, "/")
		if slices.Contains([]string{".git", "bin", ".tools", "deploy"}, top) || strings.Contains(p, "node_modules/") ||
			strings.HasSuffix(p, ".test") || strings.HasSuffix(p, ".db") {
			t.Errorf("the build context includes %s; add it to .dockerignore", p)
		}
	}
	// What the builder copies by name must be there.
	for _, in := range img.build.all("COPY") {
		f := strings.Fields(in.args)
		for _, src := range f[:len(f)-1] {
			if src != "." && !slices.Contains(copied, src) {
				t.Errorf("Dockerfile line %d: COPY %s: not in the build context", in.line, src)
			}
		}
	}

	// The builder's command, as its shell would run it: leading NAME=value
	// words set the environment.
	words := strings.Fields(img.buildCmd.args)
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly", "GOTOOLCHAIN=local")
	for len(words) > 0 && strings.Contains(words[0], "=") {
		env = append(env, words[0])
		words = words[1:]
	}
	if len(words) == 0 || words[0] != "go" {
		t.Fatalf("RUN %s: want [NAME=value ...] go build ...", img.buildCmd.args)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, goBin, words[1:]...)
	build.Dir, build.Env = ctxDir, env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("RUN %s in the build context: %v\n%s", img.buildCmd.args, err, out)
	}

	bin := filepath.Join(ctxDir, filepath.FromSlash(flagArg(words, "-o")))
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("the built binary: %v", err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s asks for a dynamic loader: it would not start on a distroless static image", bin)
		}
	}
	if libs, err := ef.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s links %v (%v), want a static binary", bin, libs, err)
	}

	var out bytes.Buffer
	version := exec.CommandContext(ctx, bin, "version")
	version.Stdout, version.Stderr = &out, &out
	if err := version.Run(); err != nil || !strings.HasPrefix(out.String(), "llmgateway ") {
		t.Errorf("%s version = %q, %v; want \"llmgateway VERSION\"", bin, out.String(), err)
	}
}

func TestParseDockerfile(t *testing.T) {
	tests := []struct {
		name    string
		give    string
		want    []stage
		wantErr string
	}{
		{
			name: "stages, comments and continuations",
			give: "ARG X\n# c\nFROM --platform=$BUILDPLATFORM golang:1.26 AS build\nRUN a \\\n  # inside\n\n  b\n\nFROM scratch\nCMD [\"x\"]\n",
			want: []stage{
				{name: "build", image: "golang:1.26", insts: []instruction{{line: 4, cmd: "RUN", args: "a b"}}},
				{image: "scratch", insts: []instruction{{line: 10, cmd: "CMD", args: `["x"]`}}},
			},
		},
		{name: "instruction before FROM", give: "RUN x\nFROM scratch\n", wantErr: "line 1: RUN before the first FROM"},
		{name: "bad FROM", give: "FROM a b\n", wantErr: "want FROM [--platform=...] IMAGE [AS NAME]"},
		{name: "dangling continuation", give: "FROM a\nRUN x \\\n", wantErr: "continuation runs past the end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDockerfile(tt.give)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("parseDockerfile(%q) = %v, want an error containing %q", tt.give, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseDockerfile(%q) = %v", tt.give, err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(stage{}, instruction{})); diff != "" {
				t.Errorf("parseDockerfile(%q) mismatch (-want +got):\n%s", tt.give, diff)
			}
		})
	}
}

"""The tools behind tests/test_deploy_manifests.py, each at a pinned version from the Go
module proxy, and small readers for Dockerfiles and .dockerignore:

- ``kustomize``, built with ``go install`` (as the stack builds MinIO);
- KEDA's ScaledObject CRD and Kafka scaler source, and the Compose specification's JSON schema,
  copied out of the modules that ``go mod download -json`` fetches;
- ``compose-config``, a few lines of Go over compose-go (the library Docker Compose loads files
  with): what ``docker compose config`` does, without Docker;
- ``dockerfile-lint``, a few lines of Go over BuildKit's Dockerfile frontend: what
  ``docker build --check`` does, without Docker.

Each is a ``toolchain.Tool``: built with a time limit, a stall limit and one retry, installed
atomically, and cached under ``.cache/infra/<name>-<version>/`` (git-ignored; the dev stack
keeps Kafka and MinIO there too). ``scripts/setup.sh --tests`` builds them all before pytest
starts (``python tests/deploy_tools.py``), so no test waits on a compiler. The versions are
chosen so that Go 1.24 (which MinIO already needs) can fetch and build them.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tiktok_analyzer.cli import toolchain

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "infra"

KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
KUSTOMIZE_VERSION = "v5.7.1"
KEDA_MODULE = "github.com/kedacore/keda/v2"
KEDA_VERSION = "v2.17.2"
KEDA_SCALEDOBJECT_CRD = "config/crd/bases/keda.sh_scaledobjects.yaml"
KEDA_KAFKA_SCALER = "pkg/scalers/kafka_scaler.go"
COMPOSE_MODULE = "github.com/compose-spec/compose-go/v2"
COMPOSE_VERSION = "v2.16.2"
COMPOSE_SCHEMA = "schema/compose-spec.json"
BUILDKIT_MODULE = "github.com/moby/buildkit"
BUILDKIT_VERSION = "v0.25.0"


class GoMissing(RuntimeError):
    """Go is not installed: the tools cannot be built (tests skip rather than fail)."""


def _ensure(tool: toolchain.Tool) -> Path:
    """The tool, built now if ``scripts/setup.sh --tests`` has not built it already."""
    if not tool.ready(CACHE) and shutil.which("go") is None:
        raise GoMissing("Go is needed once to build the deploy tools into .cache/infra "
                        "(scripts/setup.sh --tests installs it)")
    return tool.ensure(CACHE)


COMPOSE_CONFIG_MAIN = """\
// compose-config: what `docker compose config` prints, from compose-go, the library Docker
// Compose loads files with: parse, interpolate (from -env-file only), merge the files in order,
// validate against the Compose specification, normalize; the project as JSON on stdout.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	dir := flag.String("dir", ".", "project directory")
	envFile := flag.String("env-file", "", "env file for interpolation (none: no variables)")
	profiles := flag.String("profiles", "", "comma-separated profiles")
	flag.Parse()
	options := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(*dir),
		cli.WithProfiles(strings.FieldsFunc(*profiles, func(r rune) bool { return r == ',' })),
	}
	if *envFile != "" {
		options = append(options, cli.WithEnvFiles(*envFile), cli.WithDotEnv)
	}
	opts, err := cli.NewProjectOptions(flag.Args(), options...)
	if err == nil {
		var project any
		project, err = opts.LoadProject(context.Background())
		if err == nil {
			err = json.NewEncoder(os.Stdout).Encode(project)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
"""


DOCKERFILE_LINT_MAIN = """\
// dockerfile-lint: `docker build --check` without Docker: BuildKit's Dockerfile frontend parses
// each file, resolves its stages, ARGs and instructions, and runs its lint rules. Base images
// are not pulled: each resolves to an empty linux/amd64 image. Prints
// {"<file>": {"error": "...", "warnings": ["<rule>: <detail>", ...]}} as JSON.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerui"
	digest "github.com/opencontainers/go-digest"
)

type offline struct{}

func (offline) ResolveImageConfig(_ context.Context, ref string,
	_ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	config := []byte(`{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers"}}`)
	return ref, digest.FromBytes(config), config, nil
}

type result struct {
	Error    string   `json:"error,omitempty"`
	Warnings []string `json:"warnings"`
}

func main() {
	out := map[string]result{}
	for _, path := range os.Args[1:] {
		dt, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		r := result{Warnings: []string{}}
		lint, err := dockerfile2llb.DockerfileLint(context.Background(), dt,
			dockerfile2llb.ConvertOpt{
				Config:       dockerui.Config{},
				MetaResolver: offline{},
				SourceMap: &llb.SourceMap{Filename: path, Language: "Dockerfile", Data: dt,
					Definition: &llb.Definition{}},
			})
		if err != nil {
			r.Error = err.Error()
		} else {
			if lint.Error != nil {
				r.Error = lint.Error.Message
			}
			for _, w := range lint.Warnings {
				r.Warnings = append(r.Warnings, w.RuleName+": "+w.Detail)
			}
		}
		out[path] = r
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
"""


# --- the kinds of tool only the tests build --------------------------------------------------


def go_program(module: str, source: str) -> Callable[[toolchain.Tool, Path], None]:
    """A small Go program (``source`` is its main.go) over ``module`` at the tool's version."""

    def build(tool: toolchain.Tool, target: Path) -> None:
        go = toolchain.require("go", "Go 1.24 or newer")
        staging = toolchain.staging_dir(target)
        try:
            (staging / "main.go").write_text(source)
            (staging / "go.mod").write_text(
                f"module local/{tool.name}\n\ngo 1.24\n\nrequire {module} {tool.version}\n")
            env = toolchain.go_env()
            toolchain.run_step(f"{tool.name}.tidy", [go, "mod", "tidy"], cwd=staging, env=env,
                     timeout_s=600)
            toolchain.run_step(tool.name, [go, "build", "-v", "-o", str(staging / "bin"), "."],
                     cwd=staging, env=env, timeout_s=tool.timeout_s)
            toolchain.publish(staging / "bin", target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    return build


def go_module_file(module: str) -> Callable[[toolchain.Tool, Path], None]:
    """One file out of a Go module at the tool's version (``go mod download``)."""

    def build(tool: toolchain.Tool, target: Path) -> None:

        go = toolchain.require("go", "Go 1.24 or newer")
        staging = toolchain.staging_dir(target)
        try:
            out = staging / "download.json"
            toolchain.run_step(f"{tool.name}.download",
                     ["sh", "-c", f'"$0" mod download -json {module}@{tool.version} > {out}', go],
                     cwd=staging, env=toolchain.go_env(), timeout_s=600)
            info = json.loads(out.read_text())
            if info.get("Error") or not info.get("Dir"):
                raise toolchain.ToolchainError(f"go mod download {module}@{tool.version}: "
                                     f"{info.get('Error')}")
            shutil.copyfile(Path(info["Dir"]) / tool.relpath, staging / "file")
            toolchain.publish(staging / "file", target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    return build


KUSTOMIZE = toolchain.Tool("kustomize", KUSTOMIZE_VERSION, toolchain.go_install(KUSTOMIZE_MODULE),
                           relpath="kustomize")
COMPOSE_CONFIG = toolchain.Tool("compose-config", COMPOSE_VERSION,
                                go_program(COMPOSE_MODULE, COMPOSE_CONFIG_MAIN),
                                relpath="compose-config")
DOCKERFILE_LINT = toolchain.Tool("dockerfile-lint", BUILDKIT_VERSION,
                                 go_program(BUILDKIT_MODULE, DOCKERFILE_LINT_MAIN),
                                 relpath="dockerfile-lint")
KEDA_CRD = toolchain.Tool("keda-crd", KEDA_VERSION, go_module_file(KEDA_MODULE),
                          relpath=KEDA_SCALEDOBJECT_CRD)
KEDA_SCALER = toolchain.Tool("keda-scaler", KEDA_VERSION, go_module_file(KEDA_MODULE),
                             relpath=KEDA_KAFKA_SCALER)
COMPOSE_SCHEMA_FILE = toolchain.Tool("compose-schema", COMPOSE_VERSION,
                                     go_module_file(COMPOSE_MODULE),
                                     relpath=COMPOSE_SCHEMA)
DEPLOY_TOOLS = (KEDA_CRD, KEDA_SCALER, COMPOSE_SCHEMA_FILE, KUSTOMIZE, COMPOSE_CONFIG,
                DOCKERFILE_LINT)


def dockerfile_lint(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """BuildKit's verdict on each Dockerfile: {"error": ..., "warnings": [...]} by path."""
    binary = _ensure(DOCKERFILE_LINT)
    done = subprocess.run([str(binary), *map(str, paths)], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"dockerfile-lint: {done.stderr[-3000:]}")
    return json.loads(done.stdout)


def compose_config(files: list[str], env_file: str | None = None,
                   profiles: tuple[str, ...] = ()) -> tuple[dict[str, Any] | None, str]:
    """The loaded project (None if it does not load) and the loader's complaint."""
    binary = _ensure(COMPOSE_CONFIG)
    argv = [str(binary), "-dir", str(REPO), "-profiles", ",".join(profiles)]
    if env_file:
        argv += ["-env-file", str(REPO / env_file)]
    done = subprocess.run([*argv, *files], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return None, done.stderr
    return json.loads(done.stdout), done.stderr


def build_kustomization(path: Path) -> list[dict[str, Any]]:
    done = subprocess.run([str(_ensure(KUSTOMIZE)), "build", str(path)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"kustomize build {path.relative_to(REPO)}:\n{done.stderr}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


# --- KEDA -------------------------------------------------------------------------------------


def _strict(schema: Any) -> Any:
    """The API server prunes (or, with strict field validation, rejects) fields a structural
    schema does not declare; in JSON Schema terms, every object with ``properties`` and no
    ``x-kubernetes-preserve-unknown-fields`` gets ``additionalProperties: false``."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@functools.cache
def scaledobject_schema() -> dict[str, Any]:
    crd = yaml.safe_load(_ensure(KEDA_CRD).read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    return _strict(version["schema"]["openAPIV3Schema"])


@functools.cache
def kafka_scaler_source() -> str:
    return _ensure(KEDA_SCALER).read_text()


@functools.cache
def compose_schema() -> dict[str, Any]:
    return json.loads(_ensure(COMPOSE_SCHEMA_FILE).read_text())


# --- Dockerfiles ------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str
    stage: str


@dataclass
class Dockerfile:
    path: Path
    instructions: list[Instruction] = field(default_factory=list)
    stages: dict[str, str] = field(default_factory=dict)  # stage name -> base image
    args: dict[str, str] = field(default_factory=dict)  # global ARG defaults

    def of(self, keyword: str, stage: str | None = None) -> list[Instruction]:
        return [i for i in self.instructions
                if i.keyword == keyword and (stage is None or i.stage == stage)]

    def resolve(self, text: str) -> str:
        return re.sub(r"\$\{(\w+)\}", lambda m: self.args.get(m[1], m[0]), text)


def parse_dockerfile(path: Path) -> Dockerfile:
    """Instructions with line continuations joined and comments dropped (the Dockerfile rules
    this project's files use: no heredocs, the default escape character)."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    if pending:
        logical.append(pending)
    result = Dockerfile(path)
    stage = ""
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), " ".join(args.split())
        if keyword == "FROM":
            parts = args.split()
            named = len(parts) >= 3 and parts[1].upper() == "AS"
            stage = parts[2] if named else f"#{len(result.stages)}"
            result.stages[stage] = parts[0]
        elif keyword == "ARG" and not result.stages:
            name, _, default = args.partition("=")
            result.args[name] = default
        result.instructions.append(Instruction(keyword, args, stage))
    return result


def env_pairs(args: str) -> dict[str, str]:
    """``ENV A=1 B=2`` (the form used here) as a dict."""
    return dict(pair.split("=", 1) for pair in args.split())


# --- .dockerignore ----------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


class DockerIgnore:
    """Docker's rule: the last pattern that matches a path, or one of its parent folders,
    decides; ``!`` patterns include again."""

    def __init__(self, text: str) -> None:
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
            self.rules.append((negate, _pattern_regex(pattern)))

    def excluded(self, path: str) -> bool:
        parts = path.split("/")
        candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        result = False
        for negate, regex in self.rules:
            if any(regex.match(c) for c in candidates):
                result = not negate
        return result


if __name__ == "__main__":
    # scripts/setup.sh --tests: build every deploy tool now, not inside a test.
    os.chdir(REPO)
    raise SystemExit(toolchain.main(sys.argv[1:], DEPLOY_TOOLS))
